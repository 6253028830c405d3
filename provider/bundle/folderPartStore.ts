/**
 * Part files in a local folder, as ec2-bundle-image writes them. Parts are written under hidden
 * temporary names, because their final names depend on the part count, which is only known at the
 * end. `commit` renames them; `discard` removes every file this store made, so a failed bundle
 * leaves nothing behind.
 */
import { randomBytes } from 'crypto';
import { promises as fs } from 'fs';
import * as path from 'path';
import type { WrittenPart } from './bundleOutput';
import type { CutPart, PartStore } from './partCutter';
import { partFileName } from './parts';

export class FolderPartStore implements PartStore {
  private open: fs.FileHandle | undefined;
  private readonly created: string[] = [];
  private readonly tag = `${process.pid}-${randomBytes(4).toString('hex')}`;

  constructor(
    private readonly directory: string,
    private readonly name: string,
  ) {}

  private tempPath(index: number): string {
    return path.join(this.directory, `.${this.name}.${this.tag}.part.${index}.tmp`);
  }

  async begin(index: number): Promise<void> {
    this.created.push(this.tempPath(index));
    this.open = await fs.open(this.tempPath(index), 'wx', 0o644);
  }

  async write(slice: Buffer): Promise<void> {
    if (!this.open) throw new Error('no part is open');
    let written = 0;
    while (written < slice.length) {
      const { bytesWritten } = await this.open.write(slice, written, slice.length - written);
      written += bytesWritten;
    }
  }

  async end(): Promise<void> {
    await this.abandon();
  }

  /** Every part is on disk once it has ended. */
  async flush(): Promise<void> {}

  async abandon(): Promise<void> {
    const handle = this.open;
    this.open = undefined;
    await handle?.close();
  }

  /** Gives every part its final name; call only after the stream has finished. */
  async commit(parts: readonly CutPart[]): Promise<WrittenPart[]> {
    const written: WrittenPart[] = [];
    for (const part of parts) {
      const filename = partFileName(this.name, part.index, parts.length);
      const finalPath = path.join(this.directory, filename);
      this.created.push(finalPath);
      await fs.rename(this.tempPath(part.index), finalPath);
      written.push({ index: part.index, filename, size: part.size, digest: part.digest });
    }
    return written;
  }

  /** Removes every file this store created, under temporary or final names. */
  async discard(): Promise<void> {
    await Promise.all(this.created.map((file) => fs.rm(file, { force: true })));
  }
}
