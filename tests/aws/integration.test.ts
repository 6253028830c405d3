/**
 * The AWS layer end to end against the fake AWS, with the real SDK clients over HTTP:
 * bundle → upload → register → run → retag → terminate → deregister → delete, plus resume, ACL
 * preflight, faults and the zero-orphans rule.
 */
import { strict as assert } from 'assert';
import { promises as fs } from 'fs';
import * as path from 'path';
import { createClients, AwsClients } from '../../provider/aws/clients';
import { deleteBundle } from '../../provider/aws/deleteBundle';
import { AwsInputError, AwsOperationError } from '../../provider/aws/errors';
import { imageId, InstanceId } from '../../provider/aws/ids';
import { findPvGrubKernel } from '../../provider/aws/kernels';
import { deregisterImage, describeImage, ImageNotAvailableError, registerAndWait } from '../../provider/aws/images';
import {
  describeInstance,
  InstanceNotRunningError,
  launchAndWait,
  terminateInstance,
} from '../../provider/aws/instances';
import { BundleLocation, parseBucketArgument } from '../../provider/aws/location';
import { updateTags } from '../../provider/aws/tags';
import { uploadBundle } from '../../provider/aws/upload';
import { BundleResult } from '../../provider/bundle/bundle';
import { bundleWithTestKeys } from '../helpers/bundles';
import { MiB, temporaryFolder, writeImage } from '../helpers/tools';
import { LocalAws } from '../../testing/localAws';

const FAST_WAIT = { minDelaySeconds: 0.02, maxDelaySeconds: 0.05, maxWaitSeconds: 5 };

