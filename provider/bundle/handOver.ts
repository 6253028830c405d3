/**
 * Buffers handed down the bundle pipeline with their memory, so that the last stage to read one can
 * free it at once instead of leaving it to the garbage collector.
 *
 * Why: V8 frees a Buffer's memory only when it collects the Buffer, and it collects young Buffers
 * for their memory's sake only once 32 MB of young ArrayBuffer memory is outstanding (twice its
 * default maximum semi-space, in Heap::AllocateExternalBackingStore; no flag moves that threshold).
 * The pipeline allocates about 3 MB per MiB of incompressible input (the read buffer, the deflate
 * output, the cipher output), each dead a moment later, so it would carry up to 32 MB of dead
 * Buffers whatever the image size. Collecting more often does not help: buffers still in flight
 * then survive two collections, move to the old generation and wait for a full collection there.
 *
 * How: an ArrayBuffer transferred in a message is detached from its sender; posted to a closed
 * MessagePort the message is dropped, and the memory goes with it, right away.
 *
 * Rules: a producer hands a Buffer over only when its ArrayBuffer serves that Buffer alone (never a
 * pooled or shared one) and it keeps no reference of its own to it. A consumer releases what it was
 * handed only once it is done with the bytes: copied, encrypted, written. A released Buffer reads
 * as empty. Anything not handed over, e.g. a zlib stream's output (slices of one shared buffer)
 * or a caller's own data, is left alone by `release`, so every stage still works with any input.
 */
import { MessageChannel, MessagePort } from 'worker_threads';

const handedOver = new WeakSet<ArrayBufferLike>();
let closedPort: MessagePort | undefined;

/** Marks `buffer` as the receiver's to release; returns it. */
export function handOver<T extends Uint8Array>(buffer: T): T {
  // Node serves small Buffers from one shared pool of Buffer.poolSize bytes: never freed here (nor worth it).
  if (buffer.buffer.byteLength > Buffer.poolSize) handedOver.add(buffer.buffer);
  return buffer;
}

/** Frees the memory of a Buffer that was handed over, now; does nothing to any other. */
export function release(buffer: Uint8Array): void {
  const memory = buffer.buffer;
  if (!handedOver.delete(memory) || !(memory instanceof ArrayBuffer)) return;
  if (!closedPort) {
    closedPort = new MessageChannel().port1;
    closedPort.close();
  }
  try {
    closedPort.postMessage(null, [memory]);
  } catch {
    // Not transferable after all: the garbage collector frees it, as it would without this module.
  }
}
