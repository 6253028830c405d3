/**
 * gzip -9 on several cores, the way pigz does it, as one Transform stream.
 *
 * The input is cut into fixed-size chunks. Each chunk is deflated on its own at level 9 with the
 * 32 KiB of input before it as its dictionary, so that matches reach across the cut and the output
 * stays within a fraction of a percent of GNU gzip -9. Every chunk but the last ends with a sync
 * flush (an empty stored block that ends on a byte boundary and is not final), the last with
 * Z_FINISH; the pieces concatenate into one raw deflate stream. The output is a single gzip member:
 * GNU gzip -9's header, that deflate stream, then the CRC-32 and the length of the input.
 *
 * The compression runs on libuv's thread pool through zlib's asynchronous API; see `ParallelGzip`.
 */
import { availableParallelism } from 'os';
import { Transform, TransformCallback } from 'stream';
import * as zlib from 'zlib';
import { handOver, release, releasedError } from './handOver';

const STAGE = 'ParallelGzip';

/** GNU gzip -9's header: no file name, mtime 0, XFL 2 (maximum compression), OS 3 (Unix). */
export const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03]);
/** deflate's window: how far back a match can reach, so how much of the previous chunk primes the next. */
export const DICTIONARY_SIZE = 32 * 1024;
/**
 * Uncompressed bytes per chunk. Each chunk costs a deflate set-up, 32 KiB of dictionary and two trips
 * between the pool and the main thread; measured on 2 cores (bundling 100 MiB of random data, and a
 * 141 MB tar of node_modules), 128 and 256 KiB chunks took 15–40 % more wall time than 1 MiB chunks
 * for the same CPU time, 512 KiB 2–13 % more. The output size hardly depends on it (within 0.01 %).
 */
export const DEFAULT_CHUNK_SIZE = 1024 * 1024;

export interface ParallelGzipOptions {
  /** Chunks compressed at the same time (default `os.availableParallelism()`); 1 compresses one at a time. */
  parallelism?: number;
  /** Uncompressed bytes per chunk, at least DICTIONARY_SIZE (default DEFAULT_CHUNK_SIZE). */
  chunkSize?: number;
  /** Chunks taken in but not yet emitted, at least `parallelism` (default 2 × parallelism). */
  maxInFlight?: number;
}

type Crc32 = (data: Uint8Array, value: number) => number;

let crcTable: Int32Array | undefined;

/** CRC-32 as gzip computes it, for Node versions before 20.15 that lack zlib.crc32. */
export function crc32Portable(data: Uint8Array, value = 0): number {
  if (!crcTable) {
    crcTable = new Int32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c;
    }
  }
  const table = crcTable;
  let crc = ~value;
  for (let i = 0; i < data.length; i++) crc = table[(crc ^ data[i]) & 0xff] ^ (crc >>> 8);
  return ~crc >>> 0;
}

// zlib.crc32 chains over the chunks in input order, so no crc32_combine of per-chunk CRCs is needed.
const crc32: Crc32 = typeof zlib.crc32 === 'function' ? zlib.crc32 : crc32Portable;

interface Job {
  input: Buffer;
  dictionary: Buffer | undefined;
  last: boolean;
  started: boolean;
  output?: Buffer;
}

/** Room for the deflate output of `length` bytes in one piece: stored blocks cost 5 bytes per 16 KiB at worst. */
function outputRoom(length: number): number {
  return length + (length >> 10) + 1024;
}

/**
 * The cores, but no more than libuv's thread pool, where zlib's jobs run: more jobs than threads
 * only queue up, holding their chunks in memory.
 */
export function defaultParallelism(): number {
  const pool = Number(process.env.UV_THREADPOOL_SIZE) || 4;
  return Math.max(1, Math.min(availableParallelism(), pool));
}

/**
 * Compression runs on libuv's thread pool (zlib.deflateRaw with a callback), not on worker threads.
 * Measured on 2 cores, 100 MiB of random data in 1 MiB chunks, both took the same wall time (best
 * of 3: 1.06 s with two workers running deflateRawSync, 1.10 s on the pool, 1.70 s one chunk at a
 * time), but every worker thread is another V8 isolate costing about 10 MB of RSS, where the pool's
 * threads already exist. The pool has UV_THREADPOOL_SIZE threads (4 unless set before its first
 * use), shared with file reads and writes: beyond that, chunks wait for a thread (the CLI enlarges
 * the pool on bigger machines).
 *
 * At most `parallelism` chunks are being compressed and at most `maxInFlight` are taken in and not
 * yet emitted; while that many are pending, the stream holds back the callback of its input, so the
 * writer waits. Pieces are emitted strictly in input order. So the stream holds at most
 * maxInFlight + 1 chunks of input and maxInFlight pieces of output: 2 × 2 × 1 MiB on 2 cores.
 */
export class ParallelGzip extends Transform {
  readonly parallelism: number;
  readonly chunkSize: number;
  readonly maxInFlight: number;
  /** The most chunks that were ever taken in and not yet emitted at once. */
  peakInFlight = 0;
  /** The most chunks that were ever being compressed at once. */
  peakRunning = 0;
  /** Chunks compressed so far. */
  chunks = 0;

  /** Taken in and not yet emitted, in input order. */
  private readonly jobs: Job[] = [];
  private readonly spare: Buffer[] = [];
  private running = 0;
  private fill: Buffer;
  private filled = 0;
  private dictionary: Buffer | undefined;
  private crc = 0;
  private size = 0;
  private headerSent = false;
  /** The rest of a `_transform` or `_flush` that waits for a free slot. */
  private waiting: (() => void) | undefined;
  /** `_flush`'s callback, once the last chunk has been taken in. */
  private finishing: TransformCallback | undefined;

