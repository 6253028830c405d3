import { strict as assert } from 'assert';
import * as path from 'path';
import { createHash } from 'crypto';
import { promises as fs } from 'fs';
import { decodeHeader, decodeNumber, encodeHeader, encodeNumber, TarEntry } from '../../provider/bundle/tarHeader';
import { tarStream, tarStreamLength } from '../../provider/bundle/tarStream';
import { SparseScanner } from '../../provider/bundle/sparseScan';
import { BundleIntegrityError } from '../../provider/bundle/errors';
import { execFileSync } from 'child_process';
import { MiB, run, temporaryFolder, writeImage, ImageSegment } from '../helpers/tools';

async function ourTar(file: string, name: string, sparse: boolean): Promise<Buffer> {
  const stats = await fs.stat(file);
  const handle = await fs.open(file, 'r');
  try {
    let layout;
    if (sparse) {
      const scanner = new SparseScanner();
      const content = await fs.readFile(file);
      for (let at = 0; at < content.length; at += MiB) scanner.push(content.subarray(at, at + MiB));
      layout = scanner.finish();
    }
    const entry: TarEntry = {
      name,
      mode: stats.mode,
      mtime: Math.floor(stats.mtimeMs / 1000),
      size: stats.size,
      sparse: layout,
    };
    const chunks: Buffer[] = [];
    for await (const chunk of tarStream(handle, entry)) chunks.push(chunk);
    const tar = Buffer.concat(chunks);
    assert.equal(tar.length, tarStreamLength(entry), 'tarStreamLength predicts the stream length');
    return tar;
  } finally {
    await handle.close();
  }
}

function gnuTar(dir: string, name: string): Buffer {
  return run('tar', ['-c', '-h', '-S', '--owner', '0', '--group', '0', '-C', dir, name]);
}

describe('tar stream (GNU tar is the oracle)', () => {
  let folder: ReturnType<typeof temporaryFolder>;
  before(() => (folder = temporaryFolder('tar')));
  after(() => folder.cleanup());

  const denseCases: Array<[string, ImageSegment[]]> = [
    ['1 byte', [{ kind: 'random', bytes: 1 }]],
    ['513 bytes', [{ kind: 'random', bytes: 513 }]],
    ['exactly 10 MiB', [{ kind: 'random', bytes: 10 * MiB }]],
    ['a record boundary (10240 - 1536 bytes)', [{ kind: 'random', bytes: 10240 - 1536 }]],
  ];
  for (const [label, segments] of denseCases) {
    it(`is byte-identical to GNU tar for a dense ${label} image`, async () => {
      const file = path.join(folder.dir, 'dense.img');
      writeImage(file, segments);
      await fs.chmod(file, 0o640);
      assert.deepEqual(await ourTar(file, 'dense.img', true), gnuTar(folder.dir, 'dense.img'));
    });
  }

  it('is byte-identical to GNU tar for a sparse file whose holes are real holes', async function () {
    const file = path.join(folder.dir, 'holes.img');
    writeImage(file, [
      { kind: 'random', bytes: MiB },
      { kind: 'hole', bytes: 6 * MiB },
      { kind: 'random', bytes: 16384 },
      { kind: 'hole', bytes: 64 * 1024 },
      { kind: 'random', bytes: 4096 },
      { kind: 'hole', bytes: 8192 },
      { kind: 'random', bytes: 4096 },
      { kind: 'hole', bytes: 3 * MiB },
    ]);
    const gnu = gnuTar(folder.dir, 'holes.img');
    if (gnu[156] !== 'S'.charCodeAt(0)) {
      console.log(`      skipped: ${folder.dir} does not keep holes, so GNU tar wrote a plain member to compare with`);
      this.skip();
    }
    const ours = await ourTar(file, 'holes.img', true);
    assert.equal(ours[156], 'S'.charCodeAt(0));
    assert.deepEqual(ours, gnu, 'sparse member identical to GNU tar -S, extension blocks included');
  });

  it('writes sparse maps with extension blocks that GNU tar extracts to the identical file', async () => {
    const file = path.join(folder.dir, 'many.img');
    const segments: ImageSegment[] = [];
    for (let i = 0; i < 60; i++)
      segments.push({ kind: 'random', bytes: 1000 + i * 7 }, { kind: 'zeros', bytes: 4096 + 512 });
    writeImage(file, segments);
    const tar = await ourTar(file, 'many.img', true);
    assert.equal(tar[156], 'S'.charCodeAt(0));
    assert.equal(tar[482], 1, 'isextended flag set: more than 4 regions');
    const out = path.join(folder.dir, 'extract');
    await fs.mkdir(out);
    run('tar', ['-x', '-C', out], { input: tar });
    const restored = await fs.readFile(path.join(out, 'many.img'));
    assert.equal(
      createHash('sha256').update(restored).digest('hex'),
      createHash('sha256')
        .update(await fs.readFile(file))
        .digest('hex'),
    );
    assert.equal(run('tar', ['-t'], { input: tar }).toString(), 'many.img\n', 'GNU tar lists exactly one member');
  });

  it('writes an all-zero image as a sparse member with no data, which GNU tar restores', async () => {
    const file = path.join(folder.dir, 'zeros.img');
    writeImage(file, [{ kind: 'zeros', bytes: 3 * MiB + 100 }]);
    const tar = await ourTar(file, 'zeros.img', true);
    const header = decodeHeader(tar.subarray(0, 512));
    assert.equal(header.kind, 'sparse');
    assert.equal(header.size, 0);
    assert.equal(header.realSize, 3 * MiB + 100);
    assert.deepEqual(header.sparseEntries, [{ offset: 3 * MiB + 100, length: 0 }]);
    const out = path.join(folder.dir, 'extract-zeros');
    await fs.mkdir(out);
    run('tar', ['-x', '-C', out], { input: tar });
    assert.deepEqual(await fs.readFile(path.join(out, 'zeros.img')), Buffer.alloc(3 * MiB + 100));
  });

  it('encodes sizes of 8 GiB and more in base-256 exactly as GNU tar does', async () => {
    const file = path.join(folder.dir, 'big.img');
    const size = 9 * 1024 * MiB + 512;
    await fs.writeFile(file, '');
    await fs.truncate(file, size);
    run('touch', ['-d', '@1700000000', file]);
    const stats = await fs.stat(file);
    // GNU tar without -S writes a plain header first; only its first block is read.
    const gnuHeader = execFileSync('bash', [
      '-c',
      `tar -c -h --owner 0 --group 0 -C '${folder.dir}' big.img 2>/dev/null | head -c 512`,
    ]);
    const ours = encodeHeader({ name: 'big.img', mode: stats.mode, mtime: 1_700_000_000, size });
    assert.deepEqual(ours, gnuHeader);
    assert.equal(ours[124], 0x80);
    assert.equal(decodeHeader(ours).size, size);
    await fs.rm(file);
  });
});

