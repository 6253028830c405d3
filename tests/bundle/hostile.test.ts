/**
 * Hostile and corrupt bundles: every one must be refused by both verifyBundle and unbundleImage with
 * a BundleIntegrityError whose `check` names the failed check and whose message says what is wrong,
 * and unbundleImage must leave nothing (hidden or not) in its destination.
 *
 * Good bundles come from bundleImage; bundles with a hostile tar stream are built by
 * tests/helpers/craftBundle.ts, which encrypts, cuts and signs them properly, so that the one thing
 * wrong with each bundle is what its case is about.
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

interface Expected {
  check: string;
  message: RegExp;
}

interface ReadKeys {
  privateKey: string;
  userCertificate?: string;
}

/** Runs `action`, which must reject with a BundleIntegrityError of the expected check and message. */
async function assertIntegrityError(
  action: () => Promise<unknown>,
  expected: Expected,
  who: string,
): Promise<BundleIntegrityError> {
  let caught: unknown;
  const started = Date.now();
  try {
    await action();
  } catch (error) {
    caught = error;
  }
  const got = caught instanceof Error ? `${caught.name}: ${caught.message}` : String(caught);
  assert.ok(caught !== undefined, `${who} accepted the bundle (expected the ${expected.check} check to fail)`);
  assert.ok(caught instanceof BundleIntegrityError, `${who} must reject with a BundleIntegrityError, got ${got}`);
  assert.equal(caught.check, expected.check, `${who} failed the wrong check; its message: ${caught.message}`);
  assert.match(caught.message, expected.message, `${who}: message`);
  assert.ok(Date.now() - started < 10_000, `${who} took ${Date.now() - started} ms to refuse the bundle`);
  return caught;
}

