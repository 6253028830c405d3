/**
 * The hostile-input catalog: tables of inputs a careful attacker (or an unlucky user) hands the CLI,
 * each with the one line it must be refused with. Every case runs the real CLI in a child process
 * with a watchdog, so a case that hangs (a FIFO with no writer), grows without bound (/dev/zero) or
 * ignores SIGTERM fails as such. Adding a case is one line in a table.
 */
import { strict as assert } from 'assert';
import { execFileSync } from 'child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'fs';
import * as path from 'path';
import {
  CraftKeys,
  craftKeys,
  gnuSparseHeaderBlocks,
  RawMember,
  tarArchive,
  writeCraftedBundle,
} from '../helpers/craftBundle';
import { testPki } from '../helpers/pki';
import { decodeHeader, decodeSparseExtension } from '../../provider/bundle/tarHeader';
import * as bundledImage from '../../provider/dynamic/bundledImage/operations';
import { parseResumeRecord } from '../../provider/aws/resumeRecord';
import { ResumeMismatchError } from '../../provider/bundle/errors';
import { temporaryFolder, writeImage } from '../helpers/tools';
import { runCliWatched } from './cliProcess';

const PEAK_RSS_PRELOAD = path.join(__dirname, 'peakRss.js');

/** Paths every case can name. */
interface Fixture {
  dir: string;
  fifo: string;
  /** A regular file of 2 MiB (a hole): larger than any PEM file or passphrase. */
  big: string;
  /** A regular file of 5 MiB: larger than any manifest. */
  huge: string;
  missing: string;
  folder: string;
  empty: string;
  image: string;
  key: string;
  cert: string;
  ec2: string;
  manifest: string;
  /** A real bundle's manifest (its parts beside it), signed by the user key. */
  goodManifest: string;
  out: (name: string) => string;
}

/** Offline AWS settings: the commands refuse their input before any request, and nothing could reach AWS anyway. */
const OFFLINE_AWS = {
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'AKIAOFFLINEEXAMPLE',
  AWS_SECRET_ACCESS_KEY: 'offline',
  AWS_ENDPOINT_URL: 'http://127.0.0.1:9',
};

interface OptionFileCase {
  title: string;
  /** Environment for this case (a variable set to undefined is removed); OFFLINE_AWS otherwise. */
  env?: NodeJS.ProcessEnv;
  args: (f: Fixture) => string[];
  /** The whole of stderr: one line. */
  message: RegExp;
  /** Paths the refused run must not have created. */
  absent?: (f: Fixture) => string[];
}

const bundle = (f: Fixture, files: Record<string, string>, extra: string[] = []) => {
  const keys = { '-k': f.key, '-c': f.cert, '--ec2cert': f.ec2, ...files };
  return [
    'bundle',
    '-i',
    f.image,
    ...Object.entries(keys).flat(),
    '-u',
    '123456789012',
    '-r',
    'x86_64',
    '-d',
    f.out('b'),
    ...extra,
  ];
};
const verify = (f: Fixture, files: Record<string, string>) => [
  'verify',
  ...Object.entries({ '-m': f.manifest, '-k': f.key, ...files }).flat(),
];
const keygen = (f: Fixture, extra: string[]) => [
  'keygen',
  '--key',
  f.out('new.pem'),
  '--cert',
  f.out('new.crt'),
  ...extra,
];
const keygenLeaves = (f: Fixture) => [f.out('new.pem'), f.out('new.crt')];

