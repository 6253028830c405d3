import { strict as assert } from 'assert';
import { randomBytes } from 'crypto';
import {
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeInstanceTypesCommand,
  EC2Client,
  EC2ServiceException,
  RegisterImageCommand,
  RunInstancesCommand,
  waitUntilImageAvailable,
  waitUntilInstanceRunning,
} from '@aws-sdk/client-ec2';
import { PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { LocalAws, md5Hex } from '../../testing/localAws';
import { ec2For, FAST_WAITER, s3For, uploadTestBundle } from './testSupport';

async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof Error) return error;
    throw error;
  }
  assert.fail('expected the request to fail');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe('fake AWS: fault injection', function () {
  let fake: LocalAws;
  let s3: S3Client;
  let ec2: EC2Client;
  let retryingS3: S3Client;
  let retryingEc2: EC2Client;
  const cleanups: Array<() => void> = [];

  beforeEach(async () => {
    fake = await LocalAws.start({ imagePendingMs: 40, instancePendingMs: 40, instanceShuttingDownMs: 40 });
    fake.createBucket('fault-bucket');
    s3 = s3For(fake);
    ec2 = ec2For(fake);
    retryingS3 = s3For(fake, { maxAttempts: 3 });
    retryingEc2 = ec2For(fake, { maxAttempts: 3 });
  });

  afterEach(async () => {
    for (const client of [s3, ec2, retryingS3, retryingEc2]) client.destroy();
    await fake.stop();
    cleanups.splice(0).forEach((cleanup) => cleanup());
  });

  async function availableImage(): Promise<string> {
    const uploaded = await uploadTestBundle(s3, 'fault-bucket', 'img/', { name: 'fault.img' });
    cleanups.push(uploaded.cleanup);
    const { ImageId } = await ec2.send(
      new RegisterImageCommand({ Name: 'fault-image', ImageLocation: uploaded.location }),
    );
    await waitUntilImageAvailable({ client: ec2, ...FAST_WAITER }, { ImageIds: [ImageId!] });
    return ImageId!;
  }

  it('answers injected 500s; the default retry strategy recovers', async () => {
    const fault = fake.faults.inject({
      service: 's3',
      operation: 'PutObject',
      kind: 'status',
      status: 500,
      code: 'InternalError',
      times: 2,
    });
    const single = await failure(
      s3.send(new PutObjectCommand({ Bucket: 'fault-bucket', Key: 'k', Body: Buffer.from('x') })),
    );
    assert.ok(single instanceof S3ServiceException);
    assert.equal(single.name, 'InternalError');
    assert.equal(single.$fault, 'server');
    fake.clearRequests();
    await retryingS3.send(new PutObjectCommand({ Bucket: 'fault-bucket', Key: 'k', Body: Buffer.from('x') }));
    assert.deepEqual(
      fake.requests.map((request) => [request.status, request.fault]),
      [
        [500, 'status'],
        [200, undefined],
      ],
    );
    assert.equal(fault.hits, 2);
    assert.deepEqual(fake.getObject('fault-bucket', 'k'), Buffer.from('x'));
  });

  it('throttles: EC2 400 RequestLimitExceeded and S3 503 SlowDown, both retried by the SDK', async () => {
    fake.faults.inject({ service: 'ec2', operation: 'DescribeInstanceTypes', kind: 'throttle', times: 2 });
    const throttled = await failure(ec2.send(new DescribeInstanceTypesCommand({ InstanceTypes: ['m1.small'] })));
    assert.ok(throttled instanceof EC2ServiceException);
    assert.equal(throttled.name, 'RequestLimitExceeded');
    assert.equal(throttled.$metadata.httpStatusCode, 400);
    const recovered = await retryingEc2.send(new DescribeInstanceTypesCommand({ InstanceTypes: ['m1.small'] }));
    assert.equal(recovered.InstanceTypes?.[0].InstanceType, 'm1.small');
    assert.equal(recovered.$metadata.attempts, 2);

    fake.faults.inject({ service: 's3', operation: 'PutObject', kind: 'throttle', times: 1 });
    const result = await retryingS3.send(
      new PutObjectCommand({ Bucket: 'fault-bucket', Key: 'slow', Body: Buffer.from('x') }),
    );
    assert.equal(result.$metadata.attempts, 2);
    assert.deepEqual(
      fake.requests
        .filter((request) => request.operation === 'PutObject')
        .map((request) => [request.status, request.errorCode]),
      [
        [503, 'SlowDown'],
        [200, undefined],
      ],
    );
  });

  it('resets the connection part way through an upload: a network error without retries, recovered with them', async () => {
    const body = randomBytes(256 * 1024);
    fake.faults.inject({ operation: 'PutObject', kind: 'reset', times: 1 });
    const reset = await failure(s3.send(new PutObjectCommand({ Bucket: 'fault-bucket', Key: 'big', Body: body })));
    assert.ok(!(reset instanceof S3ServiceException), `a network error, not a service error: ${reset.name}`);
    assert.match(
      `${reset.name} ${(reset as NodeJS.ErrnoException).code ?? ''} ${reset.message}`,
      /ECONNRESET|EPIPE|socket hang up/i,
    );
    const [recorded] = fake.requests;
    assert.equal(recorded.status, 0);
    assert.equal(recorded.errorCode, 'ConnectionReset');
    assert.ok(
      recorded.bodyBytes > 0 && recorded.bodyBytes < body.length,
      `read ${recorded.bodyBytes} bytes before the reset`,
    );
    assert.deepEqual(fake.objects('fault-bucket'), []);

    fake.faults.inject({ operation: 'PutObject', kind: 'reset', times: 1 });
    await retryingS3.send(new PutObjectCommand({ Bucket: 'fault-bucket', Key: 'big', Body: body }));
    assert.equal(fake.objects('fault-bucket')[0].md5, md5Hex(body));
  });

  it('adds latency, and matches only what the rule selects', async () => {
    const slow = fake.faults.inject({
      operation: 'DescribeInstanceTypes',
      kind: 'latency',
      ms: 150,
      match: (request) => request.params['InstanceType.1'] === 'c3.large',
    });
    let started = Date.now();
    await ec2.send(new DescribeInstanceTypesCommand({ InstanceTypes: ['m1.small'] }));
    assert.ok(Date.now() - started < 150);
    started = Date.now();
    await ec2.send(new DescribeInstanceTypesCommand({ InstanceTypes: ['c3.large'] }));
    assert.ok(Date.now() - started >= 150);
    assert.equal(slow.hits, 1);
    slow.remove();
    started = Date.now();
    await ec2.send(new DescribeInstanceTypesCommand({ InstanceTypes: ['c3.large'] }));
    assert.ok(Date.now() - started < 150);
  });

  it('holds a request until the promise of its latency rule settles, then carries it out as things are then', async () => {
    let open = () => {};
    const until = new Promise<void>((resolve) => (open = resolve));
    const held = fake.faults.inject({ service: 's3', operation: 'PutObject', kind: 'latency', ms: 0, times: 1, until });
    let answered = false;
    const put = s3
      .send(new PutObjectCommand({ Bucket: 'fault-bucket', Key: 'held', Body: 'late', IfNoneMatch: '*' }))
      .then((answer) => ((answered = true), answer));
    while (!fake.requests.some((request) => request.key === 'held')) await new Promise((r) => setTimeout(r, 5));
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(answered, false, 'still held');
    assert.equal(fake.getObject('fault-bucket', 'held'), undefined, 'not carried out yet');
    open();
    const answer = await put;
    assert.equal(answer.ETag, `"${md5Hex(Buffer.from('late'))}"`);
    assert.equal(held.hits, 1);
  });

  it('hides new ids for a while after creation (eventual consistency), which the running waiter tolerates', async () => {
    const imageId = await availableImage();
    fake.faults.inject({ operation: 'RunInstances', kind: 'notFoundAfterCreate', forCalls: 2 });
    const { Instances } = await ec2.send(new RunInstancesCommand({ ImageId: imageId, MinCount: 1, MaxCount: 1 }));
    const instanceId = Instances![0].InstanceId!;
    for (let call = 0; call < 2; call++) {
      const hidden = await failure(ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] })));
      assert.equal(hidden.name, 'InvalidInstanceID.NotFound');
    }
    assert.equal((await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }))).Reservations?.length, 1);

    fake.faults.inject({ operation: 'RunInstances', kind: 'notFoundAfterCreate', forCalls: 1 });
    const second = await ec2.send(new RunInstancesCommand({ ImageId: imageId, MinCount: 1, MaxCount: 1 }));
    const waited = await waitUntilInstanceRunning(
      { client: ec2, ...FAST_WAITER },
      { InstanceIds: [second.Instances![0].InstanceId!] },
    );
    assert.equal(waited.state, 'SUCCESS');

    const uploaded = await uploadTestBundle(s3, 'fault-bucket', 'img2/', { name: 'later.img' });
    cleanups.push(uploaded.cleanup);
    fake.faults.inject({ operation: 'RegisterImage', kind: 'notFoundAfterCreate', forMs: 150 });
    const { ImageId } = await ec2.send(new RegisterImageCommand({ Name: 'later', ImageLocation: uploaded.location }));
    assert.equal(
      (await failure(ec2.send(new DescribeImagesCommand({ ImageIds: [ImageId!] })))).name,
      'InvalidAMIID.NotFound',
    );
    assert.deepEqual(
      (await ec2.send(new DescribeImagesCommand({ Owners: ['self'] }))).Images?.map((image) => image.ImageId),
      [imageId],
    );
    await sleep(170);
    assert.equal((await ec2.send(new DescribeImagesCommand({ ImageIds: [ImageId!] }))).Images?.length, 1);
  });

  it('keeps new instances and images pending forever with stuckPending', async () => {
    const imageId = await availableImage();
    fake.faults.inject({ operation: 'RunInstances', kind: 'stuckPending', times: 1 });
    const { Instances } = await ec2.send(new RunInstancesCommand({ ImageId: imageId, MinCount: 1, MaxCount: 1 }));
    const timedOut = await failure(
      waitUntilInstanceRunning(
        { client: ec2, minDelay: 0.02, maxDelay: 0.05, maxWaitTime: 0.3 },
        { InstanceIds: [Instances![0].InstanceId!] },
      ),
    );
    assert.match(timedOut.message, /TimeoutError|timed out|exceeded/i);
    assert.equal(fake.instances()[0].state, 'pending');

    const uploaded = await uploadTestBundle(s3, 'fault-bucket', 'img3/', { name: 'stuck.img' });
    cleanups.push(uploaded.cleanup);
    fake.faults.inject({ operation: 'RegisterImage', kind: 'stuckPending' });
    const { ImageId } = await ec2.send(new RegisterImageCommand({ Name: 'stuck', ImageLocation: uploaded.location }));
    await sleep(100);
    assert.equal((await ec2.send(new DescribeImagesCommand({ ImageIds: [ImageId!] }))).Images?.[0].State, 'pending');
  });

  it('fails a registered image with a state reason, and the image waiter reports the failure', async () => {
    const uploaded = await uploadTestBundle(s3, 'fault-bucket', 'img4/', { name: 'broken.img' });
    cleanups.push(uploaded.cleanup);
    fake.faults.inject({
      operation: 'RegisterImage',
      kind: 'imageFails',
      message: 'Client.InvalidManifest: the bundle could not be read',
    });
    const { ImageId } = await ec2.send(new RegisterImageCommand({ Name: 'broken', ImageLocation: uploaded.location }));
    const failed = await failure(waitUntilImageAvailable({ client: ec2, ...FAST_WAITER }, { ImageIds: [ImageId!] }));
    assert.match(failed.message, /FAILURE|failed/i);
    const [image] = (await ec2.send(new DescribeImagesCommand({ ImageIds: [ImageId!] }))).Images!;
    assert.equal(image.State, 'failed');
    assert.deepEqual(image.StateReason, {
      Code: 'Client.InvalidManifest',
      Message: 'Client.InvalidManifest: the bundle could not be read',
    });
  });

  it('records every request with its parameters, status and error code, faults included', async () => {
    fake.faults.inject({ service: 'ec2', operation: '*', kind: 'status', status: 503, code: 'Unavailable', times: 1 });
    const unavailable = await failure(
      ec2.send(new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: 'name', Values: ['a b', 'c&d'] }] })),
    );
    assert.equal(unavailable.name, 'Unavailable');
    await s3.send(
      new PutObjectCommand({
        Bucket: 'fault-bucket',
        Key: 'dir/file name.txt',
        Body: Buffer.from('hello'),
        ACL: 'aws-exec-read',
      }),
    );
    const [describe, put] = fake.requests;
    assert.equal(describe.service, 'ec2');
    assert.equal(describe.operation, 'DescribeImages');
    assert.equal(describe.method, 'POST');
    assert.equal(describe.path, '/');
    assert.deepEqual(describe.params, {
      Action: 'DescribeImages',
      Version: '2016-11-15',
      'Owner.1': 'self',
      'Filter.1.Name': 'name',
      'Filter.1.Value.1': 'a b',
      'Filter.1.Value.2': 'c&d',
    });
    assert.equal(describe.status, 503);
    assert.equal(describe.errorCode, 'Unavailable');
    assert.equal(describe.fault, 'status');
    assert.match(describe.requestId, /^[0-9a-f-]{36}$/);

    assert.equal(put.service, 's3');
    assert.equal(put.operation, 'PutObject');
    assert.equal(put.method, 'PUT');
    assert.equal(put.bucket, 'fault-bucket');
    assert.equal(put.key, 'dir/file name.txt');
    assert.equal(put.path, '/fault-bucket/dir/file%20name.txt');
    assert.equal(put.query['x-id'], 'PutObject');
    assert.equal(put.headers['x-amz-acl'], 'aws-exec-read');
    assert.equal(put.bodyBytes, 5);
    assert.equal(put.status, 200);
    assert.equal(put.errorCode, undefined);

    fake.faults.clear();
    fake.clearRequests();
    assert.deepEqual(fake.requests, []);
  });
});
