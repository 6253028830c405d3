import { strict as assert } from 'assert';
import { SparseScanner } from '../../provider/bundle/sparseScan';

function scan(content: Buffer, chunkSize = 4096, maxRegions?: number) {
  const scanner = new SparseScanner(maxRegions);
  for (let at = 0; at < content.length; at += chunkSize) scanner.push(content.subarray(at, at + chunkSize));
  return scanner.finish();
}

function image(layout: Array<[number, number]>, size: number): Buffer {
  const content = Buffer.alloc(size);
  for (const [offset, length] of layout) content.fill(0xab, offset, offset + length);
  return content;
}

describe('zero-block scanner', () => {
  it('finds data regions at 512-byte granularity', () => {
    const content = image(
      [
        [0, 1000],
        [8192, 512],
        [20000, 10],
      ],
      32768,
    );
    assert.deepEqual(scan(content), {
      realSize: 32768,
      regions: [
        { offset: 0, length: 1024 },
        { offset: 8192, length: 512 },
        { offset: 19968, length: 512 },
      ],
    });
  });

  it('returns no layout when the image has no zero block (a plain member, like GNU tar)', () => {
    assert.equal(scan(image([[0, 5000]], 5000)), undefined);
  });

  it('keeps a partial final block of data and describes an all-zero image as one hole', () => {
    assert.deepEqual(scan(image([[4096, 100]], 4196)), { realSize: 4196, regions: [{ offset: 4096, length: 100 }] });
    assert.deepEqual(scan(Buffer.alloc(3000)), { realSize: 3000, regions: [] });
  });

  it('gives the same answer whatever the chunking', () => {
    const content = image(
      [
        [512, 512],
        [4096, 3],
        [9000, 2000],
        [65536 - 1, 1],
      ],
      65536,
    );
    assert.deepEqual(scan(content, 512), scan(content, 65536));
  });

  it('bounds the sparse map by merging the smallest holes when an image has too many regions', () => {
    const layout: Array<[number, number]> = [];
    for (let i = 0; i < 100; i++) layout.push([i * 2048, 512]);
    const result = scan(image(layout, 100 * 2048), 4096, 10);
    assert.ok(result);
    assert.ok(result.regions.length <= 10, `${result.regions.length} regions`);
    for (const [offset, length] of layout) {
      assert.ok(
        result.regions.some((region) => region.offset <= offset && offset + length <= region.offset + region.length),
        `data at ${offset} still stored`,
      );
    }
  });

  it('refuses chunks that do not line up with blocks', () => {
    const scanner = new SparseScanner();
    scanner.push(Buffer.alloc(100, 1));
    assert.throws(() => scanner.push(Buffer.alloc(100)), /512-byte block/);
  });
});
