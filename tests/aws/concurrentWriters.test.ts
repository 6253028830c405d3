/**
 * Two writers at one bundle place, re-runs with another ACL, forged resume records: what S3's
 * conditional writes and the claim on the place make of them, against the local AWS over HTTP.
 */
import { strict as assert } from 'assert';
import { mkdirSync } from 'fs';
import { hostname } from 'os';
import * as path from 'path';
import { bundleToS3 } from '../../provider/aws/bundleToS3';
import { LocationHeldError } from '../../provider/aws/bundleClaim';
import { createClients, AwsClients } from '../../provider/aws/clients';
import { deleteBundle } from '../../provider/aws/deleteBundle';
import { parseBucketArgument } from '../../provider/aws/location';
import { S3BundleOutput } from '../../provider/aws/s3BundleOutput';
import { uploadBundle } from '../../provider/aws/upload';
import { BundleSuspendedError } from '../../provider/bundle/bundle';
import { md5Hex } from '../../testing/localAws';
import { LocalAws } from '../../testing/localAws';
import { bundleWithTestKeys } from '../helpers/bundles';
import { testPki } from '../helpers/pki';
import { auditBucket } from '../helpers/s3Bundles';
import { temporaryFolder, writeImage } from '../helpers/tools';

const PART = 64 * 1024;

