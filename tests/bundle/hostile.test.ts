/**
 * Hostile and corrupt bundles, as one table: every row is refused by both verifyBundle and
 * unbundleImage with a BundleIntegrityError whose `check` names the failed check and whose message
 * says what is wrong, within a time bound; neither writes into the bundle folder, and unbundleImage
 * leaves nothing (hidden or not) in its destination. Adding a case is one row.
 *
 * Good bundles come from bundleImage; bundles with a hostile tar stream are built by
 * tests/helpers/craftBundle.ts, which encrypts, cuts and signs them properly, so that the one thing
 * wrong with each bundle is what its case is about. The same refusals through the real CLI, with
 * bounded memory, are in tests/reliability/hostileCatalog.test.ts (a case is in one table only).
 */
import { strict as assert } from 'assert';
import { mkdirSync, readFileSync, truncateSync, unlinkSync, writeFileSync } from 'fs';
import * as path from 'path';
import { bundleImage } from '../../provider/bundle/bundle';
import { BundleIntegrityError } from '../../provider/bundle/errors';
import { PrivateKey } from '../../provider/bundle/keys';
import { extractSignedText, renderManifest, signedTextOf } from '../../provider/bundle/manifest';
import { ReadBundleOptions, unbundleImage, verifyBundle } from '../../provider/bundle/unbundle';
import {
  copyBundle,
  CraftKeys,
  craftKeys,
  CraftOptions,
  listFolder,
  pseudoRandomBytes,
  RawMember,
  readUnsignedManifest,
  resignManifest,
  sha1,
  tarArchive,
  writeCraftedBundle,
} from '../helpers/craftBundle';
import { testPki, TestPki } from '../helpers/pki';
import { hasReferenceBundles, REFERENCE_BUNDLES, temporaryFolder } from '../helpers/tools';

const NAME = 'app.img';
const FIXED_KEY = '0123456789abcdef0123456789abcdef';
const FIXED_IV = 'fedcba9876543210fedcba9876543210';
/** Small parts, so that the good bundle has several and a corrupt part is not the last one. */
const PART_SIZE = 64 * 1024;
const IMAGE = pseudoRandomBytes(300_000, 'image');
const PAYLOAD = pseudoRandomBytes(5000, 'payload');
/** How long a refusal may take by default. */
const MAX_MS = 10_000;

interface Expected {
  check: string;
  message: RegExp;
}

interface ReadKeys {
  privateKey: string;
  userCertificate?: string;
}

/** What a row builds its bundle from. */
interface Context {
  pki: TestPki;
  keys: CraftKeys;
  /** Parts of the good bundle (at least 4). */
  partCount: number;
  goodDir: string;
  /** The image digest of the good bundle. */
  goodDigest: string;
  freshDir: (label: string) => string;
  /** A copy of the good bundle to spoil; returns its manifest path. */
  goodCopy: (label: string) => string;
  /** A bundle around `tar`, properly encrypted, cut and signed; returns its manifest path. */
  crafted: (label: string, tar: Buffer, extra?: Partial<CraftOptions>) => string;
  /** A copy of a reference bundle of Amazon's tool, verified as it is; returns its manifest path. */
  referenceCopy: (vector: ReferenceVector, label: string) => Promise<string>;
  /** The user's key, which signs the crafted and re-signed manifests. */
  signer: () => PrivateKey;
  /** A file outside the bundle folder the readers must leave as it is (checked after the row). */
  outside: (file: string, content: Buffer) => void;
}

interface HostileCase {
  title: string;
  /** Writes the hostile bundle; returns its manifest path. */
  build: (c: Context) => string | Promise<string>;
  /** The refusal; a function where it names something of the good bundle. */
  expected: Expected | ((c: Context) => Expected);
  /** The keys the readers get: the user's key and certificate by default. */
  readKeys?: (c: Context) => ReadKeys;
  /** Longest the refusal may take, in ms (MAX_MS by default). */
  maxMs?: number;
  /** Built from the reference bundles of Amazon's ec2-bundle-image: skipped, saying so, where they are absent. */
  reference?: true;
}

