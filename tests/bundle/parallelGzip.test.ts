/**
 * The parallel gzip stream checked by GNU gzip: it must write one standard member with GNU gzip -9's
 * header and trailer, whatever the input, the chunking, the parallelism and the pace of the reader.
 */
import { strict as assert } from 'assert';
import { randomBytes } from 'crypto';
import * as path from 'path';
import { PassThrough, Readable, Writable } from 'stream';
import { pipeline } from 'stream/promises';
import * as zlib from 'zlib';
import { createGzipStage, crc32Portable, ParallelGzip, ParallelGzipOptions } from '../../provider/bundle/parallelGzip';
import { MiB, run } from '../helpers/tools';

const KiB = 1024;
const HEADER_HEX = '1f8b0800000000000203';

/** A deterministic generator, so that every run cuts the input the same way. */
function lengths(seed: number, total: number, largest: number): number[] {
  const result: number[] = [];
  let state = seed;
  for (let left = total; left > 0;) {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    const length = Math.min(left, 1 + (state % largest));
    result.push(length);
    left -= length;
  }
  return result;
}

/** Writes `input` in pieces of uneven sizes, as a stream would deliver it, and collects the output. */
async function compress(
  input: Buffer,
  options: ParallelGzipOptions = {},
  largestWrite = 200 * KiB,
): Promise<{ output: Buffer; gzip: ParallelGzip }> {
  const gzip = new ParallelGzip(options);
  const pieces: Buffer[] = [];
  let offset = 0;
  for (const length of lengths(input.length + 7, input.length, largestWrite)) {
    pieces.push(input.subarray(offset, offset + length));
    offset += length;
  }
  const chunks: Buffer[] = [];
  await pipeline(Readable.from(pieces, { objectMode: false }), gzip, async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) chunks.push(chunk);
  });
  return { output: Buffer.concat(chunks), gzip };
}

/** GNU gzip's verdicts: `gzip -t` accepts the stream and `gzip -dc` gives back exactly `input`. */
function assertGnuGzipReads(output: Buffer, input: Buffer): void {
  run('gzip', ['-t'], { input: output });
  const restored = run('gzip', ['-dc'], { input: output });
  assert.equal(restored.length, input.length, 'gunzip gives back as many bytes as went in');
  assert.ok(restored.equals(input), 'gunzip gives back the input byte for byte');
}

function repeatedText(bytes: number): Buffer {
  const line = Buffer.from(
    'Lorem ipsum dolor sit amet, consectetur adipiscing elit; sed do eiusmod tempor incididunt 0123456789\n',
  );
  const text = Buffer.alloc(bytes);
  for (let offset = 0; offset < bytes; offset += line.length) line.copy(text, offset);
  return text;
}

/** Random blocks, zeros and text, with a random block repeated far apart so that matches cross chunk cuts. */
function mixed(bytes: number): Buffer {
  const motif = randomBytes(5000);
  const pieces: Buffer[] = [];
  let total = 0;
  for (let i = 0; total < bytes; i++) {
    const piece = [randomBytes(40 * KiB), Buffer.alloc(70 * KiB), repeatedText(30 * KiB + 11), motif][i % 4] as Buffer;
    pieces.push(piece);
    total += piece.length;
  }
  return Buffer.concat(pieces).subarray(0, bytes);
}

