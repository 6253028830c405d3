import { ImageInputError } from '../../provider/image/errors';
import { strict as assert } from 'assert';
import {
  e2fsEnvironment,
  metadataFixups,
  mke2fsArguments,
  mke2fsConfiguration,
} from '../../provider/image/e2fsCommands';
import { isRecentEnough, parseE2fsVersion } from '../../provider/image/e2fsprogs';
import {
  derivedUuid,
  IMAGE_TIMESTAMP,
  kernelFileName,
  MAX_CMDLINE_LENGTH,
  menuLst,
  validateCmdline,
  validateLabel,
  validateTitle,
} from '../../provider/image/layout';
import { fileBlocks, GiB, MiB, minimumImageSize, parseSize, planImage } from '../../provider/image/size';
import { parseSuperblock } from '../../provider/image/superblock';

function inputError(input: string, pattern: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof ImageInputError, `expected a ImageInputError, got ${String(error)}`);
    assert.equal(error.input, input);
    assert.match(error.message, pattern);
    return true;
  };
}

describe('image size option', () => {
  const good: Array<[string | number, number]> = [
    ['33554432', 32 * MiB],
    ['32M', 32 * MiB],
    ['32m', 32 * MiB],
    [' 32MiB ', 32 * MiB],
    ['512K', 512 * 1024],
    ['1G', GiB],
    ['1.5G', 1.5 * GiB],
    [4096, 4096],
  ];
  for (const [text, bytes] of good) {
    it(`reads ${JSON.stringify(text)} as ${bytes} bytes`, () => assert.equal(parseSize(text), bytes));
  }

  for (const text of ['32MB', '-1', '0', 'abc', '1.0000001K', '12Q', '', 'M']) {
    it(`refuses ${JSON.stringify(text)} and says what a size looks like`, () => {
      assert.throws(() => parseSize(text), inputError('size', /give a size such as 32M, 1G or 33554432/));
    });
  }
});

describe('image planning', () => {
  it('counts ext2 indirect blocks', () => {
    assert.equal(fileBlocks(0, 1024), 0);
    assert.equal(fileBlocks(12 * 1024, 1024), 12);
    assert.equal(fileBlocks(13 * 1024, 1024), 14, 'one single-indirect block');
    assert.equal(
      fileBlocks((12 + 256 + 1) * 1024, 1024),
      12 + 256 + 1 + 1 + 2,
      'single indirect, then a double indirect with one block of pointers',
    );
    assert.equal(fileBlocks(1, 4096), 1);
  });

  it('defaults to 8 MiB with 1 KiB blocks for a small kernel', () => {
    const plan = planImage([40_000, 100]);
    assert.deepEqual(
      { size: plan.size, blockSize: plan.blockSize, blocks: plan.blocks, defaulted: plan.defaulted },
      { size: 8 * MiB, blockSize: 1024, blocks: 8192, defaulted: true },
    );
  });

  it('defaults to the kernel plus a quarter (at least 4 MiB), rounded up to a MiB', () => {
    const plan = planImage([100 * MiB, 100]);
    assert.ok(plan.size >= 125 * MiB, `${plan.size} leaves headroom`);
    assert.ok(plan.size < 130 * MiB, `${plan.size} is not wasteful`);
    assert.equal(plan.size % MiB, 0);
    assert.ok(plan.size >= plan.minimumSize + 4 * MiB);
  });

  it('switches to 4 KiB blocks above 512 MiB', () => {
    const plan = planImage([600 * MiB]);
    assert.equal(plan.blockSize, 4096);
    assert.equal(plan.size % 4096, 0);
    assert.equal(plan.blocks * 4096, plan.size);
  });

  it('uses a requested size exactly', () => {
    const plan = planImage([40_000, 100], 32 * MiB);
    assert.deepEqual(
      { size: plan.size, blockSize: plan.blockSize, blocks: plan.blocks, defaulted: plan.defaulted },
      { size: 32 * MiB, blockSize: 1024, blocks: 32768, defaulted: false },
    );
  });

  it('refuses sizes above the 10 GiB bundle limit', () => {
    assert.throws(
      () => planImage([40_000], 11 * GiB),
      inputError('size', /above the 10 GiB .* limit of instance-store images/),
    );
    assert.equal(planImage([40_000], 10 * GiB).blockSize, 4096);
  });

  it('refuses a default size above 10 GiB as a kernel problem', () => {
    assert.throws(() => planImage([9.5 * GiB]), inputError('kernel', /above the 10 GiB limit/));
  });

  it('refuses sizes that are not whole blocks, naming the block size', () => {
    assert.throws(
      () => planImage([40_000], 32 * MiB + 1),
      inputError('size', /not a whole number of 1024-byte file system blocks: give e\.g\. 33M/),
    );
    assert.throws(() => planImage([40_000], 600 * MiB + 1024), inputError('size', /4096-byte/));
  });

  it('refuses a size too small for the files, and says how much is needed', () => {
    assert.throws(
      () => planImage([3 * MiB, 100], 2 * MiB),
      inputError('size', /2M is too small for the gzipped kernel and menu\.lst .*: give at least 4M/),
    );
  });

  it('keeps the minimum size growing with the content', () => {
    let previous = 0;
    for (const bytes of [0, 1, MiB, 10 * MiB, 100 * MiB]) {
      const minimum = minimumImageSize([bytes], 1024);
      assert.ok(minimum > previous, `${bytes}: ${minimum} > ${previous}`);
      assert.equal(minimum % 1024, 0);
      previous = minimum;
    }
  });
});

