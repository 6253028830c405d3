/** The AES-128-CBC stage of the bundle pipeline. */
import { Cipher, createCipheriv } from 'crypto';
import { Transform, TransformCallback } from 'stream';
import { AES_ALGORITHM } from './constants';
import { handOver, release } from './handOver';

/**
 * What `createCipheriv` is as a stream, except for memory: a chunk that was handed over (see
 * handOver.ts) is freed as soon as it is encrypted, and each encrypted chunk, a Buffer of its own,
 * is handed over to the next stage.
 */
export class EncryptStream extends Transform {
  private readonly cipher: Cipher;

  constructor(key: Buffer, iv: Buffer) {
    super();
    this.cipher = createCipheriv(AES_ALGORITHM, key, iv);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    let encrypted: Buffer;
    try {
      encrypted = this.cipher.update(chunk);
    } catch (error) {
      callback(error as Error);
      return;
    }
    release(chunk);
    callback(null, handOver(encrypted));
  }

  override _flush(callback: TransformCallback): void {
    try {
      callback(null, this.cipher.final());
    } catch (error) {
      callback(error as Error);
    }
  }
}
