/**
 * Bundles checked by the real tools, the way ec2-unbundle and EC2 would read them: openssl for RSA
 * and AES, gzip, GNU tar, sha1sum and openssl dgst for the signature.
 */
import { strict as assert } from 'assert';
import { createHash } from 'crypto';
import { promises as fs, readFileSync } from 'fs';
import * as path from 'path';
import { extractSignedText } from '../../provider/bundle/manifest';
import { parseManifest } from '../../provider/bundle/manifestParse';
import { unbundleImage, verifyBundle } from '../../provider/bundle/unbundle';
import { BundleOptions } from '../../provider/bundle/bundle';
import { GZIP_MODES } from '../../provider/bundle/parallelGzip';
import {
  bundleWithTestKeys,
  elementText,
  FIXED_IV,
  FIXED_KEY,
  opensslDecryptParts,
  opensslDecryptToGzip,
  opensslUnseal,
  readManifest,
} from '../helpers/bundles';
import { testPki } from '../helpers/pki';
import { ImageSegment, MiB, run, shell, temporaryFolder, writeImage } from '../helpers/tools';

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');
const sha1 = (data: Buffer) => createHash('sha1').update(data).digest('hex');

describe('bundles read by the real tools', () => {
  let folder: ReturnType<typeof temporaryFolder>;
  beforeEach(() => (folder = temporaryFolder('oracle')));
  afterEach(() => folder.cleanup());

  async function bundleSegments(
    name: string,
    segments: ImageSegment[],
    hooks = {},
    extra: Partial<BundleOptions> = {},
  ) {
    const imagePath = path.join(folder.dir, name);
    writeImage(imagePath, segments);
    const out = path.join(folder.dir, 'out');
    await fs.mkdir(out);
    const result = await bundleWithTestKeys(imagePath, out, extra, hooks);
    return { imagePath, out, result, xml: readManifest(result) };
  }

  it('seals the key and IV as 32 hex characters that openssl pkeyutl opens, for both certificates', async () => {
    const { xml } = await bundleSegments('seal.img', [{ kind: 'random', bytes: 1000 }]);
    const pki = testPki();
    const userKey = opensslUnseal(elementText(xml, 'user_encrypted_key'), pki.user.keyPath);
    const userIv = opensslUnseal(elementText(xml, 'user_encrypted_iv'), pki.user.keyPath);
    assert.match(userKey, /^[0-9a-f]{32}$/);
    assert.match(userIv, /^[0-9a-f]{32}$/);
    assert.notEqual(userKey, userIv, 'key and IV are independent');
    assert.equal(opensslUnseal(elementText(xml, 'ec2_encrypted_key'), pki.ec2.keyPath), userKey);
    assert.equal(opensslUnseal(elementText(xml, 'ec2_encrypted_iv'), pki.ec2.keyPath), userIv);
    assert.equal(elementText(xml, 'user_encrypted_key').length, 512, '2048-bit modulus → 512 hex');
    assert.equal(elementText(xml, 'ec2_encrypted_key').length, 256, '1024-bit modulus → 256 hex');
  });

  it('makes a fresh key and IV for every bundle', async () => {
    const first = await bundleSegments('a.img', [{ kind: 'random', bytes: 100 }]);
    const second = await bundleWithTestKeys(first.imagePath, folder.dir, { name: 'b.img' });
    const pki = testPki();
    const keyOf = (xml: string) => opensslUnseal(elementText(xml, 'user_encrypted_key'), pki.user.keyPath);
    assert.notEqual(keyOf(first.xml), keyOf(readManifest(second)));
  });

  for (const gzip of GZIP_MODES) {
    it(`decrypts with openssl enc and gunzips to the tar stream whose SHA-1 is the manifest digest, equal to GNU tar output (${gzip} gzip)`, async () => {
      const { imagePath, out, result, xml } = await bundleSegments(
        'dense.img',
        [{ kind: 'random', bytes: 3 * MiB + 123 }],
        {},
        { gzip },
      );
      const pki = testPki();
      const key = opensslUnseal(elementText(xml, 'user_encrypted_key'), pki.user.keyPath);
      const iv = opensslUnseal(elementText(xml, 'user_encrypted_iv'), pki.user.keyPath);
      const tar = opensslDecryptParts(out, 'dense.img', key, iv);
      assert.equal(sha1(tar), elementText(xml, 'digest'));
      assert.equal(sha1(tar), result.digest);
      const gnu = run('tar', [
        '-c',
        '-h',
        '-S',
        '--owner',
        '0',
        '--group',
        '0',
        '-C',
        path.dirname(imagePath),
        'dense.img',
      ]);
      assert.deepEqual(tar, gnu, 'tar stream byte-identical to GNU tar');
      const gz = opensslDecryptToGzip(out, 'dense.img', key, iv);
      run('gzip', ['-t'], { input: gz });
      // gzip header: no name, mtime 0, XFL 2 (level 9), OS 3 (Unix)
      assert.equal(gz.subarray(0, 10).toString('hex'), '1f8b0800000000000203');
    });
  }

  it('signs the machine_configuration + image text so that openssl dgst -sha1 -verify accepts it', async () => {
    const { xml } = await bundleSegments('signed.img', [{ kind: 'random', bytes: 5000 }]);
    const pki = testPki();
    await fs.writeFile(path.join(folder.dir, 'signed.txt'), extractSignedText(xml));
    await fs.writeFile(path.join(folder.dir, 'signature.bin'), Buffer.from(elementText(xml, 'signature'), 'hex'));
    run('openssl', ['x509', '-pubkey', '-noout', '-in', pki.user.certPath, '-out', path.join(folder.dir, 'pub.pem')]);
    const verdict = run(
      'openssl',
      ['dgst', '-sha1', '-verify', 'pub.pem', '-signature', 'signature.bin', 'signed.txt'],
      { cwd: folder.dir },
    );
    assert.equal(verdict.toString().trim(), 'Verified OK');
    // and it is the very signature openssl makes: PKCS#1 v1.5 signatures are deterministic
    const opensslSignature = run('openssl', ['dgst', '-sha1', '-sign', pki.user.keyPath, 'signed.txt'], {
      cwd: folder.dir,
    });
    assert.equal(opensslSignature.toString('hex'), elementText(xml, 'signature'));
  });

  it('writes part digests that sha1sum agrees with, and a bundled_size equal to the part sizes', async () => {
    const { out, xml } = await bundleSegments('parts.img', [{ kind: 'random', bytes: 200 * 1024 }], {
      partSize: 16 * 1024,
    });
    const parts = (await fs.readdir(out)).filter((file) => file.includes('.part.')).sort();
    assert.equal(parts.length, 13);
    assert.deepEqual(
      parts.slice(0, 2),
      ['parts.img.part.00', 'parts.img.part.01'],
      'indexes padded to the digits of the count',
    );
    const sums = shell(`cd '${out}' && sha1sum ${parts.join(' ')}`)
      .trim()
      .split('\n')
      .map((line) => line.split(/\s+/)[0]);
    const listed = [...xml.matchAll(/<digest algorithm='SHA1'>([0-9a-f]{40})<\/digest>/g)]
      .map((match) => match[1])
      .slice(1);
    assert.deepEqual(listed, sums);
    const total = (await Promise.all(parts.map((file) => fs.stat(path.join(out, file))))).reduce(
      (sum, stats) => sum + stats.size,
      0,
    );
    assert.equal(Number(elementText(xml, 'bundled_size')), total);
    assert.equal(total % 16, 0);
    assert.match(xml, /<parts count='13'>/);
  });

  it('is reproducible given the same key and IV (only the RSA-sealed copies and signature differ)', async () => {
    const imagePath = path.join(folder.dir, 'same.img');
    writeImage(imagePath, [
      { kind: 'random', bytes: MiB },
      { kind: 'zeros', bytes: MiB },
      { kind: 'random', bytes: 700 },
    ]);
    const bundles = [];
    for (const dir of ['one', 'two']) {
      await fs.mkdir(path.join(folder.dir, dir));
      bundles.push(
        await bundleWithTestKeys(imagePath, path.join(folder.dir, dir), {}, { keyHex: FIXED_KEY, ivHex: FIXED_IV }),
      );
    }
    const [one, two] = bundles;
    assert.deepEqual(one.parts, two.parts);
    assert.equal(one.digest, two.digest);
    const stripRandom = (xml: string) =>
      xml.replace(/(encrypted_(key|iv)[^>]*>)[0-9a-f]+/g, '$1').replace(/<signature>[0-9a-f]+/, '<signature>');
    assert.equal(stripRandom(readManifest(one)), stripRandom(readManifest(two)));
    const tar = opensslDecryptParts(path.join(folder.dir, 'one'), 'same.img', FIXED_KEY, FIXED_IV);
    assert.equal(sha1(tar), one.digest);
  });

  const roundTrips: Array<[string, ImageSegment[], number]> = [
    ['tiny (1 byte)', [{ kind: 'random', bytes: 1 }], 1],
    ['dense', [{ kind: 'random', bytes: 2 * MiB + 5 }], 1],
    [
      'sparse (zeros written in the middle and at the end)',
      [
        { kind: 'random', bytes: MiB },
        { kind: 'zeros', bytes: 5 * MiB },
        { kind: 'random', bytes: 4096 },
        { kind: 'zeros', bytes: 2 * MiB },
      ],
      1,
    ],
    ['exactly 10 MiB', [{ kind: 'random', bytes: 10 * MiB }], 2],
    ['multi-part', [{ kind: 'random', bytes: 21 * MiB }], 3],
  ];
  for (const [label, segments, expectedParts] of roundTrips) {
    for (const gzip of GZIP_MODES) {
      it(`round-trips a ${label} image through bundle, verify, unbundle, and through GNU tar (${gzip} gzip)`, async () => {
        const { imagePath, out, result, xml } = await bundleSegments('image.img', segments, {}, { gzip });
        assert.equal(result.parts.length, expectedParts);
        const original = readFileSync(imagePath);
        const pki = testPki();
        const report = await verifyBundle({
          manifestPath: result.manifestPath,
          privateKey: pki.user.key,
          userCertificate: pki.user.cert,
        });
        assert.equal(report.digest, result.digest);
        assert.equal(report.canonical, true);
        const restored = path.join(folder.dir, 'restored');
        await fs.mkdir(restored);
        const unbundled = await unbundleImage({
          manifestPath: result.manifestPath,
          privateKey: pki.user.key,
          destination: restored,
        });
        assert.equal(sha256(readFileSync(unbundled.imagePath)), sha256(original));
        assert.deepEqual((await fs.readdir(restored)).sort(), ['image.img'], 'only the image is left behind');
        // the stock-tool pipeline restores it too
        const key = opensslUnseal(elementText(xml, 'user_encrypted_key'), pki.user.keyPath);
        const iv = opensslUnseal(elementText(xml, 'user_encrypted_iv'), pki.user.keyPath);
        const gnuOut = path.join(folder.dir, 'gnu');
        await fs.mkdir(gnuOut);
        run('tar', ['-x', '-C', gnuOut], { input: opensslDecryptParts(out, 'image.img', key, iv) });
        assert.equal(sha256(readFileSync(path.join(gnuOut, 'image.img'))), sha256(original));
        assert.equal(parseManifest(xml).manifest.image.size, original.length);
      });
    }
  }

  it('stores zero blocks as holes by default and as data with sparse: false', async () => {
    const imagePath = path.join(folder.dir, 'holes.img');
    writeImage(imagePath, [
      { kind: 'random', bytes: 64 * 1024 },
      { kind: 'zeros', bytes: 8 * MiB },
    ]);
    const sparse = await bundleWithTestKeys(imagePath, folder.dir, { name: 'sparse' });
    const dense = await bundleWithTestKeys(imagePath, folder.dir, { name: 'dense', sparse: false });
    assert.equal(sparse.sparse, true);
    assert.equal(sparse.storedImageBytes, 64 * 1024);
    assert.equal(dense.sparse, false);
    assert.equal(dense.storedImageBytes, 64 * 1024 + 8 * MiB);
    assert.ok(sparse.tarSize < dense.tarSize);
  });
});
