/**
 * The image's content as 512 KiB blocks: the pure list, identity and plan (blockList.ts), and the
 * hashing over the file system's extents (imageBlocks.ts), held to an independent whole-file read.
 */
import { strict as assert } from 'assert';
import { createHash } from 'crypto';
import { openSync, readFileSync, closeSync, writeSync } from 'fs';
import * as path from 'path';
import {
  contentIdentity,
  decodeBlockList,
  encodeBlockList,
  ImageBlocks,
  planBlocks,
  ZERO_BLOCK_DIGEST,
} from '../../provider/aws/blockList';
import { EBS_BLOCK_BYTES } from '../../provider/aws/ebsBlocks';
import { blocksWithData, hashImageBlocks } from '../../provider/aws/imageBlocks';
import { MiB, temporaryFolder, writeImage } from '../helpers/tools';

const digestOf = (seed: string) => createHash('sha256').update(seed).digest();

function blocks(imageBytes: number, entries: [number, string][]): ImageBlocks {
  return { imageBytes, digests: new Map(entries.map(([index, seed]) => [index, digestOf(seed)])) };
}

/** The oracle: every block of the file read whole, padded and hashed, zero blocks left out. */
function wholeFileDigests(file: string): Map<number, Buffer> {
  const data = readFileSync(file);
  const digests = new Map<number, Buffer>();
  for (let offset = 0, index = 0; offset < data.length; offset += EBS_BLOCK_BYTES, index++) {
    const block = Buffer.alloc(EBS_BLOCK_BYTES);
    data.copy(block, 0, offset, Math.min(data.length, offset + EBS_BLOCK_BYTES));
    const digest = createHash('sha256').update(block).digest();
    if (!digest.equals(ZERO_BLOCK_DIGEST)) digests.set(index, digest);
  }
  return digests;
}

