/** Holes found through the file system (filefrag's FIEMAP) instead of by reading them. */
import { strict as assert } from 'assert';
import { promises as fs } from 'fs';
import * as path from 'path';
import { fileDataExtents, parseFilefragExtents } from '../../provider/bundle/extents';
import { knownDataExtents, scanForHoles } from '../../provider/bundle/imageFile';
import { bundleWithTestKeys, opensslDecryptParts, opensslUnseal, elementText, readManifest } from '../helpers/bundles';
import { testPki } from '../helpers/pki';
import { MiB, run, temporaryFolder, writeImage } from '../helpers/tools';

const HEADER =
  'Filesystem type is: ef53\nFile size of x is 4294967296 (8388608 blocks of 512 bytes)\n ext:     logical_offset:        physical_offset: length:   expected: flags:\n';

describe('data extents from the file system', () => {
  it('parses filefrag -s -e -b512: merged and clipped; unwritten extents still count as data', () => {
    const output =
      HEADER +
      '   0:        0..   16383:          0..         0:      0:             unknown_loc,delalloc\n' +
      '   1:    16384..   16391:      88000..     88007:      8:             \n' +
      '   2:  1000000.. 1000999:      90000..     90999:   1000:     88008: unwritten\n' +
      '   3:  4194304.. 4210687:          0..         0:      0:             last,unknown_loc,delalloc\n' +
      'x: 4 extents found\n';
    assert.deepEqual(parseFilefragExtents(output, 4194304 * 512 + 5000), [
      { offset: 0, length: 16392 * 512 },
      { offset: 1000000 * 512, length: 1000 * 512 },
      { offset: 4194304 * 512, length: 5000 },
    ]);
    // filefrag counts physically contiguous extents as one: the lines may outnumber the count
    assert.deepEqual(
      parseFilefragExtents(output.replace('4 extents found', '3 extents found'), 4194304 * 512 + 5000)?.length,
      3,
    );
  });

  it('gives up on output it cannot trust (no header, a missing line, no count)', () => {
    assert.equal(parseFilefragExtents('FIEMAP not supported\n', 100), undefined);
    assert.equal(
      parseFilefragExtents(HEADER + '   0:        0..   7:    0..  7:   8:  \nx: 1 extent found\n', 4096),
      undefined,
      'no extent flagged last: cut short',
    );
    assert.deepEqual(parseFilefragExtents(HEADER + 'x: 0 extents found\n', 4096), [], 'all hole');
    assert.equal(parseFilefragExtents(HEADER + '   0:        0..   7:    0..  7:   8:  last\n', 4096), undefined);
  });

  describe('on a real file with holes', () => {
    let folder: ReturnType<typeof temporaryFolder>;
    before(() => (folder = temporaryFolder('extents')));
    after(() => folder.cleanup());

    it('finds the same zero blocks as reading everything, and GNU tar restores the identical file from the bundle', async function () {
      const image = path.join(folder.dir, 'holes.img');
      writeImage(image, [
        { kind: 'random', bytes: MiB },
        { kind: 'zeros', bytes: 64 * 1024 },
        { kind: 'random', bytes: 8192 },
        { kind: 'hole', bytes: 40 * MiB },
        { kind: 'random', bytes: 4096 },
        { kind: 'hole', bytes: 8 * MiB },
      ]);
      const stats = await fs.stat(image);
      const extents = await knownDataExtents(image, stats);
      if (!extents) {
        console.log('      skipped: this file system does not report extents (FIEMAP) or filefrag is missing');
        this.skip();
      }
      assert.ok(extents.reduce((sum, extent) => sum + extent.length, 0) < 2 * MiB, 'only the data is listed');
      const handle = await fs.open(image, 'r');
      try {
        assert.deepEqual(
          await scanForHoles(handle, stats.size, undefined, undefined, extents),
          await scanForHoles(handle, stats.size),
        );
      } finally {
        await handle.close();
      }
      const out = path.join(folder.dir, 'out');
      await fs.mkdir(out);
      const result = await bundleWithTestKeys(image, out);
      const xml = readManifest(result);
      const pki = testPki();
      const tar = opensslDecryptParts(
        out,
        'holes.img',
        opensslUnseal(elementText(xml, 'user_encrypted_key'), pki.user.keyPath),
        opensslUnseal(elementText(xml, 'user_encrypted_iv'), pki.user.keyPath),
      );
      const restoredDir = path.join(folder.dir, 'restored');
      await fs.mkdir(restoredDir);
      run('tar', ['-x', '-C', restoredDir], { input: tar });
      assert.deepEqual(await fs.readFile(path.join(restoredDir, 'holes.img')), await fs.readFile(image));
    });

    it('reads data written into preallocated (unwritten) space', async function () {
      const image = path.join(folder.dir, 'prealloc.img');
      await fs.writeFile(image, '');
      await fs.truncate(image, 64 * MiB);
      try {
        run('fallocate', ['-o', String(MiB), '-l', String(4 * MiB), image]);
      } catch {
        console.log('      skipped: fallocate is not available here');
        this.skip();
      }
      const data = Buffer.alloc(16384, 0xab);
      const handle = await fs.open(image, 'r+');
      try {
        await handle.write(data, 0, data.length, 1228800);
        const stats = await handle.stat();
        const extents = await knownDataExtents(image, stats);
        const layout = await scanForHoles(handle, stats.size, undefined, undefined, extents);
        assert.deepEqual(layout?.regions, [{ offset: 1228800, length: 16384 }]);
      } finally {
        await handle.close();
      }
    });

    it('answers undefined where filefrag cannot help', async () => {
      assert.equal(await fileDataExtents('/proc/self/status', 100), undefined);
    });
  });
});
