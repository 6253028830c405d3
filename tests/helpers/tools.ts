/** Small helpers shared by the tests: temporary folders, real tools, fixtures. */
import { execFileSync, spawn, spawnSync } from 'child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync, openSync, writeSync, closeSync, ftruncateSync } from 'fs';
import { tmpdir } from 'os';
import * as path from 'path';
import { randomBytes } from 'crypto';
import { linkedProject } from '../../testing/pluginHarness';

// The AWS SDK's notice that its 2027 releases need Node 22 would otherwise fill the test output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
export const SHARED_DATA = path.resolve(REPO_ROOT, '..', 'shared', 'data');
export const REFERENCE_BUNDLES = path.join(SHARED_DATA, 'reference-bundles');
/** The working directory for running this checkout's serialized providers (the package resolves from it). */
export const checkoutProject = (): string => linkedProject(REPO_ROOT);
export const CLI = path.join(REPO_ROOT, 'dist', 'provider', 'cli', 'main.js');

/** A fresh temporary folder, removed by the returned cleanup. */
export function temporaryFolder(label = 'unikernel-test'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), `${label}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Runs a command and returns stdout as a Buffer; throws with stderr on failure. */
export function run(command: string, args: string[], options: { cwd?: string; input?: Buffer | string } = {}): Buffer {
  return execFileSync(command, args, {
    cwd: options.cwd,
    input: options.input,
    maxBuffer: 1 << 30,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/** Runs a shell pipeline with bash (for oracle pipelines such as openssl | gzip | sha1sum). */
export function shell(script: string, cwd?: string): string {
  return execFileSync('bash', ['-o', 'pipefail', '-c', script], {
    cwd,
    maxBuffer: 1 << 30,
    stdio: ['ignore', 'pipe', 'pipe'],
  }).toString();
}

export interface CliResult {
  status: number;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): CliResult {
  const result = spawnSync(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, encoding: 'utf8' });
  return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

/** Like runCli, but leaves the event loop free (needed when the test process also serves the fake AWS). */
export function runCliAsync(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return runNodeAsync(CLI, args, env);
}

/** Runs a Node script in a child process without blocking this one. */
export function runNodeAsync(
  script: string,
  args: string[] = [],
  env: NodeJS.ProcessEnv = {},
  cwd?: string,
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], {
      cwd,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status: status ?? -1, stdout, stderr }));
  });
}

export interface ImageSegment {
  /** `random` data, written `zeros`, or a `hole` left unwritten (a real hole on file systems that have them). */
  kind: 'random' | 'zeros' | 'hole';
  bytes: number;
  /**
   * The image's bytes 510–511 become the MBR boot signature 0x55 0xAA (the segment must start the image
   * and be random data): an HVM image the local AWS's firmware takes for bootable, as EC2's would.
   */
  bootSignature?: boolean;
}

/** Writes an image from segments without holding it in memory. */
export function writeImage(file: string, segments: ImageSegment[], mtime = 1_700_000_000): number {
  const fd = openSync(file, 'w', 0o644);
  let position = 0;
  try {
    for (const segment of segments) {
      if (segment.kind === 'hole') {
        position += segment.bytes;
        continue;
      }
      let left = segment.bytes;
      while (left > 0) {
        const length = Math.min(left, 1 << 20);
        const chunk = segment.kind === 'random' ? randomBytes(length) : Buffer.alloc(length);
        if (segment.bootSignature && left === segment.bytes) {
          if (position !== 0 || segment.kind !== 'random' || length < 512)
            throw new Error('bootSignature: only on a random segment of at least 512 bytes starting the image');
          chunk.set([0x55, 0xaa], 510);
        }
        writeSync(fd, chunk, 0, length, position);
        position += length;
        left -= length;
      }
    }
    ftruncateSync(fd, position);
  } finally {
    closeSync(fd);
  }
  run('touch', ['-d', `@${mtime}`, file]);
  return position;
}

export function writeText(file: string, text: string): string {
  writeFileSync(file, text);
  return file;
}

export function hasReferenceBundles(): boolean {
  return existsSync(path.join(REFERENCE_BUNDLES, 'README.md'));
}

export const MiB = 1024 * 1024;
