/** `unikernel-ami upload` and `delete-bundle` against the fake AWS, configured only through the SDK's environment. */
import { strict as assert } from 'assert';
import { promises as fs } from 'fs';
import * as path from 'path';
import { LocalAws } from '../../testing/localAws';
import { bundleWithTestKeys } from '../helpers/bundles';
import { bundleCliArgs } from '../helpers/pki';
import { MiB, runCliAsync, temporaryFolder, writeImage } from '../helpers/tools';

describe('unikernel-ami upload and delete-bundle', function () {
  this.timeout(60_000);
  let fake: LocalAws;
  let folder: ReturnType<typeof temporaryFolder>;
  let manifestPath: string;
  let partCount: number;
  let environment: NodeJS.ProcessEnv;

  before(async () => {
    fake = await LocalAws.start();
    folder = temporaryFolder('aws-cli');
    const image = path.join(folder.dir, 'app.img');
    writeImage(image, [{ kind: 'random', bytes: MiB }]);
    const out = path.join(folder.dir, 'out');
    await fs.mkdir(out);
    const bundle = await bundleWithTestKeys(image, out, {}, { partSize: 256 * 1024 });
    manifestPath = bundle.manifestPath;
    partCount = bundle.parts.length;
    environment = {
      AWS_ENDPOINT_URL: fake.endpoint,
      AWS_REGION: fake.region,
      AWS_ACCESS_KEY_ID: fake.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: fake.credentials.secretAccessKey,
      AWS_PROFILE: '',
    };
  });
  after(async () => {
    await fake.stop();
    folder.cleanup();
  });

  it('uploads with ec2-upload-bundle option names, then deletes with ec2-delete-bundle option names', async () => {
    fake.createBucket('cli-bucket', { objectOwnership: 'ObjectWriter' });
    const logFile = path.join(folder.dir, 'upload.log');
    const upload = await runCliAsync(
      ['upload', '-b', 'cli-bucket/images', '-m', manifestPath, '--json', '--log-file', logFile],
      environment,
    );
    assert.equal(upload.status, 0, upload.stderr);
    const summary = JSON.parse(upload.stdout);
    assert.equal(summary.imageLocation, 'cli-bucket/images/app.img.manifest.xml');
    assert.equal(summary.uploaded.length, partCount + 1);
    assert.equal(fake.objects('cli-bucket').length, partCount + 1);
    const log = await fs.readFile(logFile, 'utf8');
    assert.match(log, /uploaded images\/app\.img\.part\.0/);
    assert.ok(!log.includes(fake.credentials.secretAccessKey), 'no secret in the log');

    const again = await runCliAsync(['upload', '-b', 'cli-bucket/images', '-m', manifestPath], environment);
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, /Uploaded 0 object\(s\).*already in S3/);

    const refused = await runCliAsync(['delete-bundle', '-b', 'cli-bucket/images', '-p', 'app.img'], environment);
    assert.notEqual(refused.status, 0);
    assert.match(refused.stderr, /-y\/--yes is needed/);
    assert.equal(fake.objects('cli-bucket').length, partCount + 1, 'nothing deleted without confirmation');

    const removed = await runCliAsync(
      ['delete-bundle', '-b', 'cli-bucket/images', '-p', 'app.img', '-y', '--json'],
      environment,
    );
    assert.equal(removed.status, 0, removed.stderr);
    assert.equal(JSON.parse(removed.stdout).deleted[0], 'images/app.img.manifest.xml');
    assert.deepEqual(fake.objects('cli-bucket'), []);
  });

  it('fails in one line, before uploading, on a bucket with ACLs disabled', async () => {
    fake.createBucket('enforced', { objectOwnership: 'BucketOwnerEnforced' });
    fake.clearRequests();
    const result = await runCliAsync(['upload', '-b', 'enforced', '-m', manifestPath], environment);
    assert.equal(result.status, 1);
    assert.equal(result.stderr.trim().split('\n').length, 1);
    assert.match(result.stderr, /^unikernel-ami upload: --acl: bucket enforced has ACLs disabled/);
    assert.equal(fake.requests.filter((request) => request.operation === 'PutObject').length, 0);
  });

  it('refuses a wrong secret key with one line that names no secret', async () => {
    fake.createBucket('secret-test', { objectOwnership: 'ObjectWriter' });
    const result = await runCliAsync(['upload', '-b', 'secret-test', '-m', manifestPath, '--retry', '1'], {
      ...environment,
      AWS_SECRET_ACCESS_KEY: 'wrong-secret-value',
    });
    assert.equal(result.status, 1);
    assert.match(result.stderr, /check the credentials/);
    assert.ok(!result.stderr.includes('wrong-secret-value'));
    assert.deepEqual(fake.objects('secret-test'), []);
  });

  it('bundles straight into S3 with --bucket, then delete-bundle removes it', async () => {
    fake.createBucket('direct', { objectOwnership: 'ObjectWriter' });
    const image = path.join(folder.dir, 'direct.img');
    writeImage(image, [
      { kind: 'random', bytes: 300 * 1024 },
      { kind: 'zeros', bytes: MiB },
    ]);
    fake.clearRequests();
    const bundled = await runCliAsync(
      [...bundleCliArgs(image, fake.accountId), '-b', 'direct/v1', '--json'],
      environment,
    );
    assert.equal(bundled.status, 0, bundled.stderr);
    const summary = JSON.parse(bundled.stdout);
    assert.equal(summary.imageLocation, 'direct/v1/direct.img.manifest.xml');
    assert.deepEqual(
      fake.objects('direct').map((object) => object.key),
      ['v1/direct.img.manifest.xml', 'v1/direct.img.part.0'],
    );
    assert.equal(
      fake.requests.filter((request) => request.operation === 'PutObject').pop()?.key,
      'v1/direct.img.manifest.xml',
      'manifest last',
    );

    const again = await runCliAsync([...bundleCliArgs(image, fake.accountId), '-b', 'direct/v1'], environment);
    assert.equal(again.status, 1);
    assert.match(
      again.stderr,
      /^unikernel-ami bundle: -b\/--bucket: s3:\/\/direct\/v1\/ already holds a bundle named direct\.img/,
    );

    const removed = await runCliAsync(['delete-bundle', '-b', 'direct/v1', '-p', 'direct.img', '-y'], environment);
    assert.equal(removed.status, 0, removed.stderr);
    assert.deepEqual(fake.objects('direct'), []);
  });
  it('bundle --bucket and upload say so when S3 will not remove their claim at the end, and exit 0 with the bundle whole', async () => {
    fake.createBucket('sticky', { objectOwnership: 'ObjectWriter' });
    const image = path.join(folder.dir, 'sticky.img');
    writeImage(image, [{ kind: 'random', bytes: 200 * 1024 }]);
    const claimDelete = {
      service: 's3' as const,
      operation: 'DeleteObject',
      kind: 'status' as const,
      status: 403,
      code: 'AccessDenied',
      match: (request: { key?: string }) => request.key?.endsWith('.resume.json') === true,
    };
    const line = (key: string) =>
      new RegExp(
        `The bundle is whole, but its claim could not be removed: s3://sticky/${key.replace(/\./g, '\\.')} \\(.*AccessDenied.*\\)\\. A run on another host finds the place held until it is: remove that object \\(aws s3 rm\\)`,
      );
    fake.faults.inject(claimDelete);
    const bundled = await runCliAsync([...bundleCliArgs(image, fake.accountId), '-b', 'sticky/v1'], environment);
    const uploaded = await runCliAsync(['upload', '-b', 'sticky/v2', '-m', manifestPath], environment);
    fake.faults.clear();
    assert.equal(bundled.status, 0, bundled.stderr);
    assert.match(bundled.stdout + bundled.stderr, line('v1/sticky.img.resume.json'));
    assert.equal(uploaded.status, 0, uploaded.stderr);
    assert.match(uploaded.stdout + uploaded.stderr, line('v2/app.img.resume.json'));
    const keys = fake.objects('sticky').map((object) => object.key);
    for (const key of [
      'v1/sticky.img.manifest.xml',
      'v1/sticky.img.resume.json',
      'v2/app.img.manifest.xml',
      'v2/app.img.resume.json',
    ])
      assert.ok(keys.includes(key), `${key} is there: ${keys.join(', ')}`);
  });

  it('with --json, bundle --bucket and upload carry claimLeft in their summary when S3 will not remove their claim', async () => {
    fake.createBucket('sticky-json', { objectOwnership: 'ObjectWriter' });
    const image = path.join(folder.dir, 'sticky-json.img');
    writeImage(image, [{ kind: 'random', bytes: 200 * 1024 }]);
    fake.faults.inject({
      service: 's3',
      operation: 'DeleteObject',
      kind: 'status',
      status: 403,
      code: 'AccessDenied',
      match: (request) => request.key?.endsWith('.resume.json') === true,
    });
    const bundled = await runCliAsync(
      [...bundleCliArgs(image, fake.accountId), '-b', 'sticky-json/v1', '--json'],
      environment,
    );
    const uploaded = await runCliAsync(['upload', '-b', 'sticky-json/v2', '-m', manifestPath, '--json'], environment);
    fake.faults.clear();
    for (const [run, key] of [
      [bundled, 'v1/sticky-json.img.resume.json'],
      [uploaded, 'v2/app.img.resume.json'],
    ] as const) {
      assert.equal(run.status, 0, run.stderr);
      assert.equal(run.stderr, '', 'nothing but the summary');
      const summary = JSON.parse(run.stdout);
      assert.match(
        String(summary.claimLeft),
        new RegExp(`^s3://sticky-json/${key.replace(/\./g, '\\.')} \\(.*AccessDenied.*\\)$`),
      );
      assert.ok(fake.getObject('sticky-json', key), `${key} is there, as the summary says`);
    }
  });

  it('bundle --bucket resumes a failed upload when run again, and delete-bundle removes an unfinished one', async () => {
    fake.createBucket('resume', { objectOwnership: 'ObjectWriter' });
    const image = path.join(folder.dir, 'resume.img');
    writeImage(image, [{ kind: 'random', bytes: 25 * MiB }]);
    const args = [...bundleCliArgs(image, fake.accountId), '-b', 'resume/v1', '--concurrency', '1', '--json'];
    fake.faults.inject({
      service: 's3',
      operation: 'PutObject',
      kind: 'reset',
      match: (request) => request.key === 'v1/resume.img.part.1',
    });
    const failed = await runCliAsync(args, environment);
    fake.faults.clear();
    assert.equal(failed.status, 1);
    assert.match(
      failed.stderr,
      /resume\.img\.part\.1.*kept in s3:\/\/resume\/v1\/: run the same command again to resume/,
    );
    assert.deepEqual(
      fake
        .objects('resume')
        .map((object) => object.key)
        .sort(),
      ['v1/resume.img.part.0', 'v1/resume.img.resume.json'],
    );

    fake.clearRequests();
    const resumed = await runCliAsync(args, environment);
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.equal(JSON.parse(resumed.stdout).resumedParts, 1);
    const puts = fake.requests.filter((request) => request.operation === 'PutObject').map((request) => request.key);
    assert.deepEqual(puts, ['v1/resume.img.part.1', 'v1/resume.img.part.2', 'v1/resume.img.manifest.xml']);
    assert.deepEqual(
      fake
        .objects('resume')
        .map((object) => object.key)
        .sort(),
      ['v1/resume.img.manifest.xml', 'v1/resume.img.part.0', 'v1/resume.img.part.1', 'v1/resume.img.part.2'],
    );

    fake.faults.inject({
      service: 's3',
      operation: 'PutObject',
      kind: 'reset',
      match: (request) => request.key === 'v2/resume.img.part.2',
    });
    const failedAgain = await runCliAsync(
      [...args.slice(0, -4), 'resume/v2', '--concurrency', '1', '--json'],
      environment,
    );
    fake.faults.clear();
    assert.equal(failedAgain.status, 1);
    const removed = await runCliAsync(['delete-bundle', '-b', 'resume/v2', '-p', 'resume.img', '-y'], environment);
    assert.equal(removed.status, 0, removed.stderr);
    assert.deepEqual(
      fake.objects('resume').filter((object) => object.key.startsWith('v2/')),
      [],
      'parts and record removed',
    );
  });
});
