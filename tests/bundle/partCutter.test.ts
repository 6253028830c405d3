/** The part cutter against a store in memory: boundaries, digests, order of calls, failures. */
import { strict as assert } from 'assert';
import { createHash, randomBytes } from 'crypto';
import { Readable } from 'stream';
import { pipeline } from 'stream/promises';
import { WrittenPart } from '../../provider/bundle/bundleOutput';
import { CutPart, PartCutter, PartStore } from '../../provider/bundle/partCutter';

class MemoryStore implements PartStore {
  readonly calls: string[] = [];
  readonly parts: Buffer[][] = [];
  ended: CutPart[] = [];
  failEndOf: number | undefined;
  async begin(index: number) {
    this.calls.push(`begin ${index}`);
    this.parts[index] = [];
  }
  async write(slice: Buffer) {
    // A copy: the cutter may free the slice once this resolves.
    this.parts[this.parts.length - 1].push(Buffer.from(slice));
  }
  async end(part: CutPart) {
    this.calls.push(`end ${part.index}`);
    if (part.index === this.failEndOf) throw new Error(`part ${part.index} failed`);
    this.ended.push(part);
  }
  async flush() {
    this.calls.push('flush');
  }
  async commit(parts: readonly CutPart[]): Promise<WrittenPart[]> {
    return parts.map((part) => ({ ...part, filename: `p.${part.index}` }));
  }
  async discard() {
    this.calls.push('discard');
  }
  async abandon() {
    this.calls.push('abandon');
  }
}

function chunksOf(data: Buffer, sizes: number[]): Buffer[] {
  const chunks: Buffer[] = [];
  let offset = 0;
  for (let i = 0; offset < data.length; i++) {
    const size = sizes[i % sizes.length];
    chunks.push(Buffer.from(data.subarray(offset, offset + size)));
    offset += size;
  }
  return chunks;
}

const sha1 = (data: Buffer) => createHash('sha1').update(data).digest('hex');

describe('part cutter', () => {
  it('cuts at exact part boundaries whatever the chunk sizes, with the SHA-1 of each part', async () => {
    const data = randomBytes(10_000);
    for (const sizes of [[1], [7, 1000], [2500], [4096], [10_000]]) {
      const store = new MemoryStore();
      const cutter = new PartCutter(store, 2500);
      await pipeline(Readable.from(chunksOf(data, sizes)), cutter.writable);
      const expected = [0, 1, 2, 3].map((index) => data.subarray(index * 2500, (index + 1) * 2500));
      assert.deepEqual(
        store.parts.map((slices) => Buffer.concat(slices)),
        expected,
        `chunks of ${sizes.join(', ')}`,
      );
      assert.deepEqual(
        cutter.parts,
        expected.map((part, index) => ({ index, size: 2500, digest: sha1(part) })),
      );
      // The stream destroys itself once finished: the store is told to let go of nothing.
      assert.deepEqual(store.calls, [
        'begin 0',
        'end 0',
        'begin 1',
        'end 1',
        'begin 2',
        'end 2',
        'begin 3',
        'end 3',
        'flush',
        'abandon',
      ]);
    }
  });

  it('ends the last, shorter part at the end of the stream and commits through the store', async () => {
    const data = randomBytes(5001);
    const store = new MemoryStore();
    const cutter = new PartCutter(store, 2000);
    await pipeline(Readable.from(chunksOf(data, [333])), cutter.writable);
    assert.deepEqual(
      cutter.parts.map((part) => part.size),
      [2000, 2000, 1001],
    );
    assert.equal(cutter.parts[2].digest, sha1(data.subarray(4000)));
    assert.deepEqual(
      (await cutter.commit()).map((part) => part.filename),
      ['p.0', 'p.1', 'p.2'],
    );
    await cutter.discard();
    assert.equal(store.calls[store.calls.length - 1], 'discard');
  });

  it('makes no part of an empty stream', async () => {
    const store = new MemoryStore();
    const cutter = new PartCutter(store, 100);
    await pipeline(Readable.from([]), cutter.writable);
    assert.deepEqual(cutter.parts, []);
    assert.deepEqual(store.calls, ['flush', 'abandon']);
  });

  it('fails the stream when the store fails, and lets the store let go of what it holds', async () => {
    const store = new MemoryStore();
    store.failEndOf = 1;
    const cutter = new PartCutter(store, 100);
    await assert.rejects(pipeline(Readable.from(chunksOf(randomBytes(1000), [64])), cutter.writable), /part 1 failed/);
    assert.deepEqual(
      cutter.parts.map((part) => part.index),
      [0],
      'the failed part is not counted',
    );
    assert.ok(store.calls.includes('abandon'));
    assert.ok(!store.calls.includes('flush'));
  });

  it('offers suspend only when the store can keep parts', () => {
    assert.equal(new PartCutter(new MemoryStore(), 10).suspend, undefined);
    const keeping = Object.assign(new MemoryStore(), { suspend: async () => true });
    assert.equal(typeof new PartCutter(keeping, 10).suspend, 'function');
  });
});
