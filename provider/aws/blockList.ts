/**
 * An image's content as 512 KiB EBS blocks (pure): the SHA-256 of every block that holds data, zero
 * blocks left out (they all have the same digest, `ZERO_BLOCK_DIGEST`). From it come the content
 * identity (a hole and written zeros give the same one), the compact list kept in the state to know
 * what the next image changed, and the plan of the blocks a snapshot must be written with: all of
 * them, or against a parent snapshot only those that differ. The reading is `imageBlocks.ts`; the
 * writing is `ebsUpload.ts`.
 */
import { createHash } from 'crypto';
import { EBS_BLOCK_BYTES, imageBlockCount } from './ebsBlocks';
import { isWholeNumber } from '../common/numbers';

/** SHA-256 of 512 KiB of zeros: what every zero block (a hole or written zeros) hashes to. */
export const ZERO_BLOCK_DIGEST = createHash('sha256').update(Buffer.alloc(EBS_BLOCK_BYTES)).digest();

/** Bytes of each block's SHA-256 kept in the compact list (128 bits: no accidental match in any image). */
export const LISTED_DIGEST_BYTES = 16;
const LIST_VERSION = 'b1';
const ENTRY_BYTES = 4 + LISTED_DIGEST_BYTES;

export interface ImageBlocks {
  imageBytes: number;
  /** Block index → SHA-256 of the block padded to 512 KiB, for the blocks that are not all zeros. */
  digests: ReadonlyMap<number, Buffer>;
}

/** What a previous snapshot held, as the state keeps it: the non-zero blocks' digest prefixes. */
export interface BlockList {
  imageBytes: number;
  prefixes: ReadonlyMap<number, Buffer>;
}

/** The image's content identity (hex): SHA-256 over its size and every non-zero block's index and digest. */
export function contentIdentity(blocks: ImageBlocks): string {
  const hash = createHash('sha256').update(`unikernel-ami blocks v1 ${EBS_BLOCK_BYTES} ${blocks.imageBytes}\n`);
  const entry = Buffer.alloc(4);
  for (const index of [...blocks.digests.keys()].sort((a, b) => a - b)) {
    entry.writeUInt32BE(index);
    hash.update(entry).update(blocks.digests.get(index) as Buffer);
  }
  return hash.digest('hex');
}

/** The compact list for the state: `b1.<image bytes>.<base64 of (uint32 index, 16-byte digest prefix) per non-zero block>`. */
export function encodeBlockList(blocks: ImageBlocks): string {
  const indexes = [...blocks.digests.keys()].sort((a, b) => a - b);
  const packed = Buffer.alloc(indexes.length * ENTRY_BYTES);
  indexes.forEach((index, position) => {
    packed.writeUInt32BE(index, position * ENTRY_BYTES);
    (blocks.digests.get(index) as Buffer).copy(packed, position * ENTRY_BYTES + 4, 0, LISTED_DIGEST_BYTES);
  });
  return `${LIST_VERSION}.${blocks.imageBytes}.${packed.toString('base64')}`;
}

/** The list back, or undefined when the text is not one (another version, cut short, out of order). */
export function decodeBlockList(text: unknown): BlockList | undefined {
  if (typeof text !== 'string') return undefined;
  const match = /^b1\.(\d{1,16})\.([A-Za-z0-9+/]*={0,2})$/.exec(text);
  if (!match) return undefined;
  const imageBytes = Number(match[1]);
  const packed = Buffer.from(match[2], 'base64');
  if (!isWholeNumber(imageBytes, 1, Number.MAX_SAFE_INTEGER) || packed.length % ENTRY_BYTES !== 0) return undefined;
  const blockCount = imageBlockCount(imageBytes);
  const prefixes = new Map<number, Buffer>();
  let previous = -1;
  for (let offset = 0; offset < packed.length; offset += ENTRY_BYTES) {
    const index = packed.readUInt32BE(offset);
    if (index <= previous || index >= blockCount) return undefined;
    prefixes.set(index, packed.subarray(offset + 4, offset + ENTRY_BYTES));
    previous = index;
  }
  return { imageBytes, prefixes };
}

export interface PlannedBlock {
  index: number;
  /**
   * The SHA-256 the block must have when read (ZERO_BLOCK_DIGEST for zeros); undefined in a plan
   * made before hashing (planUnhashed): the block is hashed as it is read.
   */
  digest?: Buffer;
  /** All zeros: sent without reading the image. */
  zero: boolean;
}

export interface BlockPlan {
  /** The blocks to write, in index order. */
  blocks: PlannedBlock[];
  /** Blocks of the image that are all zeros. */
  zeroBlocks: number;
  /** With a parent: blocks of the image left as the parent has them. */
  unchangedBlocks: number;
}

/**
 * The blocks a snapshot must be written with. Without a parent: every block of the image, zero
 * blocks only unless `skipZeroBlocks`. With a parent (whose content `parent` lists): only the blocks
 * whose content differs from the parent's, zero blocks included where the parent had data (also past
 * the end of a shorter image), since a child reads every block it does not write from its parent.
 */
export function planBlocks(current: ImageBlocks, parent: BlockList | undefined, skipZeroBlocks: boolean): BlockPlan {
  const imageBlocks = imageBlockCount(current.imageBytes);
  const zeroBlocks = imageBlocks - current.digests.size;
  const blocks: PlannedBlock[] = [];
  if (parent === undefined) {
    for (let index = 0; index < imageBlocks; index++) {
      const digest = current.digests.get(index);
      if (digest) blocks.push({ index, digest, zero: false });
      else if (!skipZeroBlocks) blocks.push({ index, digest: ZERO_BLOCK_DIGEST, zero: true });
    }
    return { blocks, zeroBlocks, unchangedBlocks: 0 };
  }
  const indexes = new Set([...current.digests.keys(), ...parent.prefixes.keys()]);
  for (const index of [...indexes].sort((a, b) => a - b)) {
    const digest = current.digests.get(index);
    const before = parent.prefixes.get(index);
    if (digest && before && digest.subarray(0, LISTED_DIGEST_BYTES).equals(before)) continue;
    blocks.push(digest ? { index, digest, zero: false } : { index, digest: ZERO_BLOCK_DIGEST, zero: true });
  }
  const changedInImage = blocks.filter((block) => block.index < imageBlocks).length;
  return { blocks, zeroBlocks, unchangedBlocks: imageBlocks - changedInImage };
}

/**
 * The plan of a full upload that hashes the image as it reads it, so that it is read once: the
 * blocks where the file system reports data (`withData`), to read and hash as they are sent (a block
 * that turns out to hold only zeros is then sent as zeros, or skipped with `skipZeroBlocks`), and
 * the others, zeros without reading (left out with `skipZeroBlocks`). `zeroBlocks` counts those
 * only: the blocks read that hold zeros are known once read.
 */
export function planUnhashed(imageBytes: number, withData: readonly number[], skipZeroBlocks: boolean): BlockPlan {
  const imageBlocks = imageBlockCount(imageBytes);
  const data = new Set(withData);
  const blocks: PlannedBlock[] = [];
  for (let index = 0; index < imageBlocks; index++) {
    if (data.has(index)) blocks.push({ index, zero: false });
    else if (!skipZeroBlocks) blocks.push({ index, digest: ZERO_BLOCK_DIGEST, zero: true });
  }
  return { blocks, zeroBlocks: imageBlocks - data.size, unchangedBlocks: 0 };
}
