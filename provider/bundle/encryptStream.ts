/** The AES-128-CBC stage of the bundle pipeline. */
import { Cipher, createCipheriv } from 'crypto';
import { Transform, TransformCallback } from 'stream';
import { AES_ALGORITHM } from './constants';
import { handOver, release, releasedError } from './handOver';

const STAGE = 'EncryptStream';

/**
 * What `createCipheriv` is as a stream, except for memory: a chunk that was handed over (see
 * handOver.ts) is freed as soon as it is encrypted, and each encrypted chunk, a Buffer of its own,
 * is handed over to the next stage. In the checking mode of handOver.ts, a chunk that was released
 * before it got here fails the stream with a ReleasedBufferError.
 */
export class EncryptStream extends Transform {
  private readonly cipher: Cipher;

  constructor(key: Buffer, iv: Buffer) {
    super();
    this.cipher = createCipheriv(AES_ALGORITHM, key, iv);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const misuse = releasedError(chunk, STAGE);
    if (misuse) {
      callback(misuse);
      return;
    }
    let encrypted: Buffer;
    try {
      encrypted = this.cipher.update(chunk);
      release(chunk, STAGE);
      handOver(encrypted, STAGE);
    } catch (error) {
      // cipher.update throws Errors, release and handOver only in checking mode, and only Errors.
      callback(error as Error);
      return;
    }
    callback(null, encrypted);
  }

  override _flush(callback: TransformCallback): void {
    try {
      callback(null, this.cipher.final());
    } catch (error) {
      callback(error as Error);
    }
  }
}
