/**
 * A disk image as the raw bytes of the guest's disk, which is what the EBS path writes and hashes.
 * A raw file is used as it is. A container (qcow2, VMDK, VHD, VHDX, VDI: diskFormat.ts) is converted
 * with `qemu-img` when it is on PATH (Debian `qemu-utils`); without it, it is refused with the
 * command that converts it.
 *
 * How: `qemu-img convert -f FORMAT -O raw` into a fresh file in a private temporary folder, which
 * is removed whatever happens (only a process killed outright leaves it, under the system's
 * temporary folder as `unikernel-ami-raw-*`). qemu-img leaves every run of zeros of 4 KiB or more
 * unwritten in a raw output (`-S 4k`, its default), so the file is sparse: the conversion costs the
 * guest's data in time and disk space, not its nominal size, and the raw file is then read over its
 * extents exactly as a raw image given by the user is (imageBlocks.ts). A pipe was not possible:
 * `qemu-img convert` writes its output with seeks and cannot write a pipe, `qemu-img dd` creates its
 * output as an image file too, and reading each extent through `qemu-io -c "read -v"` prints a hex
 * dump. Serving the image with `qemu-nbd` would stream it, at the cost of an NBD client here.
 *
 * A container that names other files (a backing file, an external data file, VMDK extents in other
 * files) is refused: its content would change without the file given changing, so its identity
 * could not be trusted. The file given must not change while it is converted.
 */
import { execFile } from 'child_process';
import { existsSync, promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ContainerFormat, convertCommand, FORMAT_NAMES } from './diskFormat';
import { AwsInputError } from './errors';
import { FileVersion, fileVersion, imageChanged, sameVersion } from './imageBlocks';
import { fileContainerFormat, notRaw } from './imageFormat';

/** The raw image to read: the file itself, or its conversion (`convertedFrom` its container format). */
export interface RawImage {
  path: string;
  convertedFrom?: ContainerFormat;
  /** The version of the file given (size, change times), as it was when converted. */
  sourceVersion: FileVersion;
}

/** Where temporary conversions go (the system's temporary folder, TMPDIR). */
export const RAW_TEMPORARY_PREFIX = 'unikernel-ami-raw-';

/** The qemu-img on PATH, or undefined. */
export function qemuImgPath(): string | undefined {
  const folders = (process.env.PATH ?? '').split(path.delimiter).filter((folder) => path.isAbsolute(folder));
  return folders.map((folder) => path.join(folder, 'qemu-img')).find((candidate) => existsSync(candidate));
}

/** The file's container format (undefined for raw); the file must be a non-empty regular file. */
export async function imageContainerFormat(input: string, file: string): Promise<ContainerFormat | undefined> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, 'r');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new AwsInputError(
      input,
      code === 'ENOENT' ? `${file}: no such file` : `${file} cannot be read (${code ?? String(error)})`,
    );
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw new AwsInputError(input, `${file} is not a regular file`);
    if (stats.size === 0) throw new AwsInputError(input, `${file} is empty`);
    return await fileContainerFormat(handle, stats.size);
  } finally {
    await handle.close();
  }
}

function run(tool: string, args: string[], signal?: AbortSignal): Promise<{ stdout: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      tool,
      args,
      { signal, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, LC_ALL: 'C' } },
      (error, stdout, stderr) => {
        if (!error) return resolve({ stdout });
        if (signal?.aborted) return reject(signal.reason ?? error);
        const line = stderr
          .split('\n')
          .map((text) => text.replace(/^qemu-img: /, '').trim())
          .find((text) => text.length > 0);
        reject(new Error(line ?? error.message.split('\n')[0]));
      },
    );
  });
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

function conversionFailed(input: string, file: string, format: ContainerFormat, why: string): AwsInputError {
  return new AwsInputError(
    input,
    `${file}: qemu-img could not convert this ${FORMAT_NAMES[format]} image to raw: ${why}`,
  );
}

/**
 * Runs `use` with the raw image of `file`: the file itself when it is raw, else a sparse raw
 * conversion that is removed once `use` is done (or has failed). `input` names the file in errors.
 */
export async function withRawImage<T>(
  input: string,
  file: string,
  use: (raw: RawImage) => Promise<T>,
  signal?: AbortSignal,
): Promise<T> {
  const format = await imageContainerFormat(input, file);
  const before = fileVersion(await fs.stat(file));
  if (format === undefined) return use({ path: file, sourceVersion: before });
  const qemuImg = qemuImgPath();
  if (qemuImg === undefined) throw notRaw(input, file, format);
  let info: ContainerInfo;
  try {
    info = parseContainerInfo((await run(qemuImg, ['info', '--output=json', '-f', format, file], signal)).stdout, file);
  } catch (error) {
    signal?.throwIfAborted();
    throw conversionFailed(input, file, format, error instanceof Error ? error.message : String(error));
  }
  if (info.otherFiles.length > 0)
    throw new AwsInputError(
      input,
      `${file} takes part of its content from other files (${info.otherFiles.join(', ')}); make it one raw file first: ${convertCommand(format, file)}`,
    );
  const folder = await fs.mkdtemp(path.join(os.tmpdir(), RAW_TEMPORARY_PREFIX));
  try {
    const raw = path.join(folder, `${path.basename(file)}.raw`);
    try {
      await run(qemuImg, ['convert', '-f', format, '-O', 'raw', file, raw], signal);
    } catch (error) {
      signal?.throwIfAborted();
      throw conversionFailed(input, file, format, error instanceof Error ? error.message : String(error));
    }
    if (!sameVersion(before, fileVersion(await fs.stat(file)))) throw imageChanged(file, 'while it was converted');
    return await use({ path: raw, convertedFrom: format, sourceVersion: before });
  } finally {
    await fs.rm(folder, { recursive: true, force: true });
  }
}
