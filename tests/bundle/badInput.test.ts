/**
 * The real CLI (`unikernel-ami bundle`) refuses bad input, as one table: each row gives the input
 * (options changed from good defaults, and anything it needs made first) and the one line expected;
 * one loop asserts exit status 1, exactly that one line on stderr beginning with the option at fault,
 * nothing on stdout and not a single new file (hidden ones included) in the destination or next to
 * the image. A second table holds inputs near those that are accepted. Adding a case is one row.
 * Files named by options that are not regular files (FIFOs, devices, folders) are in the hostile
 * catalog (tests/reliability/hostileCatalog.test.ts).
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

/** Every entry of a folder, hidden ones included. */
function listing(dir: string): string[] {
  return readdirSync(dir).sort();
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** What the rows build on. */
interface Fixture {
  pki: TestPki;
  /** The folder of the image (watched by default). */
  dir: string;
  /** A good 64 KiB image, disk.img. */
  image: string;
  /** The default destination (watched by default). */
  out: string;
  notPem: string;
  encryptedKey: string;
  encryptedCert: string;
  passphraseFile: string;
  wrongPassphraseFile: string;
  freshDir: (label: string) => string;
  /** Mounts a tmpfs on `dir` (unmounted after the case); returns why it could not, or undefined. */
  mountTmpfs: (dir: string, options: string) => string | undefined;
}

/** A case's input as it is made when the case runs. */
interface Input {
  /** `bundle` options changed from the good defaults (null: left out). */
  changes?: Record<string, string | null>;
  extra?: string[];
  env?: NodeJS.ProcessEnv;
  /** Folders that must not change (the destination and the image's folder by default). */
  watch?: string[];
  /** What else must hold after the run. */
  check?: (result: CliResult) => void;
}

interface RefusalCase {
  title: string;
  /** The input; a string: why it cannot be made here (the case is skipped, saying so). */
  input: (f: Fixture) => Input | string;
  /** The option as the CLI spells it, e.g. `-i/--image`: the line begins with it. */
  option: string;
  /** What is wrong, as the line says it. */
  problem: RegExp;
}

const given =
  (changes: Record<string, string | null>, extra: string[] = []) =>
  (): Input => ({ changes, extra });

/** An image made by `make` in a folder of its own. */
function imageIn(f: Fixture, label: string, file: string, make: (file: string) => void): Input {
  const image = path.join(f.freshDir(label), file);
  make(image);
  return { changes: { '-i': image } };
}

/** A destination on a tmpfs mounted with `options`, with what must hold after; or why it cannot be mounted. */
function onTmpfs(f: Fixture, label: string, options: string, input: (dir: string) => Input): Input | string {
  const dir = f.freshDir(label);
  const reason = f.mountTmpfs(dir, options);
  if (reason) return `cannot mount a tmpfs (${options}) here (${reason})`;
  const made = input(dir);
  return { ...made, changes: { '-d': dir, ...made.changes }, watch: [dir, f.dir] };
}

/** A destination holding `files` of an earlier bundle (old mtimes); after the refusal they are untouched. */
function earlierBundle(f: Fixture, label: string, files: Record<string, string>, changes = {}): Input {
  const destination = f.freshDir(label);
  for (const [file, content] of Object.entries(files)) {
    writeFileSync(path.join(destination, file), content);
    utimesSync(path.join(destination, file), 1_600_000_000, 1_600_000_000);
  }
  return {
    changes: { '-d': destination, ...changes },
    watch: [destination, f.dir],
    check: () => {
      for (const [file, content] of Object.entries(files)) {
        assert.equal(readFileSync(path.join(destination, file), 'utf8'), content, `${file} untouched`);
        assert.equal(statSync(path.join(destination, file)).mtimeMs, 1_600_000_000_000, `${file} not rewritten`);
      }
    },
  };
}

const REFUSALS: RefusalCase[] = [
  // The image (-i/--image).
  {
    title: 'a missing image',
    input: (f) => ({ changes: { '-i': path.join(f.dir, 'no-such.img') } }),
    option: '-i/--image',
    problem: /no-such\.img does not exist/,
  },
  {
    title: 'a directory as the image',
    input: (f) => ({ changes: { '-i': f.freshDir('image-dir') } }),
    option: '-i/--image',
    problem: /is a directory; give the disk image file inside it/,
  },
  {
    title: 'an image of 0 bytes',
    input: (f) => imageIn(f, 'empty', 'empty.img', (file) => writeFileSync(file, '')),
    option: '-i/--image',
    problem: /is empty \(0 bytes\)/,
  },
  {
    title: 'an image of 10 GiB + 1 byte (sparse, made with truncate)',
    input: (f) => imageIn(f, 'big', 'big.img', (file) => run('truncate', ['-s', String(MAX_IMAGE_SIZE + 1), file])),
    option: '-i/--image',
    problem: new RegExp(
      `is ${MAX_IMAGE_SIZE + 1} bytes; instance-store images are limited to 10 GiB \\(${MAX_IMAGE_SIZE} bytes\\)`,
    ),
  },
  {
    title: 'a device (/dev/null) instead of an image file',
    input: given({ '-i': '/dev/null' }),
    option: '-i/--image',
    problem: /is not a regular file/,
  },

  // The key and certificates (-k/--privatekey, -c/--cert, --ec2cert).
  {
    title: 'a key that is not PEM',
    input: (f) => ({ changes: { '-k': f.notPem } }),
    option: '-k/--privatekey',
    problem: /is not a PEM private key/,
  },
  {
    title: 'a certificate that is not PEM',
    input: (f) => ({ changes: { '-c': f.notPem } }),
    option: '-c/--cert',
    problem: /is not a PEM certificate/,
  },
  {
    title: 'an EC2 certificate that is not PEM',
    input: (f) => ({ changes: { '--ec2cert': f.notPem } }),
    option: '--ec2cert',
    problem: /is not a PEM certificate/,
  },
  {
    title: 'a certificate given as the key',
    input: (f) => ({ changes: { '-k': f.pki.user.certPath } }),
    option: '-k/--privatekey',
    problem: /is a PEM "CERTIFICATE", not a private key/,
  },
  {
    title: 'a key given as the certificate',
    input: (f) => ({ changes: { '-c': f.pki.user.keyPath } }),
    option: '-c/--cert',
    problem: /is a PEM "PRIVATE KEY", not a certificate/,
  },
  {
    title: 'key and certificate swapped',
    input: (f) => ({ changes: { '-k': f.pki.user.certPath, '-c': f.pki.user.keyPath } }),
    option: '-c/--cert',
    problem: /not a certificate/,
  },
  {
    // Also the hostile catalog's "bundle -k missing" (its exact line, kept here with the folder checks).
    title: 'a key file that does not exist',
    input: (f) => ({ changes: { '-k': path.join(f.dir, 'no-such-pk.pem') } }),
    option: '-k/--privatekey',
    problem:
      /^unikernel-ami bundle: -k\/--privatekey .*no-such-pk\.pem: no such file; give the path of an existing file$/,
  },
  {
    title: 'an encrypted key when no passphrase is given',
    input: (f) => ({ changes: { '-k': f.encryptedKey, '-c': f.encryptedCert } }),
    option: '-k/--privatekey',
    problem: /is encrypted and no passphrase was given; set UNIKERNEL_AMI_KEY_PASSPHRASE or pass --passphrase-file/,
  },
  {
    title: 'a wrong passphrase (environment)',
    input: (f) => ({
      changes: { '-k': f.encryptedKey, '-c': f.encryptedCert },
      env: { UNIKERNEL_AMI_KEY_PASSPHRASE: 'not the secret' },
    }),
    option: '-k/--privatekey',
    problem: /could not be decrypted with the passphrase given/,
  },
  {
    title: 'a wrong passphrase (--passphrase-file)',
    input: (f) => ({
      changes: { '-k': f.encryptedKey, '-c': f.encryptedCert },
      extra: ['--passphrase-file', f.wrongPassphraseFile],
    }),
    option: '-k/--privatekey',
    problem: /could not be decrypted with the passphrase given/,
  },
  {
    title: 'a key that does not match its certificate',
    input: (f) => ({ changes: { '-k': f.pki.other.keyPath } }),
    option: '-k/--privatekey',
    problem: /does not match the user certificate/,
  },

  // The descriptive options.
  {
    title: 'an account id of 11 digits',
    input: given({ '-u': '12345678901' }),
    option: '-u/--user',
    problem: /"12345678901" is not a 12-digit AWS account id/,
  },
  {
    title: 'an account id of 13 digits',
    input: given({ '-u': '1234567890123' }),
    option: '-u/--user',
    problem: /"1234567890123" is not a 12-digit AWS account id/,
  },
  {
    title: 'an account id with letters',
    input: given({ '-u': '12345678901a' }),
    option: '-u/--user',
    problem: /"12345678901a" is not a 12-digit AWS account id/,
  },
  { title: 'an empty prefix', input: given({ '-p': '' }), option: '-p/--prefix', problem: /is empty/ },
  {
    title: 'a prefix containing /',
    input: given({ '-p': 'a/b' }),
    option: '-p/--prefix',
    problem: /contains a path separator/,
  },
  {
    title: 'the prefix ..',
    input: given({ '-p': '..' }),
    option: '-p/--prefix',
    problem: /is a relative directory name/,
  },
  {
    title: 'a malformed --kernel id',
    input: given({ '--kernel': 'aki-xyz' }),
    option: '--kernel',
    problem: /"aki-xyz" is not a kernel id; expected aki- and 8 or 17 hex digits/,
  },
  {
    title: 'an AMI id given as --kernel',
    input: given({ '--kernel': 'ami-12345678' }),
    option: '--kernel',
    problem: /"ami-12345678" is not a kernel id/,
  },
  {
    title: 'a malformed --ramdisk id',
    input: given({ '--ramdisk': 'ari-1' }),
    option: '--ramdisk',
    problem: /"ari-1" is not a ramdisk id; expected ari- and 8 or 17 hex digits/,
  },
  {
    title: 'a block device mapping without =',
    input: given({ '-B': 'ami' }),
    option: '-B/--block-device-mapping',
    problem: /"ami" is not a virtual=device pair/,
  },
  {
    title: 'a block device mapping with a bad virtual name',
    input: given({ '-B': 'foo=sda1' }),
    option: '-B/--block-device-mapping',
    problem: /"foo" is not a virtual device name/,
  },
  {
    title: 'a block device mapping with a bad device',
    input: given({ '-B': 'ami=floppy' }),
    option: '-B/--block-device-mapping',
    problem: /"floppy" is not a device name/,
  },
  {
    title: 'a duplicate block device mapping',
    input: given({ '-B': 'ami=sda1,root=/dev/sda1,ami=sdb' }),
    option: '-B/--block-device-mapping',
    problem: /"ami" is mapped more than once/,
  },
  {
    title: 'an architecture other than i386/x86_64',
    input: given({ '-r': 'arm64' }),
    option: '-r/--arch',
    problem: /"arm64" is not a bundle architecture; use i386 or x86_64/,
  },
  {
    title: 'a bad account id with --json (nothing on stdout either)',
    input: given({ '-u': '42' }, ['--json']),
    option: '-u/--user',
    problem: /"42" is not a 12-digit AWS account id/,
  },

  // The destination (-d/--destination).
  {
    title: 'a destination that does not exist',
    input: (f) => ({ changes: { '-d': path.join(f.dir, 'no-such-dir') } }),
    option: '-d/--destination',
    problem: /no-such-dir does not exist/,
  },
  {
    title: 'a destination that is a file',
    input: (f) => ({ changes: { '-d': f.image } }),
    option: '-d/--destination',
    problem: /disk\.img is not a directory/,
  },
  {
    title: 'a destination below a file',
    input: (f) => ({ changes: { '-d': path.join(f.image, 'sub') } }),
    option: '-d/--destination',
    problem: /does not exist|not a directory/,
  },
  {
    title: 'a read-only destination (a read-only tmpfs mount: EROFS, even for root)',
    input: (f) => onTmpfs(f, 'read-only', 'ro,size=1m', () => ({})),
    option: '-d/--destination',
    problem: /is not writable \(EROFS\); choose a folder you can write to/,
  },
  ...['/sys', '/proc'].map((pseudo): RefusalCase => ({
    title: `${pseudo}, a pseudo file system root cannot create files in`,
    input: (f) => {
      if (!existsSync(pseudo) || !statSync(pseudo).isDirectory()) return `${pseudo} is not there`;
      // /proc's listing changes with every process that starts or ends: look for our names only.
      const ours = () => listing(pseudo).filter((entry) => entry.includes('disk.img'));
      return {
        changes: { '-d': pseudo },
        watch: [f.dir],
        check: () => assert.deepEqual(ours(), []),
      };
    },
    option: '-d/--destination',
    problem: new RegExp(`${pseudo} is not writable \\((EACCES|EPERM|EROFS|ENOENT)\\)`),
  })),
  {
    title: 'a destination holding parts of an earlier bundle of the same name, leaving them untouched',
    input: (f) =>
      earlierBundle(f, 'earlier', {
        'disk.img.part.0': 'part 0 of an earlier bundle',
        'disk.img.part.1': 'part 1 of an earlier bundle',
        'disk.img.manifest.xml': "<?xml version='1.0'?><manifest/>",
      }),
    option: '-d/--destination',
    problem:
      /already holds a bundle named disk\.img \(disk\.img\.manifest\.xml, disk\.img\.part\.0, disk\.img\.part\.1\); delete those files or choose another bundle name/,
  },
  {
    title: 'a destination holding only one zero-padded part of an earlier bundle named by -p',
    input: (f) => earlierBundle(f, 'earlier-prefix', { 'app.part.07': 'a part' }, { '-p': 'app' }),
    option: '-d/--destination',
    problem: /already holds a bundle named app \(app\.part\.07\)/,
  },
  {
    title: 'a disk that fills up mid-write (ENOSPC), leaving the disk empty',
    input: (f) =>
      onTmpfs(f, 'full', 'size=2m', (dir) => {
        const big = path.join(f.freshDir('random-image'), 'random.img');
        writeImage(big, [{ kind: 'random', bytes: 20 * MiB }]);
        return { changes: { '-i': big }, check: () => assert.deepEqual(listing(dir), [], 'the tmpfs is empty') };
      }),
    option: '-d/--destination',
    problem: /ran out of space while the bundle was being written \(ENOSPC\); everything written was removed/,
  },
  {
    // Two inodes: the root folder and one file, so the part can be written but the manifest cannot.
    title: 'no inode left for the manifest (ENOSPC), removing the parts',
    input: (f) =>
      onTmpfs(f, 'no-inodes', 'size=4m,nr_inodes=2', (dir) => ({
        check: () => assert.deepEqual(listing(dir), []),
      })),
    option: '-d/--destination',
    problem: /ran out of space .*\(ENOSPC\)/,
  },
];

interface AcceptedCase {
  title: string;
  /** The input, bundling into `destination` (a fresh folder). */
  input: (f: Fixture, destination: string) => Input;
}

const ACCEPTED: AcceptedCase[] = [
  {
    title: 'the encrypted key with UNIKERNEL_AMI_KEY_PASSPHRASE',
    input: (f, destination) => ({
      changes: { '-k': f.encryptedKey, '-c': f.encryptedCert },
      env: { UNIKERNEL_AMI_KEY_PASSPHRASE: 'secret' },
      check: () => assert.deepEqual(listing(destination), ['disk.img.manifest.xml', 'disk.img.part.0']),
    }),
  },
  {
    title: 'the encrypted key with --passphrase-file',
    input: (f, destination) => ({
      changes: { '-k': f.encryptedKey, '-c': f.encryptedCert },
      extra: ['--passphrase-file', f.passphraseFile],
      check: () => assert.deepEqual(listing(destination), ['disk.img.manifest.xml', 'disk.img.part.0']),
    }),
  },
  {
    title: 'the account id 1234-5678-9012, recorded as 12 digits',
    input: (_f, destination) => ({
      changes: { '-u': '1234-5678-9012' },
      check: () =>
        assert.match(
          readFileSync(path.join(destination, 'disk.img.manifest.xml'), 'utf8'),
          /<user>123456789012<\/user>/,
        ),
    }),
  },
  {
    title: 'a destination with other files that are no earlier bundle, left untouched',
    input: (_f, destination) => {
      writeFileSync(path.join(destination, 'other.img.part.0'), 'another bundle');
      writeFileSync(path.join(destination, 'disk.img.part.0.bak'), 'a backup');
      return {
        check: () => {
          assert.deepEqual(listing(destination), [
            'disk.img.manifest.xml',
            'disk.img.part.0',
            'disk.img.part.0.bak',
            'other.img.part.0',
          ]);
          assert.equal(readFileSync(path.join(destination, 'other.img.part.0'), 'utf8'), 'another bundle');
          assert.equal(readFileSync(path.join(destination, 'disk.img.part.0.bak'), 'utf8'), 'a backup');
        },
      };
    },
  },
  {
    title: '--json: parseable JSON with the manifest, parts, digest and sizes',
    input: (f, destination) => ({
      extra: ['--json'],
      check: (result) => {
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
        assert.equal(summary.imageSize, statSync(f.image).size);
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
      },
    }),
  },
];

describe('bundle CLI: bad input is refused with one line naming the option, and nothing is written', function () {
  this.timeout(60_000);
  let folder: ReturnType<typeof temporaryFolder>;
  let fixture: Fixture;
  let mounted: string[] = [];
  let counter = 0;

  before(() => {
    folder = temporaryFolder('bad-input');
    const dir = folder.dir;
    const at = (name: string) => path.join(dir, name);
    fixture = {
      pki: testPki(),
      dir,
      image: at('disk.img'),
      out: at('out'),
      notPem: at('not-pem.txt'),
      encryptedKey: at('encrypted-pk.pem'),
      encryptedCert: at('encrypted-cert.pem'),
      passphraseFile: at('passphrase.txt'),
      wrongPassphraseFile: at('wrong-passphrase.txt'),
      freshDir: (label) => {
        const fresh = path.join(dir, `${++counter}-${label}`);
        mkdirSync(fresh);
        return fresh;
      },
      mountTmpfs: (target, options) => {
        if (process.getuid?.() !== 0) return 'the tests do not run as root';
        const result = spawnSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', target], { encoding: 'utf8' });
        if (result.error) return `mount could not run (${result.error.message})`;
        if (result.status !== 0)
          return `mount -t tmpfs failed: ${result.stderr.trim() || `exit status ${result.status}`}`;
        mounted.push(target);
        return undefined;
      },
    };
    writeImage(fixture.image, [{ kind: 'random', bytes: 64 * 1024 }]);
    mkdirSync(fixture.out);
    writeFileSync(fixture.notPem, 'this is not a PEM file\n');
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
      fixture.encryptedKey,
    ]);
    run('openssl', [
      'req',
      '-x509',
      '-new',
      '-key',
      fixture.encryptedKey,
      '-passin',
      'pass:secret',
      '-out',
      fixture.encryptedCert,
      '-days',
      '2',
      '-subj',
      '/CN=encrypted',
    ]);
    assert.match(readFileSync(fixture.encryptedKey, 'utf8'), /-----BEGIN ENCRYPTED PRIVATE KEY-----/);
    writeFileSync(fixture.passphraseFile, 'secret\n');
    writeFileSync(fixture.wrongPassphraseFile, 'not the secret\n');
  });

  const unmountAll = () => {
    for (const dir of mounted) spawnSync('umount', [dir]);
    mounted = [];
  };
  afterEach(unmountAll);
  after(() => {
    unmountAll();
    folder.cleanup();
  });

  /** `bundle` arguments: good defaults, with options replaced (a string) or left out (null). */
  function bundleArgs(changes: Record<string, string | null> = {}, extra: string[] = []): string[] {
    const options: Record<string, string | null> = {
      '-i': fixture.image,
      '-k': fixture.pki.user.keyPath,
      '-c': fixture.pki.user.certPath,
      '--ec2cert': fixture.pki.ec2.certPath,
      '-u': ACCOUNT,
      '-r': 'x86_64',
      '-d': fixture.out,
      ...changes,
    };
    const argv = ['bundle'];
    for (const [option, value] of Object.entries(options)) if (value !== null) argv.push(option, value);
    return [...argv, ...extra];
  }

  describe(`refused (${REFUSALS.length} cases)`, () => {
    for (const testCase of REFUSALS) {
      it(`refuses ${testCase.title}`, function () {
        const input = testCase.input(fixture);
        if (typeof input === 'string') {
          console.log(`      skipped: ${input}`);
          this.skip();
        }
        const watch = input.watch ?? [fixture.out, fixture.dir];
        const before = watch.map(listing);
        const result = runCli(bundleArgs(input.changes, input.extra), {
          UNIKERNEL_AMI_KEY_PASSPHRASE: '',
          ...input.env,
        });
        assert.equal(result.status, 1, `exit status 1; stdout: ${result.stdout}; stderr: ${result.stderr}`);
        assert.ok(
          result.stderr.endsWith('\n') && result.stderr.indexOf('\n') === result.stderr.length - 1,
          `stderr must be exactly one line, got:\n${result.stderr}`,
        );
        const line = result.stderr.slice(0, -1);
        assert.match(
          line,
          new RegExp(`^unikernel-ami bundle: ${escapeRegExp(testCase.option)}[ :]`),
          'the line names the option first',
        );
        assert.match(line, testCase.problem);
        assert.equal(result.stdout, '', 'nothing on stdout');
        watch.forEach((dir, i) => assert.deepEqual(listing(dir), before[i], `no new file in ${dir}`));
        input.check?.(result);
      });
    }
  });

  describe(`accepted (${ACCEPTED.length} cases)`, () => {
    for (const testCase of ACCEPTED) {
      it(`bundles ${testCase.title}`, () => {
        const destination = fixture.freshDir('accepted');
        const input = testCase.input(fixture, destination);
        const result = runCli(bundleArgs({ '-d': destination, ...input.changes }, input.extra), {
          UNIKERNEL_AMI_KEY_PASSPHRASE: '',
          ...input.env,
        });
        assert.equal(result.status, 0, `bundle must succeed; stderr: ${result.stderr}`);
        assert.equal(result.stderr, '');
        input.check?.(result);
      });
    }
  });
});
