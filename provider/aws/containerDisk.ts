/**
 * A container image (qcow2, VMDK, VHD, VHDX, VDI) read in place as the guest's raw disk, with
 * nothing written out: `qemu-img info` says its virtual size and whether it names other files,
 * `qemu-img map` where its data is, and `qemu-nbd --read-only` serves the guest's bytes over a unix
 * socket in a private temporary folder (`unikernel-ami-nbd-PID-*`), read with nbdClient.ts. qemu-nbd
 * is a child process, not forked away: it serves one client and exits when that client leaves
 * (no --persistent), so a process killed outright (SIGKILL) takes it down with its connection (and,
 * before it connected, by setpriv's parent-death signal when util-linux's setpriv is there).
 * `close` disconnects, waits for qemu-nbd to exit (killing it if it lingers) and removes the folder;
 * a folder left by a process killed outright is removed by the next opening once its process is gone.
 */
import { ChildProcess, execFile, spawn } from 'child_process';
import { existsSync, promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { setTimeout as sleep } from 'timers/promises';
import { DataRegion } from '../bundle/tarHeader';
import { ContainerFormat, convertCommand, FORMAT_NAMES } from './diskFormat';
import { AwsInputError } from './errors';
import { fileVersion, GuestDisk } from './guestDisk';
import { NbdClient, NbdError } from './nbdClient';
import { notRaw } from './imageFormat';

/** Where the socket folders go (the system's temporary folder, TMPDIR), followed by the owner's pid. */
export const NBD_FOLDER_PREFIX = 'unikernel-ami-nbd-';
/** How long qemu-nbd may take to listen on its socket. */
const LISTEN_TIMEOUT_MS = 15_000;
/** How long qemu-nbd may take to exit once its client left, before it is killed. */
const EXIT_TIMEOUT_MS = 5_000;

/** A tool on PATH, or undefined. */
export function toolPath(name: string): string | undefined {
  const folders = (process.env.PATH ?? '').split(path.delimiter).filter((folder) => path.isAbsolute(folder));
  return folders.map((folder) => path.join(folder, name)).find((candidate) => existsSync(candidate));
}

/** Why a container cannot be read here (qemu-img or qemu-nbd missing), with the command to run; else undefined. */
export function containerRefusal(input: string, file: string, format: ContainerFormat): AwsInputError | undefined {
  if (toolPath('qemu-img') === undefined) return notRaw(input, file, format);
  if (toolPath('qemu-nbd') === undefined)
    return new AwsInputError(
      input,
      `${file} is a ${FORMAT_NAMES[format]} disk image; reading it needs qemu-nbd (Debian qemu-utils), which is not on PATH: install it, or convert the image first: ${convertCommand(format, file)}`,
    );
  return undefined;
}

function run(tool: string, args: string[], signal?: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      tool,
      args,
      { signal, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, LC_ALL: 'C' } },
      (error, stdout, stderr) => {
        if (!error) return resolve(stdout);
        if (signal?.aborted) return reject(signal.reason ?? error);
        reject(new Error(firstLine(stderr, path.basename(tool)) ?? error.message.split('\n')[0]));
      },
    );
  });
}

function firstLine(stderr: string, tool: string): string | undefined {
  return stderr
    .split('\n')
    .map((text) => text.replace(new RegExp(`^${tool}: `), '').trim())
    .find((text) => text.length > 0);
}

/** What `qemu-img info --output=json` says that matters here (pure). */
export interface ContainerInfo {
  virtualSize: number;
  /** Files other than the image itself that its content comes from. */
  otherFiles: string[];
}

export function parseContainerInfo(json: string, file: string): ContainerInfo {
  const info = JSON.parse(json) as {
    'virtual-size'?: unknown;
    'backing-filename'?: unknown;
    'format-specific'?: { data?: { 'data-file'?: unknown; extents?: { filename?: unknown }[] } };
  };
  const virtualSize = info['virtual-size'];
  if (typeof virtualSize !== 'number' || !Number.isSafeInteger(virtualSize))
    throw new Error('qemu-img info gave no virtual size');
  const otherFiles: string[] = [];
  if (typeof info['backing-filename'] === 'string') otherFiles.push(`backing file ${info['backing-filename']}`);
  const data = info['format-specific']?.data;
  if (typeof data?.['data-file'] === 'string') otherFiles.push(`data file ${data['data-file']}`);
  for (const extent of data?.extents ?? [])
    // qemu-img names extents relative to the image's folder.
    if (typeof extent.filename === 'string' && path.resolve(path.dirname(file), extent.filename) !== path.resolve(file))
      otherFiles.push(`extent ${extent.filename}`);
  return { virtualSize, otherFiles };
}

