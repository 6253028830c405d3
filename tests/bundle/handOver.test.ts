/**
 * handOver/release: a Buffer handed down the bundle pipeline is freed at once by the stage that
 * consumes it; nothing else is ever touched. The memory effect itself is measured by `npm run bench`.
 * In checking mode a misuse (a released Buffer handed to a stage, released twice, or memory handed
 * over twice) fails loudly, naming the stage; handOverPipeline.test.ts runs the whole pipeline in it.
 */
import { strict as assert } from 'assert';
import { createHash, randomBytes } from 'crypto';
import * as path from 'path';
import { Readable, Transform, TransformCallback, Writable } from 'stream';
import { pipeline } from 'stream/promises';
import { gunzipSync } from 'zlib';
import { DigestPassThrough } from '../../provider/bundle/digestStream';
import { EncryptStream } from '../../provider/bundle/encryptStream';
import {
  assertNotReleased,
  CHECK_HANDOVER_VARIABLE,
  checkHandOvers,
  handOver,
  handOverCounts,
  release,
  ReleasedBufferError,
  releasedError,
} from '../../provider/bundle/handOver';
import { AtomicFileSink, NullSink } from '../../provider/bundle/imageSink';
import { ParallelGzip } from '../../provider/bundle/parallelGzip';
import { TarMemberReader } from '../../provider/bundle/tarReader';
import { createDecipheriv } from 'crypto';
import { REPO_ROOT, runNodeAsync, temporaryFolder } from '../helpers/tools';

async function collect(stream: NodeJS.ReadWriteStream, inputs: Buffer[]): Promise<Buffer> {
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(Buffer.from(chunk)));
  const done = new Promise<void>((resolve, reject) => {
    stream.on('end', resolve);
    stream.on('error', reject);
  });
  for (const input of inputs) stream.write(input);
  stream.end();
  await done;
  return Buffer.concat(chunks);
}

/** A Buffer of its own memory (more than Node's pool), handed over, then released: what a misuse hands on. */
function releasedBuffer(bytes = 64 * 1024): Buffer {
  const buffer = handOver(Buffer.allocUnsafeSlow(bytes).fill(1), 'the test');
  release(buffer, 'the test');
  return buffer;
}

/** The error `stream` fails with when `chunk` is written to it. */
async function failureOf(stream: Writable, chunk: Buffer): Promise<unknown> {
  const failed = new Promise<unknown>((resolve) => stream.once('error', resolve));
  stream.on('data', () => undefined);
  stream.write(chunk);
  return failed;
}

/** A ReleasedBufferError naming `stage` as the one given the Buffer and `by` as the one that released it. */
function releasedBufferError(stage: string, by = 'the test'): (error: unknown) => boolean {
  return (error: unknown) => {
    assert.ok(error instanceof ReleasedBufferError, `a ReleasedBufferError, not ${String(error)}`);
    assert.equal(error.stage, stage);
    assert.ok(error.releasedBy.startsWith(by), error.releasedBy);
    assert.match(
      error.message,
      new RegExp(
        `^${stage.replace(/[.()]/g, '\\$&')} (was given|releases|hands over) a Buffer that was released earlier \\(by ${by}`,
      ),
    );
    return true;
  };
}

describe('handOver and release', function () {
  // The tests outside checking mode run without it whatever UNIKERNEL_AMI_CHECK_HANDOVER says.
  let was: boolean;
  before(() => (was = checkHandOvers(false)));
  after(() => checkHandOvers(was));

  it('release frees the memory of a Buffer that was handed over, and only of such a Buffer', function () {
    const handed = handOver(Buffer.allocUnsafeSlow(1024 * 1024).fill(7));
    const kept = Buffer.allocUnsafeSlow(1024 * 1024).fill(7);
    release(handed);
    release(kept);
    assert.equal(handed.buffer.byteLength, 0, 'detached: its memory is gone');
    assert.equal(handed.length, 0);
    assert.equal(kept.length, 1024 * 1024, 'a Buffer nobody handed over is left alone');
    assert.ok(kept.every((byte) => byte === 7));
    release(handed);
    assert.equal(handed.length, 0, 'a second release is harmless');

    const pooled = handOver(Buffer.from('a Buffer from the shared pool'));
    const neighbour = Buffer.from('its neighbour in the pool');
    assert.equal(pooled.buffer, neighbour.buffer, 'both live in the shared pool');
    release(pooled);
    assert.equal(pooled.toString(), 'a Buffer from the shared pool', 'a pooled Buffer is never handed over');
    assert.equal(neighbour.toString(), 'its neighbour in the pool');
  });

  it("ParallelGzip and EncryptStream free what was handed to them and never touch a caller's own Buffers", async function () {
    const data = [randomBytes(700 * 1024), Buffer.alloc(900 * 1024), randomBytes(300 * 1024)];
    const copies = data.map((chunk) => Buffer.from(chunk));
    const gzipped = await collect(new ParallelGzip({ chunkSize: 256 * 1024 }), data);
    assert.deepEqual(data, copies, 'the caller still has its data');
    assert.deepEqual(gunzipSync(gzipped), Buffer.concat(copies));

    const handed = copies.map((chunk) => handOver(Buffer.from(chunk)));
    const again = await collect(new ParallelGzip({ chunkSize: 256 * 1024 }), handed);
    assert.ok(
      handed.every((chunk) => chunk.length === 0),
      'handed-over input is freed once copied in',
    );
    assert.deepEqual(again, gzipped, 'the same output');

    const key = randomBytes(16);
    const iv = randomBytes(16);
    const cut = 64 * 1024;
    const plain = [handOver(Buffer.from(gzipped.subarray(0, cut))), Buffer.from(gzipped.subarray(cut))];
    const encrypted = await collect(new EncryptStream(key, iv), plain);
    assert.equal(plain[0].length, 0, 'a handed-over chunk is freed once encrypted');
    assert.equal(plain[1].length, gzipped.length - cut, 'a chunk not handed over is kept');
    const decipher = createDecipheriv('aes-128-cbc', key, iv);
    const decrypted = Buffer.concat([decipher.update(encrypted), decipher.final()]);
    assert.equal(createHash('sha1').update(decrypted).digest('hex'), createHash('sha1').update(gzipped).digest('hex'));
  });
});

