/**
 * The block arithmetic of the EBS direct APIs (pure): a snapshot is written in 512 KiB blocks,
 * each sent with the base64 SHA-256 of its 512 KiB; the last block of an image is padded with
 * zeros to the full size; the volume is a whole number of GiB; CompleteSnapshot takes the LINEAR
 * aggregate of the block checksums.
 *
 * LINEAR, as AWS defines it for CompleteSnapshot: "arrange the checksums for each written block in
 * ascending order of their block index, concatenate them to form a single string, and then generate
 * the checksum on the entire string using the SHA256 algorithm" (EBS direct APIs reference,
 * CompleteSnapshot, x-amz-Checksum). The checksums concatenated are the 32-byte SHA-256 digests, not
 * their base64 text; that is how awslabs/coldsnap, Amazon's own uploader, computes it.
 */
import { createHash } from 'crypto';
import { AwsInputError } from './errors';
import { isWholeNumber } from '../common/numbers';

/** The only block size the EBS direct APIs accept (x-amz-Data-Length). */
export const EBS_BLOCK_BYTES = 512 * 1024;
export const GIB = 1024 * 1024 * 1024;
export const BLOCKS_PER_GIB = GIB / EBS_BLOCK_BYTES;
/** StartSnapshot's VolumeSize limit: 64 TiB. */
export const MAX_SNAPSHOT_GIB = 65_536;

const ZERO_BLOCK = Buffer.alloc(EBS_BLOCK_BYTES);

/** The smallest volume an image fits in: ceil(bytes / GiB), at least 1 GiB. */
export function minimumVolumeGiB(imageBytes: number): number {
  return Math.max(1, Math.ceil(imageBytes / GIB));
}

/** The snapshot's volume size: the minimum for the image, or a requested size that is not smaller. */
export function snapshotVolumeGiB(imageBytes: number, requestedGiB?: number): number {
  if (!isWholeNumber(imageBytes, 0, Number.MAX_SAFE_INTEGER))
    throw new RangeError(`image size ${imageBytes} is not a byte count`);
  const minimum = minimumVolumeGiB(imageBytes);
  if (requestedGiB !== undefined) {
    if (!isWholeNumber(requestedGiB, 1))
      throw new AwsInputError('volumeSize', `volume size ${requestedGiB} is not a whole number of GiB of at least 1`);
    if (requestedGiB < minimum) {
      throw new AwsInputError(
        'volumeSize',
        `volume size ${requestedGiB} GiB is smaller than the image (${imageBytes} bytes need at least ${minimum} GiB)`,
      );
    }
  }
  const size = requestedGiB ?? minimum;
  if (size > MAX_SNAPSHOT_GIB)
    throw new AwsInputError(
      'volumeSize',
      `volume size ${size} GiB is larger than the ${MAX_SNAPSHOT_GIB} GiB EBS allows`,
    );
  return size;
}

/** Blocks that hold some of the image: ceil(bytes / 512 KiB). */
export function imageBlockCount(imageBytes: number): number {
  return Math.ceil(imageBytes / EBS_BLOCK_BYTES);
}

export interface SnapshotPlan {
  imageBytes: number;
  volumeSizeGiB: number;
  /** Blocks the volume has (volume size × 2048). */
  volumeBlocks: number;
  /** Blocks that hold some of the image, index 0 to imageBlocks − 1. */
  imageBlocks: number;
  /** Image bytes in the last block (≤ 512 KiB; the rest of it is zero padding). */
  lastBlockBytes: number;
}

export function planSnapshot(imageBytes: number, requestedGiB?: number): SnapshotPlan {
  const volumeSizeGiB = snapshotVolumeGiB(imageBytes, requestedGiB);
  const imageBlocks = imageBlockCount(imageBytes);
  return {
    imageBytes,
    volumeSizeGiB,
    volumeBlocks: volumeSizeGiB * BLOCKS_PER_GIB,
    imageBlocks,
    lastBlockBytes: imageBlocks === 0 ? 0 : imageBytes - (imageBlocks - 1) * EBS_BLOCK_BYTES,
  };
}

/** Where block `index` of an image lies in the file, and how many image bytes it holds. */
export function blockSpan(index: number, imageBytes: number): { offset: number; length: number } {
  const offset = index * EBS_BLOCK_BYTES;
  if (!isWholeNumber(index, 0) || offset >= imageBytes)
    throw new RangeError(`block ${index} is outside an image of ${imageBytes} bytes`);
  return { offset, length: Math.min(EBS_BLOCK_BYTES, imageBytes - offset) };
}

export function isZeroBlock(data: Uint8Array): boolean {
  if (data.length > EBS_BLOCK_BYTES)
    throw new RangeError(`a block holds at most ${EBS_BLOCK_BYTES} bytes, not ${data.length}`);
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).equals(ZERO_BLOCK.subarray(0, data.length));
}

/** The block's SHA-256: raw (for the aggregate) and base64 (x-amz-Checksum). */
export function blockChecksum(data: Uint8Array): { digest: Buffer; checksum: string } {
  const digest = createHash('sha256').update(data).digest();
  return { digest, checksum: digest.toString('base64') };
}

export interface PreparedBlock {
  index: number;
  /** Exactly 512 KiB: the image bytes, then zeros. */
  data: Buffer;
  zero: boolean;
  /** Undefined for a zero block that is skipped (it is never hashed). */
  digest?: Buffer;
  checksum?: string;
  upload: boolean;
}

/**
 * One block ready to send: padded to 512 KiB, hashed, or marked to skip. A zero block is uploaded
 * unless `skipZeroBlocks`: a block never written reads back as zeros from an unencrypted snapshot,
 * but volumes created encrypted from it may not read zeros there, so skipping is only safe when that is known.
 * `data` may be a 512 KiB buffer that the block then owns (padding is written into it in place).
 */
export function prepareBlock(index: number, data: Buffer, imageBytes: number, skipZeroBlocks: boolean): PreparedBlock {
  const { length } = blockSpan(index, imageBytes);
  if (data.length !== length && data.length !== EBS_BLOCK_BYTES)
    throw new RangeError(`block ${index} must hold ${length} image bytes, not ${data.length}`);
  const zero = isZeroBlock(data.subarray(0, length));
  let padded = data;
  if (length < EBS_BLOCK_BYTES) {
    if (data.length === EBS_BLOCK_BYTES) data.fill(0, length);
    else {
      padded = Buffer.alloc(EBS_BLOCK_BYTES);
      data.copy(padded);
    }
  }
  if (zero && skipZeroBlocks) return { index, data: padded, zero, upload: false };
  return { index, data: padded, zero, ...blockChecksum(padded), upload: true };
}

/**
 * CompleteSnapshot's x-amz-Checksum with ChecksumAggregationMethod LINEAR: SHA-256 over the
 * written blocks' SHA-256 digests (32 raw bytes each) in ascending block index order, base64.
 */
export function aggregateChecksum(blocks: Iterable<{ index: number; digest: Uint8Array }>): string {
  const sorted = [...blocks].sort((a, b) => a.index - b.index);
  const hash = createHash('sha256');
  sorted.forEach((block, position) => {
    if (position > 0 && sorted[position - 1].index === block.index)
      throw new RangeError(`block ${block.index} appears twice`);
    if (block.digest.length !== 32)
      throw new RangeError(`block ${block.index}: a SHA-256 digest has 32 bytes, not ${block.digest.length}`);
    hash.update(block.digest);
  });
  return hash.digest('base64');
}
