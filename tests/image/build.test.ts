import { strict as assert } from 'assert';
import { createHash } from 'crypto';
import { chmodSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'fs';
import * as path from 'path';
import { gunzipSync } from 'zlib';
import { buildKernelImage, KernelImageOptions, KernelImageResult } from '../../provider/image/build';
import { findE2fsprogs, runTool, E2fsTools } from '../../provider/image/e2fsprogs';
import { ImageInputError, ImageToolError } from '../../provider/image/errors';
import { IMAGE_TIMESTAMP } from '../../provider/image/layout';
import { MiB, minimumImageSize } from '../../provider/image/size';
import { parseSuperblock } from '../../provider/image/superblock';
import { BAD_KERNEL_VARIANTS, buildXenKernel, XenKernelOptions } from '../../testing/xenKernel';
import { run, temporaryFolder } from '../helpers/tools';

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

describe('kernel image build (e2fsprogs is the oracle)', function () {
  let tools: E2fsTools;
  let folder: ReturnType<typeof temporaryFolder>;
  let count = 0;

  before(async function () {
    try {
      tools = await findE2fsprogs();
    } catch (error) {
      console.log(`      skipped: ${(error as Error).message}`);
      this.skip();
    }
    folder = temporaryFolder('kernel-image');
  });
  after(() => folder?.cleanup());

  /** A fresh folder with a kernel in it, an output path next to it, and a private temporary folder. */
  function setup(kernel: XenKernelOptions = {}) {
    const dir = path.join(folder.dir, `case-${++count}`);
    const scratch = path.join(dir, 'scratch');
    run('mkdir', ['-p', scratch]);
    const kernelPath = buildXenKernel(dir, { fileName: 'mir-app.xen', ...kernel });
    return { dir, scratch, kernelPath, outPath: path.join(dir, 'app.img') };
  }

  function build(
    paths: ReturnType<typeof setup>,
    options: Partial<KernelImageOptions> = {},
  ): Promise<KernelImageResult> {
    return buildKernelImage({
      kernelPath: paths.kernelPath,
      outPath: paths.outPath,
      temporaryDirectory: paths.scratch,
      ...options,
    });
  }

  const debugfs = (image: string, request: string) => run(tools.debugfs, ['-R', request, image]).toString();

  /** Nothing left but the kernel (and the image, when one was made). */
  function assertClean(paths: ReturnType<typeof setup>, imageMade: boolean) {
    assert.deepEqual(readdirSync(paths.scratch), [], 'the temporary populated folder was removed');
    assert.deepEqual(
      readdirSync(paths.dir).sort(),
      (imageMade ? ['app.img', 'mir-app.xen', 'scratch'] : ['mir-app.xen', 'scratch']).sort(),
      'no temporary image left',
    );
  }

  it('builds an image that e2fsck -fn accepts, whose menu.lst and kernel debugfs reads back', async () => {
    const paths = setup();
    const result = await build(paths, { cmdline: '--ipv4=10.0.0.2/24 --ipv4-gateway=10.0.0.1' });
    run(tools.e2fsck, ['-f', '-n', paths.outPath]);

    assert.equal(
      debugfs(paths.outPath, 'cat /boot/grub/menu.lst'),
      'default 0\ntimeout 0\n\ntitle mir-app.xen\n    root (hd0)\n    kernel /boot/mir-app.xen.gz --ipv4=10.0.0.2/24 --ipv4-gateway=10.0.0.1\n',
    );
    const dumped = path.join(folder.dir, `dump-${count}.gz`);
    debugfs(paths.outPath, `dump /boot/mir-app.xen.gz ${dumped}`);
    const gzipped = readFileSync(dumped);
    assert.equal(gzipped[9], 3, 'gzip OS byte fixed to Unix');
    assert.equal(gzipped.readUInt32LE(4), 0, 'gzip mtime 0');
    assert.equal(gzipped[3] & 0x08, 0, 'no file name in the gzip header');
    assert.deepEqual(gunzipSync(gzipped), readFileSync(paths.kernelPath), 'the gunzipped kernel is the input');

    assert.equal(result.bootFile, '/boot/mir-app.xen.gz');
    assert.equal(result.size, 8 * MiB);
    assert.equal(statSync(paths.outPath).size, result.size);
    assert.equal(sha256(paths.outPath), result.sha256);
    assert.equal(result.kernel.sha256, sha256(paths.kernelPath));
    assert.equal(result.kernel.xen.architecture, 'x86_64');

    const superblock = parseSuperblock(readFileSync(paths.outPath).subarray(1024, 2048));
    assert.equal(superblock.uuid, result.uuid);
    assert.equal(superblock.hashSeed, result.hashSeed);
    assert.equal(superblock.label, 'unikernel');
    assert.equal(superblock.blockSize, 1024);
    assert.equal(superblock.inodeSize, 128);
    assert.equal(superblock.creatorOs, 0, 'Linux');
    assert.equal(superblock.featureIncompat, 0x2, 'filetype only');
    assert.equal(superblock.featureCompat, 0, 'no journal, no resize inode, no dir_index');
    assert.equal(superblock.mkfsTime, IMAGE_TIMESTAMP);
    assert.equal(superblock.writeTime, IMAGE_TIMESTAMP);

    const root = debugfs(paths.outPath, 'ls -p /')
      .split('\n')
      .filter(Boolean)
      .map((line) => line.split('/')[5]);
    assert.deepEqual(root.sort(), ['.', '..', 'boot', 'lost+found'].sort(), 'nothing else at the root');
    assertClean(paths, true);
  });

  it('pins owners, modes and every timestamp, whatever the host files had', async () => {
    const paths = setup();
    const previous = process.umask(0o077);
    try {
      await build(paths);
    } finally {
      process.umask(previous);
    }
    const expected: Record<string, string> = {
      '/': '040755',
      '/boot': '040755',
      '/boot/grub': '040755',
      '/boot/grub/menu.lst': '100644',
      '/boot/mir-app.xen.gz': '100644',
    };
    for (const [file, mode] of Object.entries(expected)) {
      const stat = debugfs(paths.outPath, `stat ${file}`);
      assert.match(stat, /User:\s+0\s+Group:\s+0\s/, `${file} is owned by 0:0`);
      for (const field of ['ctime', 'atime', 'mtime']) {
        assert.match(stat, new RegExp(`${field}: 0x${IMAGE_TIMESTAMP.toString(16)} `), `${file} ${field}`);
      }
      const listing = debugfs(paths.outPath, `ls -p ${path.posix.dirname(file)}`);
      const name = file === '/' ? '.' : path.posix.basename(file);
      assert.ok(listing.includes(`/${mode}/0/0/${name}/`), `${file} has mode ${mode}: ${listing}`);
    }
  });

  it('gives the same bytes for the same kernel and options, built apart in time and place', async () => {
    const first = setup();
    const one = await build(first, { cmdline: 'x=1' });
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const second = setup();
    utimesSync(second.kernelPath, 1_234_567_890, 1_234_567_890);
    chmodSync(second.kernelPath, 0o600);
    const two = await build(second, { cmdline: 'x=1' });
    assert.equal(two.sha256, one.sha256);
    assert.equal(sha256(second.outPath), sha256(first.outPath));
    assert.deepEqual(readFileSync(second.outPath), readFileSync(first.outPath), 'byte for byte');
    assert.equal(two.uuid, one.uuid);

    const third = setup({ seed: 'another kernel' });
    const other = await build(third, { cmdline: 'x=1' });
    assert.notEqual(other.uuid, one.uuid, 'another kernel gets another UUID');
    assert.notEqual(other.sha256, one.sha256);

    const fourth = setup();
    const otherCmdline = await build(fourth, { cmdline: 'x=2' });
    assert.notEqual(otherCmdline.sha256, one.sha256, 'another command line, another image');
    assert.equal(otherCmdline.uuid, one.uuid, 'same kernel, same UUID');
  });

  it('replaces an existing output atomically', async () => {
    const paths = setup();
    writeFileSync(paths.outPath, 'old image');
    await build(paths);
    assert.equal(statSync(paths.outPath).size, 8 * MiB);
    assertClean(paths, true);
  });

  it('honours an explicit size, with 4 KiB blocks above 512 MiB', async () => {
    const small = setup();
    const at32 = await build(small, { size: '32M' });
    assert.deepEqual([at32.size, at32.blockSize, at32.blocks, at32.defaultedSize], [32 * MiB, 1024, 32768, false]);
    const large = setup();
    const at600 = await build(large, { size: '600M', check: false });
    assert.deepEqual([at600.size, at600.blockSize], [600 * MiB, 4096]);
    run(tools.e2fsck, ['-f', '-n', large.outPath]);
    assert.ok(statSync(large.outPath).blocks * 512 < 16 * MiB, 'the image is sparse: mke2fs wrote only metadata');
  });

  it('builds at exactly the minimum size it computes, and refuses anything smaller', async () => {
    const paths = setup({ payloadBytes: 3 * MiB, seed: 'big' });
    const first = await build(paths);
    const minimum = path.join(paths.dir, 'minimum.img');
    const planned = minimumImageSize([first.kernel.gzippedBytes, Buffer.byteLength(first.menuLst)], 1024);
    const exact = await buildKernelImage({
      kernelPath: paths.kernelPath,
      outPath: minimum,
      size: planned,
      temporaryDirectory: paths.scratch,
    });
    assert.equal(exact.size, planned);
    await assert.rejects(
      buildKernelImage({
        kernelPath: paths.kernelPath,
        outPath: minimum,
        size: planned - 1024,
        temporaryDirectory: paths.scratch,
      }),
      (error: unknown) =>
        error instanceof ImageInputError &&
        error.input === 'size' &&
        /is too small .* give at least/.test(error.message),
    );
  });

  it('refuses a size too small for the kernel before writing anything', async () => {
    const paths = setup({ payloadBytes: 2 * MiB, seed: 'two' });
    await assert.rejects(
      build(paths, { size: '1M' }),
      (error: unknown) =>
        error instanceof ImageInputError && error.input === 'size' && /1M is too small/.test(error.message),
    );
    assertClean(paths, false);
  });

  for (const variant of BAD_KERNEL_VARIANTS) {
    it(`refuses the ${variant} kernel before writing anything`, async () => {
      const paths = setup({ variant });
      await assert.rejects(
        build(paths),
        (error: unknown) => error instanceof ImageInputError && error.input === 'kernel',
      );
      assertClean(paths, false);
    });
  }

  it('refuses a missing kernel, a missing output folder and a folder as output', async () => {
    const paths = setup();
    await assert.rejects(
      build(paths, { kernelPath: path.join(paths.dir, 'nope.xen') }),
      /nope\.xen does not exist; give the path of the Xen kernel/,
    );
    await assert.rejects(build(paths, { kernelPath: paths.dir }), /is a directory; give the kernel file inside it/);
    await assert.rejects(
      build(paths, { outPath: path.join(paths.dir, 'missing', 'app.img') }),
      (error: unknown) =>
        error instanceof ImageInputError &&
        error.input === 'out' &&
        /does not exist; create it first/.test(error.message),
    );
    await assert.rejects(
      build(paths, { outPath: paths.scratch }),
      (error: unknown) =>
        error instanceof ImageInputError && error.input === 'out' && /is a directory/.test(error.message),
    );
    await assert.rejects(build(paths, { outPath: paths.kernelPath }), /is the kernel itself/);
    assertClean(paths, false);
  });

  it('says which package installs mke2fs when it is missing', async () => {
    await assert.rejects(runTool('mke2fs', 'mke2fs-that-does-not-exist', ['-V']), (error: unknown) => {
      assert.ok(error instanceof ImageToolError);
      assert.equal(error.message, 'mke2fs not found: install e2fsprogs (apt-get install e2fsprogs)');
      return true;
    });
    const paths = setup();
    await assert.rejects(
      build(paths, { tools: { mke2fs: path.join(paths.dir, 'no', 'mke2fs') } }),
      /mke2fs not found at .*: install e2fsprogs \(apt-get install e2fsprogs\)/,
    );
    assertClean(paths, false);
  });

  /** A stand-in mke2fs: answers -V like 1.47, then runs `body`. */
  function fakeMke2fs(dir: string, body: string): string {
    const file = path.join(dir, 'fake-mke2fs');
    writeFileSync(
      file,
      `#!/bin/sh\nif [ "$1" = -V ]; then echo "mke2fs 1.47.0 (5-Feb-2023)" >&2; exit 0; fi\n${body}\n`,
      { mode: 0o755 },
    );
    return file;
  }

  it('refuses an mke2fs that is too old', async () => {
    const paths = setup();
    const old = path.join(paths.dir, 'old-mke2fs');
    writeFileSync(old, '#!/bin/sh\necho "mke2fs 1.42.9 (28-Dec-2013)" >&2\n', { mode: 0o755 });
    await assert.rejects(
      build(paths, { tools: { mke2fs: old } }),
      (error: unknown) =>
        error instanceof ImageToolError && /mke2fs 1\.42\.9 is too old: .*1\.44 or later/.test(error.message),
    );
    run('rm', [old]);
    assertClean(paths, false);
  });

  it('removes the partial image and the populated folder when mke2fs fails', async () => {
    const paths = setup();
    const fake = fakeMke2fs(
      paths.dir,
      'for a in "$@"; do case "$a" in *.tmp) echo partial > "$a";; esac; done\necho "mke2fs: something broke" >&2\nexit 1',
    );
    await assert.rejects(
      build(paths, { tools: { mke2fs: fake } }),
      /mke2fs failed \(exit 1\): mke2fs: something broke/,
    );
    run('rm', [fake]);
    assertClean(paths, false);
  });

  it('turns mke2fs running out of room into a --size error', async () => {
    const paths = setup();
    const fake = fakeMke2fs(
      paths.dir,
      'echo "__populate_fs: Could not allocate block in ext2 filesystem while writing file" >&2\nexit 1',
    );
    await assert.rejects(
      build(paths, { tools: { mke2fs: fake } }),
      (error: unknown) =>
        error instanceof ImageInputError &&
        error.input === 'size' &&
        /too small .*give a larger size/.test(error.message),
    );
    run('rm', [fake]);
    assertClean(paths, false);
  });

  it('stops mke2fs and leaves nothing behind when interrupted', async () => {
    const paths = setup();
    const fake = fakeMke2fs(paths.dir, 'exec sleep 30');
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(), 300);
    await assert.rejects(
      build(paths, { tools: { mke2fs: fake }, signal: controller.signal }),
      (error: unknown) => error instanceof Error && error.name === 'AbortError',
    );
    assert.ok(Date.now() - started < 10_000, 'did not wait for mke2fs to finish');
    run('rm', [fake]);
    assertClean(paths, false);
  });

  it('reports its phases', async () => {
    const paths = setup();
    const phases: string[] = [];
    await build(paths, {
      onProgress: ({ phase, bytes, totalBytes }) =>
        bytes === totalBytes && !phases.includes(phase) && phases.push(phase),
    });
    assert.deepEqual(phases, ['kernel', 'mke2fs', 'metadata', 'check', 'digest']);
  });
});
