import { strict as assert } from 'assert';
import { createHash } from 'crypto';
import { request as httpRequest } from 'http';
import { DescribeImagesCommand, EC2ServiceException } from '@aws-sdk/client-ec2';
import { PutObjectCommand, S3ServiceException } from '@aws-sdk/client-s3';
import { assumedRoleCredentials } from '../../provider/aws/assumeRole';
import { LocalAws } from '../../testing/localAws';
import { ec2For, s3For, sendSigned } from './testSupport';

async function failure<E extends Error>(promise: Promise<unknown>, type: new (...args: never[]) => E): Promise<E> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof type) return error;
    throw error;
  }
  assert.fail('expected the request to fail');
}

describe('fake AWS: SigV4 checks', function () {
  let fake: LocalAws;

  beforeEach(async () => {
    fake = await LocalAws.start();
    fake.createBucket('auth-bucket');
  });

  afterEach(async () => {
    await fake.stop();
  });

  it('refuses a wrong secret with SignatureDoesNotMatch (403) on both services', async () => {
    const wrong = { accessKeyId: fake.credentials.accessKeyId, secretAccessKey: 'not-the-secret' };
    const s3 = s3For(fake, { credentials: wrong });
    const ec2 = ec2For(fake, { credentials: wrong });
    try {
      const s3Error = await failure(
        s3.send(new PutObjectCommand({ Bucket: 'auth-bucket', Key: 'k', Body: Buffer.from('x') })),
        S3ServiceException,
      );
      assert.equal(s3Error.name, 'SignatureDoesNotMatch');
      assert.equal(s3Error.$metadata.httpStatusCode, 403);
      const ec2Error = await failure(ec2.send(new DescribeImagesCommand({ Owners: ['self'] })), EC2ServiceException);
      assert.equal(ec2Error.name, 'SignatureDoesNotMatch');
      assert.equal(ec2Error.$metadata.httpStatusCode, 403);
      assert.ok(ec2Error.$metadata.requestId, 'x-amzn-requestid is sent');
    } finally {
      s3.destroy();
      ec2.destroy();
    }
    assert.deepEqual(fake.objects('auth-bucket'), []);
    assert.deepEqual(
      fake.requests.map((request) => [request.service, request.operation, request.status, request.errorCode]),
      [
        ['s3', 'PutObject', 403, 'SignatureDoesNotMatch'],
        ['ec2', 'DescribeImages', 403, 'SignatureDoesNotMatch'],
      ],
    );
  });

  it('refuses an unknown access key: InvalidAccessKeyId from S3, AuthFailure from EC2', async () => {
    const unknown = { accessKeyId: 'AKIDUNKNOWN', secretAccessKey: 'whatever' };
    const s3 = s3For(fake, { credentials: unknown });
    const ec2 = ec2For(fake, { credentials: unknown });
    try {
      const s3Error = await failure(
        s3.send(new PutObjectCommand({ Bucket: 'auth-bucket', Key: 'k', Body: Buffer.from('x') })),
        S3ServiceException,
      );
      assert.equal(s3Error.name, 'InvalidAccessKeyId');
      assert.equal(s3Error.$metadata.httpStatusCode, 403);
      const ec2Error = await failure(ec2.send(new DescribeImagesCommand({ Owners: ['self'] })), EC2ServiceException);
      assert.equal(ec2Error.name, 'AuthFailure');
      assert.equal(ec2Error.$metadata.httpStatusCode, 401);
    } finally {
      s3.destroy();
      ec2.destroy();
    }
  });

  it('refuses a clock more than 15 minutes off: RequestTimeTooSkewed from S3, RequestExpired from EC2', async () => {
    const s3 = s3For(fake, { systemClockOffset: -3_600_000 });
    const ec2 = ec2For(fake, { systemClockOffset: 3_600_000 });
    try {
      const s3Error = await failure(
        s3.send(new PutObjectCommand({ Bucket: 'auth-bucket', Key: 'k', Body: Buffer.from('x') })),
        S3ServiceException,
      );
      assert.equal(s3Error.name, 'RequestTimeTooSkewed');
      const ec2Error = await failure(ec2.send(new DescribeImagesCommand({ Owners: ['self'] })), EC2ServiceException);
      assert.equal(ec2Error.name, 'RequestExpired');
    } finally {
      s3.destroy();
      ec2.destroy();
    }
  });

  it('catches a body changed after signing: XAmzContentSHA256Mismatch from S3, SignatureDoesNotMatch from EC2', async () => {
    const body = 'original body';
    const s3Answer = await sendSigned(fake, {
      service: 's3',
      method: 'PUT',
      path: '/auth-bucket/tampered',
      headers: { 'x-amz-content-sha256': createHash('sha256').update(body).digest('hex') },
      body,
      tamper: () => 'Original body',
    });
    assert.equal(s3Answer.status, 400);
    assert.match(s3Answer.body, /<Code>XAmzContentSHA256Mismatch<\/Code>/);
    assert.ok(s3Answer.headers['x-amz-request-id']);
    assert.equal(fake.getObject('auth-bucket', 'tampered'), undefined);

    const form = 'Action=DescribeImages&Version=2016-11-15&Owner.1=self';
    const ec2Answer = await sendSigned(fake, {
      service: 'ec2',
      method: 'POST',
      path: '/',
      headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
      body: form,
      tamper: (text) => text.replace('self', 'amzn'),
    });
    assert.equal(ec2Answer.status, 403);
    assert.match(ec2Answer.body, /<Response><Errors><Error><Code>SignatureDoesNotMatch<\/Code>/);
    assert.ok(ec2Answer.headers['x-amzn-requestid']);
  });

  it('accepts the same raw requests untampered, which shows the checks are not refusing everything', async () => {
    const body = 'original body';
    const s3Answer = await sendSigned(fake, {
      service: 's3',
      method: 'PUT',
      path: '/auth-bucket/raw',
      headers: { 'x-amz-content-sha256': createHash('sha256').update(body).digest('hex') },
      body,
    });
    assert.equal(s3Answer.status, 200);
    assert.deepEqual(fake.getObject('auth-bucket', 'raw'), Buffer.from(body));
    const ec2Answer = await sendSigned(fake, {
      service: 'ec2',
      method: 'POST',
      path: '/',
      headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
      body: 'Action=DescribeInstanceTypes&Version=2016-11-15&InstanceType.1=m1.small',
    });
    assert.equal(ec2Answer.status, 200);
    assert.match(ec2Answer.body, /<instanceType>m1\.small<\/instanceType>/);
  });

  it('refuses unsigned requests', async () => {
    const answer = await new Promise<number>((resolve, reject) => {
      const url = new URL(fake.endpoint);
      const outgoing = httpRequest(
        { host: url.hostname, port: Number(url.port), method: 'GET', path: '/auth-bucket/k' },
        (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        },
      );
      outgoing.on('error', reject);
      outgoing.end();
    });
    assert.equal(answer, 403);
    assert.equal(fake.requests[0].errorCode, 'AccessDenied');
  });
  it('STS AssumeRole: temporary credentials work only with their own session token, and S3 says so when not', async () => {
    const role = fake.createRoleDirect('uploader', { maxSessionDurationSeconds: 7200 });
    const credentials = await assumedRoleCredentials({
      roles: [{ roleArn: role, sessionName: 'auth-test', durationSeconds: 3600 }],
      region: fake.region,
      endpoint: fake.endpoint,
      source: fake.credentials,
    })();
    assert.match(credentials.accessKeyId, /^ASIA[A-Z2-7]{16}$/);
    assert.ok(credentials.sessionToken);
    assert.ok(credentials.expiration && credentials.expiration.getTime() > Date.now() + 3500_000);
    const good = s3For(fake, { credentials });
    const tokenless = s3For(fake, {
      credentials: { accessKeyId: credentials.accessKeyId, secretAccessKey: credentials.secretAccessKey },
    });
    const otherToken = ec2For(fake, { credentials: { ...credentials, sessionToken: 'forged' } });
    const longTermWithToken = ec2For(fake, {
      credentials: { ...fake.credentials, sessionToken: credentials.sessionToken },
    });
    try {
      await good.send(new PutObjectCommand({ Bucket: 'auth-bucket', Key: 'ok', Body: Buffer.from('x') }));
      const missing = await failure(
        tokenless.send(new PutObjectCommand({ Bucket: 'auth-bucket', Key: 'no', Body: Buffer.from('x') })),
        S3ServiceException,
      );
      assert.equal(missing.name, 'InvalidToken');
      for (const client of [otherToken, longTermWithToken]) {
        const error = await failure(client.send(new DescribeImagesCommand({ Owners: ['self'] })), EC2ServiceException);
        assert.equal(error.name, 'AuthFailure');
      }
    } finally {
      good.destroy();
      tokenless.destroy();
      otherToken.destroy();
      longTermWithToken.destroy();
    }
    assert.deepEqual(
      fake.objects('auth-bucket').map((object) => object.key),
      ['ok'],
    );
    const tooLong = await failure(
      assumedRoleCredentials({
        roles: [{ roleArn: role, sessionName: 'auth-test', durationSeconds: 10800 }],
        region: fake.region,
        endpoint: fake.endpoint,
        source: fake.credentials,
        maxAttempts: 1,
      })(),
      Error,
    );
    assert.match(tooLong.message, /exceeds the MaxSessionDuration set for this role/);
    const unknown = await failure(
      assumedRoleCredentials({
        roles: [{ roleArn: `arn:aws:iam::${fake.accountId}:role/nobody` }],
        region: fake.region,
        endpoint: fake.endpoint,
        source: fake.credentials,
        maxAttempts: 1,
      })(),
      Error,
    );
    assert.match(unknown.message, /is not authorized to perform: sts:AssumeRole on resource: .*role\/nobody/);
  });
});