describe('image layout', () => {
  it('names the gzipped kernel after the input, with characters GRUB reads safely', () => {
    assert.equal(kernelFileName('/work/dist/mir-app.xen'), 'mir-app.xen.gz');
    assert.equal(kernelFileName('my kernel (1).xen'), 'my_kernel__1_.xen.gz');
    assert.equal(kernelFileName('.hidden'), 'hidden.gz');
    assert.equal(kernelFileName('...'), 'kernel.gz');
  });

  it('writes the GRUB legacy menu.lst PV-GRUB (hd0) reads', () => {
    assert.equal(
      menuLst({ title: 'mir-app.xen', kernelFile: 'mir-app.xen.gz', cmdline: '--ipv4=10.0.0.2/24' }),
      'default 0\ntimeout 0\n\ntitle mir-app.xen\n    root (hd0)\n    kernel /boot/mir-app.xen.gz --ipv4=10.0.0.2/24\n',
    );
    assert.equal(
      menuLst({ title: 't', kernelFile: 'k.gz', timeoutSeconds: 3 }),
      'default 0\ntimeout 3\n\ntitle t\n    root (hd0)\n    kernel /boot/k.gz\n',
    );
  });

  it('keeps the kernel command line to one line of printable ASCII that fits in Xen', () => {
    assert.equal(validateCmdline(undefined), '');
    assert.equal(validateCmdline('  --ipv4=10.0.0.2/24 --verbosity=debug '), '--ipv4=10.0.0.2/24 --verbosity=debug');
    assert.equal(validateCmdline('x'.repeat(MAX_CMDLINE_LENGTH)).length, MAX_CMDLINE_LENGTH);
    assert.throws(() => validateCmdline('a\nkernel /evil'), inputError('cmdline', /line break/));
    assert.throws(() => validateCmdline('a\tb'), inputError('cmdline', /control or non-ASCII/));
    assert.throws(() => validateCmdline('café'), inputError('cmdline', /control or non-ASCII/));
    assert.throws(() => validateCmdline('x'.repeat(MAX_CMDLINE_LENGTH + 1)), inputError('cmdline', /at most 1023/));
  });

  it('checks titles and labels', () => {
    assert.equal(validateTitle(' My app '), 'My app');
    assert.throws(() => validateTitle('two\nlines'), inputError('title', /printable ASCII/));
    assert.equal(validateLabel('unikernel'), 'unikernel');
    assert.throws(() => validateLabel('a label that is far too long'), inputError('label', /1 to 16/));
  });

  it('derives a fixed version-8 UUID and hash seed from the kernel hash', () => {
    const kernel = 'a'.repeat(64);
    const uuid = derivedUuid(kernel, 'uuid');
    assert.match(uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(derivedUuid(kernel, 'uuid'), uuid, 'reproducible');
    assert.notEqual(derivedUuid(kernel, 'hash_seed'), uuid, 'the hash seed is another value');
    assert.notEqual(derivedUuid('b'.repeat(64), 'uuid'), uuid, 'another kernel, another UUID');
  });
});

describe('e2fsprogs invocations', () => {
  const plan = planImage([40_000, 100], 32 * MiB);

  it('runs mke2fs with a fixed, explicit argument list', () => {
    assert.deepEqual(
      mke2fsArguments({
        plan,
        label: 'unikernel',
        uuid: '11111111-2222-8333-8444-555555555555',
        hashSeed: '66666666-7777-8888-9999-000000000000',
        sourceDirectory: '/tmp/w/root',
        imageFile: '/out/.app.img.tmp',
      }),
      [
        '-q',
        '-F',
        '-t',
        'ext2',
        '-T',
        'unikernel',
        '-O',
        'none,sparse_super,large_file,filetype',
        '-b',
        '1024',
        '-I',
        '128',
        '-N',
        '64',
        '-m',
        '0',
        '-o',
        'Linux',
        '-L',
        'unikernel',
        '-U',
        '11111111-2222-8333-8444-555555555555',
        '-E',
        'hash_seed=66666666-7777-8888-9999-000000000000,root_owner=0:0',
        '-d',
        '/tmp/w/root',
        '/out/.app.img.tmp',
        '32768',
      ],
    );
  });

  it('gives mke2fs a private configuration defining only its usage type', () => {
    assert.equal(
      mke2fsConfiguration(plan),
      '[fs_types]\n\tunikernel = {\n\t\tblocksize = 1024\n\t\tinode_size = 128\n\t}\n',
    );
  });

  it('pins the clock and drops host variables that change what e2fsprogs writes', () => {
    const environment = e2fsEnvironment(
      {
        PATH: '/bin',
        HOME: '/h',
        MKE2FS_CONFIG: '/etc/evil.conf',
        E2FSPROGS_FAKE_TIME: '5',
        MKE2FS_SYNC: '1',
        LANG: 'de_DE.UTF-8',
        LC_MESSAGES: 'fr_FR',
        TZ: 'Europe/Paris',
      },
      '/w/mke2fs.conf',
    );
    assert.deepEqual(environment, {
      PATH: '/bin',
      HOME: '/h',
      E2FSPROGS_FAKE_TIME: String(IMAGE_TIMESTAMP),
      LC_ALL: 'C',
      TZ: 'UTC',
      DEBUGFS_PAGER: '__none__',
      PAGER: '__none__',
      MKE2FS_CONFIG: '/w/mke2fs.conf',
    });
  });

  it('writes debugfs commands that set owners and times', () => {
    assert.equal(
      metadataFixups(['/boot/k.gz']),
      [
        'set_inode_field /boot/k.gz uid 0',
        'set_inode_field /boot/k.gz gid 0',
        `set_inode_field /boot/k.gz atime @${IMAGE_TIMESTAMP}`,
        `set_inode_field /boot/k.gz ctime @${IMAGE_TIMESTAMP}`,
        `set_inode_field /boot/k.gz mtime @${IMAGE_TIMESTAMP}`,
        '',
      ].join('\n'),
    );
    assert.throws(() => metadataFixups(['/boot/a b']), /unsafe path/);
  });

  it('reads e2fsprogs versions and knows which are too old', () => {
    assert.equal(parseE2fsVersion('mke2fs 1.47.0 (5-Feb-2023)\n\tUsing EXT2FS Library version 1.47.0'), '1.47.0');
    assert.equal(parseE2fsVersion('mke2fs 1.42.9 (28-Dec-2013)'), '1.42.9');
    assert.equal(parseE2fsVersion('something else'), undefined);
    assert.ok(isRecentEnough('1.47.0'));
    assert.ok(isRecentEnough('1.44.5'));
    assert.ok(isRecentEnough('2.0'));
    assert.ok(!isRecentEnough('1.43.4'));
  });

  it('refuses to read a superblock without the ext2 magic number', () => {
    assert.throws(() => parseSuperblock(Buffer.alloc(1024)), /no ext2 superblock/);
  });
});
