/**
 * Finding and running e2fsprogs' mke2fs, debugfs and e2fsck: explicit argument lists, no shell.
 * Debian puts them in /usr/sbin, which ordinary users often lack in PATH, so that is searched too.
 */
import { spawn } from 'child_process';
import { constants as fsConstants, promises as fs } from 'fs';
import * as path from 'path';
import { E2FSPROGS_INSTALL_HINT, ImageToolError } from './errors';

export type E2fsToolName = 'mke2fs' | 'debugfs' | 'e2fsck';

export interface E2fsTools {
  mke2fs: string;
  debugfs: string;
  e2fsck: string;
  /** e2fsprogs version as mke2fs -V prints it, e.g. `1.47.0`. */
  version: string;
}

/** Paths to use instead of searching (tests; hosts with e2fsprogs in an odd place). */
export type E2fsToolPaths = Partial<Record<E2fsToolName, string>>;

/**
 * The oldest e2fsprogs that makes reproducible images: 1.44 brought E2FSPROGS_FAKE_TIME and
 * `-E hash_seed=` upstream (`-d` came in 1.43).
 */
export const MINIMUM_E2FSPROGS: readonly [number, number] = [1, 44];

const SYSTEM_DIRECTORIES = ['/usr/local/sbin', '/usr/sbin', '/sbin'];
const OUTPUT_LIMIT = 1 << 20;

export interface ToolRun {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
}

function missing(tool: E2fsToolName, file?: string): ImageToolError {
  return new ImageToolError(
    tool,
    file
      ? `${tool} not found at ${file}: ${E2FSPROGS_INSTALL_HINT}, or give the right path`
      : `${tool} not found: ${E2FSPROGS_INSTALL_HINT}`,
  );
}

/** Runs `file args` without a shell; resolves with the exit code and output, whatever the code. */
export function runTool(tool: E2fsToolName, file: string, args: string[], options: RunOptions = {}): Promise<ToolRun> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (action: () => void) => {
      if (!settled) {
        settled = true;
        action();
      }
    };
    const child = spawn(file, args, {
      env: options.env ?? process.env,
      signal: options.signal,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let kept = 0;
    const keep = (into: Buffer[]) => (chunk: Buffer) => {
      if (kept < OUTPUT_LIMIT) into.push(chunk);
      kept += chunk.length;
    };
    child.stdout.on('data', keep(stdout));
    child.stderr.on('data', keep(stderr));
    child.on('error', (error: NodeJS.ErrnoException) => {
      settle(() => {
        if (error.code === 'ENOENT') reject(missing(tool, file.includes('/') ? file : undefined));
        else if (error.code === 'EACCES')
          reject(new ImageToolError(tool, `${file} cannot be run (permission denied): ${E2FSPROGS_INSTALL_HINT}`));
        else reject(error);
      });
    });
    child.on('close', (code, signal) => {
      settle(() =>
        resolve({
          code: code ?? (signal ? 128 : -1),
          stdout: Buffer.concat(stdout).toString('utf8'),
          stderr: Buffer.concat(stderr).toString('utf8'),
        }),
      );
    });
  });
}

async function isExecutable(file: string): Promise<boolean> {
  try {
    await fs.access(file, fsConstants.X_OK);
    return (await fs.stat(file)).isFile();
  } catch {
    return false;
  }
}

/** The first executable `tool` in `preferred`, then PATH, then the sbin folders. */
async function locate(tool: E2fsToolName, preferred: string[], pathVariable: string | undefined): Promise<string> {
  const directories = [
    ...preferred,
    ...(pathVariable ?? '').split(path.delimiter).filter(Boolean),
    ...SYSTEM_DIRECTORIES,
  ];
  for (const directory of directories) {
    const candidate = path.join(directory, tool);
    if (await isExecutable(candidate)) return candidate;
  }
  throw missing(tool);
}

/** `1.47.0` from `mke2fs 1.47.0 (5-Feb-2023)`; undefined if the output has no version. */
export function parseE2fsVersion(output: string): string | undefined {
  return /\b(?:mke2fs|debugfs|e2fsck)\s+(\d+\.\d+(?:\.\d+)?)/.exec(output)?.[1];
}

export function isRecentEnough(version: string): boolean {
  const [major, minor] = version.split('.').map(Number);
  return major > MINIMUM_E2FSPROGS[0] || (major === MINIMUM_E2FSPROGS[0] && minor >= MINIMUM_E2FSPROGS[1]);
}

/**
 * Finds the three tools (the given paths first), checks that `mke2fs -V` runs and is recent enough.
 * Throws ImageToolError naming the tool and the package that installs it.
 */
export async function findE2fsprogs(paths: E2fsToolPaths = {}, options: RunOptions = {}): Promise<E2fsTools> {
  const pathVariable = (options.env ?? process.env).PATH;
  const mke2fs = paths.mke2fs ?? (await locate('mke2fs', [], pathVariable));
  const probe = await runTool('mke2fs', mke2fs, ['-V'], options);
  const version = parseE2fsVersion(`${probe.stdout}\n${probe.stderr}`);
  if (probe.code !== 0 || !version) {
    throw new ImageToolError(
      'mke2fs',
      `${mke2fs} -V failed (exit ${probe.code}) or printed no version: ${E2FSPROGS_INSTALL_HINT}`,
    );
  }
  if (!isRecentEnough(version)) {
    throw new ImageToolError(
      'mke2fs',
      `mke2fs ${version} is too old: reproducible images need e2fsprogs ${MINIMUM_E2FSPROGS.join('.')} or later (E2FSPROGS_FAKE_TIME, -E hash_seed); ${E2FSPROGS_INSTALL_HINT} from a newer release`,
    );
  }
  const sameFolder = [path.dirname(mke2fs)];
  const debugfs = paths.debugfs ?? (await locate('debugfs', sameFolder, pathVariable));
  const e2fsck = paths.e2fsck ?? (await locate('e2fsck', sameFolder, pathVariable));
  return { mke2fs, debugfs, e2fsck, version };
}

/** The last few lines of a tool's output, for an error message. */
export function outputTail(run: ToolRun, lines = 4): string {
  const text = `${run.stderr}\n${run.stdout}`
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !/^(mke2fs|debugfs|e2fsck) \d/.test(line));
  return text.slice(-lines).join(' / ') || '(no output)';
}