/** Files named by options: only a regular file, with a size cap, never blocking. */
const OPTION_FILE_CASES: OptionFileCase[] = [
  {
    title: 'bundle -k FIFO',
    args: (f) => bundle(f, { '-k': f.fifo }),
    message:
      /^unikernel-ami bundle: -k\/--privatekey .*fifo: is a FIFO \(named pipe\), not a regular file; give a regular file$/,
  },
  {
    title: 'bundle -k /dev/zero',
    args: (f) => bundle(f, { '-k': '/dev/zero' }),
    message:
      /^unikernel-ami bundle: -k\/--privatekey \/dev\/zero: is a character device, not a regular file; give a regular file$/,
  },
  {
    title: 'bundle -k 2 MiB file',
    args: (f) => bundle(f, { '-k': f.big }),
    message:
      /^unikernel-ami bundle: -k\/--privatekey .*big: is larger than 1 MiB, far more than such a file holds; give the right file$/,
  },
  {
    title: 'bundle -k folder',
    args: (f) => bundle(f, { '-k': f.folder }),
    message: /^unikernel-ami bundle: -k\/--privatekey .*folder: is a directory; give a file$/,
  },
  // bundle -k naming a missing file: in tests/bundle/badInput.test.ts (its exact line, and no file written).
  {
    title: 'bundle -c FIFO',
    args: (f) => bundle(f, { '-c': f.fifo }),
    message: /^unikernel-ami bundle: -c\/--cert .*fifo: is a FIFO \(named pipe\)/,
  },
  {
    title: 'bundle -c /dev/zero',
    args: (f) => bundle(f, { '-c': '/dev/zero' }),
    message: /^unikernel-ami bundle: -c\/--cert \/dev\/zero: is a character device/,
  },
  {
    title: 'bundle --ec2cert FIFO',
    args: (f) => bundle(f, { '--ec2cert': f.fifo }),
    message: /^unikernel-ami bundle: --ec2cert .*fifo: is a FIFO \(named pipe\)/,
  },
  {
    title: 'bundle --ec2cert /dev/zero',
    args: (f) => bundle(f, { '--ec2cert': '/dev/zero' }),
    message: /^unikernel-ami bundle: --ec2cert \/dev\/zero: is a character device/,
  },
  {
    title: 'bundle --passphrase-file FIFO',
    args: (f) => bundle(f, { '--passphrase-file': f.fifo }),
    message: /^unikernel-ami bundle: --passphrase-file .*fifo: is a FIFO \(named pipe\)/,
  },
  {
    title: 'bundle --passphrase-file /dev/zero',
    args: (f) => bundle(f, { '--passphrase-file': '/dev/zero' }),
    message: /^unikernel-ami bundle: --passphrase-file \/dev\/zero: is a character device/,
  },
  {
    title: 'bundle --passphrase-file 2 MiB file',
    args: (f) => bundle(f, { '--passphrase-file': f.big }),
    message: /^unikernel-ami bundle: --passphrase-file .*big: is larger than 64 KiB/,
  },
  {
    title: 'bundle --passphrase-file empty',
    args: (f) => bundle(f, { '--passphrase-file': f.empty }),
    message: /^unikernel-ami bundle: --passphrase-file .*empty: is empty; write the passphrase in it$/,
  },
  {
    title: 'verify -k FIFO',
    args: (f) => verify(f, { '-k': f.fifo }),
    message: /^unikernel-ami verify: -k\/--privatekey .*fifo: is a FIFO \(named pipe\)/,
  },
  {
    title: 'verify -c /dev/zero',
    args: (f) => verify(f, { '-c': '/dev/zero' }),
    message: /^unikernel-ami verify: -c\/--cert \/dev\/zero: is a character device/,
  },
  {
    title: 'verify -m FIFO',
    args: (f) => verify(f, { '-m': f.fifo }),
    message:
      /^unikernel-ami verify: -m\/--manifest: .*fifo is a FIFO \(named pipe\), not a regular file; give the NAME\.manifest\.xml of the bundle$/,
  },
  {
    title: 'unbundle -m /dev/zero',
    args: (f) => ['unbundle', '-m', '/dev/zero', '-k', f.key, '-d', f.out('u')],
    message:
      /^unikernel-ami unbundle: -m\/--manifest: \/dev\/zero is a character device, not a regular file; give the NAME\.manifest\.xml of the bundle$/,
  },
  {
    title: 'verify -m 5 MiB file',
    args: (f) => verify(f, { '-m': f.huge }),
    message:
      /^unikernel-ami verify: bundle check failed \(manifest-size\): .*huge is larger than 4194304 bytes; bundle manifests are far smaller, so this is not one$/,
  },
  {
    title: 'upload -m FIFO',
    args: (f) => ['upload', '-b', 'bucket', '-m', f.fifo],
    message:
      /^unikernel-ami upload: -m\/--manifest: .*fifo is a FIFO \(named pipe\), not a regular file; give the NAME\.manifest\.xml of the bundle$/,
  },
  {
    title: 'upload -m /dev/zero',
    args: () => ['upload', '-b', 'bucket', '-m', '/dev/zero'],
    message: /^unikernel-ami upload: -m\/--manifest: \/dev\/zero is a character device/,
  },
  {
    title: 'delete-bundle -m FIFO',
    args: (f) => ['delete-bundle', '-b', 'bucket', '-m', f.fifo, '-y'],
    message: /^unikernel-ami delete-bundle: -m\/--manifest: .*fifo is a FIFO \(named pipe\)/,
  },
  {
    title: 'keygen --passphrase-file missing',
    args: (f) => keygen(f, ['--passphrase-file', f.missing]),
    message: /^unikernel-ami keygen: --passphrase-file .*missing: no such file; give the path of an existing file$/,
    absent: keygenLeaves,
  },
  {
    title: 'keygen --passphrase-file FIFO',
    args: (f) => keygen(f, ['--passphrase-file', f.fifo]),
    message: /^unikernel-ami keygen: --passphrase-file .*fifo: is a FIFO \(named pipe\)/,
    absent: keygenLeaves,
  },
  {
    title: 'keygen --passphrase-file /dev/zero',
    args: (f) => keygen(f, ['--passphrase-file', '/dev/zero']),
    message: /^unikernel-ami keygen: --passphrase-file \/dev\/zero: is a character device/,
    absent: keygenLeaves,
  },
  {
    title: 'keygen --passphrase-file empty',
    args: (f) => keygen(f, ['--passphrase-file', f.empty]),
    message: /^unikernel-ami keygen: --passphrase-file .*empty: is empty; write the passphrase in it$/,
    absent: keygenLeaves,
  },
  {
    title: 'verify --log-file under a file',
    args: (f) => [...verify(f, {}), '--log-file', path.join(f.image, 'log')],
    message:
      /^unikernel-ami verify: --log-file .*app\.img\/log: a part of its folder path is a file, not a folder; give a path in an existing folder$/,
  },
  {
    title: 'verify --log-file FIFO',
    args: (f) => [...verify(f, {}), '--log-file', f.fifo],
    message: /^unikernel-ami verify: --log-file .*fifo: is a FIFO with no reader; give a regular file$/,
  },
  {
    title: 'bundle --log-file folder',
    args: (f) => [...bundle(f, {}), '--log-file', f.folder],
    message: /^unikernel-ami bundle: --log-file .*folder: is a directory; give a file path$/,
    absent: (f) => [f.out('b')],
  },
  {
    title: 'keygen --key under a file',
    args: (f) => ['keygen', '--key', path.join(f.image, 'k.pem'), '--cert', f.out('k.crt')],
    message:
      /^unikernel-ami keygen: --key .*app\.img\/k\.pem: a part of its folder path is a file, not a folder; give a path in an existing folder$/,
    absent: (f) => [f.out('k.crt')],
  },
  {
    title: 'unbundle -d /proc/sys (no new files there)',
    args: (f) => ['unbundle', '-m', f.goodManifest, '-k', f.key, '-d', '/proc/sys'],
    message:
      /^unikernel-ami unbundle: -d\/--destination: \/proc\/sys does not accept new files \(ENOENT\): choose a folder you can write to$/,
  },
];

