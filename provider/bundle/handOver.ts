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
 *
 * Checking mode. A broken rule does not crash: a released Buffer reads as empty, so a stage that
 * frees what another still needs makes a bundle with bytes missing (or stalls the pipeline: Node's
 * streams count a queued chunk's bytes in, and none out once it is released). In checking mode:
 * - every stage that takes Buffers from the pipeline checks them on entry (`releasedError` in a
 *   stream's callback, `assertNotReleased` in an async function) and fails with a
 *   `ReleasedBufferError` that names it and the stage that released the Buffer (and where);
 * - `release` records each ArrayBuffer it frees, and throws on one freed before: so a stage that
 *   does not check on entry but releases what it was given (the part sinks) fails there too;
 * - `handOver` refuses a released Buffer, and an ArrayBuffer already handed over and not yet released
 *   (two owners: the first release would empty the other's Buffer).
 * What it cannot see: a Buffer released while a stage is still reading it asynchronously (zlib reads
 * its input on the thread pool; Node then aborts in node_zlib.cc), and a released Buffer pushed by a
 * stream, which Node drops as empty before any stage gets it. Rule: release only once done.
 *
 * It is off in production and costs nothing there: the entry checks return after one test of a
 * module variable, and `handOver` and `release` do what they did without it. Tests turn it on:
 * - `checkHandOvers(true)` in a test process; it returns the previous state, to restore in `after`;
 * - `UNIKERNEL_AMI_CHECK_HANDOVER=1` in the environment, read once when this module is loaded: for
 *   processes a test starts (the CLI), or a whole run (`UNIKERNEL_AMI_CHECK_HANDOVER=1 npm test`).
 * Both, because the variable reaches child processes and a function does not, while a test that
 * turns the mode on for itself must turn it off after without editing its process's environment;
 * read once, so that no chunk pays for a lookup in process.env.
 */
import { MessageChannel, MessagePort } from 'worker_threads';

/** The environment variable that turns the checking mode on when this module is loaded (value 1). */
export const CHECK_HANDOVER_VARIABLE = 'UNIKERNEL_AMI_CHECK_HANDOVER';

const handedOver = new WeakSet<ArrayBufferLike>();
let closedPort: MessagePort | undefined;

/** What the checking mode knows: which stage released each freed ArrayBuffer; undefined when off. */
interface Checking {
  releasedBy: WeakMap<ArrayBufferLike, string>;
  counts: HandOverCounts;
}

/** What the checking mode saw since it was turned on: for tests, to show the checks ran. */
export interface HandOverCounts {
  /** Buffers checked on entry to a stage. */
  checked: number;
  /** Buffers freed, by the stage that freed them. */
  released: Record<string, number>;
}

function startChecking(): Checking {
  return { releasedBy: new WeakMap(), counts: { checked: 0, released: {} } };
}

let checking: Checking | undefined = process.env[CHECK_HANDOVER_VARIABLE] === '1' ? startChecking() : undefined;

/**
 * Turns the checking mode on or off; returns whether it was on. Turning it on starts afresh
 * (nothing recorded, counts at zero); Buffers released before are not known to it.
 */
export function checkHandOvers(on: boolean): boolean {
  const was = checking !== undefined;
  if (on !== was) checking = on ? startChecking() : undefined;
  return was;
}

/** What the checking mode saw since it was turned on (a copy), or undefined when it is off. */
export function handOverCounts(): HandOverCounts | undefined {
  return checking && { checked: checking.counts.checked, released: { ...checking.counts.released } };
}

/** A Buffer whose memory was freed by `release` reached a stage that needs its bytes (checking mode only). */
export class ReleasedBufferError extends Error {
  constructor(
    /** The stage that was given the released Buffer, or that released it a second time. */
    readonly stage: string,
    /** The stage that had released it, and where. */
    readonly releasedBy: string,
    verb: 'was given' | 'releases' | 'hands over' = 'was given',
  ) {
    super(
      `${stage} ${verb} a Buffer that was released earlier (by ${releasedBy}): its memory is freed and it reads as empty, ` +
        'so its bytes would be missing from the bundle; a stage released a Buffer that another still needs (see provider/bundle/handOver.ts)',
    );
    this.name = 'ReleasedBufferError';
  }
}

/**
 * In checking mode, the ReleasedBufferError naming `stage` when `buffer` was released; off, or for
 * any Buffer not released, undefined. For a stream stage, to fail its callback with.
 */
export function releasedError(buffer: Uint8Array, stage: string): ReleasedBufferError | undefined {
  if (checking === undefined) return undefined;
  checking.counts.checked++;
  const by = checking.releasedBy.get(buffer.buffer);
  return by === undefined ? undefined : new ReleasedBufferError(stage, by);
}

/** The same as a statement: in checking mode, throws when `buffer` was released. For async stages. */
export function assertNotReleased(buffer: Uint8Array, stage: string): void {
  if (checking === undefined) return;
  const error = releasedError(buffer, stage);
  if (error) throw error;
}

/** The first frame of the stack above `above`, e.g. `PartCutter.append (…/partCutter.ts:87:5)`. */
function callerOf(above: (...args: never[]) => unknown): string {
  const holder: { stack?: string } = {};
  Error.captureStackTrace(holder, above);
  const frame = holder.stack?.split('\n')[1]?.trim().replace(/^at /, '');
  return frame ?? 'an unknown caller';
}

/** The function name of a frame from `callerOf`, e.g. `PartCutter.append`. */
function functionOf(frame: string): string {
  return /^(?:async )?([^\s(]+) \(/.exec(frame)?.[1] ?? frame;
}

/**
 * Marks `buffer` as the receiver's to release; returns it. `stage` (the producer) names it in the
 * checking mode's errors.
 */
export function handOver<T extends Uint8Array>(buffer: T, stage?: string): T {
  const memory = buffer.buffer;
  if (checking !== undefined) checkHandOver(checking, memory, stage);
  // Node serves small Buffers from one shared pool of Buffer.poolSize bytes: never freed here (nor worth it).
  if (memory.byteLength > Buffer.poolSize) handedOver.add(memory);
  return buffer;
}

function checkHandOver(state: Checking, memory: ArrayBufferLike, stage: string | undefined): void {
  const earlier = state.releasedBy.get(memory);
  if (earlier !== undefined)
    throw new ReleasedBufferError(stage ?? functionOf(callerOf(handOver)), earlier, 'hands over');
  if (memory.byteLength > Buffer.poolSize && handedOver.has(memory)) {
    throw new Error(
      `${stage ?? functionOf(callerOf(handOver))} hands over a Buffer whose memory is already handed over and not yet released: ` +
        'releasing one would empty the other (see provider/bundle/handOver.ts)',
    );
  }
}

/**
 * Frees the memory of a Buffer that was handed over, now; does nothing to any other. `stage` (the
 * consumer) names it in the checking mode's errors; without it, the caller's function name is used.
 */
export function release(buffer: Uint8Array, stage?: string): void {
  const memory = buffer.buffer;
  if (checking !== undefined) {
    const earlier = checking.releasedBy.get(memory);
    if (earlier !== undefined)
      throw new ReleasedBufferError(stage ?? functionOf(callerOf(release)), earlier, 'releases');
  }
  if (!handedOver.delete(memory) || !(memory instanceof ArrayBuffer)) return;
  if (!closedPort) {
    closedPort = new MessageChannel().port1;
    closedPort.close();
  }
  try {
    closedPort.postMessage(null, [memory]);
  } catch {
    // Not transferable after all: the garbage collector frees it, as it would without this module.
    return;
  }
  if (checking !== undefined) {
    // Only here, for what was freed: the stack costs microseconds, and only in checking mode.
    const frame = callerOf(release);
    const name = stage ?? functionOf(frame);
    checking.releasedBy.set(memory, stage === undefined ? frame : `${stage}, ${frame}`);
    checking.counts.released[name] = (checking.counts.released[name] ?? 0) + 1;
  }
}
