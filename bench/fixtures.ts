/** What the benchmark bundles: generated images and throwaway keys, all inside its temporary folder. */
import { randomFillSync } from 'crypto';
import { promises as fs } from 'fs';
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

/** Writes `randomBytes` of random data and then `zeroBytes` of zeros, every byte really written (no hole). */
export async function writeDenseImage(file: string, randomBytes: number, zeroBytes: number, signal: AbortSignal): Promise<ImageFile> {
  const handle = await fs.open(file, 'wx', 0o644);
  try {
    const chunk = Buffer.alloc(MiB);
    for (let left = randomBytes; left > 0; left -= chunk.length) {
      signal.throwIfAborted();
      const slice = chunk.subarray(0, Math.min(chunk.length, left));
      randomFillSync(slice);
      await handle.write(slice);
    }
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

/** Writes `data` at the start and extends the file to `size` with truncate: the rest is a hole. */
export async function writeSparseImage(file: string, data: Buffer, size: number, signal: AbortSignal): Promise<ImageFile> {
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
    runChecked(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyOut, '-out', certOut, '-days', '2', '-subj', subject], {
      signal,
    });
  await request(keys.privateKey, keys.certificate, '/CN=unikernel-bench-user');
  await request(path.join(folder, 'pk-ec2-standin.pem'), keys.ec2Certificate, '/CN=unikernel-bench-ec2-standin');
  return keys;
}