const NO_REGION = {
  AWS_REGION: undefined,
  AWS_DEFAULT_REGION: undefined,
  AWS_PROFILE: undefined,
  AWS_CONFIG_FILE: '/nonexistent/aws-config',
};

/** Region settings AWS's SDK refuses in its own words: named as the option, with the remedy. */
const REGION_CASES: OptionFileCase[] = [
  {
    title: 'upload with no region set',
    env: { ...OFFLINE_AWS, ...NO_REGION },
    args: (f) => ['upload', '-b', 'bucket', '-m', f.goodManifest],
    message:
      /^unikernel-ami upload: --region: no AWS region is set; pass --region \(such as us-east-1\) or set AWS_REGION or a region in the AWS profile$/,
  },
  {
    title: 'bundle -b with no region set',
    env: { ...OFFLINE_AWS, ...NO_REGION },
    args: (f) => [...bundle(f, {}).slice(0, -2), '-b', 'bucket'],
    message: /^unikernel-ami bundle: --region: no AWS region is set/,
  },
  {
    title: 'delete-bundle with no region set',
    env: { ...OFFLINE_AWS, ...NO_REGION },
    args: () => ['delete-bundle', '-b', 'bucket', '-p', 'app.img', '-y'],
    message: /^unikernel-ami delete-bundle: --region: no AWS region is set/,
  },
  {
    title: 'upload --region "bad region!"',
    args: (f) => ['upload', '-b', 'bucket', '-m', f.goodManifest, '--region', 'bad region!'],
    message:
      /^unikernel-ami upload: --region \(or AWS_REGION\) "bad region!": not an AWS region name; give one such as us-east-1$/,
  },
  {
    title: 'upload with AWS_REGION empty',
    env: { ...OFFLINE_AWS, AWS_REGION: '', AWS_DEFAULT_REGION: undefined },
    args: (f) => ['upload', '-b', 'bucket', '-m', f.goodManifest],
    message:
      /^unikernel-ami upload: --region: the AWS region is set empty; pass --region \(such as us-east-1\) or set AWS_REGION$/,
  },
];

interface ConflictCase {
  title: string;
  args: (f: Fixture) => string[];
  message: RegExp;
}

/** Options that conflict or need another: refused before anything runs, one line, nothing ignored. */
const CONFLICTING_OPTION_CASES: ConflictCase[] = [
  {
    title: 'bundle -d … -b …',
    args: (f) => [...bundle(f, {}), '-b', 'bucket/images'],
    message:
      /^unikernel-ami: bundle: -d\/--destination cannot be given with -b\/--bucket: -b bundles straight into S3 and -d into a folder; give one of them \(see --help\)$/,
  },
  {
    title: 'bundle --acl public-read without -b',
    args: (f) => [...bundle(f, {}), '--acl', 'public-read'],
    message:
      /^unikernel-ami: bundle: --acl needs -b\/--bucket: it applies only to bundling into S3; add -b\/--bucket or leave it out \(see --help\)$/,
  },
  {
    title: 'bundle --acl aws-exec-read (the default, given) without -b',
    args: (f) => [...bundle(f, {}), '--acl', 'aws-exec-read'],
    message: /^unikernel-ami: bundle: --acl needs -b\/--bucket/,
  },
  {
    title: 'bundle --concurrency without -b',
    args: (f) => [...bundle(f, {}), '--concurrency', '2'],
    message: /^unikernel-ami: bundle: --concurrency needs -b\/--bucket/,
  },
  {
    title: 'bundle --create-bucket without -b',
    args: (f) => [...bundle(f, {}), '--create-bucket'],
    message: /^unikernel-ami: bundle: --create-bucket needs -b\/--bucket/,
  },
  {
    title: 'bundle --region without -b',
    args: (f) => [...bundle(f, {}), '--region', 'eu-west-1'],
    message: /^unikernel-ami: bundle: --region needs -b\/--bucket/,
  },
  {
    title: 'delete-bundle -m … -p …',
    args: (f) => ['delete-bundle', '-b', 'bucket', '-m', f.manifest, '-p', 'app.img', '-y'],
    message:
      /^unikernel-ami: delete-bundle: -m\/--manifest cannot be given with -p\/--prefix: -m deletes the bundle its manifest lists and -p the one stored under that name; give one of them \(see --help\)$/,
  },
];