describe('parallel gzip read by GNU gzip', () => {
  const chunkSize = 64 * KiB;
  const cases: Array<[string, () => Buffer, number]> = [
    ['empty input', () => Buffer.alloc(0), 1],
    ['1 byte', () => Buffer.from([0x42]), 1],
    ['exactly one chunk', () => randomBytes(chunkSize), 1],
    ['one chunk and one byte', () => randomBytes(chunkSize + 1), 2],
    ['many chunks (1.5 MiB of mixed data)', () => mixed(1.5 * MiB), 24],
    ['highly compressible (2 MiB of text)', () => repeatedText(2 * MiB), 32],
    ['random (1 MiB)', () => randomBytes(MiB), 16],
    ['zeros (3 MiB + 5)', () => Buffer.alloc(3 * MiB + 5), 49],
  ];
  for (const [label, make, chunks] of cases) {
    it(`round-trips ${label} with GNU gzip's header and trailer`, async () => {
      const input = make();
      const { output, gzip } = await compress(input, { chunkSize, parallelism: 3 });
      assert.equal(gzip.chunks, chunks);
      assert.equal(output.subarray(0, 10).toString('hex'), HEADER_HEX, 'no name, mtime 0, XFL 2, OS 3');
      assertGnuGzipReads(output, input);
      // CRC-32 and ISIZE are a function of the input alone: GNU gzip writes the same 8 bytes.
      const gnu = run('gzip', ['-9', '-n', '-c'], { input });
      assert.equal(output.subarray(-8).toString('hex'), gnu.subarray(-8).toString('hex'));
      assert.equal(output.readUInt32LE(output.length - 8), zlib.crc32(input));
      assert.equal(output.readUInt32LE(output.length - 4), input.length);
    });
  }

  it('writes the same bytes whatever the parallelism and however the input is cut', async () => {
    const input = mixed(2 * MiB + 333);
    const { output: reference, gzip } = await compress(input, { chunkSize, parallelism: 1 }, 100);
    assert.equal(gzip.peakRunning, 1, 'parallelism 1 compresses one chunk at a time');
    for (const [parallelism, largestWrite] of [
      [2, 4096],
      [4, MiB],
      [8, 3 * chunkSize],
    ] as const) {
      const { output, gzip: other } = await compress(input, { chunkSize, parallelism }, largestWrite);
      assert.ok(output.equals(reference), `parallelism ${parallelism}, writes up to ${largestWrite} bytes`);
      assert.ok(other.peakRunning <= parallelism);
    }
    assertGnuGzipReads(reference, input);
  });

  it('primes each chunk with the 32 KiB before it, so that matches reach across the cuts', async () => {
    const motif = randomBytes(16 * KiB);
    const input = Buffer.concat(Array.from({ length: 64 }, () => motif));
    const { output, gzip } = await compress(input, { chunkSize });
    assert.equal(gzip.chunks, 16);
    // Without the dictionary every chunk would spell the 16 KiB motif out again.
    assert.ok(output.length < 16 * KiB + 16 * 512, `${output.length} bytes for 16 chunks`);
    assertGnuGzipReads(output, input);
  });

  it('stays within 1 % of gzip -9 on a realistic tar stream (GNU tar of the TypeScript package)', async function () {
    const folder = path.dirname(path.dirname(require.resolve('typescript/package.json')));
    const tar = run('tar', ['-c', '--owner', '0', '--group', '0', '-C', folder, 'typescript']);
    assert.ok(tar.length > 15 * MiB, `a tar of ${tar.length} bytes`);
    const gnu = run('gzip', ['-9', '-n', '-c'], { input: tar });
    const { output } = await compress(tar, {}, MiB);
    const ratio = output.length / gnu.length;
    assert.ok(ratio < 1.01, `ours ${output.length} bytes, gzip -9 ${gnu.length} bytes (${ratio.toFixed(4)}x)`);
    assertGnuGzipReads(output, tar);
  });

  it('computes the same CRC-32 without zlib.crc32, for Node versions that lack it', () => {
    const data = mixed(300 * KiB);
    assert.equal(crc32Portable(Buffer.alloc(0)), 0);
    assert.equal(crc32Portable(data), zlib.crc32(data));
    assert.equal(crc32Portable(data.subarray(1000), crc32Portable(data.subarray(0, 1000))), zlib.crc32(data));
  });

  it('keeps the classic single zlib stream available', async () => {
    const stage = createGzipStage('single');
    assert.ok(stage instanceof zlib.Gzip);
    assert.ok(createGzipStage('parallel') instanceof ParallelGzip);
    assert.ok(createGzipStage() instanceof ParallelGzip, 'parallel by default');
    const input = mixed(300 * KiB);
    const chunks: Buffer[] = [];
    await pipeline(
      Readable.from([input]),
      stage,
      new Writable({ write: (chunk: Buffer, _encoding, callback) => (chunks.push(chunk), callback()) }),
    );
    const output = Buffer.concat(chunks);
    assert.equal(output.subarray(0, 10).toString('hex'), HEADER_HEX);
    assertGnuGzipReads(output, input);
  });

  it('refuses options it cannot honour', () => {
    assert.throws(() => new ParallelGzip({ parallelism: 0 }), RangeError);
    assert.throws(() => new ParallelGzip({ parallelism: 1.5 }), RangeError);
    assert.throws(() => new ParallelGzip({ chunkSize: 32 * KiB - 1 }), RangeError);
    assert.throws(() => new ParallelGzip({ parallelism: 4, maxInFlight: 3 }), RangeError);
    assert.equal(new ParallelGzip().maxInFlight, 2 * new ParallelGzip().parallelism);
  });
});

