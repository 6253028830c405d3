import { createHash } from 'crypto';
import { Transform, TransformCallback } from 'stream';

/** Passes bytes through unchanged while taking their SHA-1 and counting them (the `tee` of the pipeline). */
export class DigestPassThrough extends Transform {
  private readonly hash = createHash('sha1');
  bytes = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    callback(null, chunk);
  }

  /** Lowercase hex; call once, after the stream has ended. */
  digest(): string {
    return this.hash.digest('hex');
  }
}
