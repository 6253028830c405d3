/** The sparse map kept compact as it is read: every region given back exactly, every layout GNU tar never writes refused. */
import { strict as assert } from 'assert';
import { BundleIntegrityError } from '../../provider/bundle/errors';
import { SparseMapBuilder, sparseRegionsOf } from '../../provider/bundle/sparseMap';
import { DataRegion } from '../../provider/bundle/tarHeader';

function regionsOf(entries: DataRegion[], realSize: number): DataRegion[] {
  const stored = entries.reduce((sum, entry) => sum + entry.length, 0);
  const regions = sparseRegionsOf(entries, stored, realSize);
  const out: DataRegion[] = [];
  for (let region = regions.next(); region; region = regions.next()) out.push(region);
  assert.equal(regions.next(), undefined);
  return out;
}

const refusal = (message: RegExp) => (error: unknown) =>
  error instanceof BundleIntegrityError && error.check === 'tar-sparse-map' && message.test(error.message);

describe('sparse map', () => {
  it('gives back the regions as GNU tar maps them: large gaps and lengths, a last region ending inside a block, the closing entry', () => {
    const realSize = 2 ** 33 + 700;
    const entries = [
      { offset: 0, length: 512 },
      { offset: 4096, length: 1024 * 1024 },
      { offset: 2 ** 32, length: 3 * 512 },
      { offset: 2 ** 33, length: 700 },
      { offset: realSize, length: 0 },
    ];
    assert.deepEqual(regionsOf(entries, realSize), entries.slice(0, 4));
  });

  it('gives back a plain member (one region, any length) and an empty map', () => {
    assert.deepEqual(regionsOf([{ offset: 0, length: 1001 }], 1001), [{ offset: 0, length: 1001 }]);
    assert.deepEqual(regionsOf([{ offset: 5000, length: 0 }], 5000), []);
  });

  it('keeps a million regions in about 2 bytes each', () => {
    const builder = new SparseMapBuilder(1_000_000 * 1024);
    for (let index = 0; index < 1_000_000; index++) builder.addEntry(index * 1024, 512);
    assert.ok(builder.bytes <= 2_000_000 + 64 * 1024, `${builder.bytes} bytes`);
    const regions = builder.finish(1_000_000 * 512);
    let count = 0;
    for (let region = regions.next(); region; region = regions.next()) {
      assert.equal(region.offset, count * 1024);
      count += 1;
    }
    assert.equal(count, 1_000_000);
  });

  const laidOut = /is not laid out as GNU tar writes one/;
  for (const [title, entries, message] of [
    ['a region not on a 512-byte block', [{ offset: 100, length: 512 }], laidOut],
    ['a region of part of a block inside the file', [{ offset: 0, length: 100 }], laidOut],
    [
      'regions less than a block apart',
      [
        { offset: 0, length: 512 },
        { offset: 512, length: 512 },
      ],
      laidOut,
    ],
    [
      'overlapping regions',
      [
        { offset: 1024, length: 1024 },
        { offset: 512, length: 512 },
      ],
      /overlapping or out-of-range/,
    ],
    ['a region past the end of the file', [{ offset: 8192, length: 1024 }], /overlapping or out-of-range/],
  ] as const) {
    it(`refuses ${title}`, () => {
      assert.throws(() => sparseRegionsOf([...entries], 512 * 17, 8192 + 512), refusal(message));
    });
  }

  it('refuses a map whose regions do not add up to the stored size', () => {
    assert.throws(
      () => sparseRegionsOf([{ offset: 0, length: 512 }], 1024, 4096),
      refusal(/lists 512 data bytes but the member stores 1024/),
    );
  });
});