/** What a crafted bundle case builds from: its folder and the signing keys. */
interface CraftContext {
  dir: string;
  keys: CraftKeys;
}

interface BundleCase {
  title: string;
  /** Writes the bundle into `context.dir`; returns its manifest path. */
  build: (context: CraftContext) => string;
  /** The whole of stderr of `verify` and of `unbundle` (after the command name): one line. */
  message: RegExp;
  /** Peak resident set size allowed to the refusing process, in MiB. */
  /**
   * Bound on the peak resident memory above a reference run of the same command, measured just
   * before on a tiny manifest it refuses at once (node and the CLI loaded, nothing read): a loaded
   * machine raises both alike (at load 10 on 2 cores a run of 87 MiB peaked at 174-199 MiB).
   */
  maxExtraMiB?: number;
}

const NAME = 'app.img';

/**
 * A signed bundle around a tar stream whose member is a GNU sparse file with the given map (by
 * default 512 bytes of data every 1,024 bytes, as GNU tar maps it) and no data after it.
 */
function sparseMapBundle(
  context: CraftContext,
  entryCount: number,
  entry = (index: number) => ({ offset: index * 1024, length: 512 }),
): string {
  const header = gnuSparseHeaderBlocks({ name: NAME, realSize: entryCount * 1024, entryCount, entry });
  return writeCraftedBundle({
    directory: context.dir,
    name: NAME,
    tar: header,
    imageSize: entryCount * 1024,
    keys: context.keys,
  }).manifestPath;
}

/** A signed bundle whose sparse member restores to `realSize` bytes: 512 bytes of data, the rest a hole. */
function oversizedImageBundle(context: CraftContext, realSize: number): string {
  const header = gnuSparseHeaderBlocks({
    name: NAME,
    realSize,
    entryCount: 2,
    entry: (index) => (index === 0 ? { offset: 0, length: 512 } : { offset: realSize, length: 0 }),
  });
  const tar = Buffer.concat([header, Buffer.alloc(512, 'x'), Buffer.alloc(1024)]);
  return writeCraftedBundle({ directory: context.dir, name: NAME, tar, imageSize: realSize, keys: context.keys })
    .manifestPath;
}

/** A signed bundle around a tar archive of `members` (RawMember of craftBundle.ts), as GNU tar lays it out. */
function tarBundle(context: CraftContext, members: RawMember[], gzipTrailer?: Buffer): string {
  return writeCraftedBundle({
    directory: context.dir,
    name: NAME,
    tar: tarArchive(members),
    imageSize: 4096,
    keys: context.keys,
    gzipTrailer,
  }).manifestPath;
}
const DATA = Buffer.alloc(4096, 'u');

/** A manifest file only (no parts): what the reader must refuse before anything else. */
function manifestOnly(context: CraftContext, text: string): string {
  const manifestPath = path.join(context.dir, `${NAME}.manifest.xml`);
  writeFileSync(manifestPath, text);
  return manifestPath;
}

const XML_DECLARATION = "<?xml version='1.0'?>";

