/** Bundling straight to S3: parts uploaded as they are made, the manifest last, nothing on local disk. */
import { strict as assert } from 'assert';
import { promises as fs } from 'fs';
import * as path from 'path';
import { createClients, AwsClients } from '../../provider/aws/clients';
import { AwsOperationError } from '../../provider/aws/errors';
import { parseBucketArgument } from '../../provider/aws/location';
import { S3BundleOutput } from '../../provider/aws/s3PartSink';
import { BundleInputError } from '../../provider/bundle/errors';
import { verifyBundle } from '../../provider/bundle/unbundle';
import { bundleWithTestKeys } from '../helpers/bundles';
import { testPki } from '../helpers/pki';
import { MiB, temporaryFolder, writeImage } from '../helpers/tools';
import { FakeAws } from '../fakeAws';

describe('bundling straight to S3', function () {
  this.timeout(60_000);
  let fake: FakeAws;
  let aws: AwsClients;
  let folder: ReturnType<typeof temporaryFolder>;

  before(async () => {
    fake = await FakeAws.start();
    aws = createClients({ endpoint: fake.endpoint, region: fake.region, credentials: fake.credentials, maxAttempts: 3 });
    folder = temporaryFolder('streaming');
  });
  after(async () => {
    await fake.stop();
    folder.cleanup();
  });

  /** Downloads a bundle from the fake into a folder and verifies it with the reader. */
  async function downloadAndVerify(bucket: string, prefix: string, name: string) {
    const target = path.join(folder.dir, `download-${bucket}`);
    await fs.mkdir(target, { recursive: true });
    for (const object of fake.objects(bucket).filter((each) => each.key.startsWith(prefix))) {
      await fs.writeFile(path.join(target, object.key.slice(prefix.length)), fake.getObject(bucket, object.key) as Buffer);
    }
    const pki = testPki();
    return verifyBundle({ manifestPath: path.join(target, `${name}.manifest.xml`), privateKey: pki.user.key, userCertificate: pki.user.cert });
  }

  it('uploads every part as it is made, the manifest last, and the bundle verifies', async () => {
    fake.createBucket('stream-1', { objectOwnership: 'ObjectWriter' });
    const image = path.join(folder.dir, 'app.img');
    writeImage(image, [{ kind: 'random', bytes: 700 * 1024 }]);
    const location = parseBucketArgument('stream-1/images');
    const output = new S3BundleOutput({ s3: aws.s3, location, partSize: 64 * 1024, concurrency: 3 });
    const before = await fs.readdir(folder.dir);
    const result = await bundleWithTestKeys(image, '', { output, destination: undefined });
    assert.deepEqual(await fs.readdir(folder.dir), before, 'nothing written locally');
    assert.equal(result.manifestPath, 'stream-1/images/app.img.manifest.xml');
    const puts = fake.requests.filter((request) => request.operation === 'PutObject' && request.bucket === 'stream-1');
    assert.equal(puts.length, result.parts.length + 1);
    assert.equal(puts[puts.length - 1].key, 'images/app.img.manifest.xml', 'manifest last');
    assert.ok(puts.every((request) => request.headers['content-md5']), 'Content-MD5 on every part');
    assert.deepEqual(output.objects().map((object) => object.key), [...result.parts.map((part) => `images/${part.filename}`), 'images/app.img.manifest.xml']);
    const report = await downloadAndVerify('stream-1', 'images/', 'app.img');
    assert.equal(report.digest, result.digest);
    assert.equal(report.partCount, result.parts.length);
  });

  it('renames the parts when the real part count has fewer digits than its bound', async () => {
    fake.createBucket('stream-2', { objectOwnership: 'ObjectWriter' });
    const image = path.join(folder.dir, 'zeros.img');
    // written zeros compress to almost nothing: the bound (from the tar size) says dozens of parts
    writeImage(image, [{ kind: 'random', bytes: 200 * 1024 }, { kind: 'zeros', bytes: 3 * MiB }]);
    const output = new S3BundleOutput({ s3: aws.s3, location: parseBucketArgument('stream-2'), partSize: 64 * 1024 });
    const result = await bundleWithTestKeys(image, '', { output, sparse: false });
    assert.ok(result.parts.length < 10);
    assert.deepEqual(result.parts.map((part) => part.filename), result.parts.map((_, index) => `zeros.img.part.${index}`));
    assert.ok(fake.requests.some((request) => request.operation === 'CopyObject'), 'renamed with server-side copies');
    assert.deepEqual(fake.objects('stream-2').map((object) => object.key).sort(), [...result.parts.map((part) => part.filename), 'zeros.img.manifest.xml'].sort());
    assert.ok(fake.objects('stream-2').every((object) => object.acl === 'aws-exec-read'));
    await downloadAndVerify('stream-2', '', 'zeros.img');
  });

  it('removes every part it uploaded when the upload fails, and refuses a name already taken', async () => {
    fake.createBucket('stream-3', { objectOwnership: 'ObjectWriter' });
    const image = path.join(folder.dir, 'fail.img');
    writeImage(image, [{ kind: 'random', bytes: 500 * 1024 }]);
    fake.faults.inject({ service: 's3', operation: 'PutObject', kind: 'reset', match: (request) => request.key === 'fail.img.part.3' });
    const output = new S3BundleOutput({ s3: aws.s3, location: parseBucketArgument('stream-3'), partSize: 64 * 1024 });
    await assert.rejects(bundleWithTestKeys(image, '', { output }), (error: unknown) => error instanceof AwsOperationError && /fail\.img\.part\.3/.test(error.message));
    fake.faults.clear();
    assert.deepEqual(fake.objects('stream-3'), [], 'no part left behind');

    fake.putObjectDirect('stream-3', 'taken.img.part.0', Buffer.from('old'));
    const taken = path.join(folder.dir, 'taken.img');
    writeImage(taken, [{ kind: 'random', bytes: 1000 }]);
    await assert.rejects(
      bundleWithTestKeys(taken, '', { output: new S3BundleOutput({ s3: aws.s3, location: parseBucketArgument('stream-3') }) }),
      (error: unknown) => error instanceof BundleInputError && /already holds a bundle named taken\.img/.test(error.message),
    );
    assert.deepEqual(fake.objects('stream-3').map((object) => object.key), ['taken.img.part.0'], 'the earlier bundle is untouched');
  });
});