describe('parallel gzip: order, back-pressure and failures', () => {
  it('with a slow reader, takes in no more than its bound of chunks and lets the writer wait', async () => {
    const chunkSize = 64 * KiB;
    const gzip = new ParallelGzip({ chunkSize, parallelism: 2 });
    assert.equal(gzip.maxInFlight, 4);
    const total = 8 * MiB;
    let produced = 0;
    let consumed = 0;
    let furthestAhead = 0;
    let largestReadable = 0;
    const source = new Readable({
      highWaterMark: 16 * KiB,
      read() {
        if (produced >= total) {
          this.push(null);
          return;
        }
        const piece = randomBytes(Math.min(48 * KiB, total - produced));
        produced += piece.length;
        this.push(piece);
      },
    });
    const slowReader = new Writable({
      highWaterMark: 16 * KiB,
      write(chunk: Buffer, _encoding, callback) {
        consumed += chunk.length;
        furthestAhead = Math.max(furthestAhead, produced - consumed);
        largestReadable = Math.max(largestReadable, gzip.readableLength);
        setTimeout(callback, 3);
      },
    });
    await pipeline(source, gzip, slowReader);
    assert.equal(produced, total);
    assert.ok(consumed > total, 'random data does not shrink');
    assert.equal(gzip.peakInFlight, 4, 'the bound was reached, and never passed');
    assert.ok(gzip.peakRunning <= 2);
    // Random data compresses to its own size, so produced − consumed is what sits in the pipeline: the
    // chunks in flight, as many outputs waiting to be read, the chunk being filled and the streams' buffers.
    const bound = (2 * gzip.maxInFlight + 2) * chunkSize;
    assert.ok(furthestAhead <= bound, `the writer ran ${furthestAhead} bytes ahead of the reader (bound ${bound})`);
    assert.ok(
      largestReadable <= (gzip.maxInFlight + 2) * (chunkSize + 2 * KiB),
      `${largestReadable} bytes waited in the readable buffer`,
    );
  });

  it('passes an error of its input on and ignores the chunks still being compressed', async () => {
    const gzip = new ParallelGzip({ chunkSize: 32 * KiB, parallelism: 2 });
    let pieces = 0;
    const failing = new Readable({
      read() {
        if (pieces++ < 20) this.push(randomBytes(48 * KiB));
        else this.destroy(new Error('the disk went away'));
      },
    });
    let emittedAfter = 0;
    await assert.rejects(pipeline(failing, gzip, new PassThrough().resume()), /the disk went away/);
    assert.ok(gzip.destroyed);
    gzip.on('data', () => emittedAfter++);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(emittedAfter, 0);
    assert.equal(gzip.inFlight, 0, 'destroy lets go of every pending chunk');
  });

  it('stops cleanly when destroyed while chunks are being compressed', async () => {
    const gzip = new ParallelGzip({ chunkSize: 32 * KiB, parallelism: 2 });
    const errors: Error[] = [];
    gzip.on('error', (error) => errors.push(error));
    gzip.resume();
    for (let i = 0; i < 6; i++) gzip.write(randomBytes(48 * KiB));
    await new Promise((resolve) => setImmediate(resolve));
    gzip.destroy();
    await new Promise((resolve) => gzip.once('close', resolve));
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual(errors, []);
    assert.equal(gzip.inFlight, 0);
  });
});