/** Hostile bundles and manifests, refused by verify and unbundle alike, with bounded memory where it matters. */
const BUNDLE_CASES: BundleCase[] = [
  {
    // The map (244 MB of tar) is read whole, kept in 2 bytes an entry (sparseMap.ts): the member
    // then ends before its data. Kept as an array of objects it cost 830 MB. Measured: +85 MiB over
    // the reference, of which 20 MB the map and the rest spent stream buffers that V8 frees lazily
    // (verifying a plain 240 MB member costs +39 MiB), hence this row's bound above the others'.
    title: 'a signed bundle whose sparse map has 10,000,000 entries and no data',
    build: (context) => sparseMapBundle(context, 10_000_000),
    message: /^bundle check failed \(tar-truncated\): the tar archive ends before its member is complete$/,
    maxExtraMiB: 112,
  },
  {
    title: 'a signed bundle whose sparse map of 2,000,000 entries is not laid out as GNU tar writes one',
    build: (context) => sparseMapBundle(context, 2_000_000, (index) => ({ offset: index * 1000, length: 500 })),
    message:
      /^bundle check failed \(tar-sparse-map\): the sparse map of the tar member is not laid out as GNU tar writes one \(regions of whole 512-byte blocks, apart by at least one block\); refused before reading further$/,
    maxExtraMiB: 64,
  },
  {
    title: 'a signed bundle of an image of 10 GiB and 1 MiB (over the instance-store limit)',
    build: (context) => oversizedImageBundle(context, 10 * 1024 ** 3 + 1024 * 1024),
    message:
      /^bundle check failed \(image-size\): the manifest says the image is 10738466816 bytes, over the 10737418240 bytes \(10 GiB\) an instance-store image may have; no instance could boot it, so it is refused$/,
  },
  {
    title: 'a signed bundle of an image of 8 TiB',
    build: (context) => oversizedImageBundle(context, 8 * 1024 ** 4),
    message: /^bundle check failed \(image-size\): the manifest says the image is 8796093022208 bytes/,
  },
  {
    title: 'a signed bundle whose member is a symlink to /etc/passwd',
    build: (c) => tarBundle(c, [{ name: NAME, typeflag: '2', linkname: '/etc/passwd' }]),
    message:
      /^bundle check failed \(tar-member-type\): .*is a symbolic link; a bundle must hold exactly one regular file/,
  },
  {
    title: 'a signed bundle whose member is a hard link',
    build: (c) => tarBundle(c, [{ name: NAME, typeflag: '1', linkname: '/etc/shadow' }]),
    message: /^bundle check failed \(tar-member-type\): .*is a hard link/,
  },
  {
    title: 'a signed bundle whose member is a block device',
    build: (c) => tarBundle(c, [{ name: NAME, typeflag: '4' }]),
    message: /^bundle check failed \(tar-member-type\): .*is a block device/,
  },
  {
    title: 'a signed bundle with a second member after the image',
    build: (c) =>
      tarBundle(c, [
        { name: NAME, data: DATA },
        { name: '../../etc/cron.d/x', data: DATA },
      ]),
    message: /^bundle check failed \(tar-extra-member\): .*more than one member/,
  },
  {
    title: 'a signed bundle with data after its gzip stream',
    build: (c) => tarBundle(c, [{ name: NAME, data: DATA }], Buffer.from('trailing garbage')),
    message: /^bundle check failed \(gunzip\): .*not valid gzip \(incorrect header check\)/,
  },
  {
    title: 'a manifest nested 550,000 elements deep (3.85 MB)',
    build: (context) =>
      manifestOnly(context, `${XML_DECLARATION}<manifest>${'<a>'.repeat(550_000)}${'</a>'.repeat(550_000)}</manifest>`),
    message:
      /^bundle check failed \(manifest-limits\): the manifest is not one a bundler writes: elements are nested more than 8 deep; refused before reading further$/,
    maxExtraMiB: 64,
  },
  {
    title: 'a manifest of 1,000,000 empty elements (4 MB)',
    build: (context) => manifestOnly(context, `${XML_DECLARATION}<manifest>${'<a/>'.repeat(1_000_000)}</manifest>`),
    message:
      /^bundle check failed \(manifest-limits\): the manifest is not one a bundler writes: there are more than 16384 elements; refused before reading further$/,
    maxExtraMiB: 64,
  },
  // An entity-expansion bomb: tests/bundle/hostile.test.ts refuses a billion laughs, within 2 s.
  {
    title: 'a manifest that is not XML',
    build: (context) => manifestOnly(context, 'PK\u0003\u0004 not a manifest'),
    message: /^bundle check failed \(manifest-xml\): the manifest is not well-formed XML/,
  },
];

/** A well-formed record's fields, for the resume-record cases to spoil one at a time. */
const RECORD = {
  version: 1,
  name: NAME,
  attempt: 'ab'.repeat(20),
  userEncryptedKey: 'cd'.repeat(128),
  userEncryptedIv: 'ef'.repeat(128),
  signature: '01'.repeat(128),
  partSize: 10 * 1024 * 1024,
  parts: [{ index: 0, key: `v1/${NAME}.part.0`, size: 512, etag: '"0123"', sha1: 'a'.repeat(40) }],
};
const recordWith = (change: Record<string, unknown>) => JSON.stringify({ ...RECORD, ...change });
const partWith = (change: Record<string, unknown>) => recordWith({ parts: [{ ...RECORD.parts[0], ...change }] });

/** Forged or damaged NAME.resume.json texts: each refused, as what it is, before anything is trusted. */
const RESUME_RECORD_CASES: { title: string; text: string; what: string }[] = [
  { title: 'not JSON', text: '{"version": 1,', what: 'not JSON' },
  { title: 'JSON null', text: 'null', what: 'version or name' },
  { title: 'an array', text: '[1]', what: 'version or name' },
  { title: 'version 2', text: recordWith({ version: 2 }), what: 'version or name' },
  { title: 'version "1" as a string', text: recordWith({ version: '1' }), what: 'version or name' },
  { title: 'another bundle name', text: recordWith({ name: 'other.img' }), what: 'version or name' },
  { title: 'a non-hex attempt', text: recordWith({ attempt: 'not hex' }), what: 'attempt, key, IV or signature' },
  { title: 'no signature', text: recordWith({ signature: undefined }), what: 'attempt, key, IV or signature' },
  {
    title: 'an uppercase-hex key',
    text: recordWith({ userEncryptedKey: 'CD'.repeat(128) }),
    what: 'attempt, key, IV or signature',
  },
  { title: 'a fractional part size', text: recordWith({ partSize: 1.5 }), what: 'parts' },
  { title: 'parts as an object', text: recordWith({ parts: { 0: RECORD.parts[0] } }), what: 'parts' },
  { title: 'a null part', text: recordWith({ parts: [null] }), what: 'a part' },
  { title: 'a negative part index', text: partWith({ index: -1 }), what: 'a part' },
  { title: 'a part key that is not a string', text: partWith({ key: 7 }), what: 'a part' },
  { title: 'a part SHA-1 of 39 digits', text: partWith({ sha1: 'a'.repeat(39) }), what: 'a part' },
  { title: 'a part SHA-1 in uppercase', text: partWith({ sha1: 'A'.repeat(40) }), what: 'a part' },
  { title: 'a part without an ETag', text: partWith({ etag: undefined }), what: 'a part' },
];

