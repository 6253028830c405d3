/**
 * The whole bundle pipeline in the checking mode of handOver.ts, on every path: to a local folder and
 * straight into S3 (the local AWS), with parallel and with single gzip, in-process and through the
 * CLI; each bundle then verified and unbundled. In checking mode a Buffer released too early fails
 * the bundle with a ReleasedBufferError instead of leaving bytes out, so a bundle that round-trips
 * here shows that no stage frees what another still needs.
 */
import { strict as assert } from 'assert';
import { createHash } from 'crypto';
import { promises as fs, readFileSync } from 'fs';
import * as path from 'path';
import { AwsClients, createClients } from '../../provider/aws/clients';
import { parseBucketArgument } from '../../provider/aws/location';
import { S3BundleOutput } from '../../provider/aws/s3BundleOutput';
import { BundleResult } from '../../provider/bundle/bundle';
import {
  CHECK_HANDOVER_VARIABLE,
  checkHandOvers,
  HandOverCounts,
  handOverCounts,
} from '../../provider/bundle/handOver';
import { GZIP_MODES, GzipMode } from '../../provider/bundle/parallelGzip';
import { unbundleImage, verifyBundle } from '../../provider/bundle/unbundle';
import { LocalAws } from '../../testing/localAws';
import { bundleWithTestKeys } from '../helpers/bundles';
import { bundleCliArgs, testPki } from '../helpers/pki';
import { MiB, runCliAsync, temporaryFolder, writeImage } from '../helpers/tools';

/** Our own stages that free what they were handed (the part sinks free too, under their function names). */
const OWN_RELEASERS = ['ParallelGzip', 'EncryptStream'];

function sha1(file: string): string {
  return createHash('sha1').update(readFileSync(file)).digest('hex');
}

function countsNow(): HandOverCounts {
  const counts = handOverCounts();
  assert.ok(counts, 'the checking mode is on');
  return counts;
}

