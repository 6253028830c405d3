/**
 * Where an unbundled image goes: a file written atomically, or nowhere (verification). Both check
 * in the checking mode of handOver.ts that the data they are given was not released.
 */
import { promises as fs } from 'fs';
import { temporarySibling } from '../common/atomicFile';
import { assertNotReleased } from './handOver';
import { ImageSink } from './tarReader';

/** Discards the data; used by `verify`, which runs every check without writing the image. */
export class NullSink implements ImageSink {
  bytes = 0;
  async write(_offset: number, data: Buffer): Promise<void> {
    assertNotReleased(data, 'NullSink');
    this.bytes += data.length;
  }
  async finish(): Promise<void> {}
}

/**
 * Writes the image to a hidden temporary file beside its final path, at the offsets the tar member
 * gives (so the holes of a sparse member stay holes), and renames it into place only on `commit`.
 */
export class AtomicFileSink implements ImageSink {
  private handle: fs.FileHandle | undefined;
  private readonly temporaryPath: string;

  constructor(private readonly finalPath: string) {
    this.temporaryPath = temporarySibling(finalPath);
  }

  async open(): Promise<void> {
    this.handle = await fs.open(this.temporaryPath, 'wx', 0o644);
  }

  async write(offset: number, data: Buffer): Promise<void> {
    assertNotReleased(data, 'AtomicFileSink');
    const handle = this.requireHandle();
    let written = 0;
    while (written < data.length) {
      const { bytesWritten } = await handle.write(data, written, data.length - written, offset + written);
      written += bytesWritten;
    }
  }

  async finish(realSize: number): Promise<void> {
    await this.requireHandle().truncate(realSize);
  }

  /** Makes the image visible under its final name, with the tar member's mode and mtime. */
  async commit(mode: number, mtime: number): Promise<void> {
    const handle = this.requireHandle();
    await handle.chmod(mode & 0o777);
    await handle.utimes(mtime, mtime);
    await handle.close();
    this.handle = undefined;
    await fs.rename(this.temporaryPath, this.finalPath);
  }

  async discard(): Promise<void> {
    await this.handle?.close().catch(() => undefined);
    this.handle = undefined;
    await fs.rm(this.temporaryPath, { force: true });
  }

  private requireHandle(): fs.FileHandle {
    if (!this.handle) throw new Error('image sink is not open');
    return this.handle;
  }
}
