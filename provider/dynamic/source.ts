/**
 * What a bundle is made from, as one SHA-256: the image's bytes, or the kernel's bytes with the
 * options of the image built from it (that build is deterministic). Computed once per file state in
 * a process, so preview and update do not read a large image twice.
 */
import { createHash } from 'crypto';
import { createReadStream, promises as fs } from 'fs';
import { canonicalJson } from './values';

const cache = new Map<string, string>();

async function fileSha256(file: string): Promise<string> {
  const stats = await fs.stat(file);
  const key = `${file}\0${stats.size}\0${stats.mtimeMs}\0${stats.ino}`;
  const cached = cache.get(key);
  if (cached) return cached;
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1024 * 1024 })) hash.update(chunk as Buffer);
  const digest = hash.digest('hex');
  cache.set(key, digest);
  return digest;
}

export interface SourceDescription {
  imagePath?: string;
  kernelPath?: string;
  imageSize?: string;
  kernelCommandLine?: string;
}

export async function sourceHash(source: SourceDescription): Promise<string> {
  if (source.imagePath !== undefined) return fileSha256(source.imagePath);
  if (source.kernelPath === undefined) throw new Error('no image or kernel to hash');
  const kernel = await fileSha256(source.kernelPath);
  const recipe = canonicalJson({
    kind: 'pv-grub-ext2',
    kernel,
    imageSize: source.imageSize,
    cmdline: source.kernelCommandLine,
  });
  return createHash('sha256').update(recipe).digest('hex');
}

export { fileSha256 };
