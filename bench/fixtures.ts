/** What the benchmark bundles: generated images and throwaway keys, all inside its temporary folder. */
import { spawn } from 'child_process';
import { randomFillSync } from 'crypto';
import { existsSync, promises as fs } from 'fs';
import * as path from 'path';
import { runChecked } from './processes';

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;
/** A fixed modification time, so that every tar header of a run is the same. */
const IMAGE_MTIME = 1_700_000_000;

export interface ImageFile {
  path: string;
  name: string;
  size: number;
  /** Bytes allocated on disk (st_blocks × 512): below `size` when the file has holes. */
  allocated: number;
}

async function describe(file: string): Promise<ImageFile> {
  const stats = await fs.stat(file);
  return { path: file, name: path.basename(file), size: stats.size, allocated: stats.blocks * 512 };
}

/** Appends `bytes` of random data through `chunk`, a scratch buffer. */
async function writeRandom(handle: fs.FileHandle, chunk: Buffer, bytes: number, signal: AbortSignal): Promise<void> {
  for (let left = bytes; left > 0; left -= chunk.length) {
    signal.throwIfAborted();
    const slice = chunk.subarray(0, Math.min(chunk.length, left));
    randomFillSync(slice);
    await handle.write(slice);
  }
}

/** Writes `randomBytes` of random data and then `zeroBytes` of zeros, every byte really written (no hole). */
export async function writeDenseImage(
  file: string,
  randomBytes: number,
  zeroBytes: number,
  signal: AbortSignal,
): Promise<ImageFile> {
  const handle = await fs.open(file, 'wx', 0o644);
  try {
    const chunk = Buffer.alloc(MiB);
    await writeRandom(handle, chunk, randomBytes, signal);
    chunk.fill(0);
    for (let left = zeroBytes; left > 0; left -= chunk.length) {
      signal.throwIfAborted();
      await handle.write(chunk, 0, Math.min(chunk.length, left));
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fs.utimes(file, IMAGE_MTIME, IMAGE_MTIME);
  const image = await describe(file);
  if (image.allocated < image.size) {
    throw new Error(`${file} should be fully allocated but only ${image.allocated} of ${image.size} bytes are on disk`);
  }
  return image;
}

/** Where the compressible half of the dense image comes from: what an OS image holds, in that order of preference. */
const CONTENT_FOLDERS = ['usr/share', 'usr/lib', 'usr/bin'];

/**
 * Writes `randomBytes` of random data, then `contentBytes` of a GNU tar of /usr/share, /usr/lib and
 * /usr/bin (text, man pages, locale data, ELF binaries and libraries), cut at that length and
 * started again if the tar is shorter: data that compresses to about half, slowly, as real file
 * systems do.
 */
export async function writeContentImage(
  file: string,
  randomBytes: number,
  contentBytes: number,
  signal: AbortSignal,
): Promise<ImageFile> {
  const folders = CONTENT_FOLDERS.filter((folder) => existsSync(path.join('/', folder)));
  if (folders.length === 0)
    throw new Error(`none of /${CONTENT_FOLDERS.join(', /')} exists to fill the dense image with`);
  const handle = await fs.open(file, 'wx', 0o644);
  try {
    const chunk = Buffer.alloc(MiB);
    await writeRandom(handle, chunk, randomBytes, signal);
    let left = contentBytes;
    while (left > 0) {
      const before = left;
      left = await copyTarInto(handle, folders, left, signal);
      if (left === before) throw new Error(`tar of /${folders.join(', /')} gave no data`);
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fs.utimes(file, IMAGE_MTIME, IMAGE_MTIME);
  return describe(file);
}

/** Appends up to `limit` bytes of the tar of `folders`; returns how many bytes are still wanted. */
async function copyTarInto(
  handle: fs.FileHandle,
  folders: string[],
  limit: number,
  signal: AbortSignal,
): Promise<number> {
  const tar = spawn('tar', ['-c', '--ignore-failed-read', '--owner', '0', '--group', '0', '-C', '/', ...folders], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const stop = () => tar.kill('SIGTERM');
  signal.addEventListener('abort', stop, { once: true });
  let left = limit;
  try {
    for await (const data of tar.stdout as AsyncIterable<Buffer>) {
      const piece = data.subarray(0, Math.min(data.length, left));
      await handle.write(piece);
      left -= piece.length;
      if (left === 0) break;
    }
  } finally {
    signal.removeEventListener('abort', stop);
    if (tar.exitCode === null) tar.kill('SIGTERM');
  }
  signal.throwIfAborted();
  return left;
}

/** Writes `data` at the start and extends the file to `size` with truncate: the rest is a hole. */
export async function writeSparseImage(
  file: string,
  data: Buffer,
  size: number,
  signal: AbortSignal,
): Promise<ImageFile> {
  signal.throwIfAborted();
  const handle = await fs.open(file, 'wx', 0o644);
  try {
    await handle.write(data);
    await handle.truncate(size);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fs.utimes(file, IMAGE_MTIME, IMAGE_MTIME);
  return describe(file);
}

export interface KeyFiles {
  privateKey: string;
  certificate: string;
  ec2Certificate: string;
}

/** A throwaway user key and certificate, and a self-signed stand-in for EC2's bundling certificate. */
export async function makeKeys(folder: string, signal: AbortSignal): Promise<KeyFiles> {
  const keys: KeyFiles = {
    privateKey: path.join(folder, 'pk-bench.pem'),
    certificate: path.join(folder, 'cert-bench.pem'),
    ec2Certificate: path.join(folder, 'cert-ec2-standin.pem'),
  };
  const request = (keyOut: string, certOut: string, subject: string) =>
    runChecked(
      [
        'openssl',
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        keyOut,
        '-out',
        certOut,
        '-days',
        '2',
        '-subj',
        subject,
      ],
      {
        signal,
      },
    );
  await request(keys.privateKey, keys.certificate, '/CN=unikernel-bench-user');
  await request(path.join(folder, 'pk-ec2-standin.pem'), keys.ec2Certificate, '/CN=unikernel-bench-ec2-standin');
  return keys;
}