  constructor(options: ParallelGzipOptions = {}) {
    super();
    this.parallelism = options.parallelism ?? defaultParallelism();
    this.chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
    this.maxInFlight = options.maxInFlight ?? 2 * this.parallelism;
    if (!Number.isInteger(this.parallelism) || this.parallelism < 1)
      throw new RangeError(`parallelism must be a positive integer, not ${this.parallelism}`);
    if (!Number.isInteger(this.chunkSize) || this.chunkSize < DICTIONARY_SIZE)
      throw new RangeError(`chunkSize must be an integer of at least ${DICTIONARY_SIZE}, not ${this.chunkSize}`);
    if (!Number.isInteger(this.maxInFlight) || this.maxInFlight < this.parallelism) {
      throw new RangeError(
        `maxInFlight must be an integer of at least parallelism (${this.parallelism}), not ${this.maxInFlight}`,
      );
    }
    this.fill = Buffer.allocUnsafeSlow(this.chunkSize);
  }

  /** Chunks taken in and not yet emitted. */
  get inFlight(): number {
    return this.jobs.length;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const misuse = releasedError(chunk, STAGE);
    if (misuse) {
      callback(misuse);
      return;
    }
    this.crc = crc32(chunk, this.crc);
    this.size += chunk.length;
    let offset = 0;
    // A full chunk is handed on only when more input follows, so that the last one can end the stream.
    const proceed = (): void => {
      while (offset < chunk.length) {
        if (this.filled === this.chunkSize) {
          if (this.jobs.length >= this.maxInFlight) {
            this.waiting = proceed;
            return;
          }
          this.enqueue(false);
        }
        const copied = chunk.copy(this.fill, this.filled, offset);
        this.filled += copied;
        offset += copied;
      }
      try {
        release(chunk, STAGE);
      } catch (error) {
        // release throws only in checking mode, and only a ReleasedBufferError.
        callback(error as Error);
        return;
      }
      callback();
    };
    proceed();
  }

  override _flush(callback: TransformCallback): void {
    const finish = (): void => {
      if (this.jobs.length >= this.maxInFlight) {
        this.waiting = finish;
        return;
      }
      this.finishing = callback;
      this.enqueue(true);
    };
    finish();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.jobs.length = 0;
    this.spare.length = 0;
    this.waiting = undefined;
    this.finishing = undefined;
    this.dictionary = undefined;
    callback(error);
  }

  private enqueue(last: boolean): void {
    const input = this.fill.subarray(0, this.filled);
    this.jobs.push({ input, dictionary: this.dictionary, last, started: false });
    this.peakInFlight = Math.max(this.peakInFlight, this.jobs.length);
    if (!last) {
      this.dictionary = Buffer.from(input.subarray(input.length - DICTIONARY_SIZE));
      this.fill = this.spare.pop() ?? Buffer.allocUnsafeSlow(this.chunkSize);
      this.filled = 0;
    }
    this.startJobs();
  }

  private startJobs(): void {
    for (const job of this.jobs) {
      if (this.running >= this.parallelism) return;
      if (!job.started) this.start(job);
    }
  }

  private start(job: Job): void {
    job.started = true;
    this.running++;
    this.peakRunning = Math.max(this.peakRunning, this.running);
    const flush = job.last ? zlib.constants.Z_FINISH : zlib.constants.Z_SYNC_FLUSH;
    // `flush` as well as `finishFlush`, so that the whole chunk is compressed and flushed in one pass on
    // the pool; the pass zlib makes at the end of the input then finds nothing left to do.
    const options: zlib.ZlibOptions = {
      level: 9,
      dictionary: job.dictionary,
      flush,
      finishFlush: flush,
      chunkSize: outputRoom(job.input.length),
    };
    zlib.deflateRaw(job.input, options, (error, output) => {
      this.running--;
      if (this.destroyed) return;
      if (error) {
        this.destroy(error);
        return;
      }
      // The output is a slice of this deflate's own buffer, which nothing else uses now.
      try {
        job.output = handOver(output, STAGE);
      } catch (handOverError) {
        // handOver throws only in checking mode, and only Errors.
        this.destroy(handOverError as Error);
        return;
      }
      this.chunks++;
      if (!job.last && this.spare.length < this.maxInFlight) this.spare.push(job.input);
      this.emitReady();
      this.startJobs();
    });
  }

  private emitReady(): void {
    while (this.jobs[0]?.output) {
      const job = this.jobs.shift() as Job;
      if (!this.headerSent) {
        this.headerSent = true;
        this.push(Buffer.from(GZIP_HEADER));
      }
      this.push(job.output);
    }
    if (this.waiting && this.jobs.length < this.maxInFlight) {
      const proceed = this.waiting;
      this.waiting = undefined;
      proceed();
    }
    if (this.finishing && this.jobs.length === 0) {
      const trailer = Buffer.alloc(8);
      trailer.writeUInt32LE(this.crc, 0);
      trailer.writeUInt32LE(this.size % 2 ** 32, 4);
      const callback = this.finishing;
      this.finishing = undefined;
      callback(null, trailer);
    }
  }
}

export type GzipMode = 'parallel' | 'single';
export const GZIP_MODES: readonly GzipMode[] = ['parallel', 'single'];

/** The gzip -9 stage of the bundle pipeline: ParallelGzip, or one zlib gzip stream as GNU gzip runs. */
export function createGzipStage(mode: GzipMode = 'parallel', options: ParallelGzipOptions = {}): Transform {
  return mode === 'parallel' ? new ParallelGzip(options) : zlib.createGzip({ level: 9 });
}