/**
 * The guest's data regions from `qemu-img map --output=json` (pure): the extents with `data` that
 * are not known to read as zeros, merged and clipped to the virtual size. Unallocated and zero
 * extents are holes (no backing file: parseContainerInfo refuses those).
 */
export function parseQemuImgMap(json: string, virtualSize: number): DataRegion[] {
  const extents = JSON.parse(json) as unknown;
  if (!Array.isArray(extents)) throw new Error('qemu-img map gave no list of extents');
  const regions: DataRegion[] = [];
  let covered = 0;
  for (const extent of extents as { start?: unknown; length?: unknown; data?: unknown; zero?: unknown }[]) {
    const { start, length } = extent;
    if (typeof start !== 'number' || typeof length !== 'number' || start !== covered || length < 0)
      throw new Error('qemu-img map gave extents that do not follow each other');
    covered = start + length;
    const end = Math.min(virtualSize, start + length);
    if (extent.data !== true || extent.zero === true || start >= end) continue;
    const last = regions[regions.length - 1];
    if (last && last.offset + last.length === start) last.length = end - last.offset;
    else regions.push({ offset: start, length: end - start });
  }
  if (covered < virtualSize) throw new Error(`qemu-img map covers ${covered} of ${virtualSize} bytes`);
  return regions;
}

