/**
 * The real CLI (`unikernel-ami bundle`) refuses bad input: a non-zero exit, exactly one line on
 * stderr that names the option at fault and says what is wrong, and not a single new file (hidden
 * ones included) in the destination or next to the image.
 */
import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import { createHash } from 'crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'fs';
import * as path from 'path';
import { testPki, TestPki } from '../helpers/pki';
import { CliResult, MiB, run, runCli, temporaryFolder, writeImage } from '../helpers/tools';

const MAX_IMAGE_SIZE = 10 * 1024 * 1024 * 1024;
const ACCOUNT = '123456789012';

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** Every entry of a folder, hidden ones included. */
function listing(dir: string): string[] {
  return readdirSync(dir).sort();
}

function assertOneLine(result: CliResult): string {
  assert.ok(
    result.stderr.endsWith('\n') && result.stderr.indexOf('\n') === result.stderr.length - 1,
    `stderr must be exactly one line, got:\n${result.stderr}`,
  );
  return result.stderr.slice(0, -1);
}

/** Mounts a tmpfs; returns why it could not be mounted, or undefined when it was. */
function tryMountTmpfs(dir: string, options: string): string | undefined {
  if (process.getuid?.() !== 0) return 'the tests do not run as root';
  const result = spawnSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir], { encoding: 'utf8' });
  if (result.error) return `mount could not run (${result.error.message})`;
  if (result.status !== 0) return `mount -t tmpfs failed: ${result.stderr.trim() || `exit status ${result.status}`}`;
  return undefined;
}

