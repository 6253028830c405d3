/**
 * Cuts the encrypted stream into parts as it flows, hashing each part with SHA-1 on the way, and
 * hands the bytes to a PartStore (part files in a folder, or S3 objects): the whole encrypted bundle
 * never exists at once, on disk or in memory.
 */
import { createHash, Hash } from 'crypto';
import { Writable } from 'stream';
import type { PartSink, ResumePoint, WrittenPart } from './bundleOutput';
import { assertNotReleased, release } from './handOver';

/** A part once its last byte has gone to the store. */
export interface CutPart {
  index: number;
  size: number;
  /** Lowercase hex SHA-1 of the part. */
  digest: string;
}

/** Where the cut parts go. Calls come one at a time: `begin`, `write`s, `end`, then the next part. */
export interface PartStore {
  /** Starts part `index` (0, 1, 2, …). */
  begin(index: number): Promise<void>;
  /** Bytes of the part begun last. The cutter frees `slice`'s memory once this resolves. */
  write(slice: Buffer): Promise<void>;
  /** The part begun last is whole. May resolve before it is stored, but only when another may begin. */
  end(part: CutPart): Promise<void>;
  /** After the last part: resolves once every part is stored. */
  flush(): Promise<void>;
  /** Gives every part its final name (names depend on the part count). */
  commit(parts: readonly CutPart[]): Promise<WrittenPart[]>;
  /** Removes every part this store made, whatever its state. */
  discard(): Promise<void>;
  /** The stream was destroyed partway: releases whatever the store holds open. */
  abandon(): Promise<void>;
  suspend?(point: ResumePoint): Promise<boolean>;
}

interface OpenPart {
  index: number;
  hash: Hash;
  size: number;
}

export class PartCutter implements PartSink {
  readonly writable: Writable;
  private current: OpenPart | undefined;
  private readonly cut: CutPart[] = [];

  constructor(
    private readonly store: PartStore,
    private readonly partSize: number,
  ) {
    this.writable = new Writable({
      highWaterMark: 1024 * 1024,
      write: (chunk: Buffer, _encoding, callback) => this.append(chunk).then(() => callback(), callback),
      final: (callback) => this.finish().then(() => callback(), callback),
      destroy: (error, callback) => {
        this.current = undefined;
        this.store.abandon().then(
          () => callback(error),
          () => callback(error),
        );
      },
    });
    // Only a store that can keep parts for a later run offers suspend; the bundler checks for it.
    this.suspend = store.suspend?.bind(store);
  }

  /** The parts cut so far (all of them once the stream has finished). */
  get parts(): readonly CutPart[] {
    return this.cut;
  }

  private async append(chunk: Buffer): Promise<void> {
    assertNotReleased(chunk, 'PartCutter');
    let offset = 0;
    while (offset < chunk.length) {
      const part = this.current ?? (await this.beginNext());
      const take = Math.min(this.partSize - part.size, chunk.length - offset);
      const slice = chunk.subarray(offset, offset + take);
      await this.store.write(slice);
      part.hash.update(slice);
      part.size += take;
      offset += take;
      if (part.size === this.partSize) await this.endCurrent();
    }
    release(chunk, 'PartCutter');
  }

  private async beginNext(): Promise<OpenPart> {
    const index = this.cut.length;
    await this.store.begin(index);
    this.current = { index, hash: createHash('sha1'), size: 0 };
    return this.current;
  }

  private async endCurrent(): Promise<void> {
    const part = this.current;
    if (!part) return;
    this.current = undefined;
    const done: CutPart = { index: part.index, size: part.size, digest: part.hash.digest('hex') };
    await this.store.end(done);
    this.cut.push(done);
  }

  private async finish(): Promise<void> {
    await this.endCurrent();
    await this.store.flush();
  }

  commit(): Promise<WrittenPart[]> {
    return this.store.commit(this.cut);
  }

  discard(): Promise<void> {
    return this.store.discard();
  }

  readonly suspend?: (point: ResumePoint) => Promise<boolean>;
}
