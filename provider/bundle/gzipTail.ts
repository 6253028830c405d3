/**
 * Watches the compressed stream on its way into gunzip, so that data after the gzip stream is
 * refused as GNU gunzip refuses it. Node's gunzip stops silently at a zero byte after the last
 * member and drops the rest; only trailing zeros are harmless (gunzip accepts them too).
 */
import { Transform, TransformCallback } from 'stream';
import { BundleIntegrityError } from './errors';

const KEPT_TAIL = 1024 * 1024;

export class GzipTail extends Transform {
  private total = 0;
  /** The most recent chunks, at least KEPT_TAIL bytes of them once that much has passed. */
  private recent: Buffer[] = [];
  private recentBytes = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.total += chunk.length;
    this.recent.push(chunk);
    this.recentBytes += chunk.length;
    while (this.recent.length > 1 && this.recentBytes - this.recent[0].length >= KEPT_TAIL) {
      this.recentBytes -= (this.recent.shift() as Buffer).length;
    }
    callback(null, chunk);
  }

  /** `consumed`: the bytes gunzip actually used (its bytesWritten). */
  checkNothingAfter(consumed: number): void {
    const leftover = this.total - consumed;
    if (leftover <= 0) return;
    const tail = Buffer.concat(this.recent);
    const rest = leftover <= tail.length ? tail.subarray(tail.length - leftover) : undefined;
    if (!rest || rest.some((byte) => byte !== 0)) {
      throw new BundleIntegrityError(
        'gunzip',
        `${leftover} bytes of data follow the end of the gzip stream: the bundle is corrupt (gunzip refuses trailing garbage)`,
      );
    }
  }
}