describe('two writers at one bundle place, re-runs and forged records', function () {
  this.timeout(120_000);
  let local: LocalAws;
  let aws: AwsClients;
  let folder: ReturnType<typeof temporaryFolder>;
  let bucketCount = 0;

  before(async () => {
    local = await LocalAws.start();
    aws = createClients({
      endpoint: local.endpoint,
      region: local.region,
      credentials: local.credentials,
      maxAttempts: 3,
    });
    folder = temporaryFolder('concurrent-writers');
  });
  after(async () => {
    await local.stop();
    folder.cleanup();
  });

  function freshBucket(): string {
    const name = `race-${++bucketCount}`;
    local.createBucket(name, { objectOwnership: 'ObjectWriter' });
    return name;
  }

  let imageCount = 0;
  function image(name: string, kib: number): string {
    const file = path.join(folder.dir, `image-${++imageCount}`, name);
    mkdirSync(path.dirname(file), { recursive: true });
    writeImage(file, [{ kind: 'random', bytes: kib * 1024 }]);
    return file;
  }

  function toS3(imagePath: string, bucket: string, policy: 'resume' | 'refuse', acl?: 'none' | 'aws-exec-read') {
    const pki = testPki();
    return bundleToS3(
      {
        imagePath,
        s3: aws.s3,
        location: parseBucketArgument(`${bucket}/v1`),
        privateKey: pki.user.key,
        userCertificate: pki.user.cert,
        ec2Certificate: pki.ec2.cert,
        accountId: '123456789012',
        architecture: 'x86_64',
        unfinished: policy,
        concurrency: 2,
        acl,
      },
      { partSize: PART },
    );
  }

  const settle = <T>(promise: Promise<T>) =>
    promise.then(
      (value) => ({ ok: true as const, value }),
      (error: unknown) => ({ ok: false as const, error }),
    );

  for (const policy of ['resume', 'refuse'] as const) {
    it(`two runs (${policy}) of different images to one place at once: one wins, the other fails naming the claim`, async () => {
      const bucket = freshBucket();
      // Both start at once; part uploads are slowed so that neither finishes before the other has begun.
      local.faults.inject({ service: 's3', operation: 'PutObject', kind: 'latency', ms: 30, times: 40 });
      const results = await Promise.all([
        settle(toS3(image('app.img', 400), bucket, policy)),
        settle(toS3(image('app.img', 500), bucket, policy)),
      ]);
      local.faults.clear();
      const won = results.filter((result) => result.ok);
      assert.equal(won.length, 1, 'exactly one run succeeds');
      const lost = results.find((result) => !result.ok);
      assert.ok(lost && !lost.ok);
      assert.ok(lost.error instanceof LocationHeldError, String(lost.error));
      assert.match(lost.error.message, /s3:\/\/race-\d+\/v1\/(app\.img\.resume\.json|)/);
      assert.match(lost.error.message, /held for the bundle app\.img by a bundle run \(pid \d+|another run/);
      const audit = await auditBucket(local, bucket, folder.dir);
      assert.deepEqual([...audit.broken], []);
      assert.deepEqual(audit.orphans, []);
      assert.deepEqual(audit.records, []);
      assert.equal(audit.bundles.get('v1/app.img.manifest.xml'), won[0].ok ? won[0].value.digest : '');
    });
  }

  it('a bundle run that a delete-bundle overtakes stops before its manifest counts, and nothing is left', async () => {
    const bucket = freshBucket();
    local.faults.inject({ service: 's3', operation: 'PutObject', kind: 'latency', ms: 40, times: 60 });
    const writing = settle(toS3(image('app.img', 700), bucket, 'resume'));
    await new Promise((resolve) => setTimeout(resolve, 150));
    await deleteBundle({ s3: aws.s3, location: parseBucketArgument(`${bucket}/v1`), name: 'app.img' });
    const result = await writing;
    local.faults.clear();
    assert.ok(!result.ok, 'the overtaken run does not report success');
    assert.ok(result.error instanceof LocationHeldError, String(result.error));
    assert.match(result.error.message, /another run is writing the bundle app\.img in s3:\/\/race-\d+\/v1\//);
    assert.deepEqual(local.objects(bucket), [], 'no manifest, no part, no record');
  });

  it('an upload that delete-bundle overtakes never leaves a manifest over missing parts, and removes what it wrote after', async () => {
    const bucket = freshBucket();
    const out = path.join(folder.dir, 'upload-race');
    mkdirSync(out, { recursive: true });
    const made = await bundleWithTestKeys(image('up.img', 600), out, {}, { partSize: PART });
    local.faults.inject({ service: 's3', operation: 'PutObject', kind: 'latency', ms: 40, times: 60 });
    const uploading = settle(
      uploadBundle({
        s3: aws.s3,
        manifestPath: made.manifestPath,
        location: parseBucketArgument(bucket),
        concurrency: 2,
      }),
    );
    await new Promise((resolve) => setTimeout(resolve, 120));
    await deleteBundle({ s3: aws.s3, location: parseBucketArgument(bucket), name: 'up.img' });
    const result = await uploading;
    local.faults.clear();
    assert.ok(!result.ok && result.error instanceof LocationHeldError, String(!result.ok && result.error));
    assert.match(result.error.message, /; none of the \d+ objects this run wrote is left/);
    const audit = await auditBucket(local, bucket, folder.dir);
    assert.equal(audit.bundles.size + audit.broken.size, 0, 'no manifest');
    assert.deepEqual(audit.records, [], 'the claim is not left behind');
    assert.deepEqual(local.objects(bucket), [], 'no part written after the delete is left behind');
  });

  it('an upload whose claim S3 would not remove at the end says so, and leaves the bundle whole', async () => {
    const bucket = freshBucket();
    const out = path.join(folder.dir, 'claim-left');
    mkdirSync(out, { recursive: true });
    const made = await bundleWithTestKeys(image('left.img', 200), out, {}, { partSize: PART });
    local.faults.inject({
      service: 's3',
      operation: 'DeleteObject',
      kind: 'status',
      status: 403,
      code: 'AccessDenied',
      match: (request) => request.key?.endsWith('.resume.json') === true,
    });
    const result = await uploadBundle({
      s3: aws.s3,
      manifestPath: made.manifestPath,
      location: parseBucketArgument(bucket),
    });
    local.faults.clear();
    assert.match(result.claimLeft ?? '', /^s3:\/\/race-\d+\/left\.img\.resume\.json \(.*AccessDenied/);
    const audit = await auditBucket(local, bucket, folder.dir);
    assert.equal(audit.bundles.size, 1, 'the bundle is whole');
    assert.equal(audit.records.length, 1, 'the claim it reported is there');
  });

  it('a re-run of upload gives every skipped object the ACL asked for', async () => {
    const bucket = freshBucket();
    const out = path.join(folder.dir, 'acl-rerun');
    mkdirSync(out, { recursive: true });
    const made = await bundleWithTestKeys(image('acl.img', 300), out, {}, { partSize: PART });
    const location = parseBucketArgument(bucket);
    await uploadBundle({ s3: aws.s3, manifestPath: made.manifestPath, location, acl: 'none' });
    assert.ok(local.objects(bucket).every((object) => object.acl === undefined));
    const again = await uploadBundle({ s3: aws.s3, manifestPath: made.manifestPath, location });
    assert.equal(again.uploaded.length, 0, 'nothing uploaded again');
    assert.deepEqual(
      local.objects(bucket).map((object) => [object.key, object.acl]),
      local.objects(bucket).map((object) => [object.key, 'aws-exec-read']),
      'every part and the manifest readable by EC2',
    );
  });

  it('a resumed bundle --bucket gives the parts it keeps the ACL asked for this time', async () => {
    const bucket = freshBucket();
    const imagePath = image('keep.img', 600);
    local.faults.inject({
      service: 's3',
      operation: 'PutObject',
      kind: 'reset',
      match: (request) => request.key === 'v1/keep.img.part.05',
    });
    await assert.rejects(toS3(imagePath, bucket, 'resume', 'none'), BundleSuspendedError);
    local.faults.clear();
    const result = await toS3(imagePath, bucket, 'resume', 'aws-exec-read');
    assert.ok(result.resumedParts >= 4, `parts kept: ${result.resumedParts}`);
    assert.deepEqual(
      local.objects(bucket).map((object) => object.acl),
      local.objects(bucket).map(() => 'aws-exec-read'),
    );
  });

  it('a forged resume record (a part replaced, its ETag written in) does not resume into a corrupt bundle', async () => {
    const bucket = freshBucket();
    const imagePath = image('forged.img', 600);
    local.faults.inject({
      service: 's3',
      operation: 'PutObject',
      kind: 'reset',
      match: (request) => request.key === 'v1/forged.img.part.05',
    });
    await assert.rejects(toS3(imagePath, bucket, 'resume'), BundleSuspendedError);
    local.faults.clear();
    const recordKey = 'v1/forged.img.resume.json';
    const record = JSON.parse((local.getObject(bucket, recordKey) as Buffer).toString('utf8')) as {
      parts: Array<{ index: number; key: string; size: number; etag: string }>;
    };
    const victim = record.parts.find((part) => part.index === 1);
    assert.ok(victim);
    const forgedBody = Buffer.alloc(victim.size, 0x5a);
    local.putObjectDirect(bucket, victim.key, forgedBody);
    victim.etag = md5Hex(forgedBody);
    local.putObjectDirect(bucket, recordKey, Buffer.from(JSON.stringify(record)));

    const result = await toS3(imagePath, bucket, 'resume');
    assert.equal(result.resumedParts, record.parts.length - 1, 'every recorded part kept but the replaced one');
    const audit = await auditBucket(local, bucket, folder.dir);
    assert.deepEqual([...audit.broken], []);
    assert.equal(audit.bundles.get('v1/forged.img.manifest.xml'), result.digest);
  });

  it('a claim left by a run killed on this host is taken over; a live one is refused, naming it', async () => {
    const bucket = freshBucket();
    const claim = (pid: number) =>
      Buffer.from(
        JSON.stringify({
          version: 1,
          name: 'dead.img',
          claim: {
            action: 'bundle',
            token: 'ab',
            host: hostname(),
            pid,
            since: '2026-12-06T00:00:00.000Z',
          },
        }),
      );
    // pid 2^22 + 1 is above Linux's pid_max: no process has it.
    local.putObjectDirect(bucket, 'v1/dead.img.resume.json', claim(4_194_305));
    local.putObjectDirect(bucket, 'v1/dead.img.part.0', Buffer.from('left by the killed run'));
    const result = await toS3(image('dead.img', 200), bucket, 'resume');
    const audit = await auditBucket(local, bucket, folder.dir);
    assert.equal(audit.bundles.get('v1/dead.img.manifest.xml'), result.digest);
    assert.deepEqual(audit.orphans, []);

    const other = freshBucket();
    local.putObjectDirect(other, 'v1/dead.img.resume.json', claim(process.pid));
    await assert.rejects(
      toS3(image('dead.img', 200), other, 'resume'),
      (error: unknown) =>
        error instanceof LocationHeldError &&
        new RegExp(
          `^s3://${other}/v1/ is held for the bundle dead\\.img by a bundle run \\(pid ${process.pid} on .*, since 2026-12-06T00:00:00\\.000Z\\) \\(s3://${other}/v1/dead\\.img\\.resume\\.json\\); wait for that run to end`,
        ).test(error.message),
    );
  });

  it('keeps S3BundleOutput usable on its own: a second output to a place being written is refused at once', async () => {
    const bucket = freshBucket();
    local.faults.inject({ service: 's3', operation: 'PutObject', kind: 'latency', ms: 40, times: 30 });
    const first = settle(
      bundleWithTestKeys(image('solo.img', 400), '', {
        output: new S3BundleOutput({ s3: aws.s3, location: parseBucketArgument(bucket), partSize: PART }),
      }),
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    await assert.rejects(
      bundleWithTestKeys(image('solo.img', 300), '', {
        output: new S3BundleOutput({ s3: aws.s3, location: parseBucketArgument(bucket), partSize: PART }),
      }),
      (error: unknown) =>
        error instanceof LocationHeldError || /already holds a bundle named solo\.img/.test(String(error)),
    );
    assert.ok((await first).ok);
    local.faults.clear();
  });
  /** A request the local AWS holds until `open` is called. */
  function gate() {
    let open = () => {};
    const until = new Promise<void>((resolve) => (open = resolve));
    return { until, open: () => open() };
  }
  /** Waits until a request of the operation to the key has arrived at the local AWS and not been answered. */
  async function inFlight(operation: string, key: string): Promise<void> {
    const started = Date.now();
    while (
      !local.requests.some((request) => request.operation === operation && request.key === key && !request.status)
    ) {
      assert.ok(Date.now() - started < 20_000, `${operation} ${key} arrived`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  // A run lists the place while another run holds it (parts stored, its manifest on the way), and reads
  // the claim once that run has finished and removed it: the listing it holds is out of date.
  for (const second of ['bundle', 'upload'] as const) {
    it(`${second === 'upload' ? 'an' : 'a'} ${second} run that lists a place as another run finishes there acts on the place as it is now, and leaves no claim`, async () => {
      const bucket = freshBucket();
      const manifestKey = 'v1/app.img.manifest.xml';
      const recordKey = 'v1/app.img.resume.json';
      const firstManifest = gate();
      local.faults.inject({
        service: 's3',
        operation: 'PutObject',
        kind: 'latency',
        ms: 0,
        times: 1,
        until: firstManifest.until,
        match: (request) => request.key === manifestKey,
      });
      const first = settle(toS3(image('app.img', 300), bucket, 'resume'));
      await inFlight('PutObject', manifestKey);
      assert.ok(local.getObject(bucket, recordKey), "the first run's claim is there");
      const secondRead = gate();
      local.faults.inject({
        service: 's3',
        operation: 'GetObject',
        kind: 'latency',
        ms: 0,
        times: 1,
        until: secondRead.until,
        match: (request) => request.key === recordKey,
      });
      const out = path.join(folder.dir, `listed-${bucket}`);
      mkdirSync(out, { recursive: true });
      const made =
        second === 'upload' ? await bundleWithTestKeys(image('app.img', 260), out, {}, { partSize: PART }) : undefined;
      const secondRun = settle<unknown>(
        made
          ? uploadBundle({
              s3: aws.s3,
              manifestPath: made.manifestPath,
              location: parseBucketArgument(`${bucket}/v1`),
              concurrency: 2,
            })
          : toS3(image('app.img', 260), bucket, 'resume'),
      );
      await inFlight('GetObject', recordKey);
      firstManifest.open();
      const firstResult = await first;
      assert.ok(firstResult.ok, String(!firstResult.ok && firstResult.error));
      assert.equal(local.getObject(bucket, recordKey), undefined, 'the first run removed its claim');
      secondRead.open();
      const secondResult = await secondRun;
      local.faults.clear();

      const audit = await auditBucket(local, bucket, folder.dir);
      assert.deepEqual([...audit.broken], [], 'every manifest verifies');
      assert.deepEqual(audit.orphans, [], 'nothing orphaned');
      assert.deepEqual(audit.records, [], 'no claim of a run that ended');
      if (second === 'bundle') {
        // A finished bundle is there: refused, as any bundle run to it is; the first run's bundle is whole.
        assert.ok(!secondResult.ok, 'the second bundle run does not succeed');
        assert.match(String(secondResult.error), /already holds a bundle named app\.img/);
        assert.equal(audit.bundles.get(manifestKey), firstResult.value.digest);
      } else {
        // An upload replaces a finished bundle of its name, as it would have after the first run.
        assert.ok(secondResult.ok, String(!secondResult.ok && secondResult.error));
        assert.equal(audit.bundles.get(manifestKey), made?.digest);
      }
    });
  }

  it("a bundle run that finds another run's part where it listed none stops, keeps that part and removes its own claim", async () => {
    const bucket = freshBucket();
    const recordKey = 'v1/other.img.resume.json';
    const partKey = 'v1/other.img.part.0';
    // Its claim is held back while another run's part appears at the place, after its listing.
    const claimPut = gate();
    local.faults.inject({
      service: 's3',
      operation: 'PutObject',
      kind: 'latency',
      ms: 0,
      times: 1,
      until: claimPut.until,
      match: (request) => request.key === recordKey,
    });
    const running = settle(toS3(image('other.img', 200), bucket, 'resume'));
    await inFlight('PutObject', recordKey);
    const theirs = Buffer.from('a part another run wrote');
    local.putObjectDirect(bucket, partKey, theirs);
    claimPut.open();
    const result = await running;
    local.faults.clear();
    assert.ok(!result.ok && result.error instanceof LocationHeldError, String(!result.ok && result.error));
    assert.match(result.error.message, /another run is writing the bundle other\.img .*part\.0 changed under this run/);
    assert.deepEqual(
      local.objects(bucket).map((object) => [object.key, object.md5]),
      [[partKey, md5Hex(theirs)]],
      "only the other run's part: no claim, no part of this run",
    );
  });
  it("a bundle run whose manifest meets another run's manifest keeps that manifest, and removes its own parts and claim", async () => {
    const bucket = freshBucket();
    const manifestKey = 'v1/late.img.manifest.xml';
    const manifestPut = gate();
    local.faults.inject({
      service: 's3',
      operation: 'PutObject',
      kind: 'latency',
      ms: 0,
      times: 1,
      until: manifestPut.until,
      match: (request) => request.key === manifestKey,
    });
    const running = settle(toS3(image('late.img', 200), bucket, 'refuse'));
    await inFlight('PutObject', manifestKey);
    const theirs = Buffer.from('<manifest>another run wrote this one</manifest>');
    local.putObjectDirect(bucket, manifestKey, theirs);
    manifestPut.open();
    const result = await running;
    local.faults.clear();
    assert.ok(!result.ok && result.error instanceof LocationHeldError, String(!result.ok && result.error));
    assert.match(result.error.message, /late\.img\.manifest\.xml was written under this run/);
    assert.deepEqual(
      local.objects(bucket).map((object) => [object.key, object.md5]),
      [[manifestKey, md5Hex(theirs)]],
      "only the other run's manifest",
    );
  });
});