describe('tar header fields', () => {
  it('round-trips octal and base-256 numbers', () => {
    for (const value of [0, 1, 0o7777777, 8 ** 11 - 1, 8 ** 11, 10 * 1024 ** 3, Number.MAX_SAFE_INTEGER]) {
      assert.equal(decodeNumber(encodeNumber(value, 12), 'size'), value);
    }
    assert.equal(encodeNumber(8 ** 11 - 1, 12).toString('latin1'), '77777777777\0');
  });

  it('refuses a header whose checksum is wrong', () => {
    const header = encodeHeader({ name: 'x.img', mode: 0o644, mtime: 1, size: 1 });
    header[0] = 'y'.charCodeAt(0);
    assert.throws(
      () => decodeHeader(header),
      (error: unknown) => error instanceof BundleIntegrityError && /checksum/.test(error.message),
    );
  });

  for (const [flag, what] of [
    ['1', 'hard link'],
    ['2', 'symbolic link'],
    ['3', 'character device'],
    ['4', 'block device'],
    ['5', 'directory'],
  ]) {
    it(`refuses a ${what} member`, () => {
      const header = encodeHeader({ name: 'x.img', mode: 0o644, mtime: 1, size: 0 });
      header[156] = flag.charCodeAt(0);
      header.write('        ', 148, 'latin1');
      let sum = 0;
      for (const byte of header) sum += byte;
      header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
      assert.throws(() => decodeHeader(header), new RegExp(what));
    });
  }

  it('refuses member names with a path separator or ..', () => {
    assert.throws(() => encodeHeader({ name: '../x', mode: 0o644, mtime: 1, size: 1 }), /path separator/);
    assert.throws(() => encodeHeader({ name: '..', mode: 0o644, mtime: 1, size: 1 }), /relative directory/);
  });
});
