import { createHash } from 'crypto';
import { Transform, TransformCallback } from 'stream';
import { releasedError } from './handOver';

/**
 * Passes bytes through unchanged while taking their SHA-1 and counting them (the `tee` of the
 * pipeline). It neither hands over nor releases: what it was handed, the next stage is handed. In the
 * checking mode of handOver.ts, a chunk that was released before it got here fails the stream.
 */
export class DigestPassThrough extends Transform {
  private readonly hash = createHash('sha1');
  bytes = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const misuse = releasedError(chunk, 'DigestPassThrough');
    if (misuse) {
      callback(misuse);
      return;
    }
    this.hash.update(chunk);
    this.bytes += chunk.length;
    callback(null, chunk);
  }

  /** Lowercase hex; call once, after the stream has ended. */
  digest(): string {
    return this.hash.digest('hex');
  }
}