describe('bundle CLI: bad input is refused with one line naming the option, and nothing is written', function () {
  this.timeout(60_000);
  let folder: ReturnType<typeof temporaryFolder>;
  let pki: TestPki;
  let image: string;
  let out: string;
  let notPem: string;
  let encryptedKey: string;
  let encryptedCert: string;
  let passphraseFile: string;
  let wrongPassphraseFile: string;
  const mounted: string[] = [];
  let counter = 0;

  before(() => {
    folder = temporaryFolder('bad-input');
    pki = testPki();
    image = path.join(folder.dir, 'disk.img');
    writeImage(image, [{ kind: 'random', bytes: 64 * 1024 }]);
    out = path.join(folder.dir, 'out');
    mkdirSync(out);
    notPem = path.join(folder.dir, 'not-pem.txt');
    writeFileSync(notPem, 'this is not a PEM file\n');
    encryptedKey = path.join(folder.dir, 'encrypted-pk.pem');
    encryptedCert = path.join(folder.dir, 'encrypted-cert.pem');
    run('openssl', [
      'genpkey',
      '-algorithm',
      'RSA',
      '-pkeyopt',
      'rsa_keygen_bits:2048',
      '-aes-128-cbc',
      '-pass',
      'pass:secret',
      '-out',
      encryptedKey,
    ]);
    run('openssl', [
      'req',
      '-x509',
      '-new',
      '-key',
      encryptedKey,
      '-passin',
      'pass:secret',
      '-out',
      encryptedCert,
      '-days',
      '2',
      '-subj',
      '/CN=encrypted',
    ]);
    assert.match(readFileSync(encryptedKey, 'utf8'), /-----BEGIN ENCRYPTED PRIVATE KEY-----/);
    passphraseFile = path.join(folder.dir, 'passphrase.txt');
    writeFileSync(passphraseFile, 'secret\n');
    wrongPassphraseFile = path.join(folder.dir, 'wrong-passphrase.txt');
    writeFileSync(wrongPassphraseFile, 'not the secret\n');
  });

  after(() => {
    for (const dir of mounted) spawnSync('umount', [dir]);
    folder.cleanup();
  });

  function freshDir(label: string): string {
    const dir = path.join(folder.dir, `${++counter}-${label}`);
    mkdirSync(dir);
    return dir;
  }

  /** `bundle` arguments: good defaults, with options replaced (a string) or left out (null). */
  function bundleArgs(changes: Record<string, string | null> = {}, extra: string[] = []): string[] {
    const options: Record<string, string | null> = {
      '-i': image,
      '-k': pki.user.keyPath,
      '-c': pki.user.certPath,
      '--ec2cert': pki.ec2.certPath,
      '-u': ACCOUNT,
      '-r': 'x86_64',
      '-d': out,
      ...changes,
    };
    const argv = ['bundle'];
    for (const [option, value] of Object.entries(options)) if (value !== null) argv.push(option, value);
    return [...argv, ...extra];
  }

  interface Refusal {
    /** The option as the CLI spells it, e.g. `-i/--image`: the line must begin with it. */
    option: string;
    /** What is wrong, as the line says it. */
    problem: RegExp;
    env?: NodeJS.ProcessEnv;
    /** Folders that must not change (the destination and the image's folder by default). */
    watch?: string[];
  }

  function expectRefusal(argv: string[], expected: Refusal): string {
    const watch = expected.watch ?? [out, folder.dir];
    const before = watch.map(listing);
    const result = runCli(argv, { UNIKERNEL_AMI_KEY_PASSPHRASE: '', ...expected.env });
    assert.notEqual(result.status, 0, `exit status must be non-zero; stdout: ${result.stdout}`);
    const line = assertOneLine(result);
    assert.match(
      line,
      new RegExp(`^unikernel-ami bundle: ${escapeRegExp(expected.option)}[ :]`),
      'the line names the option first',
    );
    assert.match(line, expected.problem);
    assert.equal(result.stdout, '', 'nothing on stdout');
    watch.forEach((dir, i) => assert.deepEqual(listing(dir), before[i], `no new file in ${dir}`));
    return line;
  }

  function expectSuccess(argv: string[], env: NodeJS.ProcessEnv = {}): CliResult {
    const result = runCli(argv, { UNIKERNEL_AMI_KEY_PASSPHRASE: '', ...env });
    assert.equal(result.status, 0, `bundle must succeed; stderr: ${result.stderr}`);
    assert.equal(result.stderr, '');
    return result;
  }

  describe('the image (-i/--image)', () => {
    it('refuses a missing image', () => {
      expectRefusal(bundleArgs({ '-i': path.join(folder.dir, 'no-such.img') }), {
        option: '-i/--image',
        problem: /no-such\.img does not exist/,
      });
    });

    it('refuses a directory', () => {
      const dir = freshDir('image-dir');
      expectRefusal(bundleArgs({ '-i': dir }), {
        option: '-i/--image',
        problem: /is a directory; give the disk image file inside it/,
      });
    });

    it('refuses an image of 0 bytes', () => {
      const empty = path.join(freshDir('empty'), 'empty.img');
      writeFileSync(empty, '');
      expectRefusal(bundleArgs({ '-i': empty }), { option: '-i/--image', problem: /is empty \(0 bytes\)/ });
    });

    it('refuses an image of 10 GiB + 1 byte (sparse, made with truncate)', () => {
      const big = path.join(freshDir('big'), 'big.img');
      run('truncate', ['-s', String(MAX_IMAGE_SIZE + 1), big]);
      expectRefusal(bundleArgs({ '-i': big }), {
        option: '-i/--image',
        problem: new RegExp(
          `is ${MAX_IMAGE_SIZE + 1} bytes; instance-store images are limited to 10 GiB \\(${MAX_IMAGE_SIZE} bytes\\)`,
        ),
      });
    });

    it('refuses a device (/dev/null) instead of an image file', () => {
      expectRefusal(bundleArgs({ '-i': '/dev/null' }), { option: '-i/--image', problem: /is not a regular file/ });
    });
  });

  describe('the key and certificates (-k/--privatekey, -c/--cert, --ec2cert)', () => {
    it('refuses a key that is not PEM', () => {
      expectRefusal(bundleArgs({ '-k': notPem }), { option: '-k/--privatekey', problem: /is not a PEM private key/ });
    });

    it('refuses a certificate that is not PEM', () => {
      expectRefusal(bundleArgs({ '-c': notPem }), { option: '-c/--cert', problem: /is not a PEM certificate/ });
    });

    it('refuses an EC2 certificate that is not PEM', () => {
      expectRefusal(bundleArgs({ '--ec2cert': notPem }), { option: '--ec2cert', problem: /is not a PEM certificate/ });
    });

    it('refuses a certificate given as the key', () => {
      expectRefusal(bundleArgs({ '-k': pki.user.certPath }), {
        option: '-k/--privatekey',
        problem: /is a PEM "CERTIFICATE", not a private key/,
      });
    });

    it('refuses a key given as the certificate', () => {
      expectRefusal(bundleArgs({ '-c': pki.user.keyPath }), {
        option: '-c/--cert',
        problem: /is a PEM "PRIVATE KEY", not a certificate/,
      });
    });

    it('refuses key and certificate swapped', () => {
      expectRefusal(bundleArgs({ '-k': pki.user.certPath, '-c': pki.user.keyPath }), {
        option: '-c/--cert',
        problem: /not a certificate/,
      });
    });

    it('refuses a key file that does not exist', () => {
      expectRefusal(bundleArgs({ '-k': path.join(folder.dir, 'no-such-pk.pem') }), {
        option: '-k/--privatekey',
        problem: /no such file/,
      });
    });

    it('refuses an encrypted key when no passphrase is given', () => {
      expectRefusal(bundleArgs({ '-k': encryptedKey, '-c': encryptedCert }), {
        option: '-k/--privatekey',
        problem: /is encrypted and no passphrase was given; set UNIKERNEL_AMI_KEY_PASSPHRASE or pass --passphrase-file/,
      });
    });

    it('bundles with the encrypted key and UNIKERNEL_AMI_KEY_PASSPHRASE', () => {
      const destination = freshDir('passphrase-env');
      expectSuccess(bundleArgs({ '-k': encryptedKey, '-c': encryptedCert, '-d': destination }), {
        UNIKERNEL_AMI_KEY_PASSPHRASE: 'secret',
      });
      assert.deepEqual(listing(destination), ['disk.img.manifest.xml', 'disk.img.part.0']);
    });

    it('bundles with the encrypted key and --passphrase-file', () => {
      const destination = freshDir('passphrase-file');
      expectSuccess(
        bundleArgs({ '-k': encryptedKey, '-c': encryptedCert, '-d': destination }, [
          '--passphrase-file',
          passphraseFile,
        ]),
      );
      assert.deepEqual(listing(destination), ['disk.img.manifest.xml', 'disk.img.part.0']);
    });

    it('refuses a wrong passphrase (environment)', () => {
      expectRefusal(bundleArgs({ '-k': encryptedKey, '-c': encryptedCert }), {
        option: '-k/--privatekey',
        problem: /could not be decrypted with the passphrase given/,
        env: { UNIKERNEL_AMI_KEY_PASSPHRASE: 'not the secret' },
      });
    });

    it('refuses a wrong passphrase (--passphrase-file)', () => {
      expectRefusal(
        bundleArgs({ '-k': encryptedKey, '-c': encryptedCert }, ['--passphrase-file', wrongPassphraseFile]),
        {
          option: '-k/--privatekey',
          problem: /could not be decrypted with the passphrase given/,
        },
      );
    });

    it('refuses a key that does not match its certificate', () => {
      expectRefusal(bundleArgs({ '-k': pki.other.keyPath }), {
        option: '-k/--privatekey',
        problem: /does not match the user certificate/,
      });
    });
  });

  describe('the descriptive options', () => {
    const cases: Array<[string, Record<string, string>, string, RegExp]> = [
      [
        'an account id of 11 digits',
        { '-u': '12345678901' },
        '-u/--user',
        /"12345678901" is not a 12-digit AWS account id/,
      ],
      [
        'an account id of 13 digits',
        { '-u': '1234567890123' },
        '-u/--user',
        /"1234567890123" is not a 12-digit AWS account id/,
      ],
      [
        'an account id with letters',
        { '-u': '12345678901a' },
        '-u/--user',
        /"12345678901a" is not a 12-digit AWS account id/,
      ],
      ['an empty prefix', { '-p': '' }, '-p/--prefix', /is empty/],
      ['a prefix containing /', { '-p': 'a/b' }, '-p/--prefix', /contains a path separator/],
      ['the prefix ..', { '-p': '..' }, '-p/--prefix', /is a relative directory name/],
      [
        'a malformed --kernel id',
        { '--kernel': 'aki-xyz' },
        '--kernel',
        /"aki-xyz" is not a kernel id; expected aki- and 8 or 17 hex digits/,
      ],
      ['an AMI id given as --kernel', { '--kernel': 'ami-12345678' }, '--kernel', /"ami-12345678" is not a kernel id/],
      [
        'a malformed --ramdisk id',
        { '--ramdisk': 'ari-1' },
        '--ramdisk',
        /"ari-1" is not a ramdisk id; expected ari- and 8 or 17 hex digits/,
      ],
      [
        'a block device mapping without =',
        { '-B': 'ami' },
        '-B/--block-device-mapping',
        /"ami" is not a virtual=device pair/,
      ],
      [
        'a block device mapping with a bad virtual name',
        { '-B': 'foo=sda1' },
        '-B/--block-device-mapping',
        /"foo" is not a virtual device name/,
      ],
      [
        'a block device mapping with a bad device',
        { '-B': 'ami=floppy' },
        '-B/--block-device-mapping',
        /"floppy" is not a device name/,
      ],
      [
        'a duplicate block device mapping',
        { '-B': 'ami=sda1,root=/dev/sda1,ami=sdb' },
        '-B/--block-device-mapping',
        /"ami" is mapped more than once/,
      ],
    ];
    for (const [title, changes, option, problem] of cases) {
      it(`refuses ${title}`, () => {
        expectRefusal(bundleArgs(changes), { option, problem });
      });
    }

    it('accepts the account id 1234-5678-9012 and records it as 12 digits', () => {
      const destination = freshDir('hyphens');
      expectSuccess(bundleArgs({ '-u': '1234-5678-9012', '-d': destination }));
      assert.match(readFileSync(path.join(destination, 'disk.img.manifest.xml'), 'utf8'), /<user>123456789012<\/user>/);
    });

    it('refuses an architecture other than i386/x86_64 with one line naming -r/--arch', () => {
      expectRefusal(bundleArgs({ '-r': 'arm64' }), {
        option: '-r/--arch',
        problem: /"arm64" is not a bundle architecture; use i386 or x86_64/,
      });
    });
  });

  describe('the destination (-d/--destination)', () => {
    it('refuses a destination that does not exist', () => {
      expectRefusal(bundleArgs({ '-d': path.join(folder.dir, 'no-such-dir') }), {
        option: '-d/--destination',
        problem: /no-such-dir does not exist/,
      });
    });

    it('refuses a destination that is a file', () => {
      expectRefusal(bundleArgs({ '-d': image }), {
        option: '-d/--destination',
        problem: /disk\.img is not a directory/,
      });
    });

    it('refuses a destination below a file with one line naming -d/--destination', () => {
      expectRefusal(bundleArgs({ '-d': path.join(image, 'sub') }), {
        option: '-d/--destination',
        problem: /does not exist|not a directory/,
      });
    });

    it('refuses a read-only destination (a read-only tmpfs mount: EROFS, even for root)', function () {
      const dir = freshDir('read-only');
      const reason = tryMountTmpfs(dir, 'ro,size=1m');
      if (reason) {
        console.log(`      skipped: cannot mount a read-only tmpfs here (${reason})`);
        this.skip();
      }
      mounted.push(dir);
      try {
        expectRefusal(bundleArgs({ '-d': dir }), {
          option: '-d/--destination',
          problem: /is not writable \(EROFS\); choose a folder you can write to/,
          watch: [dir, folder.dir],
        });
      } finally {
        spawnSync('umount', [dir]);
        mounted.splice(mounted.indexOf(dir), 1);
      }
    });

    for (const pseudo of ['/sys', '/proc']) {
      it(`refuses ${pseudo}, a pseudo file system root cannot create files in`, function () {
        if (!existsSync(pseudo) || !statSync(pseudo).isDirectory()) {
          console.log(`      skipped: ${pseudo} is not there`);
          this.skip();
        }
        // /proc's listing changes with every process that starts or ends: look for our names only.
        const ours = () => listing(pseudo).filter((entry) => entry.includes('disk.img'));
        expectRefusal(bundleArgs({ '-d': pseudo }), {
          option: '-d/--destination',
          problem: new RegExp(`${pseudo} is not writable \\((EACCES|EPERM|EROFS|ENOENT)\\)`),
          watch: [folder.dir],
        });
        assert.deepEqual(ours(), []);
      });
    }

    it('refuses a destination holding parts of an earlier bundle of the same name, leaving them untouched', () => {
      const destination = freshDir('earlier');
      const earlier: Record<string, string> = {
        'disk.img.part.0': 'part 0 of an earlier bundle',
        'disk.img.part.1': 'part 1 of an earlier bundle',
        'disk.img.manifest.xml': "<?xml version='1.0'?><manifest/>",
      };
      for (const [file, content] of Object.entries(earlier)) {
        writeFileSync(path.join(destination, file), content);
        utimesSync(path.join(destination, file), 1_600_000_000, 1_600_000_000);
      }
      expectRefusal(bundleArgs({ '-d': destination }), {
        option: '-d/--destination',
        problem:
          /already holds a bundle named disk\.img \(disk\.img\.manifest\.xml, disk\.img\.part\.0, disk\.img\.part\.1\); delete those files or choose another bundle name/,
        watch: [destination, folder.dir],
      });
      for (const [file, content] of Object.entries(earlier)) {
        assert.equal(readFileSync(path.join(destination, file), 'utf8'), content, `${file} untouched`);
        assert.equal(statSync(path.join(destination, file)).mtimeMs, 1_600_000_000_000, `${file} not rewritten`);
      }
    });

    it('refuses a destination holding only one zero-padded part of an earlier bundle named by -p', () => {
      const destination = freshDir('earlier-prefix');
      writeFileSync(path.join(destination, 'app.part.07'), 'a part');
      expectRefusal(bundleArgs({ '-d': destination, '-p': 'app' }), {
        option: '-d/--destination',
        problem: /already holds a bundle named app \(app\.part\.07\)/,
        watch: [destination, folder.dir],
      });
      assert.equal(readFileSync(path.join(destination, 'app.part.07'), 'utf8'), 'a part');
    });

    it('does not mistake other files for an earlier bundle, and leaves them untouched', () => {
      const destination = freshDir('neighbours');
      writeFileSync(path.join(destination, 'other.img.part.0'), 'another bundle');
      writeFileSync(path.join(destination, 'disk.img.part.0.bak'), 'a backup');
      expectSuccess(bundleArgs({ '-d': destination }));
      assert.deepEqual(listing(destination), [
        'disk.img.manifest.xml',
        'disk.img.part.0',
        'disk.img.part.0.bak',
        'other.img.part.0',
      ]);
      assert.equal(readFileSync(path.join(destination, 'other.img.part.0'), 'utf8'), 'another bundle');
      assert.equal(readFileSync(path.join(destination, 'disk.img.part.0.bak'), 'utf8'), 'a backup');
    });

    it('fails with an out-of-space error when the disk fills up mid-write, and leaves the disk empty', function () {
      const dir = freshDir('full');
      const reason = tryMountTmpfs(dir, 'size=2m');
      if (reason) {
        console.log(`      skipped: cannot mount a 2 MiB tmpfs to fill up (${reason})`);
        this.skip();
      }
      mounted.push(dir);
      try {
        const big = path.join(freshDir('random-image'), 'random.img');
        writeImage(big, [{ kind: 'random', bytes: 20 * MiB }]);
        expectRefusal(bundleArgs({ '-i': big, '-d': dir }), {
          option: '-d/--destination',
          problem: /ran out of space while the bundle was being written \(ENOSPC\); everything written was removed/,
          watch: [dir, folder.dir],
        });
        assert.deepEqual(listing(dir), [], 'the tmpfs is empty');
      } finally {
        spawnSync('umount', [dir]);
        mounted.splice(mounted.indexOf(dir), 1);
      }
    });

    it('fails with an out-of-space error when no inode is left for the manifest, removing the parts', function () {
      const dir = freshDir('no-inodes');
      // Two inodes: the root folder and one file, so the part can be written but the manifest cannot.
      const reason = tryMountTmpfs(dir, 'size=4m,nr_inodes=2');
      if (reason) {
        console.log(`      skipped: cannot mount a tmpfs with 2 inodes (${reason})`);
        this.skip();
      }
      mounted.push(dir);
      try {
        expectRefusal(bundleArgs({ '-d': dir }), {
          option: '-d/--destination',
          problem: /ran out of space .*\(ENOSPC\)/,
          watch: [dir, folder.dir],
        });
        assert.deepEqual(listing(dir), []);
      } finally {
        spawnSync('umount', [dir]);
        mounted.splice(mounted.indexOf(dir), 1);
      }
    });
  });

  describe('--json', () => {
    it('prints parseable JSON with the manifest, parts, digest and sizes on success', () => {
      const destination = freshDir('json');
      const result = expectSuccess(bundleArgs({ '-d': destination }, ['--json']));
      const summary = JSON.parse(result.stdout) as {
        command: string;
        manifest: string;
        name: string;
        digest: string;
        imageSize: number;
        tarSize: number;
        bundledSize: number;
        parts: Array<{ file: string; size: number; sha1: string }>;
      };
      assert.equal(summary.command, 'bundle');
      assert.equal(summary.name, 'disk.img');
      assert.equal(summary.manifest, path.join(destination, 'disk.img.manifest.xml'));
      assert.ok(existsSync(summary.manifest));
      assert.match(summary.digest, /^[0-9a-f]{40}$/);
      assert.match(
        readFileSync(summary.manifest, 'utf8'),
        new RegExp(`<digest algorithm='SHA1'>${summary.digest}</digest>`),
      );
      assert.equal(summary.imageSize, statSync(image).size);
      assert.equal(summary.tarSize % 10240, 0);
      assert.equal(summary.parts.length, 1);
      let total = 0;
      for (const part of summary.parts) {
        const bytes = readFileSync(part.file);
        assert.equal(part.size, bytes.length);
        assert.equal(part.sha1, createHash('sha1').update(bytes).digest('hex'));
        total += part.size;
      }
      assert.equal(summary.bundledSize, total);
      assert.equal(summary.bundledSize % 16, 0);
    });

    it('prints nothing on stdout and one line on stderr on failure', () => {
      expectRefusal(bundleArgs({ '-u': '42' }, ['--json']), {
        option: '-u/--user',
        problem: /"42" is not a 12-digit AWS account id/,
      });
    });
  });
});