/** kernelPath of a Pulumi BundledImage: not a regular file, refused by check at once. */
const KERNEL_PATH_CASES = [
  [
    'a FIFO with no writer',
    (dir: string) => (execFileSync('mkfifo', [path.join(dir, 'k.xen')]), path.join(dir, 'k.xen')),
  ],
  ['/dev/zero', () => '/dev/zero'],
] as const;

/** Every case of every table, for the closing count. */
export const HOSTILE_CATALOG_SIZES: Record<string, number> = {
  optionFiles: OPTION_FILE_CASES.length,
  regions: REGION_CASES.length,
  conflictingOptions: CONFLICTING_OPTION_CASES.length,
  bundles: BUNDLE_CASES.length,
  resumeRecords: RESUME_RECORD_CASES.length,
  pulumiKernelPaths: KERNEL_PATH_CASES.length,
};

describe('hostile-input catalog', function () {
  let folder: ReturnType<typeof temporaryFolder>;
  let fixture: Fixture;

  before(async () => {
    folder = temporaryFolder('hostile-catalog');
    const dir = folder.dir;
    const pki = testPki();
    const at = (name: string) => path.join(dir, name);
    fixture = {
      dir,
      fifo: at('fifo'),
      big: at('big'),
      huge: at('huge'),
      missing: at('missing'),
      folder: at('folder'),
      empty: at('empty'),
      image: at('app.img'),
      key: pki.user.keyPath,
      cert: pki.user.certPath,
      ec2: pki.ec2.certPath,
      manifest: at('app.img.manifest.xml'),
      goodManifest: path.join(dir, 'good', 'app.img.manifest.xml'),
      out: (name: string) => at(`out-${name}`),
    };
    execFileSync('mkfifo', [fixture.fifo]);
    writeFileSync(fixture.big, '');
    truncateSync(fixture.big, 2 * 1024 * 1024);
    writeFileSync(fixture.huge, '');
    truncateSync(fixture.huge, 5 * 1024 * 1024);
    writeFileSync(fixture.empty, '');
    mkdirSync(fixture.folder);
    writeImage(fixture.image, [{ kind: 'random', bytes: 64 * 1024 }]);
    writeFileSync(fixture.manifest, '<?xml version="1.0"?><manifest/>');
    mkdirSync(path.dirname(fixture.goodManifest));
    const made = await runCliWatched([...bundle(fixture, {}).slice(0, -2), '-d', path.dirname(fixture.goodManifest)]);
    assert.equal(made.status, 0, made.stderr);
  });
  after(() => folder.cleanup());

  for (const [table, cases] of [
    ['option files', OPTION_FILE_CASES],
    ['region settings', REGION_CASES],
  ] as const) {
    describe(`${table} (${cases.length} cases)`, () => {
      for (const testCase of cases) {
        it(`refuses ${testCase.title} at once, with one line`, async () => {
          const run = await runCliWatched(testCase.args(fixture), { env: testCase.env ?? OFFLINE_AWS });
          assert.ok(
            !run.neededSigterm,
            `${testCase.title} hung (SIGTERM ${run.neededSigkill ? 'ignored too' : 'needed'})`,
          );
          assert.equal(run.status, 1, run.stderr);
          assert.match(run.stderr.trimEnd(), testCase.message);
          assert.equal(run.stderr.trimEnd().split('\n').length, 1, run.stderr);
          for (const leftover of testCase.absent?.(fixture) ?? []) assert.ok(!existsSync(leftover), `${leftover} left`);
        });
      }
    });
  }

  describe(`conflicting options (${CONFLICTING_OPTION_CASES.length} cases)`, () => {
    for (const testCase of CONFLICTING_OPTION_CASES) {
      it(`refuses ${testCase.title}`, async () => {
        const args = testCase.args(fixture);
        const run = await runCliWatched(args, { env: OFFLINE_AWS });
        assert.equal(run.status, 1, run.stderr);
        assert.match(run.stderr.trimEnd(), testCase.message);
        assert.equal(run.stderr.trimEnd().split('\n').length, 1, run.stderr);
        assert.ok(!existsSync(fixture.out('b')), 'nothing was bundled');
      });
    }
  });
});