describe('the bundle pipeline in handOver checking mode', function () {
  this.timeout(120_000);
  let original: boolean;
  let fake: LocalAws;
  let aws: AwsClients;
  let folder: ReturnType<typeof temporaryFolder>;
  let image: string;

  before(async () => {
    original = checkHandOvers(true);
    fake = await LocalAws.start();
    aws = createClients({
      endpoint: fake.endpoint,
      region: fake.region,
      credentials: fake.credentials,
      maxAttempts: 3,
    });
    folder = temporaryFolder('handover-pipeline');
    image = path.join(folder.dir, 'app.img');
    // Several 1 MiB read buffers and deflate chunks, a run of zeros stored as a hole, a short last chunk.
    writeImage(image, [
      { kind: 'random', bytes: 2.5 * MiB },
      { kind: 'zeros', bytes: MiB },
      { kind: 'random', bytes: 1.5 * MiB + 1000 },
    ]);
  });
  after(async () => {
    await fake?.stop();
    folder?.cleanup();
    checkHandOvers(original);
  });
  // Each test starts with the mode freshly on: nothing recorded, counts at zero.
  beforeEach(() => {
    checkHandOvers(false);
    checkHandOvers(true);
  });

  /** What the bundle's stages checked and freed: every stage checked, and each freed what it should. */
  function assertBundleChecked(gzip: GzipMode): void {
    const { checked, released } = countsNow();
    // DigestPassThrough, the gzip stage and EncryptStream each check every chunk they take in.
    assert.ok(checked >= 3 * 5, `chunks checked: ${checked}`);
    if (gzip === 'parallel') {
      assert.ok(
        released.ParallelGzip >= 5,
        `ParallelGzip frees the tar stream's read buffers: ${JSON.stringify(released)}`,
      );
      assert.ok(released.EncryptStream >= 4, `EncryptStream frees the deflate outputs: ${JSON.stringify(released)}`);
    } else {
      // zlib's own stream frees nothing, and its outputs (slices of one buffer) are never handed over.
      assert.equal(released.ParallelGzip, undefined);
      assert.equal(released.EncryptStream, undefined);
    }
    const bySink = Object.entries(released).filter(([stage]) => !OWN_RELEASERS.includes(stage));
    assert.ok(
      bySink.reduce((sum, [, count]) => sum + count, 0) >= 4,
      `the part sink frees the encrypted chunks EncryptStream hands it (else peak memory grows; see the bench): ${JSON.stringify(released)}`,
    );
  }

  /** Verifies and unbundles, still in checking mode: same digest, same image, every chunk checked. */
  async function roundTrip(manifestPath: string, bundled: BundleResult): Promise<void> {
    const checkedBefore = countsNow().checked;
    const pki = testPki();
    const reader = { manifestPath, privateKey: pki.user.key, userCertificate: pki.user.cert };
    const report = await verifyBundle(reader);
    assert.equal(report.digest, bundled.digest, 'verify: the digest of the tar stream round-trips');
    assert.equal(report.partCount, bundled.parts.length);
    const destination = path.join(path.dirname(manifestPath), 'restored');
    await fs.mkdir(destination);
    const restored = await unbundleImage({ ...reader, destination });
    assert.equal(restored.digest, bundled.digest, 'unbundle: the digest of the tar stream round-trips');
    assert.equal(sha1(restored.imagePath), sha1(image), 'the restored image is the image');
    // Verify and unbundle each: DigestPassThrough, TarMemberReader and the image sink per chunk.
    assert.ok(countsNow().checked - checkedBefore >= 2 * 3 * 4, 'the reading stages checked what they were given');
  }

  async function downloadBundle(bucket: string, prefix: string, target: string): Promise<void> {
    await fs.mkdir(target, { recursive: true });
    for (const object of fake.objects(bucket).filter((each) => each.key.startsWith(prefix))) {
      const body = fake.getObject(bucket, object.key);
      assert.ok(body, object.key);
      await fs.writeFile(path.join(target, object.key.slice(prefix.length)), body);
    }
  }

  for (const gzip of GZIP_MODES) {
    it(`bundles to a local folder with ${gzip} gzip, and the bundle verifies and unbundles`, async () => {
      const destination = path.join(folder.dir, `local-${gzip}`);
      await fs.mkdir(destination);
      const result = await bundleWithTestKeys(image, destination, { gzip }, { partSize: MiB });
      assert.ok(result.sparse && result.parts.length >= 4, `${result.parts.length} parts`);
      assertBundleChecked(gzip);
      await roundTrip(result.manifestPath, result);
    });

    it(`bundles straight into S3 (local AWS) with ${gzip} gzip, and the bundle verifies and unbundles`, async () => {
      const bucket = `handover-${gzip}`;
      fake.createBucket(bucket, { objectOwnership: 'ObjectWriter' });
      const output = new S3BundleOutput({
        s3: aws.s3,
        location: parseBucketArgument(`${bucket}/images`),
        partSize: MiB,
        concurrency: 2,
      });
      const result = await bundleWithTestKeys(image, '', { output, gzip, destination: undefined });
      assert.equal(result.manifestPath, `${bucket}/images/app.img.manifest.xml`);
      assert.ok(result.parts.length >= 4, `${result.parts.length} parts`);
      assertBundleChecked(gzip);
      const target = path.join(folder.dir, `s3-${gzip}`);
      await downloadBundle(bucket, 'images/', target);
      await roundTrip(path.join(target, 'app.img.manifest.xml'), result);
    });
  }

  it(`the CLI with ${CHECK_HANDOVER_VARIABLE}=1 bundles into S3 with --bucket, both gzip modes, and the bundles verify`, async () => {
    const pki = testPki();
    const environment = {
      [CHECK_HANDOVER_VARIABLE]: '1',
      AWS_ENDPOINT_URL: fake.endpoint,
      AWS_REGION: fake.region,
      AWS_ACCESS_KEY_ID: fake.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: fake.credentials.secretAccessKey,
      AWS_PROFILE: '',
    };
    fake.createBucket('handover-cli', { objectOwnership: 'ObjectWriter' });
    for (const gzip of GZIP_MODES) {
      const bundled = await runCliAsync(
        [...bundleCliArgs(image, fake.accountId), '-b', `handover-cli/${gzip}`, '--gzip', gzip, '--json'],
        environment,
      );
      assert.equal(bundled.status, 0, bundled.stderr);
      const target = path.join(folder.dir, `cli-${gzip}`);
      await downloadBundle('handover-cli', `${gzip}/`, target);
      const report = await verifyBundle({
        manifestPath: path.join(target, 'app.img.manifest.xml'),
        privateKey: pki.user.key,
        userCertificate: pki.user.cert,
      });
      assert.equal(report.name, 'app.img');
      assert.equal(JSON.parse(bundled.stdout).imageLocation, `handover-cli/${gzip}/app.img.manifest.xml`);
    }
  });
});
