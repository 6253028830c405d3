/**
 * Reads the one-member tar archive of a bundle as a stream and hands the member's data, with its
 * offsets in the restored file, to a sink. Sparse (old-GNU `S`) members are restored hole by hole;
 * their map, of any length, is checked and kept compact as it is read (sparseMap.ts).
 * It refuses everything a bundle must not contain: links, devices, directories, path names, a
 * second member, a size other than the manifest's, or a truncated archive.
 */
import { Writable } from 'stream';
import { TAR_BLOCK_SIZE } from './constants';
import { BundleIntegrityError } from './errors';
import { releasedError } from './handOver';
import { SparseMapBuilder, sparseRegionsOf, SparseRegions } from './sparseMap';
import { DataRegion, decodeHeader, DecodedHeader, isZeroBlock, paddingAfter, visitSparseExtension } from './tarHeader';

export interface ImageSink {
  write(offset: number, data: Buffer): Promise<void>;
  /** Called once, after the last data, with the full size of the restored file. */
  finish(realSize: number): Promise<void>;
}

export interface MemberExpectations {
  name: string;
  size: number;
}

export interface MemberInfo {
  name: string;
  mode: number;
  mtime: number;
  sparse: boolean;
  realSize: number;
  storedBytes: number;
}

type Phase = 'header' | 'extension' | 'data' | 'tail';

export class TarMemberReader extends Writable {
  private phase: Phase = 'header';
  private pending = Buffer.alloc(0);
  private header: DecodedHeader | undefined;
  /** The sparse map as it is read (sparseMap.ts: checked and kept compact, whatever its length). */
  private map: SparseMapBuilder | undefined;
  private regions: SparseRegions | undefined;
  /** The region being delivered; undefined once the last is done. */
  private region: DataRegion | undefined;
  /** Bytes of the current region already delivered, and padding still to skip after it. */
  private regionDone = 0;
  private paddingLeft = 0;
  member: MemberInfo | undefined;

  constructor(
    private readonly sink: ImageSink,
    private readonly expected: MemberExpectations,
  ) {
    super({ highWaterMark: 1024 * 1024 });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    // Nothing upstream hands Buffers over today; in the checking mode of handOver.ts this still
    // checks, so that one that starts to cannot free what the reader has not read.
    const misuse = releasedError(chunk, 'TarMemberReader');
    if (misuse) {
      callback(misuse);
      return;
    }
    this.consume(chunk).then(() => callback(), callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.finishMember().then(() => callback(), callback);
  }

  private async consume(chunk: Buffer): Promise<void> {
    let input = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = Buffer.alloc(0);
    while (input.length > 0) {
      if (this.phase === 'data') {
        input = await this.consumeData(input);
        continue;
      }
      if (input.length < TAR_BLOCK_SIZE) {
        this.pending = Buffer.from(input);
        return;
      }
      this.consumeBlock(input.subarray(0, TAR_BLOCK_SIZE));
      input = input.subarray(TAR_BLOCK_SIZE);
      if ((this.phase as Phase) === 'data' && this.region === undefined) this.phase = 'tail';
    }
  }

  private consumeBlock(block: Buffer): void {
    if (this.phase === 'header') {
      if (isZeroBlock(block)) throw new BundleIntegrityError('tar-empty', 'the tar archive holds no member');
      const header = decodeHeader(block);
      this.checkExpectations(header);
      this.header = header;
      if (header.kind === 'sparse') {
        this.map = new SparseMapBuilder(header.realSize);
        for (const entry of header.sparseEntries) this.map.add(entry);
      }
      this.phase = header.hasExtension ? 'extension' : 'data';
      if (!header.hasExtension) this.startData();
      return;
    }
    if (this.phase === 'extension') {
      // Set with the header of a sparse member, the only kind with extension blocks.
      const map = this.map as SparseMapBuilder;
      if (!visitSparseExtension(block, (offset, length) => map.addEntry(offset, length))) {
        this.phase = 'data';
        this.startData();
      }
      return;
    }
    if (!isZeroBlock(block)) {
      throw new BundleIntegrityError(
        'tar-extra-member',
        'the tar archive holds more than one member (or data after its member); a bundle holds exactly one file',
      );
    }
  }

  private checkExpectations(header: DecodedHeader): void {
    if (header.name !== this.expected.name) {
      throw new BundleIntegrityError(
        'tar-member-name',
        `the tar member is named ${JSON.stringify(header.name)} but the manifest's image is ${JSON.stringify(this.expected.name)}`,
      );
    }
    if (header.realSize !== this.expected.size) {
      throw new BundleIntegrityError(
        'tar-size',
        `the tar member is ${header.realSize} bytes but the manifest says the image is ${this.expected.size} bytes`,
      );
    }
  }

  private startData(): void {
    const header = this.header as DecodedHeader;
    this.regions =
      header.kind === 'sparse'
        ? // Set with the header of a sparse member.
          (this.map as SparseMapBuilder).finish(header.size)
        : sparseRegionsOf(header.size > 0 ? [{ offset: 0, length: header.size }] : [], header.size, header.size);
    this.map = undefined;
    this.region = this.regions.next();
    this.member = {
      name: header.name,
      mode: header.mode,
      mtime: header.mtime,
      sparse: header.kind === 'sparse',
      realSize: header.realSize,
      storedBytes: header.size,
    };
    this.regionDone = 0;
    this.paddingLeft = 0;
  }

  /** Delivers member data from `input`; returns what is left after the member's last padding. */
  private async consumeData(input: Buffer): Promise<Buffer> {
    while (input.length > 0) {
      if (this.paddingLeft > 0) {
        const skip = Math.min(this.paddingLeft, input.length);
        this.paddingLeft -= skip;
        input = input.subarray(skip);
        if (this.paddingLeft > 0) return input;
        if (this.region === undefined) {
          this.phase = 'tail';
          return input;
        }
        continue;
      }
      const region = this.region as DataRegion;
      const take = Math.min(region.length - this.regionDone, input.length);
      await this.sink.write(region.offset + this.regionDone, input.subarray(0, take));
      this.regionDone += take;
      input = input.subarray(take);
      if (this.regionDone === region.length) {
        // Set by startData before any data is consumed.
        this.region = (this.regions as SparseRegions).next();
        this.regionDone = 0;
        this.paddingLeft = paddingAfter(region.length, TAR_BLOCK_SIZE);
        if (this.paddingLeft === 0 && this.region === undefined) {
          this.phase = 'tail';
          return input;
        }
      }
    }
    return input;
  }

  private async finishMember(): Promise<void> {
    if (this.phase !== 'tail') {
      throw new BundleIntegrityError('tar-truncated', 'the tar archive ends before its member is complete');
    }
    if (this.pending.length > 0 && !isZeroBlock(this.pending)) {
      throw new BundleIntegrityError('tar-extra-member', 'the tar archive has data after its member');
    }
    await this.sink.finish((this.member as MemberInfo).realSize);
  }
}