function unreadable(input: string, file: string, format: ContainerFormat, why: string): AwsInputError {
  return new AwsInputError(input, `${file}: qemu-img could not read this ${FORMAT_NAMES[format]} image: ${why}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes socket folders whose process is gone (killed outright before it could remove them). */
export async function sweepStaleFolders(parent = os.tmpdir()): Promise<string[]> {
  const removed: string[] = [];
  const names = await fs.readdir(parent).catch(() => [] as string[]);
  for (const name of names) {
    const match = new RegExp(`^${NBD_FOLDER_PREFIX}(\\d+)-`).exec(name);
    if (!match || Number(match[1]) === process.pid || isAlive(Number(match[1]))) continue;
    await fs.rm(path.join(parent, name), { recursive: true, force: true }).catch(() => undefined);
    removed.push(name);
  }
  return removed;
}

/** Waits for the child to exit; kills it after `ms` (SIGKILL after as long again). */
async function stopChild(child: ChildProcess, exited: Promise<void>, ms: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const timer = setTimeout(() => child.kill('SIGTERM'), ms);
  const hard = setTimeout(() => child.kill('SIGKILL'), 2 * ms);
  try {
    await exited;
  } finally {
    clearTimeout(timer);
    clearTimeout(hard);
  }
}

export interface Server {
  child: ChildProcess;
  exited: Promise<void>;
  /** qemu-nbd's last words on stderr. */
  stderr: () => string;
}

/**
 * Starts qemu-nbd serving `file` on `socket`. Through util-linux's `setpriv --pdeathsig TERM` when
 * it is on PATH (it then execs qemu-nbd), so that qemu-nbd also ends if this process is killed
 * outright before it connected (after that, losing its one client ends it anyway).
 */
export function startServer(qemuNbd: string, format: ContainerFormat, socket: string, file: string): Server {
  const args = ['--read-only', `--format=${format}`, `--socket=${socket}`, '--shared=1', file];
  const setpriv = toolPath('setpriv');
  const [command, argv] = setpriv ? [setpriv, ['--pdeathsig', 'TERM', qemuNbd, ...args]] : [qemuNbd, args];
  const child = spawn(command, argv, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (text: string) => {
    if (stderr.length < 4096) stderr += text;
  });
  const exited = new Promise<void>((resolve) => {
    child.once('close', () => resolve());
    child.once('error', () => resolve());
  });
  return { child, exited, stderr: () => stderr };
}

/** Connects once qemu-nbd listens; fails when it exits first, or does not listen in time. */
async function connect(server: Server, socket: string, file: string, signal?: AbortSignal): Promise<NbdClient> {
  const deadline = Date.now() + LISTEN_TIMEOUT_MS;
  for (;;) {
    signal?.throwIfAborted();
    if (server.child.exitCode !== null || server.child.signalCode !== null || server.child.pid === undefined) {
      await server.exited;
      throw new Error(firstLine(server.stderr(), 'qemu-nbd') ?? 'qemu-nbd exited before serving the image');
    }
    if (existsSync(socket)) {
      try {
        return await NbdClient.connect(socket, file);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code !== 'ECONNREFUSED' && code !== 'ENOENT') throw error;
      }
    }
    if (Date.now() > deadline) throw new Error(`qemu-nbd did not listen within ${LISTEN_TIMEOUT_MS / 1000} s`);
    await sleep(20, undefined, { signal });
  }
}

/**
 * Opens a container for reading in place. `input` names the file in errors: one line, naming the
 * file and what qemu-img or qemu-nbd said, with nothing left running and no folder left behind.
 */
export async function openContainerDisk(
  input: string,
  file: string,
  format: ContainerFormat,
  signal?: AbortSignal,
): Promise<GuestDisk> {
  const refusal = containerRefusal(input, file, format);
  if (refusal) throw refusal;
  const qemuImg = toolPath('qemu-img') as string; // containerRefusal found both tools.
  const qemuNbd = toolPath('qemu-nbd') as string;
  const handle = await fs.open(file, 'r');
  let folder: string | undefined;
  let server: Server | undefined;
  let client: NbdClient | undefined;
  const release = async () => {
    await client?.close().catch(() => undefined);
    if (server) await stopChild(server.child, server.exited, client ? EXIT_TIMEOUT_MS : 0);
    if (folder) await fs.rm(folder, { recursive: true, force: true });
    await handle.close();
  };
  try {
    const version = fileVersion(await handle.stat());
    let info: ContainerInfo;
    let regions: DataRegion[];
    try {
      info = parseContainerInfo(await run(qemuImg, ['info', '--output=json', '-f', format, file], signal), file);
      if (info.otherFiles.length > 0)
        throw new AwsInputError(
          input,
          `${file} takes part of its content from other files (${info.otherFiles.join(', ')}); make it one raw file first: ${convertCommand(format, file)}`,
        );
      regions = parseQemuImgMap(
        await run(qemuImg, ['map', '--output=json', '-f', format, file], signal),
        info.virtualSize,
      );
    } catch (error) {
      signal?.throwIfAborted();
      if (error instanceof AwsInputError) throw error;
      throw unreadable(input, file, format, error instanceof Error ? error.message : String(error));
    }
    await sweepStaleFolders();
    folder = await fs.mkdtemp(path.join(os.tmpdir(), `${NBD_FOLDER_PREFIX}${process.pid}-`));
    const socket = path.join(folder, 'nbd.sock');
    server = startServer(qemuNbd, format, socket, file);
    try {
      client = await connect(server, socket, file, signal);
    } catch (error) {
      signal?.throwIfAborted();
      // A failed handshake already names the file.
      if (error instanceof NbdError) throw new AwsInputError(input, error.message);
      throw new AwsInputError(
        input,
        `${file}: qemu-nbd could not serve this ${FORMAT_NAMES[format]} image: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    if (client.size !== info.virtualSize)
      throw new AwsInputError(
        input,
        `${file}: qemu-nbd serves ${client.size} bytes where qemu-img info says ${info.virtualSize}`,
      );
    const nbd = client;
    let closed: Promise<void> | undefined;
    return {
      file,
      size: info.virtualSize,
      format,
      version,
      dataExtents: () => Promise.resolve(regions.map((region) => ({ ...region }))),
      read: (buffer, length, position) => nbd.read(buffer, length, position),
      currentVersion: async () => fileVersion(await handle.stat()),
      close: () => (closed ??= release()),
    };
  } catch (error) {
    await release();
    throw error;
  }
}
