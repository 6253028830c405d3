import { strict as assert } from 'assert';
import { createHash } from 'crypto';
import { existsSync, readdirSync, readFileSync } from 'fs';
import * as path from 'path';
import { findE2fsprogs } from '../../provider/image/e2fsprogs';
import { buildXenKernel } from '../../testing/xenKernel';
import { runCli, temporaryFolder } from '../helpers/tools';

describe('unikernel-ami image', function () {
  let folder: ReturnType<typeof temporaryFolder>;
  let kernel: string;
  let hasE2fsprogs = true;

  before(async () => {
    hasE2fsprogs = await findE2fsprogs().then(
      () => true,
      () => false,
    );
  });
  beforeEach(() => {
    folder = temporaryFolder('image-cli');
    kernel = buildXenKernel(folder.dir, { fileName: 'mir-app.xen' });
  });
  afterEach(() => folder.cleanup());

  function needE2fsprogs(context: Mocha.Context) {
    if (!hasE2fsprogs) {
      console.log('      skipped: e2fsprogs is not installed');
      context.skip();
    }
  }

  it('lists the command and its options in --help', () => {
    assert.match(runCli(['--help']).stdout, /\bimage\b.*PV-GRUB/);
    const help = runCli(['image', '--help']).stdout;
    for (const option of [
      '--kernel <path>',
      '-o, --out <path>',
      '--size <size>',
      '--cmdline <args>',
      '--json',
      '--log-file <path>',
    ]) {
      assert.ok(help.includes(option), `image --help lists ${option}`);
    }
  });

  it('builds an image and prints a --json summary; the log file has the milestones', function () {
    needE2fsprogs(this);
    const out = path.join(folder.dir, 'app.img');
    const logFile = path.join(folder.dir, 'image.log');
    const result = runCli([
      'image',
      '--kernel',
      kernel,
      '--out',
      out,
      '--size',
      '16M',
      '--cmdline',
      '--ipv4=10.0.0.2/24',
      '--json',
      '--log-file',
      logFile,
    ]);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stderr, '', 'no progress bar when stderr is not a terminal');
    const summary = JSON.parse(result.stdout);
    assert.equal(summary.command, 'image');
    assert.equal(summary.image, out);
    assert.equal(summary.size, 16 * 1024 * 1024);
    assert.equal(summary.sha256, createHash('sha256').update(readFileSync(out)).digest('hex'));
    assert.equal(summary.kernel.sha256, createHash('sha256').update(readFileSync(kernel)).digest('hex'));
    assert.match(summary.uuid, /^[0-9a-f-]{36}$/);
    assert.equal(summary.bootFile, '/boot/mir-app.xen.gz');
    assert.equal(summary.menuLst, '/boot/grub/menu.lst');
    assert.equal(summary.cmdline, '--ipv4=10.0.0.2/24');
    assert.equal(summary.kernel.architecture, 'x86_64');
    assert.equal(summary.kernel.xenInfoFrom, 'PT_NOTE');
    assert.equal(summary.kernel.entry, '0x400400');
    const log = readFileSync(logFile, 'utf8');
    for (const line of ['unikernel-ami image started', 'mke2fs done', 'debugfs done', 'e2fsck done', 'result {'])
      assert.ok(log.includes(line), `log has "${line}"`);
  });

  it('prints a human summary without --json, and gives the same image twice', function () {
    needE2fsprogs(this);
    const first = runCli(['image', '--kernel', kernel, '-o', path.join(folder.dir, 'a.img')]);
    assert.equal(first.status, 0, first.stderr);
    assert.match(
      first.stdout,
      /^Built .*a\.img \(8\.0 MiB ext2, 1024-byte blocks, UUID [0-9a-f-]{36}\) from .*mir-app\.xen \(x86_64 Xen PV kernel "unikernel-fixture"/m,
    );
    assert.match(
      first.stdout,
      /PV-GRUB \(hd0\) boots \/boot\/mir-app\.xen\.gz through \/boot\/grub\/menu\.lst; image SHA-256 [0-9a-f]{64}/,
    );
    const second = runCli(['image', '--kernel', kernel, '-o', path.join(folder.dir, 'b.img')]);
    assert.equal(second.status, 0, second.stderr);
    assert.deepEqual(readFileSync(path.join(folder.dir, 'a.img')), readFileSync(path.join(folder.dir, 'b.img')));
  });

  it('fails with one line naming --kernel for a kernel of the wrong architecture', () => {
    const arm = buildXenKernel(folder.dir, { variant: 'aarch64', fileName: 'arm.xen' });
    const out = path.join(folder.dir, 'app.img');
    const result = runCli(['image', '--kernel', arm, '--out', out]);
    assert.equal(result.status, 1);
    assert.equal(result.stdout, '');
    assert.match(
      result.stderr,
      /^unikernel-ami image: --kernel: .*arm\.xen is an ELF file for AArch64, not x86-64 or i386; .*\n$/,
    );
    assert.ok(!existsSync(out));
  });

  it('fails with one line naming --size for a bad size, and --cmdline for a bad command line', () => {
    const out = path.join(folder.dir, 'app.img');
    const size = runCli(['image', '--kernel', kernel, '--out', out, '--size', '32MB']);
    assert.equal(size.status, 1);
    assert.equal(
      size.stderr,
      'unikernel-ami image: --size: "32MB" is not a size; give a size such as 32M, 1G or 33554432 (bytes); K, M and G are powers of 1024\n',
    );
    const big = runCli(['image', '--kernel', kernel, '--out', out, '--size', '11G']);
    assert.match(big.stderr, /^unikernel-ami image: --size: 11G is above the 10 GiB .* limit of instance-store images/);
    const cmdline = runCli(['image', '--kernel', kernel, '--out', out, '--cmdline', 'a\nb']);
    assert.match(cmdline.stderr, /^unikernel-ami image: --cmdline: holds a line break/);
    assert.deepEqual(readdirSync(folder.dir), ['mir-app.xen']);
  });

  it('fails with one line naming -o/--out when the output folder does not exist', () => {
    const result = runCli(['image', '--kernel', kernel, '--out', path.join(folder.dir, 'missing', 'app.img')]);
    assert.equal(result.status, 1);
    assert.match(
      result.stderr,
      /^unikernel-ami image: -o\/--out: .*missing\/app\.img: the folder .*missing does not exist; create it first\n$/,
    );
  });

  it('requires --kernel and --out', () => {
    const result = runCli(['image', '--out', 'x.img']);
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, /required option '--kernel <path>' not specified/);
  });
});
