/** Checks on the image file to bundle, and the scan that finds its holes. */
import { promises as fs, Stats } from 'fs';
import { MAX_IMAGE_SIZE } from './constants';
import { BundleInputError, isErrnoException } from './errors';
import { SparseScanner } from './sparseScan';
import { DataRegion, SparseLayout } from './tarHeader';
import { fileDataExtents } from './extents';
import { READ_CHUNK_SIZE } from './tarStream';

/** Stats the image (following symlinks, like `tar -h`) and refuses what cannot be bundled. */
export async function statImage(imagePath: string): Promise<Stats> {
  let stats: Stats;
  try {
    stats = await fs.stat(imagePath);
  } catch (error) {
    if (isErrnoException(error) && (error.code === 'ENOENT' || error.code === 'ENOTDIR')) {
      throw new BundleInputError('image', `${imagePath} does not exist; give the path of the disk image to bundle`);
    }
    if (isErrnoException(error) && error.code === 'EACCES') {
      throw new BundleInputError('image', `${imagePath} cannot be read (permission denied)`);
    }
    throw error;
  }
  if (stats.isDirectory()) {
    throw new BundleInputError('image', `${imagePath} is a directory; give the disk image file inside it`);
  }
  if (!stats.isFile()) {
    throw new BundleInputError(
      'image',
      `${imagePath} is not a regular file; copy the device or stream into an image file first`,
    );
  }
  if (stats.size === 0) {
    throw new BundleInputError('image', `${imagePath} is empty (0 bytes); give a disk image with content`);
  }
  if (stats.size > MAX_IMAGE_SIZE) {
    throw new BundleInputError(
      'image',
      `${imagePath} is ${stats.size} bytes; instance-store images are limited to 10 GiB (${MAX_IMAGE_SIZE} bytes): shrink the file system or use an EBS-backed image`,
    );
  }
  return stats;
}

/**
 * Finds the zero blocks of the image. `dataExtents`, when the file system told where the data is,
 * lets the holes between them be passed over without reading them.
 */
export async function scanForHoles(
  file: fs.FileHandle,
  size: number,
  onScanned: (bytes: number) => void = () => undefined,
  signal?: AbortSignal,
  dataExtents: DataRegion[] = [{ offset: 0, length: size }],
): Promise<SparseLayout | undefined> {
  const scanner = new SparseScanner();
  const buffer = Buffer.allocUnsafe(READ_CHUNK_SIZE);
  let position = 0;
  for (const extent of [...dataExtents, { offset: size, length: 0 }]) {
    if (extent.offset > position) {
      scanner.skip(extent.offset - position);
      onScanned(extent.offset - position);
      position = extent.offset;
    }
    const end = Math.min(size, extent.offset + extent.length);
    while (position < end) {
      signal?.throwIfAborted();
      const { bytesRead } = await file.read(buffer, 0, Math.min(buffer.length, end - position), position);
      if (bytesRead === 0) throw new Error(`the image shrank while it was being scanned (at byte ${position})`);
      scanner.push(buffer.subarray(0, bytesRead));
      position += bytesRead;
      onScanned(bytesRead);
    }
  }
  return scanner.finish();
}

/** Data extents worth asking the file system for: only a file with fewer blocks than its size has holes. */
export async function knownDataExtents(imagePath: string, stats: Stats): Promise<DataRegion[] | undefined> {
  return stats.blocks * 512 < stats.size ? fileDataExtents(imagePath, stats.size) : undefined;
}

/**
 * True when the file is still the one that was stat'ed before bundling began, unchanged. The change
 * time counts, not only the mtime: any write moves it, and so does setting the mtime back (`touch -d`,
 * `utimes`), which the kernel lets no one forge.
 */
export function sameFile(before: Stats, after: Stats): boolean {
  return (
    before.size === after.size &&
    before.mtimeMs === after.mtimeMs &&
    before.ctimeMs === after.ctimeMs &&
    before.ino === after.ino &&
    before.dev === after.dev
  );
}
