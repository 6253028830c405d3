/**
 * Finds the data regions of an image by looking for runs of all-zero 512-byte blocks, so that the
 * tar member can be written as a GNU sparse file whose zeros are neither compressed nor encrypted.
 *
 * Pure and streaming: feed the image in order, chunk by chunk, then call `finish()`. Memory is
 * bounded by `maxRegions`: when an image has more data regions than that, the smallest holes are
 * merged back into data (the minimum hole doubles), so a pathological image costs some extra bytes
 * of stored zeros rather than an unbounded sparse map.
 */
import { DataRegion, SparseLayout } from './tarHeader';
import { TAR_BLOCK_SIZE } from './constants';

export const DEFAULT_MAX_REGIONS = 32_768;
const ZERO_BLOCK = Buffer.alloc(TAR_BLOCK_SIZE);

export class SparseScanner {
  private readonly regions: DataRegion[] = [];
  private position = 0;
  private minHole = TAR_BLOCK_SIZE;

  constructor(private readonly maxRegions: number = DEFAULT_MAX_REGIONS) {
    if (maxRegions < 1) throw new RangeError('maxRegions must be at least 1');
  }

  /**
   * Scans the next bytes of the image. Every chunk but the last must be a whole number of 512-byte
   * blocks, so that blocks line up with the offsets of the file.
   */
  push(chunk: Buffer): void {
    if (this.position % TAR_BLOCK_SIZE !== 0) {
      throw new RangeError('only the last chunk may end inside a 512-byte block');
    }
    if (chunk.length >= TAR_BLOCK_SIZE && isAllZero(chunk)) {
      this.position += chunk.length;
      return;
    }
    for (let start = 0; start < chunk.length; start += TAR_BLOCK_SIZE) {
      const end = Math.min(start + TAR_BLOCK_SIZE, chunk.length);
      if (ZERO_BLOCK.compare(chunk, start, end, 0, end - start) !== 0) {
        this.addData(this.position + start, end - start);
      }
    }
    this.position += chunk.length;
  }

  /** Passes over `length` bytes known to be zeros (a hole of the file) without reading them. */
  skip(length: number): void {
    if (this.position % TAR_BLOCK_SIZE !== 0) {
      throw new RangeError('a hole must start at a 512-byte block boundary');
    }
    this.position += length;
  }

  /** The layout of the whole image, or undefined when it has no hole worth recording. */
  finish(): SparseLayout | undefined {
    const realSize = this.position;
    const onlyRegion = this.regions.length === 1 ? this.regions[0] : undefined;
    if (onlyRegion && onlyRegion.offset === 0 && onlyRegion.length === realSize) return undefined;
    if (realSize === 0) return undefined;
    return { realSize, regions: this.regions.map((region) => ({ ...region })) };
  }

  private addData(offset: number, length: number): void {
    const last = this.regions[this.regions.length - 1];
    if (last && offset - (last.offset + last.length) < this.minHole) {
      last.length = offset + length - last.offset;
      return;
    }
    this.regions.push({ offset, length });
    if (this.regions.length > this.maxRegions) this.coarsen();
  }

  private coarsen(): void {
    while (this.regions.length > this.maxRegions) {
      this.minHole *= 2;
      const merged: DataRegion[] = [];
      for (const region of this.regions) {
        const last = merged[merged.length - 1];
        if (last && region.offset - (last.offset + last.length) < this.minHole) {
          last.length = region.offset + region.length - last.offset;
        } else {
          merged.push({ ...region });
        }
      }
      this.regions.splice(0, this.regions.length, ...merged);
    }
  }
}

let zeroScratch = Buffer.alloc(0);

/** memcmp against a zero buffer is an order of magnitude faster than a byte loop in JavaScript. */
function isAllZero(chunk: Buffer): boolean {
  if (zeroScratch.length < chunk.length) zeroScratch = Buffer.alloc(chunk.length);
  return zeroScratch.compare(chunk, 0, chunk.length, 0, chunk.length) === 0;
}