interface ReferenceVector {
  folder: string;
  name: string;
}
const VECTORS: ReferenceVector[] = [
  { folder: 'mixed', name: 'mixed.img' },
  { folder: 'sparse', name: 'sparse-app' },
  { folder: 'multi', name: 'multi.img' },
];
const referenceKeys = (): ReadKeys => ({
  privateKey: readFileSync(path.join(REFERENCE_BUNDLES, 'keys', 'user-pk.pem'), 'utf8'),
  userCertificate: readFileSync(path.join(REFERENCE_BUNDLES, 'keys', 'user-cert.pem'), 'utf8'),
});

const partPath = (manifestPath: string, index: number, name = NAME) =>
  path.join(path.dirname(manifestPath), `${name}.part.${index}`);

/** Flips bits of one byte of a file (a negative offset counts from the end). */
function flipByte(file: string, offset: number, mask = 0x01): void {
  const bytes = readFileSync(file);
  bytes[offset < 0 ? bytes.length + offset : offset] ^= mask;
  writeFileSync(file, bytes);
}

/** Rewrites a manifest's text. */
function editManifest(manifestPath: string, edit: (xml: string) => string): string {
  const xml = readFileSync(manifestPath, 'utf8');
  const edited = edit(xml);
  assert.notEqual(edited, xml, 'the edit changed the manifest');
  writeFileSync(manifestPath, edited);
  return manifestPath;
}

const tarRow = (title: string, members: () => RawMember[], expected: Expected): HostileCase => ({
  title,
  build: (c) => c.crafted('tar', tarArchive(members())),
  expected,
});

const BILLION_LAUGHS = [
  '<!ENTITY lol0 "lol">',
  ...Array.from({ length: 9 }, (_, index) => `<!ENTITY lol${index + 1} "${`&lol${index};`.repeat(10)}">`),
].join('');

