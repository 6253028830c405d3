/**
 * A Writable that cuts the encrypted stream into part files as it flows, hashing each part with
 * SHA-1 on the way, so the whole encrypted bundle never exists on disk (or in memory) at once.
 *
 * Parts are written under hidden temporary names, because their final names depend on the part
 * count, which is only known at the end. `commit` renames them; `discard` removes every file this
 * writer made, so a failed bundle leaves nothing behind.
 */
import { createHash, Hash, randomBytes } from 'crypto';
import { promises as fs } from 'fs';
import * as path from 'path';
import { Writable } from 'stream';
import { PART_SIZE } from './constants';
import { release } from './handOver';
import { partFileName } from './parts';

import type { WrittenPart } from './bundleOutput';

interface OpenPart {
  index: number;
  tempPath: string;
  handle: fs.FileHandle;
  hash: Hash;
  size: number;
}

interface ClosedPart {
  index: number;
  tempPath: string;
  size: number;
  digest: string;
}

export class PartFileWriter extends Writable {
  private current: OpenPart | undefined;
  private readonly finishedParts: ClosedPart[] = [];
  private readonly created: string[] = [];
  private readonly tag = `${process.pid}-${randomBytes(4).toString('hex')}`;

  constructor(
    private readonly directory: string,
    private readonly name: string,
    private readonly partSize: number = PART_SIZE,
  ) {
    super({ highWaterMark: 1024 * 1024 });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.append(chunk).then(() => callback(), callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.closeCurrent().then(() => callback(), callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const handle = this.current?.handle;
    this.current = undefined;
    (handle ? handle.close() : Promise.resolve()).then(
      () => callback(error),
      () => callback(error),
    );
  }

  /** Sizes and digests of the parts written so far (all of them once the stream has finished). */
  get parts(): readonly ClosedPart[] {
    return this.finishedParts;
  }

  private async append(chunk: Buffer): Promise<void> {
    let offset = 0;
    while (offset < chunk.length) {
      const part = this.current ?? (await this.openNext());
      const take = Math.min(this.partSize - part.size, chunk.length - offset);
      const slice = chunk.subarray(offset, offset + take);
      await writeFully(part.handle, slice);
      part.hash.update(slice);
      part.size += take;
      offset += take;
      if (part.size === this.partSize) await this.closeCurrent();
    }
    release(chunk);
  }

  private async openNext(): Promise<OpenPart> {
    const index = this.finishedParts.length;
    const tempPath = path.join(this.directory, `.${this.name}.${this.tag}.part.${index}.tmp`);
    this.created.push(tempPath);
    const handle = await fs.open(tempPath, 'wx', 0o644);
    this.current = { index, tempPath, handle, hash: createHash('sha1'), size: 0 };
    return this.current;
  }

  private async closeCurrent(): Promise<void> {
    const part = this.current;
    if (!part) return;
    this.current = undefined;
    await part.handle.close();
    this.finishedParts.push({ index: part.index, tempPath: part.tempPath, size: part.size, digest: part.hash.digest('hex') });
  }

  /** Gives every part its final name; call only after the stream has finished. */
  async commit(): Promise<WrittenPart[]> {
    const count = this.finishedParts.length;
    const written: WrittenPart[] = [];
    for (const part of this.finishedParts) {
      const filename = partFileName(this.name, part.index, count);
      const finalPath = path.join(this.directory, filename);
      this.created.push(finalPath);
      await fs.rename(part.tempPath, finalPath);
      written.push({ index: part.index, filename, size: part.size, digest: part.digest });
    }
    return written;
  }

  /** Removes every file this writer created, under temporary or final names. */
  async discard(): Promise<void> {
    await Promise.all(this.created.map((file) => fs.rm(file, { force: true })));
  }
}

async function writeFully(handle: fs.FileHandle, buffer: Buffer): Promise<void> {
  let written = 0;
  while (written < buffer.length) {
    const { bytesWritten } = await handle.write(buffer, written, buffer.length - written);
    written += bytesWritten;
  }
}
