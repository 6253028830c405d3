/** Bundles written by Amazon's own ec2-bundle-image (shared/data/reference-bundles) must read back exactly. */
import { strict as assert } from 'assert';
import { createHash } from 'crypto';
import { createReadStream, promises as fs, readFileSync } from 'fs';
import * as path from 'path';
import { parseManifest } from '../../provider/bundle/manifestParse';
import { renderManifest } from '../../provider/bundle/manifest';
import { readPrivateKey, unseal } from '../../provider/bundle/keys';
import { unbundleImage, verifyBundle } from '../../provider/bundle/unbundle';
import { hasReferenceBundles, REFERENCE_BUNDLES, runCli, temporaryFolder } from '../helpers/tools';

interface Vector {
  folder: string;
  name: string;
  size: number;
  sha256: string;
  sparse: boolean;
  parts: number;
}

/** From reference-bundles/README.md: the originals' sizes and hashes. */
const VECTORS: Vector[] = [
  {
    folder: 'mixed',
    name: 'mixed.img',
    size: 4259840,
    sha256: '027d98ea0740b0d6f13be1e8d5a113b29839c35a78ed8a65d92543eecc4a81ec',
    sparse: false,
    parts: 1,
  },
  {
    folder: 'sparse',
    name: 'sparse-app',
    size: 7356416,
    sha256: '471e8f9f8d4d85e402e379d5752d6204f2168b9783e0806ab8bed9e55ed18059',
    sparse: true,
    parts: 1,
  },
  {
    folder: 'multi',
    name: 'multi.img',
    size: 12582912,
    sha256: '9e3201fbebe8c53b6a2e9bb3b143fdab66e64b1985a3014dace51286c385ef10',
    sparse: false,
    parts: 2,
  },
];

const keys = path.join(REFERENCE_BUNDLES, 'keys');

function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(file)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

describe('reference bundles made by ec2-bundle-image', function () {
  before(function () {
    if (!hasReferenceBundles()) {
      console.log(
        `      skipped: ${REFERENCE_BUNDLES} is absent (it comes with the shared folder beside the repository)`,
      );
      this.skip();
    }
  });

  let folder: ReturnType<typeof temporaryFolder>;
  beforeEach(() => (folder = temporaryFolder('reference')));
  afterEach(() => folder.cleanup());

  const manifestOf = (vector: Vector) => path.join(REFERENCE_BUNDLES, vector.folder, `${vector.name}.manifest.xml`);
  const userKey = () => readFileSync(path.join(keys, 'user-pk.pem'), 'utf8');
  const userCert = () => readFileSync(path.join(keys, 'user-cert.pem'), 'utf8');

  for (const vector of VECTORS) {
    it(`unbundles ${vector.folder}/ to the original image (size and SHA-256)`, async () => {
      const result = await unbundleImage({
        manifestPath: manifestOf(vector),
        privateKey: userKey(),
        userCertificate: userCert(),
        destination: folder.dir,
      });
      assert.equal(result.imagePath, path.join(folder.dir, vector.name));
      assert.equal((await fs.stat(result.imagePath)).size, vector.size);
      assert.equal(await sha256File(result.imagePath), vector.sha256);
      assert.equal(result.sparse, vector.sparse, 'tar member type as written by GNU tar');
      assert.equal(result.partCount, vector.parts);
    });

    it(`verifies ${vector.folder}/ with every check, writing nothing`, async () => {
      const report = await verifyBundle({
        manifestPath: manifestOf(vector),
        privateKey: userKey(),
        userCertificate: userCert(),
      });
      assert.equal(report.imageSize, vector.size);
      assert.equal(report.canonical, true);
      assert.deepEqual(report.bundler, { name: 'ec2-ami-tools', version: '1.5', release: '3' });
    });

    it(`re-serializes ${vector.folder}/'s manifest to the very bytes REXML wrote`, () => {
      const xml = readFileSync(manifestOf(vector), 'utf8');
      assert.equal(renderManifest(parseManifest(xml).manifest), xml);
    });
  }

  it('opens the EC2 copies of the key and IV (with the EC2 stand-in key) to the same values as the user copies', () => {
    const { manifest } = parseManifest(readFileSync(manifestOf(VECTORS[0]), 'utf8'));
    const ec2Key = readPrivateKey(readFileSync(path.join(keys, 'ec2-pk.pem'), 'utf8'), 'ec2Key');
    const user = readPrivateKey(userKey(), 'userKey');
    const key = unseal(user, manifest.image.userEncryptedKey, 'user key');
    assert.match(key, /^[0-9a-f]{32}$/);
    assert.equal(unseal(ec2Key, manifest.image.ec2EncryptedKey, 'ec2 key'), key);
    assert.equal(
      unseal(ec2Key, manifest.image.ec2EncryptedIv, 'ec2 iv'),
      unseal(user, manifest.image.userEncryptedIv, 'user iv'),
    );
  });

  it('reads every optional manifest field of the sparse vector', () => {
    const { manifest } = parseManifest(readFileSync(manifestOf(VECTORS[1]), 'utf8'));
    assert.deepEqual(manifest.machineConfiguration, {
      architecture: 'x86_64',
      blockDeviceMappings: [
        { virtual: 'ami', device: 'sda1' },
        { virtual: 'ephemeral0', device: 'sdb' },
        { virtual: 'root', device: '/dev/sda1' },
      ],
      kernelId: 'aki-fc8f11cc',
      ramdiskId: 'ari-12345678',
      productCodes: ['8ZLKNE5V'],
    });
  });

  it('verifies and unbundles through the CLI with ec2-unbundle option names', async () => {
    const vector = VECTORS[1];
    const verify = runCli([
      'verify',
      '-m',
      manifestOf(vector),
      '-k',
      path.join(keys, 'user-pk.pem'),
      '-c',
      path.join(keys, 'user-cert.pem'),
      '--json',
    ]);
    assert.equal(verify.status, 0, verify.stderr);
    const summary = JSON.parse(verify.stdout);
    assert.equal(summary.digest, 'bc019fab8f16c0056ddbce63a19494798eddad09');
    assert.equal(summary.sparse, true);
    const unbundle = runCli([
      'unbundle',
      '-m',
      manifestOf(vector),
      '-k',
      path.join(keys, 'user-pk.pem'),
      '-s',
      path.join(REFERENCE_BUNDLES, vector.folder),
      '-d',
      folder.dir,
    ]);
    assert.equal(unbundle.status, 0, unbundle.stderr);
    assert.match(unbundle.stdout, /Unbundled sparse-app/);
    assert.equal(await sha256File(path.join(folder.dir, vector.name)), vector.sha256);
  });
});