describe(`hostile bundles and manifests (${BUNDLE_CASES.length} cases)`, function () {
  let folder: ReturnType<typeof temporaryFolder>;
  let keys: CraftKeys;
  let counter = 0;
  before(() => {
    folder = temporaryFolder('hostile-bundles');
    const pki = testPki();
    keys = craftKeys({ privateKey: pki.user.key, userCertificate: pki.user.cert, ec2Certificate: pki.ec2.cert });
  });
  after(() => folder.cleanup());

  for (const testCase of BUNDLE_CASES) {
    it(`refuses ${testCase.title}${testCase.maxExtraMiB ? `, within ${testCase.maxExtraMiB} MiB of a reference run` : ''}`, async () => {
      const dir = path.join(folder.dir, String(++counter));
      const bundleDir = path.join(dir, 'bundle');
      mkdirSync(bundleDir, { recursive: true });
      const manifestPath = testCase.build({ dir: bundleDir, keys });
      const bundleFiles = readdirSync(bundleDir).sort();
      const pki = testPki();
      for (const command of ['verify', 'unbundle']) {
        const destination = path.join(dir, `restored-${command}`);
        mkdirSync(destination);
        const peakOf = async (manifest: string, name: string) => {
          const peakFile = path.join(dir, `peak-${name}`);
          const args = [command, '-m', manifest, '-k', pki.user.keyPath];
          const run = await runCliWatched(command === 'unbundle' ? [...args, '-d', destination] : args, {
            env: { PEAK_RSS_FILE: peakFile, NODE_OPTIONS: `--require ${PEAK_RSS_PRELOAD}` },
          });
          return { run, peakMiB: Number(readFileSync(peakFile, 'utf8')) / 1024 };
        };
        let referenceMiB = 0;
        if (testCase.maxExtraMiB !== undefined) {
          const tiny = path.join(dir, `tiny-${command}.manifest.xml`);
          writeFileSync(tiny, `${XML_DECLARATION}<manifest/>`);
          referenceMiB = (await peakOf(tiny, `reference-${command}`)).peakMiB;
        }
        const { run, peakMiB } = await peakOf(manifestPath, command);
        if (process.env.SHOW_PEAK_RSS) console.log(`      ${command} peaked at ${peakMiB.toFixed(1)} MiB`);
        assert.ok(!run.neededSigterm, `${command} hung`);
        assert.equal(run.status, 1, `${command}: ${run.stderr}`);
        const line = run.stderr.trimEnd();
        assert.equal(line.split('\n').length, 1, run.stderr);
        assert.ok(line.startsWith(`unikernel-ami ${command}: `), line);
        assert.match(line.slice(`unikernel-ami ${command}: `.length), testCase.message);
        assert.deepEqual(readdirSync(destination), [], `${command} left files behind`);
        assert.deepEqual(readdirSync(bundleDir).sort(), bundleFiles, `${command} wrote into the bundle folder`);
        if (testCase.maxExtraMiB !== undefined)
          assert.ok(
            peakMiB <= referenceMiB + testCase.maxExtraMiB,
            `${command} peaked at ${peakMiB.toFixed(0)} MiB, the reference run at ${referenceMiB.toFixed(0)} MiB`,
          );
      }
    });
  }
});

describe(`forged or damaged resume records (${RESUME_RECORD_CASES.length} cases)`, () => {
  const where = `s3://bucket/v1/${NAME}.resume.json`;
  it('takes the well-formed record the cases spoil', () => {
    assert.equal(parseResumeRecord(JSON.stringify(RECORD), NAME, where).parts.length, 1);
  });
  for (const testCase of RESUME_RECORD_CASES) {
    it(`refuses a record with ${testCase.title}`, () => {
      assert.throws(
        () => parseResumeRecord(testCase.text, NAME, where),
        (error: unknown) =>
          error instanceof ResumeMismatchError &&
          error.message.startsWith(`${where} is not a resume record this tool wrote (${testCase.what})`) &&
          error.remedy?.kind === 'deleteAndRebundle',
      );
    });
  }
});

describe('the catalog', () => {
  it(`holds ${Object.values(HOSTILE_CATALOG_SIZES).reduce((sum, size) => sum + size, 0)} cases: ${JSON.stringify(HOSTILE_CATALOG_SIZES)}`, () => {
    for (const [table, size] of Object.entries(HOSTILE_CATALOG_SIZES)) assert.ok(size > 0, `${table} is empty`);
  });
});