describe('handOver checking mode', function () {
  let original: boolean;
  before(() => (original = checkHandOvers(true)));
  // Each test starts with the mode freshly on: nothing recorded, counts at zero.
  beforeEach(() => {
    checkHandOvers(false);
    checkHandOvers(true);
  });
  after(() => checkHandOvers(original));

  it('is off unless turned on, and then checks nothing and counts nothing', function () {
    checkHandOvers(false);
    assert.equal(handOverCounts(), undefined);
    const gone = handOver(Buffer.allocUnsafeSlow(64 * 1024));
    release(gone);
    assert.equal(releasedError(gone, 'a stage'), undefined, 'off, a released Buffer passes unchecked');
    assert.doesNotThrow(() => assertNotReleased(gone, 'a stage'));
    assert.doesNotThrow(() => release(gone), 'off, a second release does nothing');
    assert.equal(checkHandOvers(true), false, 'it was off');
    assert.deepEqual(handOverCounts(), { checked: 0, released: {} }, 'turned on, it starts afresh');
    assert.equal(releasedError(gone, 'a stage'), undefined, 'what was released while it was off is not known to it');
  });

  it('off, a stage given a released Buffer reads it as empty: the bytes are silently missing', async function () {
    checkHandOvers(false);
    const gone = releasedBuffer();
    const encrypted: Buffer[] = [];
    const stream = new EncryptStream(randomBytes(16), randomBytes(16));
    stream.on('data', (chunk: Buffer) => encrypted.push(chunk));
    await new Promise((resolve, reject) => stream.on('end', resolve).on('error', reject).end(gone));
    assert.equal(Buffer.concat(encrypted).length, 16, 'no error, and only the padding of an empty stream');
  });

  it('turned on by UNIKERNEL_AMI_CHECK_HANDOVER=1, read when the module is loaded (for child processes such as the CLI)', async function () {
    const module = path.join(REPO_ROOT, 'dist', 'provider', 'bundle', 'handOver.js');
    const script = `const h = require(${JSON.stringify(module)}); process.stdout.write(JSON.stringify(h.handOverCounts() ?? null));`;
    const run = (value: string) => runNodeAsync('-e', [script], { [CHECK_HANDOVER_VARIABLE]: value });
    // runNodeAsync runs `node <script> ...args`: with '-e' as the script, the code is its first argument.
    const on = await run('1');
    assert.equal(on.status, 0, on.stderr);
    assert.deepEqual(JSON.parse(on.stdout), { checked: 0, released: {} });
    const off = await run('');
    assert.equal(off.status, 0, off.stderr);
    assert.equal(JSON.parse(off.stdout), null);
  });

  it('a released Buffer makes releasedError and assertNotReleased name the stage and the one that released it', function () {
    const live = handOver(Buffer.allocUnsafeSlow(64 * 1024));
    assert.equal(releasedError(live, 'a stage'), undefined);
    assert.equal(releasedError(Buffer.from('pooled'), 'a stage'), undefined);
    release(live, 'the test');
    assert.equal(live.length, 0, 'released: it reads as empty');
    const error = releasedError(live, 'a stage');
    assert.ok(error && releasedBufferError('a stage')(error));
    assert.ok(error.releasedBy.includes('handOver.test.ts'), `where it was released: ${error.releasedBy}`);
    assert.throws(() => assertNotReleased(live, 'an async stage'), releasedBufferError('an async stage'));
    assert.deepEqual(handOverCounts(), { checked: 4, released: { 'the test': 1 } });
  });

  it('release throws on a Buffer released earlier, naming its caller when no stage is given', function () {
    const twice = releasedBuffer();
    assert.throws(() => release(twice, 'SecondStage'), releasedBufferError('SecondStage'));
    function PartWriterLike(buffer: Buffer): void {
      release(buffer);
    }
    assert.throws(() => PartWriterLike(twice), releasedBufferError('PartWriterLike'));
    const kept = Buffer.allocUnsafeSlow(64 * 1024);
    release(kept);
    release(kept);
    assert.equal(kept.length, 64 * 1024, 'a Buffer never handed over is still left alone, any number of times');
  });

  it('handOver refuses memory already handed over and not released, and a released Buffer', function () {
    const memory = Buffer.allocUnsafeSlow(64 * 1024);
    handOver(memory.subarray(0, 1024), 'FirstProducer');
    assert.throws(
      () => handOver(memory.subarray(1024), 'SecondProducer'),
      /^Error: SecondProducer hands over a Buffer whose memory is already handed over and not yet released/,
    );
    release(memory, 'the test');
    assert.doesNotThrow(() => handOver(Buffer.allocUnsafeSlow(64 * 1024), 'SecondProducer'));
    assert.throws(() => handOver(memory, 'SecondProducer'), releasedBufferError('SecondProducer'));
    const small = Buffer.from('pooled');
    assert.doesNotThrow(() => {
      handOver(small);
      handOver(small);
    }, "Node's pool is never handed over, so never twice");
  });

  for (const [stage, make] of [
    ['DigestPassThrough', () => new DigestPassThrough()],
    ['ParallelGzip', () => new ParallelGzip({ chunkSize: 64 * 1024 })],
    ['EncryptStream', () => new EncryptStream(randomBytes(16), randomBytes(16))],
    ['TarMemberReader', () => new TarMemberReader(new NullSink(), { name: 'app.img', size: 0 })],
  ] as const) {
    it(`${stage} fails with a ReleasedBufferError when given a released Buffer, instead of reading no bytes`, async function () {
      assert.ok(releasedBufferError(stage)(await failureOf(make(), releasedBuffer())));
    });
  }

  it('the image sinks (NullSink, AtomicFileSink) reject a released Buffer', async function () {
    await assert.rejects(new NullSink().write(0, releasedBuffer()), releasedBufferError('NullSink'));
    const folder = temporaryFolder('handover-sink');
    try {
      const sink = new AtomicFileSink(path.join(folder.dir, 'image'));
      await sink.open();
      await assert.rejects(sink.write(0, releasedBuffer()), releasedBufferError('AtomicFileSink'));
      await sink.discard();
    } finally {
      folder.cleanup();
    }
  });

  /**
   * A faulty stage: passes each chunk on and releases it, as if whoever reads it next had already
   * read it. That holds only while the next stage keeps up (Node then hands the chunk on at once);
   * once it falls behind, the chunk waits in a queue, released.
   */
  class ReleasingTooEarly extends Transform {
    override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
      this.push(chunk);
      try {
        release(chunk, 'ReleasingTooEarly');
      } catch (error) {
        // release throws only ReleasedBufferErrors.
        callback(error as Error);
        return;
      }
      callback();
    }
  }

  /** Chunks, handed over, through the faulty stage, EncryptStream and a slow writer; returns the encrypted length. */
  async function encryptThroughFaultyStage(data: Buffer[]): Promise<number> {
    let encrypted = 0;
    await pipeline(
      Readable.from(data.map((chunk) => handOver(Buffer.from(chunk)))),
      new ReleasingTooEarly(),
      new EncryptStream(randomBytes(16), randomBytes(16)),
      new Writable({
        write: (chunk: Buffer, _encoding, callback) => {
          encrypted += chunk.length;
          setTimeout(callback, 2);
        },
      }),
    );
    return encrypted;
  }

  it('in a pipeline, a stage that releases what it passed on fails the pipeline, naming itself and the stage it robbed', async function () {
    const data = Array.from({ length: 8 }, () => randomBytes(256 * 1024));
    // Either EncryptStream is given a chunk the faulty stage released while it waited in EncryptStream's
    // queue, or the faulty stage releases a chunk EncryptStream has already read and released: both name both.
    await assert.rejects(encryptThroughFaultyStage(data), (error: unknown) => {
      assert.ok(error instanceof ReleasedBufferError, String(error));
      const parties = [error.stage, error.releasedBy.split(',')[0]].sort();
      assert.deepEqual(parties, ['EncryptStream', 'ReleasingTooEarly'], error.message);
      return true;
    });
    // Without checking, the same misuse stalls this pipeline for good: Node's streams count a chunk's
    // bytes when it is queued and again, as zero, when the released chunk leaves the queue.
  });
});
