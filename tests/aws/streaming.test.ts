/** Bundling straight to S3: parts uploaded as they are made, the manifest last, nothing on local disk. */
import { strict as assert } from 'assert';
import { promises as fs } from 'fs';
import * as path from 'path';
import { createClients, AwsClients } from '../../provider/aws/clients';
import { AwsOperationError } from '../../provider/aws/errors';
import { parseBucketArgument } from '../../provider/aws/location';
import { S3BundleOutput } from '../../provider/aws/s3BundleOutput';
import { BundleInputError } from '../../provider/bundle/errors';
import { BundleSuspendedError } from '../../provider/bundle/bundle';
import { verifyBundle } from '../../provider/bundle/unbundle';
import { readCertificate, seal } from '../../provider/bundle/keys';
import { bundleWithTestKeys, FIXED_IV, FIXED_KEY } from '../helpers/bundles';
import { testPki } from '../helpers/pki';
import { MiB, temporaryFolder, writeImage } from '../helpers/tools';
import { LocalAws } from '../../testing/localAws';

describe('bundling straight to S3', function () {
  this.timeout(60_000);
  let fake: LocalAws;
  let aws: AwsClients;
  let folder: ReturnType<typeof temporaryFolder>;

  before(async () => {
    fake = await LocalAws.start();
    aws = createClients({
      endpoint: fake.endpoint,
      region: fake.region,
      credentials: fake.credentials,
      maxAttempts: 3,
    });
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
      await fs.writeFile(
        path.join(target, object.key.slice(prefix.length)),
        fake.getObject(bucket, object.key) as Buffer,
      );
    }
    const pki = testPki();
    return verifyBundle({
      manifestPath: path.join(target, `${name}.manifest.xml`),
      privateKey: pki.user.key,
      userCertificate: pki.user.cert,
    });
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
    const allPuts = fake.requests.filter(
      (request) => request.operation === 'PutObject' && request.bucket === 'stream-1',
    );
    assert.equal(allPuts[0].key, 'images/app.img.resume.json', 'the place is claimed first');
    const puts = allPuts.slice(1);
    assert.equal(puts.length, result.parts.length + 1);
    assert.equal(puts[puts.length - 1].key, 'images/app.img.manifest.xml', 'manifest last');
    assert.ok(
      puts.every((request) => request.headers['content-md5']),
      'Content-MD5 on every part',
    );
    assert.ok(
      allPuts.every((request) => request.headers['if-none-match'] === '*'),
      'every object is created only where there was none',
    );
    assert.ok(!fake.objects('stream-1').some((object) => object.key.endsWith('.resume.json')), 'the claim is gone');
    assert.deepEqual(
      output.objects().map((object) => object.key),
      [...result.parts.map((part) => `images/${part.filename}`), 'images/app.img.manifest.xml'],
    );
    const report = await downloadAndVerify('stream-1', 'images/', 'app.img');
    assert.equal(report.digest, result.digest);
    assert.equal(report.partCount, result.parts.length);
  });

  it('renames the parts when the real part count has fewer digits than its bound', async () => {
    fake.createBucket('stream-2', { objectOwnership: 'ObjectWriter' });
    const image = path.join(folder.dir, 'zeros.img');
    // written zeros compress to almost nothing: the bound (from the tar size) says dozens of parts
    writeImage(image, [
      { kind: 'random', bytes: 200 * 1024 },
      { kind: 'zeros', bytes: 3 * MiB },
    ]);
    const output = new S3BundleOutput({ s3: aws.s3, location: parseBucketArgument('stream-2'), partSize: 64 * 1024 });
    const result = await bundleWithTestKeys(image, '', { output, sparse: false });
    assert.ok(result.parts.length < 10);
    assert.deepEqual(
      result.parts.map((part) => part.filename),
      result.parts.map((_, index) => `zeros.img.part.${index}`),
    );
    assert.ok(
      fake.requests.some((request) => request.operation === 'CopyObject'),
      'renamed with server-side copies',
    );
    assert.deepEqual(
      fake
        .objects('stream-2')
        .map((object) => object.key)
        .sort(),
      [...result.parts.map((part) => part.filename), 'zeros.img.manifest.xml'].sort(),
    );
    assert.ok(fake.objects('stream-2').every((object) => object.acl === 'aws-exec-read'));
    await downloadAndVerify('stream-2', '', 'zeros.img');
  });

  it('removes every part it uploaded when the upload fails, and refuses a name already taken', async () => {
    fake.createBucket('stream-3', { objectOwnership: 'ObjectWriter' });
    const image = path.join(folder.dir, 'fail.img');
    writeImage(image, [{ kind: 'random', bytes: 500 * 1024 }]);
    fake.faults.inject({
      service: 's3',
      operation: 'PutObject',
      kind: 'reset',
      match: (request) => request.key === 'fail.img.part.3',
    });
    const output = new S3BundleOutput({ s3: aws.s3, location: parseBucketArgument('stream-3'), partSize: 64 * 1024 });
    await assert.rejects(
      bundleWithTestKeys(image, '', { output }),
      (error: unknown) => error instanceof AwsOperationError && /fail\.img\.part\.3/.test(error.message),
    );
    fake.faults.clear();
    assert.deepEqual(fake.objects('stream-3'), [], 'no part left behind');

    fake.putObjectDirect('stream-3', 'taken.img.part.0', Buffer.from('old'));
    const taken = path.join(folder.dir, 'taken.img');
    writeImage(taken, [{ kind: 'random', bytes: 1000 }]);
    await assert.rejects(
      bundleWithTestKeys(taken, '', {
        output: new S3BundleOutput({ s3: aws.s3, location: parseBucketArgument('stream-3') }),
      }),
      (error: unknown) =>
        error instanceof BundleInputError && /already holds a bundle named taken\.img/.test(error.message),
    );
    assert.deepEqual(
      fake.objects('stream-3').map((object) => object.key),
      ['taken.img.part.0'],
      'the earlier bundle is untouched',
    );
  });
  it('with resumable, keeps what a failed upload stored (no key in the clear), and the next run uploads only the rest', async () => {
    fake.createBucket('stream-4', { objectOwnership: 'ObjectWriter' });
    const image = path.join(folder.dir, 'resume.img');
    writeImage(image, [{ kind: 'random', bytes: 600 * 1024 }]);
    const location = parseBucketArgument('stream-4/r');
    const failing = (request: { key?: string }) => request.key === 'r/resume.img.part.05';
    fake.faults.inject({ service: 's3', operation: 'PutObject', kind: 'reset', match: failing });
    const first = new S3BundleOutput({ s3: aws.s3, location, partSize: 64 * 1024, concurrency: 2, resumable: true });
    await assert.rejects(
      bundleWithTestKeys(image, '', { output: first }, { keyHex: FIXED_KEY, ivHex: FIXED_IV }),
      (error: unknown) =>
        error instanceof BundleSuspendedError &&
        /resume\.img\.part\.05/.test(error.message) &&
        error.remedy.kind === 'resumeLater' &&
        /kept in s3:\/\/stream-4\/r\/: bundle it again the same way to resume, or delete them$/.test(error.message),
    );
    fake.faults.clear();
    const kept = fake
      .objects('stream-4')
      .map((object) => object.key)
      .sort();
    assert.ok(kept.includes('r/resume.img.resume.json'), `the record is stored: ${kept.join(', ')}`);
    assert.ok(!kept.includes('r/resume.img.manifest.xml'), 'no manifest: nothing can register a half bundle');
    const keptParts = kept.filter((key) => key.includes('.part.'));
    assert.ok(
      keptParts.length >= 5 && !keptParts.includes('r/resume.img.part.05'),
      `the parts before the failure are kept: ${keptParts.join(', ')}`,
    );
    const record = (fake.getObject('stream-4', 'r/resume.img.resume.json') as Buffer).toString('utf8');
    assert.ok(!record.includes(FIXED_KEY) && !record.includes(FIXED_IV), 'the AES key and IV are stored sealed only');
    assert.notEqual(
      fake.objects('stream-4').find((object) => object.key === 'r/resume.img.resume.json')?.acl,
      'aws-exec-read',
      'the record is not shared with EC2',
    );

    const before = fake.requests.length;
    const second = new S3BundleOutput({ s3: aws.s3, location, partSize: 64 * 1024, concurrency: 2, resumable: true });
    // A different key and IV on the second run: the resumed bundle must come out of the record's.
    const result = await bundleWithTestKeys(
      image,
      '',
      { output: second },
      { keyHex: 'ab'.repeat(16), ivHex: 'cd'.repeat(16) },
    );
    const puts = fake.requests
      .slice(before)
      .filter((request) => request.operation === 'PutObject')
      .map((request) => request.key);
    assert.equal(second.resumedParts, keptParts.length);
    assert.deepEqual(
      puts.filter((key) => keptParts.includes(key as string)),
      [],
      'no kept part is uploaded again',
    );
    assert.equal(puts.length, result.parts.length - keptParts.length + 1, 'the missing parts and the manifest');
    const after = fake
      .objects('stream-4')
      .map((object) => object.key)
      .sort();
    assert.deepEqual(
      after,
      [...result.parts.map((part) => `r/${part.filename}`), 'r/resume.img.manifest.xml'].sort(),
      'whole, and the record is gone',
    );
    const report = await downloadAndVerify('stream-4', 'r/', 'resume.img');
    assert.equal(report.digest, result.digest);
  });

  it('a resumed run that fails again and cannot write its record keeps the earlier record and every part', async () => {
    fake.createBucket('stream-6', { objectOwnership: 'ObjectWriter' });
    const image = path.join(folder.dir, 'again.img');
    writeImage(image, [{ kind: 'random', bytes: 600 * 1024 }]);
    const location = parseBucketArgument('stream-6');
    const output = () =>
      new S3BundleOutput({ s3: aws.s3, location, partSize: 64 * 1024, concurrency: 1, resumable: true });
    fake.faults.inject({
      service: 's3',
      operation: 'PutObject',
      kind: 'reset',
      match: (request) => request.key === 'again.img.part.06',
    });
    await assert.rejects(bundleWithTestKeys(image, '', { output: output() }), BundleSuspendedError);
    fake.faults.clear();
    const kept = fake
      .objects('stream-6')
      .map((object) => `${object.key} ${object.md5}`)
      .sort();
    const record = fake.getObject('stream-6', 'again.img.resume.json') as Buffer;

    // The resume fails on the manifest, after every part, and the record cannot be written either.
    fake.faults.inject({
      service: 's3',
      operation: 'PutObject',
      kind: 'reset',
      match: (request) => request.key === 'again.img.manifest.xml' || request.key === 'again.img.resume.json',
    });
    await assert.rejects(bundleWithTestKeys(image, '', { output: output() }), BundleSuspendedError);
    fake.faults.clear();
    const after = fake
      .objects('stream-6')
      .map((object) => `${object.key} ${object.md5}`)
      .sort();
    assert.ok(
      kept.every((entry) => after.includes(entry)),
      'no part of the first run is deleted',
    );
    assert.deepEqual(fake.getObject('stream-6', 'again.img.resume.json'), record, 'the earlier record stays');

    const resumed = output();
    const result = await bundleWithTestKeys(image, '', { output: resumed });
    assert.equal(resumed.resumedParts, 6, 'the parts the earlier record lists are kept');
    assert.equal((await downloadAndVerify('stream-6', '', 'again.img')).digest, result.digest);
  });

  it('refuses to resume an unfinished bundle of another image, and leaves it as it was', async () => {
    fake.createBucket('stream-5', { objectOwnership: 'ObjectWriter' });
    const image = path.join(folder.dir, 'other.img');
    writeImage(image, [{ kind: 'random', bytes: 300 * 1024 }]);
    const location = parseBucketArgument('stream-5');
    fake.faults.inject({
      service: 's3',
      operation: 'PutObject',
      kind: 'reset',
      match: (request) => request.key === 'other.img.part.2',
    });
    await assert.rejects(
      bundleWithTestKeys(image, '', {
        output: new S3BundleOutput({ s3: aws.s3, location, partSize: 64 * 1024, concurrency: 1, resumable: true }),
      }),
      BundleSuspendedError,
    );
    fake.faults.clear();
    const kept = fake
      .objects('stream-5')
      .map((object) => object.key)
      .sort();

    // Anyone can seal a key for the public certificate: a record with a key of someone else's choosing is refused.
    const recordText = (fake.getObject('stream-5', 'other.img.resume.json') as Buffer).toString('utf8');
    const forged = {
      ...JSON.parse(recordText),
      userEncryptedKey: seal(readCertificate(testPki().user.cert, 'certificate'), '11'.repeat(16)),
    };
    fake.putObjectDirect('stream-5', 'other.img.resume.json', Buffer.from(JSON.stringify(forged)));
    await assert.rejects(
      bundleWithTestKeys(image, '', {
        output: new S3BundleOutput({ s3: aws.s3, location, partSize: 64 * 1024, resumable: true }),
      }),
      (error: unknown) =>
        error instanceof BundleInputError &&
        error.input === 'privateKey' &&
        /not recorded with this key/.test(error.message),
    );
    fake.putObjectDirect('stream-5', 'other.img.resume.json', Buffer.from(recordText));

    writeImage(image, [{ kind: 'random', bytes: 300 * 1024 }], 1_700_000_100);
    await assert.rejects(
      bundleWithTestKeys(image, '', {
        output: new S3BundleOutput({ s3: aws.s3, location, partSize: 64 * 1024, resumable: true }),
      }),
      (error: unknown) =>
        error instanceof BundleInputError &&
        error.input === 'image' &&
        /unfinished bundle named other\.img made from another image/.test(error.message),
    );
    assert.deepEqual(
      fake
        .objects('stream-5')
        .map((object) => object.key)
        .sort(),
      kept,
      'nothing removed or added',
    );
    await assert.rejects(
      bundleWithTestKeys(image, '', { output: new S3BundleOutput({ s3: aws.s3, location, partSize: 64 * 1024 }) }),
      (error: unknown) =>
        error instanceof BundleInputError && /already holds a bundle named other\.img/.test(error.message),
      'without resumable, an unfinished bundle is a bundle already there',
    );
  });
});