describe('AWS layer against the fake AWS', function () {
  this.timeout(60_000);
  let fake: LocalAws;
  let aws: AwsClients;
  let folder: ReturnType<typeof temporaryFolder>;
  let bundle: BundleResult;
  let location: BundleLocation;

  before(async () => {
    fake = await LocalAws.start({ instancePendingMs: 30, instanceShuttingDownMs: 30, imagePendingMs: 20 });
    aws = createClients({
      endpoint: fake.endpoint,
      region: fake.region,
      credentials: fake.credentials,
      maxAttempts: 3,
    });
    folder = temporaryFolder('aws');
    const image = path.join(folder.dir, 'app.img');
    writeImage(image, [
      { kind: 'random', bytes: MiB + 1000 },
      { kind: 'zeros', bytes: MiB },
    ]);
    const out = path.join(folder.dir, 'bundle');
    await fs.mkdir(out);
    // Small parts keep the test fast while exercising many parts and index padding.
    bundle = await bundleWithTestKeys(image, out, {}, { partSize: 64 * 1024 });
  });
  after(async () => {
    await fake.stop();
    folder.cleanup();
  });
  beforeEach(() => {
    fake.faults.clear();
    fake.clearRequests();
  });

  let bucketCounter = 0;
  const buckets: string[] = ['not-yet-there'];
  function freshBucket(options: Parameters<LocalAws['createBucket']>[1] = { objectOwnership: 'ObjectWriter' }): string {
    const name = `bundles-${++bucketCounter}`;
    buckets.push(name);
    fake.createBucket(name, options);
    return name;
  }

  /** PUTs of the bundle's objects (the claim on the place, NAME.resume.json, aside). */
  const puts = () =>
    fake.requests.filter((request) => request.operation === 'PutObject' && !request.key?.endsWith('.resume.json'));

  it('runs the whole path and leaves nothing behind', async () => {
    location = parseBucketArgument(`${freshBucket()}/images/v1`);
    const upload = await uploadBundle({ s3: aws.s3, manifestPath: bundle.manifestPath, location });
    assert.equal(upload.imageLocation, `${location.bucket}/images/v1/app.img.manifest.xml`);
    const stored = fake.objects(location.bucket);
    assert.equal(stored.length, bundle.parts.length + 1);
    assert.ok(
      stored.every((object) => object.acl === 'aws-exec-read'),
      'every object carries the aws-exec-read ACL',
    );
    const putRequests = puts();
    assert.equal(putRequests[putRequests.length - 1].key, 'images/v1/app.img.manifest.xml', 'manifest uploaded last');
    assert.ok(
      putRequests.every((request) => /^[A-Za-z0-9+/]{22}==$/.test(request.headers['content-md5'] ?? '')),
      'Content-MD5 on every PUT',
    );
    assert.ok(
      putRequests.every((request) => request.headers['content-encoding'] !== 'aws-chunked'),
      'no aws-chunked bodies',
    );
    for (const part of bundle.parts) {
      assert.deepEqual(
        fake.getObject(location.bucket, `images/v1/${part.filename}`),
        await fs.readFile(path.join(path.dirname(bundle.manifestPath), part.filename)),
      );
    }

    const image = await registerAndWait({
      ec2: aws.ec2,
      imageLocation: upload.imageLocation,
      name: 'app-v1',
      description: 'test image',
      architecture: 'x86_64',
      tags: { project: 'unikernel' },
      wait: FAST_WAIT,
    });
    assert.equal(image.state, 'available');
    const registered = fake.images().find((candidate) => candidate.imageId === image.imageId);
    assert.ok(registered);
    assert.equal(registered.location, upload.imageLocation);
    assert.equal(registered.virtualizationType, 'paravirtual');
    assert.match(registered.kernelId ?? '', /^aki-/, 'a PV-GRUB kernel was looked up');
    const kernelLookup = fake.requests.find(
      (request) => request.operation === 'DescribeImages' && request.params['Owner.1'] === 'amazon',
    );
    assert.ok(kernelLookup, 'PV-GRUB AKI looked up among Amazon-owned kernels');
    assert.deepEqual(registered.tags, { project: 'unikernel' });

    const instance = await launchAndWait({
      ec2: aws.ec2,
      imageId: image.imageId,
      instanceType: 'm1.small',
      clientToken: 'token-1',
      tags: { Name: 'app' },
      userData: 'hello',
      wait: FAST_WAIT,
    });
    assert.equal(instance.state, 'running');
    const run = fake.requests.find((request) => request.operation === 'RunInstances');
    assert.equal(run?.params.ClientToken, 'token-1');
    assert.equal(run?.params['MetadataOptions.HttpTokens'], 'required', 'IMDSv2 required by default');
    assert.equal(run?.params.UserData, Buffer.from('hello').toString('base64'));

    await updateTags(aws.ec2, instance.instanceId, { Name: 'app' }, { Name: 'app-2', team: 'core' });
    assert.deepEqual((await describeInstance(aws.ec2, instance.instanceId))?.tags, { Name: 'app-2', team: 'core' });

    await terminateInstance(aws.ec2, instance.instanceId, FAST_WAIT);
    assert.equal(
      fake.instances().find((candidate) => candidate.instanceId === instance.instanceId)?.state,
      'terminated',
    );
    assert.equal(await deregisterImage(aws.ec2, image.imageId), true);
    assert.equal(await describeImage(aws.ec2, image.imageId), undefined);
    assert.equal(await deregisterImage(aws.ec2, image.imageId), false, 'deregistering twice is not an error');
    const deleted = await deleteBundle({ s3: aws.s3, location, name: 'app.img' });
    assert.equal(deleted.deleted[0], 'images/v1/app.img.manifest.xml', 'manifest deleted first');
    assert.deepEqual(fake.objects(location.bucket), []);
  });

  it('launches once for a retried client token', async () => {
    location = parseBucketArgument(freshBucket());
    const upload = await uploadBundle({ s3: aws.s3, manifestPath: bundle.manifestPath, location });
    const image = await registerAndWait({
      ec2: aws.ec2,
      imageLocation: upload.imageLocation,
      name: 'token-test',
      architecture: 'x86_64',
      wait: FAST_WAIT,
    });
    const first = await launchAndWait({
      ec2: aws.ec2,
      imageId: image.imageId,
      instanceType: 'm3.medium',
      clientToken: 'same',
      wait: FAST_WAIT,
    });
    const second = await launchAndWait({
      ec2: aws.ec2,
      imageId: image.imageId,
      instanceType: 'm3.medium',
      clientToken: 'same',
      wait: FAST_WAIT,
    });
    assert.equal(first.instanceId, second.instanceId);
    assert.equal(fake.instances().filter((instance) => instance.imageId === image.imageId).length, 1);
    await terminateInstance(aws.ec2, first.instanceId, FAST_WAIT);
    await deregisterImage(aws.ec2, image.imageId);
    await deleteBundle({ s3: aws.s3, location, manifestPath: bundle.manifestPath });
  });

  it('refuses an instance type that cannot boot the image, before launching, naming types that can', async () => {
    location = parseBucketArgument(freshBucket());
    const upload = await uploadBundle({ s3: aws.s3, manifestPath: bundle.manifestPath, location });
    const image = await registerAndWait({
      ec2: aws.ec2,
      imageLocation: upload.imageLocation,
      name: 'nitro-test',
      architecture: 'x86_64',
      wait: FAST_WAIT,
    });
    fake.clearRequests();
    await assert.rejects(
      launchAndWait({
        ec2: aws.ec2,
        imageId: image.imageId,
        instanceType: 't3.micro',
        clientToken: 'nitro',
        wait: FAST_WAIT,
      }),
      (error: unknown) =>
        error instanceof AwsInputError &&
        /t3\.micro cannot boot .*instance-store.*types that can: .*m1\.small/.test(error.message),
    );
    assert.equal(fake.requests.filter((request) => request.operation === 'RunInstances').length, 0);
    await deregisterImage(aws.ec2, image.imageId);
    await deleteBundle({ s3: aws.s3, location, name: 'app.img' });
  });

  it('resumes an interrupted upload: only the missing parts go up the second time', async () => {
    location = parseBucketArgument(freshBucket());
    const victim = `${bundle.parts[5].filename}`;
    fake.faults.inject({
      service: 's3',
      operation: 'PutObject',
      kind: 'reset',
      times: 10,
      match: (request) => request.key === victim,
    });
    await assert.rejects(
      uploadBundle({ s3: aws.s3, manifestPath: bundle.manifestPath, location, concurrency: 1 }),
      (error: unknown) =>
        error instanceof AwsOperationError && /NetworkingError|ECONNRESET|socket/i.test(error.message),
    );
    const keysAfterFailure = fake.objects(location.bucket).map((object) => object.key);
    assert.ok(!keysAfterFailure.includes('app.img.manifest.xml'), 'no manifest for an incomplete bundle');
    assert.ok(keysAfterFailure.length >= 5);
    fake.faults.clear();
    fake.clearRequests();
    const resumed = await uploadBundle({ s3: aws.s3, manifestPath: bundle.manifestPath, location });
    assert.equal(resumed.skipped.length, keysAfterFailure.length);
    assert.equal(puts().length, bundle.parts.length - keysAfterFailure.length + 1);
    assert.equal(fake.objects(location.bucket).length, bundle.parts.length + 1);
    const again = await uploadBundle({ s3: aws.s3, manifestPath: bundle.manifestPath, location });
    assert.deepEqual(again.uploaded, [], 'a complete bundle is not uploaded again');
    await deleteBundle({ s3: aws.s3, location, name: 'app.img' });
  });

  it('fails before uploading anything to a bucket with ACLs disabled, saying what to change', async () => {
    location = parseBucketArgument(freshBucket({ objectOwnership: 'BucketOwnerEnforced' }));
    await assert.rejects(
      uploadBundle({ s3: aws.s3, manifestPath: bundle.manifestPath, location }),
      (error: unknown) =>
        error instanceof AwsInputError &&
        error.input === 'acl' &&
        /BucketOwnerEnforced.*put-bucket-ownership-controls.*ObjectWriter/.test(error.message),
    );
    assert.equal(puts().length, 0);
    assert.deepEqual(fake.objects(location.bucket), []);
  });

  it('refuses a missing bucket unless asked to create it, then creates it with ACLs enabled', async () => {
    location = parseBucketArgument('not-yet-there');
    await assert.rejects(
      uploadBundle({ s3: aws.s3, manifestPath: bundle.manifestPath, location }),
      /does not exist.*create/,
    );
    assert.equal(puts().length, 0);
    const result = await uploadBundle({ s3: aws.s3, manifestPath: bundle.manifestPath, location, createBucket: true });
    assert.equal(result.bucketCreated, true);
    assert.equal(fake.objects('not-yet-there').length, bundle.parts.length + 1);
    await deleteBundle({ s3: aws.s3, location, name: 'app.img' });
  });

  it('recovers from 500s and throttling with the SDK retry strategy', async () => {
    location = parseBucketArgument(freshBucket());
    fake.faults.inject({
      service: 's3',
      operation: 'PutObject',
      kind: 'status',
      status: 500,
      code: 'InternalError',
      times: 2,
      match: (request) => request.key?.includes('.part.') === true,
    });
    fake.faults.inject({
      service: 's3',
      operation: 'PutObject',
      kind: 'throttle',
      times: 1,
      match: (request) => request.key?.includes('.part.') === true,
    });
    fake.faults.inject({ service: 'ec2', operation: 'RegisterImage', kind: 'throttle', times: 1 });
    const upload = await uploadBundle({ s3: aws.s3, manifestPath: bundle.manifestPath, location });
    assert.equal(fake.objects(location.bucket).length, bundle.parts.length + 1);
    const image = await registerAndWait({
      ec2: aws.ec2,
      imageLocation: upload.imageLocation,
      name: 'retry-test',
      architecture: 'x86_64',
      wait: FAST_WAIT,
    });
    assert.equal(
      fake.images().filter((candidate) => candidate.name === 'retry-test').length,
      1,
      'one image despite the retried call',
    );
    await deregisterImage(aws.ec2, image.imageId);
    await deleteBundle({ s3: aws.s3, location, name: 'app.img' });
  });

  it('tolerates NotFound right after RegisterImage and RunInstances', async () => {
    location = parseBucketArgument(freshBucket());
    const upload = await uploadBundle({ s3: aws.s3, manifestPath: bundle.manifestPath, location });
    fake.faults.inject({ service: 'ec2', operation: 'RegisterImage', kind: 'notFoundAfterCreate', forCalls: 2 });
    fake.faults.inject({ service: 'ec2', operation: 'RunInstances', kind: 'notFoundAfterCreate', forCalls: 2 });
    const image = await registerAndWait({
      ec2: aws.ec2,
      imageLocation: upload.imageLocation,
      name: 'eventual',
      architecture: 'x86_64',
      wait: FAST_WAIT,
    });
    const instance = await launchAndWait({
      ec2: aws.ec2,
      imageId: image.imageId,
      instanceType: 'm1.small',
      clientToken: 'eventual',
      wait: FAST_WAIT,
    });
    assert.equal(instance.state, 'running');
    await terminateInstance(aws.ec2, instance.instanceId, FAST_WAIT);
    await deregisterImage(aws.ec2, image.imageId);
    await deleteBundle({ s3: aws.s3, location, name: 'app.img' });
  });

  it('reports an image that fails with AWS reason and its id, so the caller can clean up (no orphans)', async () => {
    location = parseBucketArgument(freshBucket());
    const upload = await uploadBundle({ s3: aws.s3, manifestPath: bundle.manifestPath, location });
    fake.faults.inject({
      service: 'ec2',
      operation: 'RegisterImage',
      kind: 'imageFails',
      message: 'Client.InvalidManifest: bundle digest mismatch',
    });
    let failedId = '';
    await assert.rejects(
      registerAndWait({
        ec2: aws.ec2,
        imageLocation: upload.imageLocation,
        name: 'doomed',
        architecture: 'x86_64',
        wait: FAST_WAIT,
      }),
      (error: unknown) => {
        assert.ok(error instanceof ImageNotAvailableError);
        assert.equal(error.state, 'failed');
        assert.match(error.message, /bundle digest mismatch/);
        failedId = error.imageId;
        return true;
      },
    );
    assert.ok(
      fake.images().some((candidate) => candidate.imageId === failedId),
      'the failed image exists and the caller has its id',
    );
    await deregisterImage(aws.ec2, imageId(failedId));
    await deleteBundle({ s3: aws.s3, location, name: 'app.img' });
    assert.ok(fake.images().every((candidate) => candidate.state === 'deregistered'));
  });

  it('reports an instance stuck pending with its id, and terminates it cleanly', async () => {
    location = parseBucketArgument(freshBucket());
    const upload = await uploadBundle({ s3: aws.s3, manifestPath: bundle.manifestPath, location });
    const image = await registerAndWait({
      ec2: aws.ec2,
      imageLocation: upload.imageLocation,
      name: 'stuck',
      architecture: 'x86_64',
      wait: FAST_WAIT,
    });
    fake.faults.inject({ service: 'ec2', operation: 'RunInstances', kind: 'stuckPending', times: 1 });
    let stuck = '' as InstanceId;
    await assert.rejects(
      launchAndWait({
        ec2: aws.ec2,
        imageId: image.imageId,
        instanceType: 'm1.small',
        clientToken: 'stuck',
        wait: { ...FAST_WAIT, maxWaitSeconds: 1 },
      }),
      (error: unknown) => {
        assert.ok(error instanceof InstanceNotRunningError);
        assert.equal(error.state, 'pending');
        stuck = error.instanceId;
        return true;
      },
    );
    fake.faults.clear();
    await terminateInstance(aws.ec2, stuck, FAST_WAIT);
    assert.equal(fake.instances().find((instance) => instance.instanceId === stuck)?.state, 'terminated');
    await deregisterImage(aws.ec2, image.imageId);
    await deleteBundle({ s3: aws.s3, location, name: 'app.img' });
  });

  it('refuses a wrong secret key through the signature check, with a remedy and no secret in the message', async () => {
    const wrong = createClients({
      endpoint: fake.endpoint,
      region: fake.region,
      credentials: { accessKeyId: fake.credentials.accessKeyId, secretAccessKey: 'not-the-secret' },
      maxAttempts: 1,
    });
    location = parseBucketArgument(freshBucket());
    await assert.rejects(
      uploadBundle({ s3: wrong.s3, manifestPath: bundle.manifestPath, location }),
      (error: unknown) => {
        assert.ok(error instanceof AwsOperationError);
        assert.equal(error.code, 'AccessDenied', 'HEAD answers have no body, so S3 can only say 403');
        assert.match(error.message, /check the credentials \(a wrong secret access key gives this too\)/);
        assert.ok(!error.message.includes('not-the-secret'));
        return true;
      },
    );
    assert.equal(puts().length, 0);
    await assert.rejects(describeImage(wrong.ec2, imageId('ami-12345678')), (error: unknown) => {
      assert.ok(error instanceof AwsOperationError);
      assert.equal(error.code, 'SignatureDoesNotMatch');
      assert.match(error.message, /secret access key does not match the access key id/);
      assert.ok(!error.message.includes('not-the-secret'));
      return true;
    });
  });

  it('removes parts of an earlier, larger bundle of the same name once the new manifest is up', async () => {
    location = parseBucketArgument(freshBucket());
    await uploadBundle({ s3: aws.s3, manifestPath: bundle.manifestPath, location });
    const smaller = path.join(folder.dir, 'smaller');
    await fs.mkdir(smaller);
    const image = path.join(folder.dir, 'small-src', 'app.img');
    await fs.mkdir(path.dirname(image));
    writeImage(image, [{ kind: 'random', bytes: 100 * 1024 }]);
    const small = await bundleWithTestKeys(image, smaller, {}, { partSize: 64 * 1024 });
    const result = await uploadBundle({ s3: aws.s3, manifestPath: small.manifestPath, location });
    assert.ok(result.removedStale.length > 0);
    assert.deepEqual(
      fake
        .objects(location.bucket)
        .map((object) => object.key)
        .sort(),
      [...small.parts.map((part) => part.filename), 'app.img.manifest.xml'].sort(),
    );
    await deleteBundle({ s3: aws.s3, location, name: 'app.img' });
    assert.deepEqual(fake.objects(location.bucket), []);
  });

  it('deletes by name through a paginated listing (more than 1,000 objects)', async () => {
    location = parseBucketArgument(`${freshBucket()}/deep`);
    for (let index = 0; index < 1005; index++)
      fake.putObjectDirect(location.bucket, `deep/many.part.${String(index).padStart(4, '0')}`, Buffer.from('x'));
    fake.putObjectDirect(location.bucket, 'deep/other.img.part.0', Buffer.from('keep'));
    const result = await deleteBundle({ s3: aws.s3, location, name: 'many', concurrency: 16 });
    assert.equal(result.deleted.length, 1006, 'manifest key + 1005 parts');
    assert.deepEqual(
      fake.objects(location.bucket).map((object) => object.key),
      ['deep/other.img.part.0'],
      'other bundles untouched',
    );
  });

  it('times out a request that hangs and retries it, and gives up at the overall deadline', async () => {
    location = parseBucketArgument(freshBucket());
    const impatient = createClients({
      endpoint: fake.endpoint,
      region: fake.region,
      credentials: fake.credentials,
      maxAttempts: 3,
      requestTimeoutMs: 300,
    });
    fake.faults.inject({ service: 's3', operation: 'PutObject', kind: 'latency', ms: 2000, times: 1 });
    const started = Date.now();
    await uploadBundle({ s3: impatient.s3, manifestPath: bundle.manifestPath, location, concurrency: 1 });
    assert.ok(Date.now() - started < 1900, 'the slow request was cut off by the per-request timeout and retried');
    assert.equal(fake.objects(location.bucket).length, bundle.parts.length + 1);

    const second = parseBucketArgument(freshBucket());
    fake.faults.inject({ service: 's3', operation: 'PutObject', kind: 'latency', ms: 300 });
    const deadlineStart = Date.now();
    await assert.rejects(
      uploadBundle({
        s3: aws.s3,
        manifestPath: bundle.manifestPath,
        location: second,
        concurrency: 1,
        deadlineMs: 500,
      }),
      (error: unknown) => {
        assert.ok(error instanceof Error);
        assert.match(`${error.name} ${error.message}`, /abort|timeout|deadline/i);
        return true;
      },
    );
    assert.ok(Date.now() - deadlineStart < 2000, 'the deadline stopped the upload');
    assert.ok(
      !fake.objects(second.bucket).some((object) => object.key.endsWith('.manifest.xml')),
      'no manifest for the unfinished bundle',
    );
    fake.faults.clear();
    // A PUT the deadline abandoned may still be carried out by the server: let it land before cleaning up.
    await new Promise((resolve) => setTimeout(resolve, 400));
    await deleteBundle({ s3: aws.s3, location, name: 'app.img' });
    await deleteBundle({ s3: aws.s3, location: second, name: 'app.img' });
  });

  it('leaves, after every case above (faults included), no object, AMI or instance the caller was not told about', () => {
    for (const bucket of buckets) {
      const left = fake.objects(bucket).filter((object) => object.key !== 'deep/other.img.part.0');
      assert.deepEqual(left, [], `bucket ${bucket} is empty`);
    }
    assert.deepEqual(
      fake
        .images()
        .filter((image) => image.state !== 'deregistered')
        .map((image) => image.imageId),
      [],
    );
    assert.deepEqual(
      fake
        .instances()
        .filter((instance) => instance.state !== 'terminated')
        .map((instance) => instance.instanceId),
      [],
    );
  });
});

describe('PV-GRUB kernel lookup by region', () => {
  it('finds Amazon hd0 kernels in a PV region, and in a newer region says that it has no PV at all', async () => {
    for (const [region, expected] of [
      ['us-east-1', /^aki-919dcaf8$/],
      [
        'eu-north-1',
        /eu-north-1 has no paravirtual instances: use one of us-east-1, .*us-gov-west-1, or an EBS-backed HVM image/,
      ],
    ] as const) {
      const local = await LocalAws.start({ region });
      const { ec2 } = createClients({
        endpoint: local.endpoint,
        region,
        credentials: local.credentials,
        maxAttempts: 1,
      });
      try {
        const found = await findPvGrubKernel(ec2, 'x86_64').then(String, (error: unknown) =>
          error instanceof AwsInputError ? error.message : assert.fail(String(error)),
        );
        assert.match(found, expected);
      } finally {
        ec2.destroy();
        await local.stop();
      }
    }
  });
});