describe('the limits leave room for what the bundler and GNU tar write', function () {
  this.timeout(180_000);
  let folder: ReturnType<typeof temporaryFolder>;
  before(() => (folder = temporaryFolder('hostile-limits')));
  after(() => folder.cleanup());

  it('verifies a bundle whose sparse map has 32,769 entries (32,768 regions, the most the bundler writes, and the closing one)', async () => {
    const pki = testPki();
    const keys = craftKeys({ privateKey: pki.user.key, userCertificate: pki.user.cert, ec2Certificate: pki.ec2.cert });
    const regions = 32_768;
    const realSize = regions * 1024;
    const header = gnuSparseHeaderBlocks({
      name: NAME,
      realSize,
      entryCount: regions + 1,
      entry: (index) => (index < regions ? { offset: index * 1024, length: 512 } : { offset: realSize, length: 0 }),
    });
    const data = Buffer.alloc(regions * 512, 'x');
    const end = Buffer.alloc(1024);
    const length = header.length + data.length + end.length;
    const tar = Buffer.concat([header, data, end, Buffer.alloc((10240 - (length % 10240)) % 10240)]);
    const { manifestPath } = writeCraftedBundle({ directory: folder.dir, name: NAME, tar, imageSize: realSize, keys });
    const run = await runCliWatched(['verify', '-m', manifestPath, '-k', pki.user.keyPath, '--json']);
    assert.equal(run.status, 0, run.stderr);
    assert.equal(JSON.parse(run.stdout).sparse, true);
  });

  it('unbundles and verifies the member GNU tar --sparse makes of an image of 100,000 data regions', async () => {
    const regions = 100_000;
    const dir = path.join(folder.dir, 'gnu');
    mkdirSync(path.join(dir, 'restored'), { recursive: true });
    const image = path.join(dir, NAME);
    // 512 bytes of data, then 512 zero bytes, 100,000 times: GNU tar finds each zero block by reading (raw).
    const unit = Buffer.alloc(1024);
    const chunks: Buffer[] = [];
    for (let index = 0; index < regions; index++) {
      const block = Buffer.from(unit);
      block.fill(1 + (index % 255), 0, 512);
      block.writeUInt32BE(index, 0);
      chunks.push(block);
    }
    writeFileSync(image, Buffer.concat(chunks));
    chunks.length = 0;
    // GNU tar maps only a file with holes on disk: one of 1 MiB at the end.
    const realSize = regions * 1024 + 1024 * 1024;
    truncateSync(image, realSize);
    const tarPath = path.join(dir, 'app.tar');
    execFileSync(
      'tar',
      ['--create', '--format=gnu', '--sparse', '--hole-detection=raw', '--owner=0', '--group=0', '-f', tarPath, NAME],
      { cwd: dir },
    );
    const tar = readFileSync(tarPath);
    let entries = 0;
    let extension = decodeHeader(tar.subarray(0, 512)).hasExtension;
    for (let at = 512; extension; at += 512) {
      const block = decodeSparseExtension(tar.subarray(at, at + 512));
      entries += block.entries.length;
      extension = block.hasExtension;
    }
    assert.ok(entries > regions - 10, `GNU tar wrote a map of ${entries} entries beyond the header's`);

    const pki = testPki();
    const keys = craftKeys({ privateKey: pki.user.key, userCertificate: pki.user.cert, ec2Certificate: pki.ec2.cert });
    const { manifestPath } = writeCraftedBundle({
      directory: dir,
      name: NAME,
      tar,
      imageSize: realSize,
      keys,
    });
    const verified = await runCliWatched(['verify', '-m', manifestPath, '-k', pki.user.keyPath, '--json']);
    assert.equal(verified.status, 0, verified.stderr);
    assert.equal(JSON.parse(verified.stdout).sparse, true);
    const restored = await runCliWatched([
      'unbundle',
      '-m',
      manifestPath,
      '-k',
      pki.user.keyPath,
      '-d',
      path.join(dir, 'restored'),
    ]);
    assert.equal(restored.status, 0, restored.stderr);
    execFileSync('cmp', [image, path.join(dir, 'restored', NAME)]);
  });
});

describe('a Pulumi BundledImage kernelPath that is not a regular file', () => {
  let folder: ReturnType<typeof temporaryFolder>;
  before(() => (folder = temporaryFolder('kernel-path')));
  after(() => folder.cleanup());

  for (const [title, make] of KERNEL_PATH_CASES) {
    it(`is a check failure at once, not a hang: ${title}`, async () => {
      const kernelPath = make(folder.dir);
      const pki = testPki();
      const { failures } = await bundledImage.check(
        {},
        {
          bucket: 'unikernels',
          region: 'us-east-1',
          accountId: '123456789012',
          privateKey: pki.user.key,
          certificate: pki.user.cert,
          ec2Certificate: pki.ec2.cert,
          kernelPath,
        },
      );
      assert.equal(failures.length, 1, JSON.stringify(failures));
      assert.equal(failures[0].property, 'kernelPath');
      assert.match(
        failures[0].reason,
        /: is a (FIFO \(named pipe\)|character device), not a regular file; give a regular file$/,
      );
    });
  }
});

describe('keygen --passphrase-file', () => {
  let folder: ReturnType<typeof temporaryFolder>;
  before(() => (folder = temporaryFolder('keygen-passphrase')));
  after(() => folder.cleanup());

  it('writes an encrypted key that openssl opens with that passphrase only', async () => {
    const at = (name: string) => path.join(folder.dir, name);
    writeFileSync(at('passphrase'), 'correct horse\n');
    writeFileSync(at('wrong'), 'battery staple\n');
    const run = await runCliWatched([
      'keygen',
      '--key',
      at('key.pem'),
      '--cert',
      at('cert.pem'),
      '--passphrase-file',
      at('passphrase'),
      '--json',
    ]);
    assert.equal(run.status, 0, run.stderr);
    assert.equal(JSON.parse(run.stdout).encrypted, true);
    assert.match(readFileSync(at('key.pem'), 'utf8'), /^-----BEGIN ENCRYPTED PRIVATE KEY-----\n/);
    const modulus = (pass: string) =>
      execFileSync('openssl', ['rsa', '-in', at('key.pem'), '-passin', `file:${at(pass)}`, '-noout', '-modulus'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      }).toString();
    const certModulus = execFileSync('openssl', ['x509', '-in', at('cert.pem'), '-noout', '-modulus']).toString();
    assert.equal(modulus('passphrase'), certModulus, 'the key opened with the passphrase matches the certificate');
    assert.throws(() => modulus('wrong'), 'openssl refuses the wrong passphrase');
    assert.equal(statSync(at('key.pem')).mode & 0o777, 0o600);
  });
});