describe('hostile bundles are refused with a specific BundleIntegrityError, leaving nothing behind', function () {
  this.timeout(30_000);
  let folder: ReturnType<typeof temporaryFolder>;
  let pki: TestPki;
  let keys: CraftKeys;
  let goodDir: string;
  let partCount = 0;
  let counter = 0;
  const image = pseudoRandomBytes(300_000, 'image');
  const payload = pseudoRandomBytes(5000, 'payload');

  before(async () => {
    folder = temporaryFolder('hostile');
    pki = testPki();
    keys = craftKeys({ privateKey: pki.user.key, userCertificate: pki.user.cert, ec2Certificate: pki.ec2.cert });
    const source = path.join(folder.dir, 'source');
    mkdirSync(source);
    const imagePath = path.join(source, NAME);
    writeFileSync(imagePath, image);
    goodDir = path.join(folder.dir, 'good');
    mkdirSync(goodDir);
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
    partCount = result.parts.length;
    assert.ok(partCount >= 4, `the good bundle has ${partCount} parts`);
  });
  after(() => folder.cleanup());

  function freshDir(label: string): string {
    const dir = path.join(folder.dir, `${++counter}-${label}`);
    mkdirSync(dir);
    return dir;
  }

  /** A copy of the good bundle to spoil; returns its manifest path. */
  function goodCopy(label: string): string {
    return path.join(copyBundle(goodDir, freshDir(label)), `${NAME}.manifest.xml`);
  }

  function partPath(manifestPath: string, index: number): string {
    return path.join(path.dirname(manifestPath), `${NAME}.part.${index}`);
  }

  /** The user's key, which signs the crafted and re-signed manifests. */
  function signer(): PrivateKey {
    assert.ok(keys.privateKey, 'the test keys include the private key');
    return keys.privateKey;
  }

  function userKeys(): ReadKeys {
    return { privateKey: pki.user.key, userCertificate: pki.user.cert };
  }

  /** Both readers refuse the bundle with the expected check; neither leaves a file anywhere. */
  async function expectRefused(
    manifestPath: string,
    expected: Expected,
    readKeys: ReadKeys = userKeys(),
  ): Promise<void> {
    const options: ReadBundleOptions = { manifestPath, ...readKeys };
    const bundleDir = path.dirname(manifestPath);
    const bundleFiles = listFolder(bundleDir);
    await assertIntegrityError(() => verifyBundle(options), expected, 'verifyBundle');
    assert.deepEqual(listFolder(bundleDir), bundleFiles, 'verifyBundle must not write into the bundle folder');
    const destination = freshDir('unbundled');
    await assertIntegrityError(() => unbundleImage({ ...options, destination }), expected, 'unbundleImage');
    assert.deepEqual(listFolder(destination), [], 'unbundleImage must leave nothing in its destination');
    assert.deepEqual(listFolder(bundleDir), bundleFiles, 'unbundleImage must not write into the bundle folder');
  }

  function crafted(label: string, tar: Buffer, extra: Partial<CraftOptions> = {}): string {
    return writeCraftedBundle({
      directory: freshDir(label),
      name: NAME,
      tar,
      imageSize: payload.length,
      keys,
      ...extra,
    }).manifestPath;
  }

  it('accepts the good bundle and a well-formed crafted one (the baseline every case spoils)', async () => {
    const report = await verifyBundle({ manifestPath: path.join(goodDir, `${NAME}.manifest.xml`), ...userKeys() });
    assert.equal(report.partCount, partCount);
    const manifestPath = crafted('crafted-good', tarArchive([{ name: NAME, data: payload }]));
    const destination = freshDir('crafted-good-out');
    const result = await unbundleImage({ manifestPath, destination, ...userKeys() });
    assert.deepEqual(readFileSync(result.imagePath), payload);
    assert.deepEqual(listFolder(destination), [NAME]);
  });

  describe('hostile tar streams inside a properly encrypted and signed bundle', () => {
    const cases: Array<{ title: string; members: () => RawMember[]; expected: Expected }> = [
      {
        title: 'a member name with "/"',
        members: () => [{ name: `dir/${NAME}`, data: payload }],
        expected: {
          check: 'tar-member-name',
          message: /"dir\/app\.img" contains a path separator; refusing to write it/,
        },
      },
      {
        title: 'a member name with ".." (../app.img)',
        members: () => [{ name: `../${NAME}`, data: payload }],
        expected: { check: 'tar-member-name', message: /"\.\.\/app\.img" contains a path separator/ },
      },
      {
        title: 'a member named ".."',
        members: () => [{ name: '..', data: payload }],
        expected: { check: 'tar-member-name', message: /"\.\." is a relative directory name/ },
      },
      {
        title: 'a POSIX ustar member whose prefix field makes a path (etc/app.img)',
        members: () => [{ name: NAME, format: 'ustar', prefix: 'etc', data: payload }],
        expected: { check: 'tar-member-name', message: /"etc\/app\.img" contains a path separator/ },
      },
      {
        title: 'a member named otherwise than the manifest image',
        members: () => [{ name: 'other.img', data: payload }],
        expected: { check: 'tar-member-name', message: /named "other\.img" but the manifest's image is "app\.img"/ },
      },
      {
        title: 'a symlink member',
        members: () => [{ name: NAME, typeflag: '2', linkname: '/etc/passwd' }],
        expected: {
          check: 'tar-member-type',
          message: /is a symbolic link; a bundle must hold exactly one regular file/,
        },
      },
      {
        title: 'a hard link member',
        members: () => [{ name: NAME, typeflag: '1', linkname: 'etc/shadow' }],
        expected: { check: 'tar-member-type', message: /is a hard link/ },
      },
      {
        title: 'a character device member',
        members: () => [{ name: NAME, typeflag: '3' }],
        expected: { check: 'tar-member-type', message: /is a character device/ },
      },
      {
        title: 'a block device member',
        members: () => [{ name: NAME, typeflag: '4' }],
        expected: { check: 'tar-member-type', message: /is a block device/ },
      },
      {
        title: 'a directory member',
        members: () => [{ name: NAME, typeflag: '5', mode: 0o755 }],
        expected: { check: 'tar-member-type', message: /is a directory/ },
      },
      {
        title: 'a FIFO member',
        members: () => [{ name: NAME, typeflag: '6' }],
        expected: { check: 'tar-member-type', message: /is a FIFO/ },
      },
      {
        title: 'a pax extended header',
        members: () => [
          { name: 'PaxHeaders/app.img', typeflag: 'x', data: Buffer.from('30 path=../../etc/cron.d/evil\n') },
        ],
        expected: { check: 'tar-member-type', message: /is a pax extended header/ },
      },
      {
        title: 'a GNU long-name record',
        members: () => [{ name: '././@LongLink', typeflag: 'L', data: Buffer.from('../../etc/cron.d/evil\0') }],
        expected: { check: 'tar-member-type', message: /is a GNU long-name record/ },
      },
      {
        title: 'two members',
        members: () => [
          { name: NAME, data: payload },
          { name: 'second.img', data: payload },
        ],
        expected: { check: 'tar-extra-member', message: /more than one member/ },
      },
      {
        title: 'two members of the same name (the second would overwrite the first)',
        members: () => [
          { name: NAME, data: payload },
          { name: NAME, data: pseudoRandomBytes(payload.length, 'overwrite') },
        ],
        expected: { check: 'tar-extra-member', message: /more than one member/ },
      },
      {
        title: 'a member whose size disagrees with the manifest <size>',
        members: () => [{ name: NAME, data: payload.subarray(0, 4000) }],
        expected: {
          check: 'tar-size',
          message: /the tar member is 4000 bytes but the manifest says the image is 5000 bytes/,
        },
      },
      {
        title: 'a header with a wrong checksum',
        members: () => [{ name: NAME, data: payload, badChecksum: true }],
        expected: { check: 'tar-header', message: /checksum is wrong/ },
      },
    ];
    for (const { title, members, expected } of cases) {
      it(`refuses ${title}`, async () => {
        await expectRefused(crafted('tar', tarArchive(members())), expected);
      });
    }

    it('refuses a tar stream truncated in the middle of the member data', async () => {
      const whole = tarArchive([{ name: NAME, data: payload }]);
      await expectRefused(crafted('truncated', whole.subarray(0, 512 + 2048)), {
        check: 'tar-truncated',
        message: /ends before its member is complete/,
      });
    });

    it('refuses a tar stream truncated inside the header', async () => {
      const whole = tarArchive([{ name: NAME, data: payload }]);
      await expectRefused(crafted('truncated-header', whole.subarray(0, 300)), {
        check: 'tar-truncated',
        message: /ends before its member is complete/,
      });
    });

    it('refuses an archive with no member', async () => {
      await expectRefused(crafted('empty-tar', Buffer.alloc(10240)), {
        check: 'tar-empty',
        message: /holds no member/,
      });
    });

    it('refuses a stream that is not tar at all', async () => {
      await expectRefused(crafted('not-tar', pseudoRandomBytes(10240, 'noise')), {
        check: 'tar-header',
        message: /no ustar magic/,
      });
    });

    it('refuses non-gzip garbage after the gzip stream', async () => {
      const tar = tarArchive([{ name: NAME, data: payload }]);
      await expectRefused(crafted('gzip-trailer', tar, { gzipTrailer: Buffer.from('GARBAGE after the gzip member') }), {
        check: 'gunzip',
        message: /not valid gzip \(incorrect header check\)/,
      });
    });

    it('refuses garbage that starts with a NUL byte after the gzip stream', async () => {
      const tar = tarArchive([{ name: NAME, data: payload }]);
      const trailer = Buffer.concat([Buffer.from([0]), Buffer.from('GARBAGE after the gzip member')]);
      await expectRefused(crafted('gzip-nul-trailer', tar, { gzipTrailer: trailer }), {
        check: 'gunzip',
        message: /gzip/,
      });
    });
  });

  describe('tampered signatures and manifests', () => {
    it('refuses a signature with one hex digit changed', async () => {
      const manifestPath = goodCopy('signature-digit');
      const xml = readFileSync(manifestPath, 'utf8');
      const at = xml.indexOf('<signature>') + '<signature>'.length + 100;
      writeFileSync(manifestPath, xml.slice(0, at) + (xml[at] === '0' ? '1' : '0') + xml.slice(at + 1));
      await expectRefused(manifestPath, { check: 'signature', message: /does not verify with the user certificate/ });
    });

    it('refuses a manifest whose signed <size> was edited, the old signature kept', async () => {
      const manifestPath = goodCopy('edited-size');
      const xml = readFileSync(manifestPath, 'utf8');
      const edited = xml.replace(`<size>${image.length}</size>`, `<size>${image.length + 1}</size>`);
      assert.notEqual(edited, xml);
      writeFileSync(manifestPath, edited);
      await expectRefused(manifestPath, {
        check: 'signature',
        message: /the manifest was altered or signed by another key/,
      });
    });

    it('refuses a manifest whose signed <machine_configuration> was edited, the old signature kept', async () => {
      const manifestPath = goodCopy('edited-arch');
      const xml = readFileSync(manifestPath, 'utf8');
      writeFileSync(
        manifestPath,
        xml.replace('<architecture>x86_64</architecture>', '<architecture>i386</architecture>'),
      );
      await expectRefused(manifestPath, { check: 'signature', message: /does not verify/ });
    });

    it('refuses a manifest without a signature', async () => {
      const manifestPath = goodCopy('unsigned');
      const xml = readFileSync(manifestPath, 'utf8');
      writeFileSync(manifestPath, xml.replace(/<signature>[0-9a-f]+<\/signature>/, ''));
      await expectRefused(manifestPath, { check: 'signature', message: /does not verify/ });
    });

    it('refuses a forged manifest that hides the signed text of a genuine one in an XML comment', async () => {
      const genuine = readFileSync(path.join(goodDir, `${NAME}.manifest.xml`), 'utf8');
      const genuineSignature = /<signature>([0-9a-f]+)<\/signature>/.exec(genuine)?.[1] ?? '';
      // The forger has only the certificate: no private key, so the crafted manifest is left unsigned.
      const forgerKeys: CraftKeys = { userCertificate: keys.userCertificate, ec2Certificate: keys.ec2Certificate };
      const forgedImage = pseudoRandomBytes(5000, 'forged');
      const forged = writeCraftedBundle({
        directory: freshDir('forged'),
        name: NAME,
        tar: tarArchive([{ name: NAME, data: forgedImage }]),
        imageSize: forgedImage.length,
        keys: forgerKeys,
      });
      const xml =
        "<?xml version='1.0'?><manifest><version>2007-10-10</version>" +
        `<!--${extractSignedText(genuine)}-->` +
        signedTextOf(forged.manifest) +
        `<signature>${genuineSignature}</signature></manifest>`;
      writeFileSync(forged.manifestPath, xml);
      await expectRefused(forged.manifestPath, { check: 'signature', message: /does not verify/ });
    });

    it('refuses a manifest version other than 2007-10-10', async () => {
      const manifestPath = goodCopy('version');
      const xml = readFileSync(manifestPath, 'utf8');
      writeFileSync(manifestPath, xml.replace('<version>2007-10-10</version>', '<version>2007-08-29</version>'));
      await expectRefused(manifestPath, {
        check: 'manifest-version',
        message: /manifest version "2007-08-29" is not supported; only 2007-10-10/,
      });
    });

    it('refuses a manifest with no version', async () => {
      const manifestPath = goodCopy('no-version');
      const xml = readFileSync(manifestPath, 'utf8');
      writeFileSync(manifestPath, xml.replace('<version>2007-10-10</version>', ''));
      await expectRefused(manifestPath, { check: 'manifest-version', message: /no version element/ });
    });

    it('refuses a manifest with a DOCTYPE and an entity bomb (billion laughs), fast, with the DTD error', async () => {
      const manifestPath = goodCopy('billion-laughs');
      const entities = ['<!ENTITY lol0 "lol">'];
      for (let level = 1; level <= 9; level++) {
        entities.push(`<!ENTITY lol${level} "${`&lol${level - 1};`.repeat(10)}">`);
      }
      const xml = readFileSync(manifestPath, 'utf8')
        .replace("<?xml version='1.0'?>", `<?xml version='1.0'?><!DOCTYPE manifest [${entities.join('')}]>`)
        .replace('<version>2007-10-10</version>', '<version>&lol9;</version>');
      writeFileSync(manifestPath, xml);
      const started = Date.now();
      await expectRefused(manifestPath, { check: 'manifest-dtd', message: /document type declaration \(<!DOCTYPE>\)/ });
      assert.ok(Date.now() - started < 2000, `the bomb took ${Date.now() - started} ms to refuse`);
    });

    it('refuses a manifest with a DOCTYPE declaring an external entity (XXE)', async () => {
      const manifestPath = goodCopy('xxe');
      const xml = readFileSync(manifestPath, 'utf8')
        .replace(
          "<?xml version='1.0'?>",
          `<?xml version='1.0'?><!DOCTYPE manifest [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>`,
        )
        .replace('<architecture>x86_64</architecture>', '<architecture>&xxe;</architecture>');
      writeFileSync(manifestPath, xml);
      await expectRefused(manifestPath, { check: 'manifest-dtd', message: /document type declaration/ });
    });

    it('refuses a manifest with an undefined entity', async () => {
      const manifestPath = goodCopy('undefined-entity');
      const xml = readFileSync(manifestPath, 'utf8');
      writeFileSync(manifestPath, xml.replace('<version>2007-10-10</version>', '<version>&bogus;</version>'));
      await expectRefused(manifestPath, { check: 'manifest-xml', message: /not well-formed XML: .*undefined entity/ });
    });

    it('refuses a manifest that is not XML', async () => {
      const manifestPath = goodCopy('not-xml');
      writeFileSync(manifestPath, 'this is not a bundle manifest\n');
      await expectRefused(manifestPath, { check: 'manifest-xml', message: /not well-formed XML/ });
    });

    it('refuses a manifest of binary noise', async () => {
      const manifestPath = goodCopy('noise');
      writeFileSync(manifestPath, pseudoRandomBytes(4096, 'manifest-noise'));
      await expectRefused(manifestPath, { check: 'manifest-xml', message: /not well-formed XML/ });
    });

    it('refuses an empty manifest', async () => {
      const manifestPath = goodCopy('empty-manifest');
      writeFileSync(manifestPath, '');
      await expectRefused(manifestPath, { check: 'manifest-xml', message: /not well-formed XML|no <manifest> root/ });
    });

    it('refuses a re-signed manifest whose image name is a path (../app.img)', async () => {
      const manifestPath = goodCopy('image-name-path');
      resignManifest(manifestPath, signer(), (manifest) => {
        manifest.image.name = `../${NAME}`;
      });
      await expectRefused(manifestPath, {
        check: 'manifest-field',
        message: /image name "\.\.\/app\.img" contains a path separator/,
      });
    });
  });

  describe('corrupt, missing and foreign parts', () => {
    it('refuses a part with one byte flipped in its middle (part digest), writing no image', async () => {
      const manifestPath = goodCopy('flipped');
      const part = partPath(manifestPath, 1);
      const bytes = readFileSync(part);
      bytes[PART_SIZE / 2] ^= 0x01;
      writeFileSync(part, bytes);
      await expectRefused(manifestPath, {
        check: 'part-digest',
        message: /part app\.img\.part\.1 does not match its SHA-1 in the manifest/,
      });
    });

    it('refuses a part with one byte flipped anywhere (first byte, byte 100, last byte) and writes nothing', async () => {
      for (const [index, offset] of [
        [0, 0],
        [0, 100],
        [partCount - 1, -1],
      ]) {
        const manifestPath = goodCopy(`flipped-${index}-${offset}`);
        const part = partPath(manifestPath, index);
        const bytes = readFileSync(part);
        bytes[offset < 0 ? bytes.length + offset : offset] ^= 0x80;
        writeFileSync(part, bytes);
        const options = { manifestPath, ...userKeys() };
        await assert.rejects(verifyBundle(options), BundleIntegrityError);
        const destination = freshDir('unbundled');
        await assert.rejects(unbundleImage({ ...options, destination }), BundleIntegrityError);
        assert.deepEqual(listFolder(destination), [], `nothing left after a flip at ${offset} of part ${index}`);
      }
    });

    it('names the part digest as the failed check wherever the flipped byte is', async () => {
      for (const offset of [0, 100]) {
        const manifestPath = goodCopy(`flipped-start-${offset}`);
        const part = partPath(manifestPath, 0);
        const bytes = readFileSync(part);
        bytes[offset] ^= 0x80;
        writeFileSync(part, bytes);
        await expectRefused(manifestPath, {
          check: 'part-digest',
          message: /part app\.img\.part\.0 does not match its SHA-1/,
        });
      }
    });

    it('refuses a bundle with a part missing', async () => {
      const manifestPath = goodCopy('missing-part');
      unlinkSync(partPath(manifestPath, 2));
      await expectRefused(manifestPath, { check: 'part-missing', message: /part app\.img\.part\.2 is missing from / });
    });

    it('refuses a truncated part (bundled_size mismatch)', async () => {
      const manifestPath = goodCopy('truncated-part');
      const part = partPath(manifestPath, partCount - 1);
      const size = readFileSync(part).length;
      truncateSync(part, size - 16);
      await expectRefused(manifestPath, {
        check: 'bundled-size',
        message: /the parts add up to \d+ bytes but the manifest's bundled_size is \d+/,
      });
    });

    it('refuses a manifest (properly re-signed) that lists an extra part named ../x, and reads nothing outside', async () => {
      const manifestPath = goodCopy('extra-part');
      const outside = path.join(path.dirname(manifestPath), '..', 'x');
      const outsideContent = Buffer.from('a file outside the bundle folder');
      writeFileSync(outside, outsideContent);
      resignManifest(manifestPath, signer(), (manifest) => {
        manifest.image.parts.push({
          index: manifest.image.parts.length,
          filename: '../x',
          digest: sha1(outsideContent),
        });
        manifest.image.bundledSize += outsideContent.length;
      });
      await expectRefused(manifestPath, {
        check: 'part-name',
        message: /names a part "\.\.\/x" that contains a path separator; refusing to read outside the bundle folder/,
      });
      assert.deepEqual(readFileSync(outside), outsideContent);
      unlinkSync(outside);
    });

    it('refuses a manifest (properly re-signed) whose part filename is an absolute path', async () => {
      const manifestPath = goodCopy('absolute-part');
      resignManifest(manifestPath, signer(), (manifest) => {
        manifest.image.parts[0].filename = '/etc/passwd';
      });
      await expectRefused(manifestPath, {
        check: 'part-name',
        message: /"\/etc\/passwd" that contains a path separator/,
      });
    });

    it('refuses a digest mismatch that only the image digest check can catch (manifest re-signed)', async () => {
      const manifestPath = goodCopy('digest');
      const wrong = sha1('not the tar stream');
      const manifest = readUnsignedManifest(manifestPath);
      const right = manifest.image.digest;
      resignManifest(manifestPath, signer(), (edited) => {
        edited.image.digest = wrong;
      });
      await expectRefused(manifestPath, {
        check: 'digest',
        message: new RegExp(`invalid digest, expected ${wrong} received ${right}`),
      });
    });

    it("refuses the bundle with a private key that is not the bundle's (padding check)", async () => {
      const manifestPath = goodCopy('other-key');
      // The user certificate checks the signature; the other key cannot open the sealed AES key.
      await expectRefused(
        manifestPath,
        {
          check: 'unseal',
          message:
            /could not decrypt user_encrypted_key with the private key given \(padding check failed\)|decrypts to something other than 32 hex/,
        },
        { privateKey: pki.other.key, userCertificate: pki.user.cert },
      );
    });

    it('refuses the bundle with another key and no certificate at the signature check', async () => {
      const manifestPath = goodCopy('other-key-no-cert');
      await expectRefused(
        manifestPath,
        { check: 'signature', message: /does not verify with the private key's public key/ },
        { privateKey: pki.other.key },
      );
    });
  });

  describe("reference bundles made by Amazon's ec2-bundle-image", function () {
    const vectors = [
      { folder: 'mixed', name: 'mixed.img' },
      { folder: 'sparse', name: 'sparse-app' },
      { folder: 'multi', name: 'multi.img' },
    ];
    let referenceKeys: ReadKeys;

    before(function () {
      if (!hasReferenceBundles()) {
        console.log(
          `      skipped: the reference bundles (${REFERENCE_BUNDLES}) are absent, so Amazon-made bundles cannot be tampered with`,
        );
        this.skip();
      }
      referenceKeys = {
        privateKey: readFileSync(path.join(REFERENCE_BUNDLES, 'keys', 'user-pk.pem'), 'utf8'),
        userCertificate: readFileSync(path.join(REFERENCE_BUNDLES, 'keys', 'user-cert.pem'), 'utf8'),
      };
    });

    function referenceCopy(vector: { folder: string; name: string }, label: string): string {
      return path.join(
        copyBundle(path.join(REFERENCE_BUNDLES, vector.folder), freshDir(label)),
        `${vector.name}.manifest.xml`,
      );
    }

    for (const vector of vectors) {
      it(`refuses ${vector.folder}/ with one byte of a part flipped`, async () => {
        const manifestPath = referenceCopy(vector, `ref-${vector.folder}-flip`);
        await verifyBundle({ manifestPath, ...referenceKeys });
        const part = path.join(path.dirname(manifestPath), `${vector.name}.part.0`);
        const bytes = readFileSync(part);
        bytes[Math.floor(bytes.length / 2)] ^= 0x01;
        writeFileSync(part, bytes);
        await expectRefused(
          manifestPath,
          { check: 'part-digest', message: /part .*\.part\.0 does not match its SHA-1/ },
          referenceKeys,
        );
      });

      it(`refuses ${vector.folder}/ with one byte of the signed manifest text edited`, async () => {
        const manifestPath = referenceCopy(vector, `ref-${vector.folder}-edit`);
        const xml = readFileSync(manifestPath, 'utf8');
        // One hex digit of the image digest, inside <image>: still well-formed, still hex.
        const at = xml.indexOf("<digest algorithm='SHA1'>") + "<digest algorithm='SHA1'>".length + 7;
        assert.ok(at > xml.indexOf('<image>') && at < xml.indexOf('</image>'));
        writeFileSync(manifestPath, xml.slice(0, at) + (xml[at] === 'a' ? 'b' : 'a') + xml.slice(at + 1));
        await expectRefused(
          manifestPath,
          { check: 'signature', message: /does not verify with the user certificate/ },
          referenceKeys,
        );
      });
    }

    it('refuses multi/ with one byte of its second part flipped', async () => {
      const vector = vectors[2];
      const manifestPath = referenceCopy(vector, 'ref-multi-flip-1');
      const part = path.join(path.dirname(manifestPath), `${vector.name}.part.1`);
      const bytes = readFileSync(part);
      bytes[1000] ^= 0x01;
      writeFileSync(part, bytes);
      await expectRefused(
        manifestPath,
        { check: 'part-digest', message: /part multi\.img\.part\.1 does not match its SHA-1/ },
        referenceKeys,
      );
    });

    it('refuses sparse/ with one byte of its signed <machine_configuration> edited', async () => {
      const vector = vectors[1];
      const manifestPath = referenceCopy(vector, 'ref-sparse-kernel');
      const xml = readFileSync(manifestPath, 'utf8');
      const edited = xml.replace('<kernel_id>aki-fc8f11cc</kernel_id>', '<kernel_id>aki-fc8f11cd</kernel_id>');
      assert.notEqual(edited, xml, 'the sparse vector records a kernel id');
      writeFileSync(manifestPath, edited);
      await expectRefused(manifestPath, { check: 'signature', message: /does not verify/ }, referenceKeys);
    });
  });

  it('keeps the re-signing helper honest: a re-signed, unedited manifest still verifies', async () => {
    const manifestPath = goodCopy('resigned');
    const before = readFileSync(manifestPath, 'utf8');
    const manifest = resignManifest(manifestPath, signer(), () => undefined);
    assert.equal(renderManifest(manifest), before, 'RSA PKCS#1 v1.5 signatures are deterministic');
    await verifyBundle({ manifestPath, ...userKeys() });
  });
});