describe('image blocks: content identity, the compact list and the block plan', () => {
  it('the zero digest is the SHA-256 of 512 KiB of zeros', () => {
    assert.deepEqual(
      ZERO_BLOCK_DIGEST,
      createHash('sha256')
        .update(Buffer.alloc(512 * 1024))
        .digest(),
    );
  });

  it('identity: the same blocks give the same identity; a changed block, an index or the size change it', () => {
    const a = blocks(3 * EBS_BLOCK_BYTES, [
      [0, 'x'],
      [2, 'y'],
    ]);
    assert.equal(
      contentIdentity(a),
      contentIdentity(
        blocks(3 * EBS_BLOCK_BYTES, [
          [2, 'y'],
          [0, 'x'],
        ]),
      ),
    );
    assert.notEqual(
      contentIdentity(a),
      contentIdentity(
        blocks(3 * EBS_BLOCK_BYTES, [
          [0, 'x'],
          [2, 'z'],
        ]),
      ),
    );
    assert.notEqual(
      contentIdentity(a),
      contentIdentity(
        blocks(3 * EBS_BLOCK_BYTES, [
          [0, 'x'],
          [1, 'y'],
        ]),
      ),
    );
    assert.notEqual(
      contentIdentity(a),
      contentIdentity(
        blocks(3 * EBS_BLOCK_BYTES + 1, [
          [0, 'x'],
          [2, 'y'],
        ]),
      ),
    );
    assert.match(contentIdentity(a), /^[0-9a-f]{64}$/);
  });

  it('the compact list round-trips (16-byte prefixes, 20 bytes a data block) and refuses what is not one', () => {
    const a = blocks(10 * EBS_BLOCK_BYTES + 5, [
      [0, 'x'],
      [7, 'y'],
      [10, 'z'],
    ]);
    const text = encodeBlockList(a);
    assert.equal(Buffer.from(text.split('.')[2], 'base64').length, 3 * 20);
    const list = decodeBlockList(text);
    assert.equal(list?.imageBytes, 10 * EBS_BLOCK_BYTES + 5);
    assert.deepEqual([...(list?.prefixes.keys() ?? [])], [0, 7, 10]);
    assert.deepEqual(list?.prefixes.get(7), digestOf('y').subarray(0, 16));
    for (const bad of [
      undefined,
      42,
      '',
      'b2.10.',
      'b1.x.',
      `b1.${EBS_BLOCK_BYTES}.${Buffer.alloc(19).toString('base64')}`,
    ])
      assert.equal(decodeBlockList(bad), undefined, String(bad));
    // An index past the image, or out of order: not a list this code wrote.
    const past = Buffer.alloc(20);
    past.writeUInt32BE(1);
    assert.equal(decodeBlockList(`b1.${EBS_BLOCK_BYTES}.${past.toString('base64')}`), undefined);
    const unordered = Buffer.alloc(40);
    unordered.writeUInt32BE(2, 0);
    unordered.writeUInt32BE(1, 20);
    assert.equal(decodeBlockList(`b1.${3 * EBS_BLOCK_BYTES}.${unordered.toString('base64')}`), undefined);
  });

  it('plan without a parent: every block of the image, zero blocks too unless skipped', () => {
    const image = blocks(4 * EBS_BLOCK_BYTES - 1, [
      [0, 'a'],
      [3, 'b'],
    ]);
    const all = planBlocks(image, undefined, false);
    assert.deepEqual(
      all.blocks.map((block) => [block.index, block.zero]),
      [
        [0, false],
        [1, true],
        [2, true],
        [3, false],
      ],
    );
    assert.equal(all.zeroBlocks, 2);
    assert.deepEqual(all.blocks[1].digest, ZERO_BLOCK_DIGEST);
    assert.deepEqual(
      planBlocks(image, undefined, true).blocks.map((block) => block.index),
      [0, 3],
    );
  });

  it('plan with a parent: only what differs, zeros where the parent had data (past a shorter image too)', () => {
    const before = blocks(8 * EBS_BLOCK_BYTES, [
      [0, 'a'],
      [1, 'b'],
      [2, 'c'],
      [6, 'd'],
      [7, 'e'],
    ]);
    const after = blocks(5 * EBS_BLOCK_BYTES, [
      [0, 'a'],
      [1, 'B'],
      [3, 'new'],
      [4, 'f'],
    ]);
    const plan = planBlocks(after, decodeBlockList(encodeBlockList(before)), false);
    assert.deepEqual(
      plan.blocks.map((block) => [block.index, block.zero]),
      [
        [1, false],
        [2, true],
        [3, false],
        [4, false],
        [6, true],
        [7, true],
      ],
    );
    assert.deepEqual(plan.blocks[0].digest, digestOf('B'));
    assert.equal(plan.unchangedBlocks, 1, 'block 0 is the only one of the image left as it was');
    const same = planBlocks(before, decodeBlockList(encodeBlockList(before)), false);
    assert.deepEqual(same.blocks, []);
    assert.equal(same.unchangedBlocks, 8);
  });

  it('blocksWithData: the blocks the extents touch, each once, in order; all of them without extents', () => {
    const B = EBS_BLOCK_BYTES;
    assert.deepEqual(blocksWithData(4 * B, undefined), [0, 1, 2, 3]);
    assert.deepEqual(
      blocksWithData(10 * B, [
        { offset: 512, length: 512 },
        { offset: B - 512, length: 1024 },
        { offset: 5 * B, length: 2 * B },
      ]),
      [0, 1, 5, 6],
    );
    assert.deepEqual(blocksWithData(10 * B, []), []);
  });

  describe('hashing a file over its extents', () => {
    const folder = temporaryFolder('blocks');
    after(() => folder.cleanup());

    it('holes and written zeros give the same identity; it matches a whole read; only data blocks are read', async () => {
      const sparse = path.join(folder.dir, 'sparse.raw');
      const dense = path.join(folder.dir, 'dense.raw');
      const random = { kind: 'random' as const, bytes: MiB + 1000 };
      writeImage(sparse, [random, { kind: 'hole', bytes: 40 * MiB }, { kind: 'random', bytes: 3000 }]);
      // The same content with the hole written as zeros.
      const data = readFileSync(sparse);
      writeImage(dense, [{ kind: 'zeros', bytes: data.length }]);
      const fd = openSync(dense, 'r+');
      writeSync(fd, data);
      closeSync(fd);
      const a = await hashImageBlocks(sparse);
      const b = await hashImageBlocks(dense);
      assert.equal(contentIdentity(a), contentIdentity(b));
      assert.deepEqual(a.digests, wholeFileDigests(sparse));
      assert.equal(a.imageBytes, data.length);
      assert.equal(b.blocksRead, Math.ceil(data.length / EBS_BLOCK_BYTES), 'a dense file is read whole');
      // filefrag reports the data extents on the file systems the tests run on (ext4, xfs, btrfs, tmpfs).
      assert.ok(a.blocksRead <= 4, `the 40 MiB hole is not read (read ${a.blocksRead} blocks)`);
      const shifted = path.join(folder.dir, 'shifted.raw');
      writeImage(shifted, [{ kind: 'hole', bytes: EBS_BLOCK_BYTES }, random]);
      assert.notEqual(contentIdentity(await hashImageBlocks(shifted)), contentIdentity(a));
    });
  });
});
