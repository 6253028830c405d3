/**
 * The one reader of small files named by an input (keys, certificates, passphrases, manifests): it
 * reads only a regular file, at most `maxBytes` of it, and never blocks the event loop. A FIFO with
 * no writer, a terminal or /dev/zero is refused at once instead of hanging or filling memory, so
 * Ctrl-C and SIGTERM keep working whatever the path names.
 */
import { constants, promises as fs, Stats } from 'fs';
import { isErrnoException } from './errors';

export type SmallFileProblem = 'missing' | 'directory' | 'not-regular' | 'too-large' | 'unreadable';

/** Why a small file could not be read, as a fault without the path (the caller names the input). */
export class SmallFileError extends Error {
  constructor(
    readonly problem: SmallFileProblem,
    message: string,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'SmallFileError';
  }
}

function kindOf(stats: Stats): string {
  if (stats.isFIFO()) return 'a FIFO (named pipe)';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  if (stats.isSocket()) return 'a socket';
  return 'not a regular file';
}

function describeBytes(bytes: number): string {
  return bytes >= 1024 * 1024 && bytes % (1024 * 1024) === 0
    ? `${bytes / (1024 * 1024)} MiB`
    : bytes >= 1024 && bytes % 1024 === 0
      ? `${bytes / 1024} KiB`
      : `${bytes} bytes`;
}

function openFailure(error: unknown): SmallFileError {
  const code = isErrnoException(error) ? error.code : undefined;
  if (code === 'ENOENT') return new SmallFileError('missing', 'no such file', code);
  if (code === 'ENOTDIR') return new SmallFileError('missing', 'no such file (a folder on its path is a file)', code);
  if (code === 'EACCES' || code === 'EPERM') return new SmallFileError('unreadable', 'permission denied', code);
  return new SmallFileError(
    'unreadable',
    `cannot be read (${code ?? (error instanceof Error ? error.message : String(error))})`,
    code,
  );
}

/**
 * The file's bytes, when it is a regular file of at most `maxBytes` bytes (also when it grows while
 * being read). Opened non-blocking, so a FIFO's open returns at once and its type is then refused.
 */
export async function readSmallFileBytes(filePath: string, maxBytes: number): Promise<Buffer> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(filePath, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    throw openFailure(error);
  }
  try {
    const stats = await handle.stat();
    if (stats.isDirectory()) throw new SmallFileError('directory', 'is a directory; give a file');
    if (!stats.isFile())
      throw new SmallFileError('not-regular', `is ${kindOf(stats)}, not a regular file; give a regular file`);
    const tooLarge = () =>
      new SmallFileError(
        'too-large',
        `is larger than ${describeBytes(maxBytes)}, far more than such a file holds; give the right file`,
      );
    if (stats.size > maxBytes) throw tooLarge();
    // One byte more than allowed tells a file that grew past the cap from one that fits it exactly.
    const buffer = Buffer.allocUnsafe(maxBytes + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > maxBytes) throw tooLarge();
    }
    return buffer.subarray(0, length);
  } catch (error) {
    if (error instanceof SmallFileError) throw error;
    throw openFailure(error);
  } finally {
    await handle.close();
  }
}

/** `readSmallFileBytes` as UTF-8 text. */
export async function readSmallFile(filePath: string, maxBytes: number): Promise<string> {
  return (await readSmallFileBytes(filePath, maxBytes)).toString('utf8');
}
