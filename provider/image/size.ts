/**
 * How big the image is and how its ext2 file system is shaped: parsing `--size`, the smallest file
 * system that holds the files, the default (that plus headroom), block size and inode count. Pure.
 */
import { MAX_IMAGE_SIZE } from '../common/constants';
import { ImageInputError } from './errors';

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;

/** The default image is never smaller than this, so a tiny kernel still gets a comfortable image. */
export const DEFAULT_MINIMUM_SIZE = 8 * MiB;
/** Above this size the file system uses 4 KiB blocks (as mke2fs does for non-"small" file systems). */
export const SMALL_FILE_SYSTEM_LIMIT = 512 * MiB;
/** Inodes asked of mke2fs: the image holds a handful of files; mke2fs rounds up to fill its tables. */
export const INODE_COUNT = 64;
export const INODE_SIZE = 128;

const UNITS: Record<string, number> = { '': 1, k: KiB, m: MiB, g: GiB, t: 1024 * GiB };
const SIZE_HINT = 'give a size such as 32M, 1G or 33554432 (bytes); K, M and G are powers of 1024';

/** `32M`, `1G`, `1.5G`, `512KiB` or a plain number of bytes. */
export function parseSize(text: string | number): number {
  if (typeof text === 'number') {
    if (!Number.isSafeInteger(text) || text <= 0)
      throw new ImageInputError('size', `${text} is not a positive whole number of bytes; ${SIZE_HINT}`);
    return text;
  }
  const match = /^\s*(\d+(?:\.\d+)?)\s*(?:([kmgt])(?:ib)?)?\s*$/i.exec(text);
  if (!match) throw new ImageInputError('size', `"${text}" is not a size; ${SIZE_HINT}`);
  const bytes = Number(match[1]) * UNITS[(match[2] ?? '').toLowerCase()];
  if (!Number.isSafeInteger(bytes) || bytes <= 0) {
    throw new ImageInputError('size', `"${text}" is not a positive whole number of bytes; ${SIZE_HINT}`);
  }
  return bytes;
}

export function formatSize(bytes: number): string {
  if (bytes % GiB === 0) return `${bytes / GiB}G`;
  if (bytes % MiB === 0) return `${bytes / MiB}M`;
  if (bytes % KiB === 0) return `${bytes / KiB}K`;
  return `${bytes} bytes`;
}

export function blockSizeFor(imageSize: number): 1024 | 4096 {
  return imageSize > SMALL_FILE_SYSTEM_LIMIT ? 4096 : 1024;
}

/** Blocks a regular file of `bytes` takes in ext2: its data plus indirect, double and triple indirect blocks. */
export function fileBlocks(bytes: number, blockSize: number): number {
  const data = Math.ceil(bytes / blockSize);
  const perBlock = blockSize / 4;
  let left = data - 12;
  let metadata = 0;
  if (left > 0) {
    metadata += 1;
    left -= perBlock;
  }
  if (left > 0) {
    metadata += 1 + Math.ceil(Math.min(left, perBlock * perBlock) / perBlock);
    left -= perBlock * perBlock;
  }
  if (left > 0) {
    const second = Math.ceil(left / perBlock);
    metadata += 1 + Math.ceil(second / perBlock) + second;
  }
  return data + metadata;
}

/**
 * The smallest image (in bytes, a whole number of blocks) that holds these files: their blocks, four
 * directories (/, lost+found at 16 KiB, /boot, /boot/grub), and per-group metadata (superblock and
 * descriptor copies, two bitmaps, the inode table), with a small margin. An estimate on the safe side;
 * mke2fs has the last word.
 */
export function minimumImageSize(fileSizes: number[], blockSize: number): number {
  const content = fileSizes.reduce((sum, bytes) => sum + fileBlocks(bytes, blockSize), 0);
  const directories = 3 + Math.ceil((16 * KiB) / blockSize);
  const blocksPerGroup = 8 * blockSize;
  const fixed = content + directories + 64 + (blockSize === 1024 ? 1 : 0);
  let total = fixed;
  for (let round = 0; round < 8; round++) {
    const groups = Math.max(1, Math.ceil(total / blocksPerGroup));
    const inodesPerGroup = Math.ceil(INODE_COUNT / groups / 8) * 8;
    const inodeTable = Math.max(1, Math.ceil((inodesPerGroup * INODE_SIZE) / blockSize));
    const descriptors = Math.ceil((groups * 32) / blockSize);
    const next = fixed + groups * (1 + descriptors + 2 + inodeTable);
    if (next === total) break;
    total = next;
  }
  return total * blockSize;
}

export interface ImagePlan {
  /** Bytes of the image file. */
  size: number;
  blockSize: 1024 | 4096;
  blocks: number;
  inodes: number;
  /** The smallest size these files fit in, for messages. */
  minimumSize: number;
  /** True when the size was chosen, not given. */
  defaulted: boolean;
}

function roundUp(value: number, unit: number): number {
  return Math.ceil(value / unit) * unit;
}

/**
 * The image's size and shape. With no `requested` size: the files plus headroom (a quarter of their
 * size, at least 4 MiB), rounded up to a MiB, at least 8 MiB. A requested size is used exactly, and
 * refused when it is too small for the files, above the 10 GiB bundle limit or not whole blocks.
 */
export function planImage(fileSizes: number[], requested?: number): ImagePlan {
  const contentBytes = fileSizes.reduce((sum, bytes) => sum + bytes, 0);
  if (requested === undefined) {
    let blockSize = blockSizeFor(DEFAULT_MINIMUM_SIZE);
    let minimumSize = minimumImageSize(fileSizes, blockSize);
    let size = Math.max(
      DEFAULT_MINIMUM_SIZE,
      roundUp(minimumSize + Math.max(4 * MiB, Math.ceil(contentBytes / 4)), MiB),
    );
    if (blockSizeFor(size) !== blockSize) {
      blockSize = blockSizeFor(size);
      minimumSize = minimumImageSize(fileSizes, blockSize);
      size = roundUp(Math.max(size, minimumSize), MiB);
    }
    if (size > MAX_IMAGE_SIZE) {
      throw new ImageInputError(
        'kernel',
        `the gzipped kernel (${contentBytes} bytes with menu.lst) needs an image of ${formatSize(size)}, above the 10 GiB limit of instance-store images`,
      );
    }
    return { size, blockSize, blocks: size / blockSize, inodes: INODE_COUNT, minimumSize, defaulted: true };
  }

  if (requested > MAX_IMAGE_SIZE) {
    throw new ImageInputError(
      'size',
      `${formatSize(requested)} is above the 10 GiB (${MAX_IMAGE_SIZE} bytes) limit of instance-store images: give a smaller size`,
    );
  }
  const blockSize = blockSizeFor(requested);
  if (requested % blockSize !== 0) {
    throw new ImageInputError(
      'size',
      `${requested} bytes is not a whole number of ${blockSize}-byte file system blocks: give e.g. ${formatSize(roundUp(requested, MiB))}`,
    );
  }
  const minimumSize = minimumImageSize(fileSizes, blockSize);
  if (requested < minimumSize) {
    throw new ImageInputError(
      'size',
      `${formatSize(requested)} is too small for the gzipped kernel and menu.lst (${contentBytes} bytes): give at least ${formatSize(roundUp(minimumSize, MiB))}, or leave the size out`,
    );
  }
  return {
    size: requested,
    blockSize,
    blocks: requested / blockSize,
    inodes: INODE_COUNT,
    minimumSize,
    defaulted: false,
  };
}
