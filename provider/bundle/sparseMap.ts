/**
 * The sparse map of an old-GNU tar member, read entry by entry (pure). Each entry is checked as it
 * comes (in order, inside the file, laid out as GNU tar lays it out) and kept compact, so a map of
 * any length costs bounded memory: GNU tar starts every data region on a 512-byte block, separates
 * regions by at least one 512-byte hole and stores whole blocks but at the end of the file, so an
 * image of at most 10 GiB has at most about 10.5 million regions, kept here in about 2 bytes each
 * (the gap and length in blocks, as variable-length integers): about 21 MB at worst, with no count cap.
 */
import { TAR_BLOCK_SIZE } from './constants';
import { BundleIntegrityError } from './errors';
import type { DataRegion } from './tarHeader';

const CHUNK_BYTES = 64 * 1024;

function mapError(message: string): BundleIntegrityError {
  return new BundleIntegrityError('tar-sparse-map', message);
}

/** Collects a member's map; `finish` checks it against the stored size and gives its regions in order. */
export class SparseMapBuilder {
  private readonly chunks: Buffer[] = [];
  private current = Buffer.allocUnsafe(CHUNK_BYTES);
  private used = 0;
  /** End of the last data region. */
  private end = 0;
  private total = 0;
  /** Data regions kept. */
  count = 0;

  constructor(private readonly realSize: number) {}

  /** Bytes the map takes so far. */
  get bytes(): number {
    return this.chunks.length * CHUNK_BYTES + this.used;
  }

  add(entry: DataRegion): void {
    this.addEntry(entry.offset, entry.length);
  }

  addEntry(offset: number, length: number): void {
    const regionEnd = offset + length;
    if (offset < this.end || regionEnd > this.realSize) {
      throw mapError('the sparse map of the tar member has overlapping or out-of-range regions');
    }
    // Zero-length entries (GNU tar closes the map with one at the end of the file) hold no data.
    if (length === 0) return;
    if (
      offset % TAR_BLOCK_SIZE !== 0 ||
      (length % TAR_BLOCK_SIZE !== 0 && regionEnd !== this.realSize) ||
      (this.count > 0 && offset - this.end < TAR_BLOCK_SIZE)
    ) {
      throw mapError(
        'the sparse map of the tar member is not laid out as GNU tar writes one (regions of whole 512-byte blocks, apart by at least one block); refused before reading further',
      );
    }
    this.putNumber((offset - this.end) / TAR_BLOCK_SIZE);
    this.putNumber(Math.ceil(length / TAR_BLOCK_SIZE));
    this.end = regionEnd;
    this.total += length;
    this.count += 1;
  }

  /** The data regions, once the whole map is read; checks that they add up to the stored size. */
  finish(storedBytes: number): SparseRegions {
    if (this.total !== storedBytes) {
      throw mapError(`the sparse map lists ${this.total} data bytes but the member stores ${storedBytes}`);
    }
    return new SparseRegions([...this.chunks, this.current.subarray(0, this.used)], this.count, this.realSize);
  }

  private putNumber(value: number): void {
    let rest = value;
    for (;;) {
      const low = rest % 128;
      rest = Math.floor(rest / 128);
      this.putByte(rest > 0 ? low | 0x80 : low);
      if (rest === 0) return;
    }
  }

  private putByte(byte: number): void {
    if (this.used === CHUNK_BYTES) {
      this.chunks.push(this.current);
      this.current = Buffer.allocUnsafe(CHUNK_BYTES);
      this.used = 0;
    }
    this.current[this.used++] = byte;
  }
}

/** The data regions of a checked map, in order, one at a time. */
export class SparseRegions {
  private chunk = 0;
  private at = 0;
  private end = 0;
  private left: number;

  constructor(
    private readonly chunks: Buffer[],
    readonly count: number,
    private readonly realSize: number,
  ) {
    this.left = count;
  }

  /** The next region, or undefined after the last. */
  next(): DataRegion | undefined {
    if (this.left === 0) return undefined;
    this.left -= 1;
    const offset = this.end + this.takeNumber() * TAR_BLOCK_SIZE;
    const length = Math.min(this.takeNumber() * TAR_BLOCK_SIZE, this.realSize - offset);
    this.end = offset + length;
    return { offset, length };
  }

  private takeNumber(): number {
    let value = 0;
    let scale = 1;
    for (;;) {
      while (this.at === this.chunks[this.chunk].length) {
        this.chunk += 1;
        this.at = 0;
      }
      const byte = this.chunks[this.chunk][this.at++];
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
      scale *= 128;
    }
  }
}

/** The regions of a map given whole (a plain member's one region, tests). */
export function sparseRegionsOf(entries: DataRegion[], storedBytes: number, realSize: number): SparseRegions {
  const builder = new SparseMapBuilder(realSize);
  for (const entry of entries) builder.add(entry);
  return builder.finish(storedBytes);
}
