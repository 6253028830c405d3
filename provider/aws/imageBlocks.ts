/**
 * Reads an image's 512 KiB blocks where its data is (the extents its file system reports, as the
 * bundler does; the whole file when they cannot be had) and hashes the ones that are not all zeros:
 * the cost is the data, not the holes. The result, with the file's size and change times, is the
 * input of blockList.ts.
 */
import { promises as fs } from 'fs';
import { DataRegion } from '../bundle/tarHeader';
import { fileDataExtents } from '../bundle/extents';
import { ImageBlocks } from './blockList';
import { AwsInputError } from './errors';
import { blockChecksum, EBS_BLOCK_BYTES, imageBlockCount, isZeroBlock } from './ebsBlocks';

/** What says a file changed: a write moves its mtime and ctime, a truncation its size too. */
export interface FileVersion {
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
}

export interface HashedImage extends ImageBlocks {
  version: FileVersion;
  /** Blocks read (the rest lie wholly in holes). */
  blocksRead: number;
}

export function fileVersion(stats: { size: number; mtimeMs: number; ctimeMs: number; ino: number }): FileVersion {
  return { size: stats.size, mtimeMs: stats.mtimeMs, ctimeMs: stats.ctimeMs, ino: stats.ino };
}

export function sameVersion(a: FileVersion, b: FileVersion): boolean {
  return a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs && a.ino === b.ino;
}

/** Indexes of the blocks that some data region touches, in order (all of them without regions). */
export function blocksWithData(imageBytes: number, regions: readonly DataRegion[] | undefined): number[] {
  const count = imageBlockCount(imageBytes);
  if (regions === undefined) return Array.from({ length: count }, (_, index) => index);
  const indexes: number[] = [];
  for (const region of regions) {
    if (region.length <= 0) continue;
    const first = Math.floor(region.offset / EBS_BLOCK_BYTES);
    const last = Math.min(count - 1, Math.floor((region.offset + region.length - 1) / EBS_BLOCK_BYTES));
    for (let index = Math.max(first, (indexes[indexes.length - 1] ?? -1) + 1); index <= last; index++)
      indexes.push(index);
  }
  return indexes;
}

/** Reads `length` bytes at `position`; false when the file ended first. */
export async function readBlock(handle: fs.FileHandle, buffer: Buffer, length: number, position: number) {
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(buffer, done, length - done, position + done);
    if (bytesRead === 0) return false;
    done += bytesRead;
  }
  return true;
}

/** Hashes the image's blocks; throws when the file changes while it is read. */
export async function hashImageBlocks(file: string, signal?: AbortSignal): Promise<HashedImage> {
  const handle = await fs.open(file, 'r');
  try {
    const version = fileVersion(await handle.stat());
    const regions = await fileDataExtents(file, version.size);
    const digests = new Map<number, Buffer>();
    const buffer = Buffer.alloc(EBS_BLOCK_BYTES);
    const indexes = blocksWithData(version.size, regions);
    for (const index of indexes) {
      signal?.throwIfAborted();
      const offset = index * EBS_BLOCK_BYTES;
      const length = Math.min(EBS_BLOCK_BYTES, version.size - offset);
      if (!(await readBlock(handle, buffer, length, offset))) throw imageChanged(file);
      buffer.fill(0, length);
      if (!isZeroBlock(buffer)) digests.set(index, blockChecksum(buffer).digest);
    }
    if (!sameVersion(version, fileVersion(await handle.stat()))) throw imageChanged(file);
    return { imageBytes: version.size, digests, version, blocksRead: indexes.length };
  } finally {
    await handle.close();
  }
}

/** The image changed while it was read: what was read is not one version of it. */
export function imageChanged(file: string, when = 'while it was read'): AwsInputError {
  return new AwsInputError('image', `${file} changed ${when}; it must not change while it is hashed or uploaded`);
}