const CASES: HostileCase[] = [
  // Hostile tar streams inside a properly encrypted and signed bundle.
  tarRow('a member name with "/"', () => [{ name: `dir/${NAME}`, data: PAYLOAD }], {
    check: 'tar-member-name',
    message: /"dir\/app\.img" contains a path separator; refusing to write it/,
  }),
  tarRow('a member name with ".." (../app.img)', () => [{ name: `../${NAME}`, data: PAYLOAD }], {
    check: 'tar-member-name',
    message: /"\.\.\/app\.img" contains a path separator/,
  }),
  tarRow('a member named ".."', () => [{ name: '..', data: PAYLOAD }], {
    check: 'tar-member-name',
    message: /"\.\." is a relative directory name/,
  }),
  tarRow(
    'a POSIX ustar member whose prefix field makes a path (etc/app.img)',
    () => [{ name: NAME, format: 'ustar', prefix: 'etc', data: PAYLOAD }],
    { check: 'tar-member-name', message: /"etc\/app\.img" contains a path separator/ },
  ),
  tarRow('a member named otherwise than the manifest image', () => [{ name: 'other.img', data: PAYLOAD }], {
    check: 'tar-member-name',
    message: /named "other\.img" but the manifest's image is "app\.img"/,
  }),
  // A symbolic link, a hard link and a block device member: in the hostile catalog (through the CLI).
  tarRow('a character device member', () => [{ name: NAME, typeflag: '3' }], {
    check: 'tar-member-type',
    message: /is a character device/,
  }),
  tarRow('a directory member', () => [{ name: NAME, typeflag: '5', mode: 0o755 }], {
    check: 'tar-member-type',
    message: /is a directory/,
  }),
  tarRow('a FIFO member', () => [{ name: NAME, typeflag: '6' }], { check: 'tar-member-type', message: /is a FIFO/ }),
  tarRow(
    'a pax extended header',
    () => [{ name: 'PaxHeaders/app.img', typeflag: 'x', data: Buffer.from('30 path=../../etc/cron.d/evil\n') }],
    { check: 'tar-member-type', message: /is a pax extended header/ },
  ),
  tarRow(
    'a GNU long-name record',
    () => [{ name: '././@LongLink', typeflag: 'L', data: Buffer.from('../../etc/cron.d/evil\0') }],
    { check: 'tar-member-type', message: /is a GNU long-name record/ },
  ),
  // Two members of different names: in the hostile catalog.
  tarRow(
    'two members of the same name (the second would overwrite the first)',
    () => [
      { name: NAME, data: PAYLOAD },
      { name: NAME, data: pseudoRandomBytes(PAYLOAD.length, 'overwrite') },
    ],
    { check: 'tar-extra-member', message: /more than one member/ },
  ),
  tarRow(
    'a member whose size disagrees with the manifest <size>',
    () => [{ name: NAME, data: PAYLOAD.subarray(0, 4000) }],
    { check: 'tar-size', message: /the tar member is 4000 bytes but the manifest says the image is 5000 bytes/ },
  ),
  tarRow('a header with a wrong checksum', () => [{ name: NAME, data: PAYLOAD, badChecksum: true }], {
    check: 'tar-header',
    message: /checksum is wrong/,
  }),
  {
    title: 'a tar stream truncated in the middle of the member data',
    build: (c) => c.crafted('truncated', tarArchive([{ name: NAME, data: PAYLOAD }]).subarray(0, 512 + 2048)),
    expected: { check: 'tar-truncated', message: /ends before its member is complete/ },
  },
  {
    title: 'a tar stream truncated inside the header',
    build: (c) => c.crafted('truncated-header', tarArchive([{ name: NAME, data: PAYLOAD }]).subarray(0, 300)),
    expected: { check: 'tar-truncated', message: /ends before its member is complete/ },
  },
  {
    title: 'an archive with no member',
    build: (c) => c.crafted('empty-tar', Buffer.alloc(10240)),
    expected: { check: 'tar-empty', message: /holds no member/ },
  },
  {
    title: 'a stream that is not tar at all',
    build: (c) => c.crafted('not-tar', pseudoRandomBytes(10240, 'noise')),
    expected: { check: 'tar-header', message: /no ustar magic/ },
  },
  // Non-gzip garbage after the gzip stream: in the hostile catalog.
  {
    title: 'garbage that starts with a NUL byte after the gzip stream',
    build: (c) =>
      c.crafted('gzip-nul-trailer', tarArchive([{ name: NAME, data: PAYLOAD }]), {
        gzipTrailer: Buffer.concat([Buffer.from([0]), Buffer.from('GARBAGE after the gzip member')]),
      }),
    expected: { check: 'gunzip', message: /gzip/ },
  },

  // Tampered signatures and manifests.
  {
    title: 'a signature with one hex digit changed',
    build: (c) =>
      editManifest(c.goodCopy('signature-digit'), (xml) => {
        const at = xml.indexOf('<signature>') + '<signature>'.length + 100;
        return xml.slice(0, at) + (xml[at] === '0' ? '1' : '0') + xml.slice(at + 1);
      }),
    expected: { check: 'signature', message: /does not verify with the user certificate/ },
  },
  {
    title: 'a manifest whose signed <size> was edited, the old signature kept',
    build: (c) =>
      editManifest(c.goodCopy('edited-size'), (xml) =>
        xml.replace(`<size>${IMAGE.length}</size>`, `<size>${IMAGE.length + 1}</size>`),
      ),
    expected: { check: 'signature', message: /the manifest was altered or signed by another key/ },
  },
  {
    title: 'a manifest whose signed <machine_configuration> was edited, the old signature kept',
    build: (c) =>
      editManifest(c.goodCopy('edited-arch'), (xml) =>
        xml.replace('<architecture>x86_64</architecture>', '<architecture>i386</architecture>'),
      ),
    expected: { check: 'signature', message: /does not verify/ },
  },
  {
    title: 'a manifest without a signature',
    build: (c) => editManifest(c.goodCopy('unsigned'), (xml) => xml.replace(/<signature>[0-9a-f]+<\/signature>/, '')),
    expected: { check: 'signature', message: /does not verify/ },
  },
  {
    title: 'a forged manifest that hides the signed text of a genuine one in an XML comment',
    build: (c) => {
      const genuine = readFileSync(path.join(c.goodDir, `${NAME}.manifest.xml`), 'utf8');
      const genuineSignature = /<signature>([0-9a-f]+)<\/signature>/.exec(genuine)?.[1] ?? '';
      // The forger has only the certificate: no private key, so the crafted manifest is left unsigned.
      const forgerKeys: CraftKeys = { userCertificate: c.keys.userCertificate, ec2Certificate: c.keys.ec2Certificate };
      const forgedImage = pseudoRandomBytes(5000, 'forged');
      const forged = writeCraftedBundle({
        directory: c.freshDir('forged'),
        name: NAME,
        tar: tarArchive([{ name: NAME, data: forgedImage }]),
        imageSize: forgedImage.length,
        keys: forgerKeys,
      });
      writeFileSync(
        forged.manifestPath,
        "<?xml version='1.0'?><manifest><version>2007-10-10</version>" +
          `<!--${extractSignedText(genuine)}-->` +
          signedTextOf(forged.manifest) +
          `<signature>${genuineSignature}</signature></manifest>`,
      );
      return forged.manifestPath;
    },
    expected: { check: 'signature', message: /does not verify/ },
  },
  {
    title: 'a manifest version other than 2007-10-10',
    build: (c) =>
      editManifest(c.goodCopy('version'), (xml) =>
        xml.replace('<version>2007-10-10</version>', '<version>2007-08-29</version>'),
      ),
    expected: {
      check: 'manifest-version',
      message: /manifest version "2007-08-29" is not supported; only 2007-10-10/,
    },
  },
  {
    title: 'a manifest with no version',
    build: (c) => editManifest(c.goodCopy('no-version'), (xml) => xml.replace('<version>2007-10-10</version>', '')),
    expected: { check: 'manifest-version', message: /no version element/ },
  },
  {
    title: 'a manifest with a DOCTYPE and an entity bomb (billion laughs), fast, with the DTD error',
    build: (c) =>
      editManifest(c.goodCopy('billion-laughs'), (xml) =>
        xml
          .replace("<?xml version='1.0'?>", `<?xml version='1.0'?><!DOCTYPE manifest [${BILLION_LAUGHS}]>`)
          .replace('<version>2007-10-10</version>', '<version>&lol9;</version>'),
      ),
    expected: { check: 'manifest-dtd', message: /document type declaration \(<!DOCTYPE>\)/ },
    maxMs: 2000,
  },
  {
    title: 'a manifest with a DOCTYPE declaring an external entity (XXE)',
    build: (c) =>
      editManifest(c.goodCopy('xxe'), (xml) =>
        xml
          .replace(
            "<?xml version='1.0'?>",
            `<?xml version='1.0'?><!DOCTYPE manifest [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>`,
          )
          .replace('<architecture>x86_64</architecture>', '<architecture>&xxe;</architecture>'),
      ),
    expected: { check: 'manifest-dtd', message: /document type declaration/ },
  },
  {
    title: 'a manifest with an undefined entity',
    build: (c) =>
      editManifest(c.goodCopy('undefined-entity'), (xml) =>
        xml.replace('<version>2007-10-10</version>', '<version>&bogus;</version>'),
      ),
    expected: { check: 'manifest-xml', message: /not well-formed XML: .*undefined entity/ },
  },
  // A manifest of text that is not XML: in the hostile catalog.
  {
    title: 'a manifest of binary noise',
    build: (c) => {
      const manifestPath = c.goodCopy('noise');
      writeFileSync(manifestPath, pseudoRandomBytes(4096, 'manifest-noise'));
      return manifestPath;
    },
    expected: { check: 'manifest-xml', message: /not well-formed XML/ },
  },
  {
    title: 'an empty manifest',
    build: (c) => {
      const manifestPath = c.goodCopy('empty-manifest');
      writeFileSync(manifestPath, '');
      return manifestPath;
    },
    expected: { check: 'manifest-xml', message: /not well-formed XML|no <manifest> root/ },
  },
  {
    title: 'a re-signed manifest whose image name is a path (../app.img)',
    build: (c) => {
      const manifestPath = c.goodCopy('image-name-path');
      resignManifest(manifestPath, c.signer(), (manifest) => {
        manifest.image.name = `../${NAME}`;
      });
      return manifestPath;
    },
    expected: { check: 'manifest-field', message: /image name "\.\.\/app\.img" contains a path separator/ },
  },

  // Corrupt, missing and foreign parts: a flipped byte anywhere fails the part's digest, before any image is written.
  ...[
    { index: 1, offset: PART_SIZE / 2, mask: 0x01, where: 'in the middle of part 1' },
    { index: 0, offset: 0, mask: 0x80, where: 'at the first byte of part 0' },
    { index: 0, offset: 100, mask: 0x80, where: 'at byte 100 of part 0' },
    { index: -1, offset: -1, mask: 0x80, where: 'at the last byte of the last part' },
  ].map(({ index, offset, mask, where }): HostileCase => ({
    title: `a part with one byte flipped ${where}`,
    build: (c) => {
      const manifestPath = c.goodCopy(`flipped-${index}-${offset}`);
      flipByte(partPath(manifestPath, index < 0 ? c.partCount - 1 : index), offset, mask);
      return manifestPath;
    },
    expected: {
      check: 'part-digest',
      message: new RegExp(
        `part app\\.img\\.part\\.${index < 0 ? '\\d+' : index} does not match its SHA-1 in the manifest`,
      ),
    },
  })),
  {
    title: 'a bundle with a part missing',
    build: (c) => {
      const manifestPath = c.goodCopy('missing-part');
      unlinkSync(partPath(manifestPath, 2));
      return manifestPath;
    },
    expected: { check: 'part-missing', message: /part app\.img\.part\.2 is missing from / },
  },
  {
    title: 'a truncated part (bundled_size mismatch)',
    build: (c) => {
      const manifestPath = c.goodCopy('truncated-part');
      const part = partPath(manifestPath, c.partCount - 1);
      truncateSync(part, readFileSync(part).length - 16);
      return manifestPath;
    },
    expected: {
      check: 'bundled-size',
      message: /the parts add up to \d+ bytes but the manifest's bundled_size is \d+/,
    },
  },
  {
    title: 'a manifest (properly re-signed) that lists an extra part named ../x, reading nothing outside',
    build: (c) => {
      const manifestPath = c.goodCopy('extra-part');
      const outside = path.join(path.dirname(manifestPath), '..', 'x');
      const outsideContent = Buffer.from('a file outside the bundle folder');
      writeFileSync(outside, outsideContent);
      c.outside(outside, outsideContent);
      resignManifest(manifestPath, c.signer(), (manifest) => {
        manifest.image.parts.push({
          index: manifest.image.parts.length,
          filename: '../x',
          digest: sha1(outsideContent),
        });
        manifest.image.bundledSize += outsideContent.length;
      });
      return manifestPath;
    },
    expected: {
      check: 'part-name',
      message: /names a part "\.\.\/x" that contains a path separator; refusing to read outside the bundle folder/,
    },
  },
  {
    title: 'a manifest (properly re-signed) whose part filename is an absolute path',
    build: (c) => {
      const manifestPath = c.goodCopy('absolute-part');
      resignManifest(manifestPath, c.signer(), (manifest) => {
        manifest.image.parts[0].filename = '/etc/passwd';
      });
      return manifestPath;
    },
    expected: { check: 'part-name', message: /"\/etc\/passwd" that contains a path separator/ },
  },
  {
    title: 'a digest mismatch that only the image digest check can catch (manifest re-signed)',
    build: (c) => {
      const manifestPath = c.goodCopy('digest');
      resignManifest(manifestPath, c.signer(), (edited) => {
        edited.image.digest = sha1('not the tar stream');
      });
      return manifestPath;
    },
    expected: (c) => ({
      check: 'digest',
      message: new RegExp(`invalid digest, expected ${sha1('not the tar stream')} received ${c.goodDigest}`),
    }),
  },
  {
    title: "the bundle with a private key that is not the bundle's (padding check)",
    build: (c) => c.goodCopy('other-key'),
    // The user certificate checks the signature; the other key cannot open the sealed AES key.
    readKeys: (c) => ({ privateKey: c.pki.other.key, userCertificate: c.pki.user.cert }),
    expected: {
      check: 'unseal',
      message:
        /could not decrypt user_encrypted_key with the private key given \(padding check failed\)|decrypts to something other than 32 hex/,
    },
  },
  {
    title: 'the bundle with another key and no certificate at the signature check',
    build: (c) => c.goodCopy('other-key-no-cert'),
    readKeys: (c) => ({ privateKey: c.pki.other.key }),
    expected: { check: 'signature', message: /does not verify with the private key's public key/ },
  },

  // Reference bundles made by Amazon's ec2-bundle-image, tampered with.
  ...VECTORS.flatMap((vector): HostileCase[] => [
    {
      title: `${vector.folder}/ of ec2-bundle-image with one byte of a part flipped`,
      reference: true,
      readKeys: referenceKeys,
      build: async (c) => {
        const manifestPath = await c.referenceCopy(vector, `ref-${vector.folder}-flip`);
        const part = partPath(manifestPath, 0, vector.name);
        flipByte(part, Math.floor(readFileSync(part).length / 2));
        return manifestPath;
      },
      expected: { check: 'part-digest', message: /part .*\.part\.0 does not match its SHA-1/ },
    },
    {
      title: `${vector.folder}/ of ec2-bundle-image with one byte of the signed manifest text edited`,
      reference: true,
      readKeys: referenceKeys,
      build: async (c) =>
        editManifest(await c.referenceCopy(vector, `ref-${vector.folder}-edit`), (xml) => {
          // One hex digit of the image digest, inside <image>: still well-formed, still hex.
          const at = xml.indexOf("<digest algorithm='SHA1'>") + "<digest algorithm='SHA1'>".length + 7;
          assert.ok(at > xml.indexOf('<image>') && at < xml.indexOf('</image>'));
          return xml.slice(0, at) + (xml[at] === 'a' ? 'b' : 'a') + xml.slice(at + 1);
        }),
      expected: { check: 'signature', message: /does not verify with the user certificate/ },
    },
  ]),
  {
    title: 'multi/ of ec2-bundle-image with one byte of its second part flipped',
    reference: true,
    readKeys: referenceKeys,
    build: async (c) => {
      const manifestPath = await c.referenceCopy(VECTORS[2], 'ref-multi-flip-1');
      flipByte(partPath(manifestPath, 1, VECTORS[2].name), 1000);
      return manifestPath;
    },
    expected: { check: 'part-digest', message: /part multi\.img\.part\.1 does not match its SHA-1/ },
  },
  {
    title: 'sparse/ of ec2-bundle-image with one byte of its signed <machine_configuration> edited',
    reference: true,
    readKeys: referenceKeys,
    build: async (c) =>
      editManifest(await c.referenceCopy(VECTORS[1], 'ref-sparse-kernel'), (xml) =>
        xml.replace('<kernel_id>aki-fc8f11cc</kernel_id>', '<kernel_id>aki-fc8f11cd</kernel_id>'),
      ),
    expected: { check: 'signature', message: /does not verify/ },
  },
];

/** Runs `action`, which must reject with a BundleIntegrityError of the expected check and message, within `maxMs`. */
async function assertIntegrityError(
  action: () => Promise<unknown>,
  expected: Expected,
  who: string,
  maxMs: number,
): Promise<void> {
  let caught: unknown;
  const started = Date.now();
  try {
    await action();
  } catch (error) {
    caught = error;
  }
  const took = Date.now() - started;
  const got = caught instanceof Error ? `${caught.name}: ${caught.message}` : String(caught);
  assert.ok(caught !== undefined, `${who} accepted the bundle (expected the ${expected.check} check to fail)`);
  assert.ok(caught instanceof BundleIntegrityError, `${who} must reject with a BundleIntegrityError, got ${got}`);
  assert.equal(caught.check, expected.check, `${who} failed the wrong check; its message: ${caught.message}`);
  assert.match(caught.message, expected.message, `${who}: message`);
  assert.ok(took < maxMs, `${who} took ${took} ms to refuse the bundle (at most ${maxMs})`);
}

describe(`hostile bundles are refused with a specific BundleIntegrityError, leaving nothing behind (${CASES.length} cases)`, function () {
  this.timeout(30_000);
  let folder: ReturnType<typeof temporaryFolder>;
  let context: Context;
  let outside: { file: string; content: Buffer }[] = [];
  let counter = 0;

  before(async () => {
    folder = temporaryFolder('hostile');
    const pki = testPki();
    const keys = craftKeys({ privateKey: pki.user.key, userCertificate: pki.user.cert, ec2Certificate: pki.ec2.cert });
    const freshDir = (label: string) => {
      const dir = path.join(folder.dir, `${++counter}-${label}`);
      mkdirSync(dir);
      return dir;
    };
    const source = freshDir('source');
    const imagePath = path.join(source, NAME);
    writeFileSync(imagePath, IMAGE);
    const goodDir = freshDir('good');
    const result = await bundleImage(
      {
        imagePath,
        destination: goodDir,
        privateKey: pki.user.key,
        userCertificate: pki.user.cert,
        ec2Certificate: pki.ec2.cert,
        accountId: '123456789012',
        architecture: 'x86_64',
      },
      { keyHex: FIXED_KEY, ivHex: FIXED_IV, partSize: PART_SIZE },
    );
    assert.ok(result.parts.length >= 4, `the good bundle has ${result.parts.length} parts`);
    context = {
      pki,
      keys,
      partCount: result.parts.length,
      goodDir,
      goodDigest: readUnsignedManifest(path.join(goodDir, `${NAME}.manifest.xml`)).image.digest,
      freshDir,
      goodCopy: (label) => path.join(copyBundle(goodDir, freshDir(label)), `${NAME}.manifest.xml`),
      crafted: (label, tar, extra = {}) =>
        writeCraftedBundle({ directory: freshDir(label), name: NAME, tar, imageSize: PAYLOAD.length, keys, ...extra })
          .manifestPath,
      referenceCopy: async (vector, label) => {
        const manifestPath = path.join(
          copyBundle(path.join(REFERENCE_BUNDLES, vector.folder), freshDir(label)),
          `${vector.name}.manifest.xml`,
        );
        await verifyBundle({ manifestPath, ...referenceKeys() });
        return manifestPath;
      },
      signer: () => {
        assert.ok(keys.privateKey, 'the test keys include the private key');
        return keys.privateKey;
      },
      outside: (file, content) => outside.push({ file, content }),
    };
  });
  after(() => folder.cleanup());

  const userKeys = (): ReadKeys => ({ privateKey: context.pki.user.key, userCertificate: context.pki.user.cert });

  it('accepts the good bundle and a well-formed crafted one (the baseline every case spoils)', async () => {
    const report = await verifyBundle({
      manifestPath: path.join(context.goodDir, `${NAME}.manifest.xml`),
      ...userKeys(),
    });
    assert.equal(report.partCount, context.partCount);
    const manifestPath = context.crafted('crafted-good', tarArchive([{ name: NAME, data: PAYLOAD }]));
    const destination = context.freshDir('crafted-good-out');
    const result = await unbundleImage({ manifestPath, destination, ...userKeys() });
    assert.deepEqual(readFileSync(result.imagePath), PAYLOAD);
    assert.deepEqual(listFolder(destination), [NAME]);
  });

  it('keeps the re-signing helper honest: a re-signed, unedited manifest still verifies', async () => {
    const manifestPath = context.goodCopy('resigned');
    const before = readFileSync(manifestPath, 'utf8');
    const manifest = resignManifest(manifestPath, context.signer(), () => undefined);
    assert.equal(renderManifest(manifest), before, 'RSA PKCS#1 v1.5 signatures are deterministic');
    await verifyBundle({ manifestPath, ...userKeys() });
  });

  for (const testCase of CASES) {
    it(`refuses ${testCase.title}`, async function () {
      if (testCase.reference && !hasReferenceBundles()) {
        console.log(`      skipped: the reference bundles (${REFERENCE_BUNDLES}) are absent`);
        this.skip();
      }
      outside = [];
      const manifestPath = await testCase.build(context);
      const options: ReadBundleOptions = { manifestPath, ...(testCase.readKeys?.(context) ?? userKeys()) };
      const maxMs = testCase.maxMs ?? MAX_MS;
      const expected = typeof testCase.expected === 'function' ? testCase.expected(context) : testCase.expected;
      const bundleDir = path.dirname(manifestPath);
      const bundleFiles = listFolder(bundleDir);
      await assertIntegrityError(() => verifyBundle(options), expected, 'verifyBundle', maxMs);
      assert.deepEqual(listFolder(bundleDir), bundleFiles, 'verifyBundle must not write into the bundle folder');
      const destination = context.freshDir('unbundled');
      await assertIntegrityError(() => unbundleImage({ ...options, destination }), expected, 'unbundleImage', maxMs);
      assert.deepEqual(listFolder(destination), [], 'unbundleImage must leave nothing in its destination');
      assert.deepEqual(listFolder(bundleDir), bundleFiles, 'unbundleImage must not write into the bundle folder');
      for (const { file, content } of outside) {
        assert.deepEqual(readFileSync(file), content, `${file} is left as it was`);
        unlinkSync(file);
      }
    });
  }
});
