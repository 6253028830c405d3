/**
 * Reads a guest disk's 512 KiB blocks where its data is (guestDisk.ts: for a raw file the extents
 * its file system reports, as the bundler does, or the whole file when they cannot be had; for a
 * container the extents qemu-img map reports) and hashes the ones that are not all zeros: the cost
 * is the data, not the holes. The result, with the file's size and change times, is the input of
 * blockList.ts.
 */
import { DataRegion } from '../bundle/tarHeader';
import { ImageBlocks } from './blockList';
import { AwsInputError } from './errors';
import { blockChecksum, EBS_BLOCK_BYTES, imageBlockCount, isZeroBlock } from './ebsBlocks';
import { FileVersion, GuestDisk, openRawFile, sameVersion } from './guestDisk';

export { FileVersion, fileVersion, readBlock, sameVersion } from './guestDisk';

export interface HashedImage extends ImageBlocks {
  version: FileVersion;
  /** Blocks read (the rest lie wholly in holes). */
  blocksRead: number;
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

/** Hashes a file's bytes as they are (a raw image, a kernel); throws when the file changes while it is read. */
export async function hashImageBlocks(file: string, signal?: AbortSignal): Promise<HashedImage> {
  const disk = await openRawFile(file);
  try {
    return await hashGuestDisk(disk, signal);
  } finally {
    await disk.close();
  }
}

/**
 * Hashes a guest disk's blocks over its data extents; its version is the file given's. Throws when
 * that file changes while it is read.
 */
export async function hashGuestDisk(disk: GuestDisk, signal?: AbortSignal): Promise<HashedImage> {
  const { version, size } = disk;
  const regions = await disk.dataExtents();
  const digests = new Map<number, Buffer>();
  const buffer = Buffer.alloc(EBS_BLOCK_BYTES);
  const indexes = blocksWithData(size, regions);
  for (const index of indexes) {
    signal?.throwIfAborted();
    const offset = index * EBS_BLOCK_BYTES;
    const length = Math.min(EBS_BLOCK_BYTES, size - offset);
    if (!(await disk.read(buffer, length, offset))) throw imageChanged(disk.file);
    buffer.fill(0, length);
    if (!isZeroBlock(buffer)) digests.set(index, blockChecksum(buffer).digest);
  }
  if (!sameVersion(version, await disk.currentVersion())) throw imageChanged(disk.file);
  return { imageBytes: size, digests, version, blocksRead: indexes.length };
}

/** The image changed while it was read: what was read is not one version of it. */
export function imageChanged(file: string, when = 'while it was read'): AwsInputError {
  return new AwsInputError('image', `${file} changed ${when}; it must not change while it is hashed or uploaded`);
}
