import { strict as assert } from 'assert';
import { createHash, randomBytes } from 'crypto';
import { Readable } from 'stream';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetBucketLocationCommand,
  GetBucketOwnershipControlsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  paginateListObjectsV2,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { LocalAws, md5Hex } from '../../testing/localAws';
import { s3For } from './testSupport';

async function rejection(promise: Promise<unknown>): Promise<S3ServiceException> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof S3ServiceException) return error;
    throw error;
  }
  assert.fail('expected the request to fail');
}

describe('fake AWS: S3', function () {
  let fake: LocalAws;
  let s3: S3Client;

  beforeEach(async () => {
    fake = await LocalAws.start();
    s3 = s3For(fake);
    fake.createBucket('legacy-bucket');
  });

  afterEach(async () => {
    s3.destroy();
    await fake.stop();
  });

  it('puts, gets and heads an object, with the quoted MD5 as ETag', async () => {
    const body = randomBytes(3000);
    const put = await s3.send(
      new PutObjectCommand({
        Bucket: 'legacy-bucket',
        Key: 'dir/a b+c.bin',
        Body: body,
        ContentType: 'application/x-test',
      }),
    );
    assert.equal(put.ETag, `"${md5Hex(body)}"`);
    const got = await s3.send(new GetObjectCommand({ Bucket: 'legacy-bucket', Key: 'dir/a b+c.bin' }));
    assert.deepEqual(Buffer.from(await got.Body!.transformToByteArray()), body);
    assert.equal(got.ContentType, 'application/x-test');
    const head = await s3.send(new HeadObjectCommand({ Bucket: 'legacy-bucket', Key: 'dir/a b+c.bin' }));
    assert.equal(head.ContentLength, 3000);
    assert.equal(head.ETag, `"${md5Hex(body)}"`);
    assert.deepEqual(fake.objects('legacy-bucket'), [
      { key: 'dir/a b+c.bin', size: 3000, md5: md5Hex(body), acl: undefined },
    ]);
  });

  it('checks signatures on keys that need escaping, exactly as the SDK sends them', async () => {
    const keys = [
      'a b/ü+x=y&z.txt',
      "weird!*'()~;:@$,[].manifest.xml",
      'dir//double/slash',
      'pct%2Fkey',
      'images/v1/app.img.part.07',
    ];
    for (const key of keys)
      await s3.send(new PutObjectCommand({ Bucket: 'legacy-bucket', Key: key, Body: Buffer.from(key) }));
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: 'legacy-bucket' }));
    assert.deepEqual(
      listed.Contents?.map((object) => object.Key),
      [...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))),
    );
    for (const key of keys) assert.deepEqual(fake.getObject('legacy-bucket', key), Buffer.from(key));
  });

  it('takes a full 10 MiB bundle part in one PutObject (the SDK sends Expect: 100-continue)', async () => {
    const part = randomBytes(10 * 1024 * 1024);
    await s3.send(
      new PutObjectCommand({
        Bucket: 'legacy-bucket',
        Key: 'app.img.part.0',
        Body: part,
        ContentMD5: createHash('md5').update(part).digest('base64'),
      }),
    );
    assert.equal(fake.objects('legacy-bucket')[0].md5, md5Hex(part));
    assert.equal(fake.requests[0].headers.expect, '100-continue');
  });

  it('answers a missing key with NoSuchKey, and HEAD of it with 404 NotFound', async () => {
    assert.equal(
      (await rejection(s3.send(new GetObjectCommand({ Bucket: 'legacy-bucket', Key: 'nope' })))).name,
      'NoSuchKey',
    );
    const head = await rejection(s3.send(new HeadObjectCommand({ Bucket: 'legacy-bucket', Key: 'nope' })));
    assert.equal(head.name, 'NotFound');
    assert.equal(head.$metadata.httpStatusCode, 404);
  });

  it('stores a stream body sent aws-chunked with a trailing CRC32 decoded and intact', async () => {
    const body = randomBytes(200 * 1024 + 17);
    await s3.send(
      new PutObjectCommand({
        Bucket: 'legacy-bucket',
        Key: 'stream.bin',
        Body: Readable.from([body.subarray(0, 70000), body.subarray(70000)]),
        ContentLength: body.length,
      }),
    );
    const recorded = fake.requests.find((request) => request.operation === 'PutObject');
    assert.equal(recorded?.headers['content-encoding'], 'aws-chunked');
    assert.equal(recorded?.headers['x-amz-content-sha256'], 'STREAMING-UNSIGNED-PAYLOAD-TRAILER');
    assert.ok(recorded!.bodyBytes > body.length);
    assert.deepEqual(fake.getObject('legacy-bucket', 'stream.bin'), body);
    const got = await s3.send(new GetObjectCommand({ Bucket: 'legacy-bucket', Key: 'stream.bin' }));
    assert.deepEqual(Buffer.from(await got.Body!.transformToByteArray()), body);
  });

  it('refuses a Content-MD5 that does not match the body with BadDigest', async () => {
    const error = await rejection(
      s3.send(
        new PutObjectCommand({
          Bucket: 'legacy-bucket',
          Key: 'k',
          Body: Buffer.from('data'),
          ContentMD5: createHash('md5').update('other').digest('base64'),
        }),
      ),
    );
    assert.equal(error.name, 'BadDigest');
    assert.equal(error.$metadata.httpStatusCode, 400);
    assert.deepEqual(fake.objects('legacy-bucket'), []);
  });

  it('refuses a wrong x-amz-checksum-crc32 with BadDigest', async () => {
    const error = await rejection(
      s3.send(
        new PutObjectCommand({
          Bucket: 'legacy-bucket',
          Key: 'k',
          Body: Buffer.from('data'),
          ChecksumCRC32: 'AAAAAA==',
        }),
      ),
    );
    assert.equal(error.name, 'BadDigest');
    assert.match(error.message, /CRC32/);
  });

  it('lists with prefix, delimiter and start-after, and pages over more than 1,000 keys with the SDK paginator', async () => {
    for (let index = 0; index < 1203; index++)
      fake.putObjectDirect('legacy-bucket', `many/${String(index).padStart(5, '0')}`, Buffer.from(String(index)));
    fake.putObjectDirect('legacy-bucket', 'other/x', Buffer.from('x'));
    fake.putObjectDirect('legacy-bucket', 'other/sub/y', Buffer.from('y'));
    const keys: string[] = [];
    let pages = 0;
    for await (const page of paginateListObjectsV2({ client: s3 }, { Bucket: 'legacy-bucket', Prefix: 'many/' })) {
      pages++;
      keys.push(...(page.Contents ?? []).map((object) => object.Key!));
    }
    assert.equal(pages, 2);
    assert.equal(keys.length, 1203);
    assert.equal(new Set(keys).size, 1203);
    assert.deepEqual(keys, [...keys].sort());

    const small = await s3.send(
      new ListObjectsV2Command({ Bucket: 'legacy-bucket', Prefix: 'many/', MaxKeys: 2, StartAfter: 'many/00100' }),
    );
    assert.deepEqual(
      small.Contents?.map((object) => object.Key),
      ['many/00101', 'many/00102'],
    );
    assert.equal(small.IsTruncated, true);
    assert.equal(small.KeyCount, 2);

    const grouped = await s3.send(
      new ListObjectsV2Command({ Bucket: 'legacy-bucket', Prefix: 'other/', Delimiter: '/' }),
    );
    assert.deepEqual(
      grouped.Contents?.map((object) => object.Key),
      ['other/x'],
    );
    assert.deepEqual(
      grouped.CommonPrefixes?.map((prefix) => prefix.Prefix),
      ['other/sub/'],
    );
  });

  it('deletes idempotently with 204, and in bulk with DeleteObjects', async () => {
    fake.putObjectDirect('legacy-bucket', 'a', Buffer.from('a'));
    fake.putObjectDirect('legacy-bucket', 'b&<c', Buffer.from('b'));
    fake.putObjectDirect('legacy-bucket', 'keep', Buffer.from('k'));
    await s3.send(new DeleteObjectCommand({ Bucket: 'legacy-bucket', Key: 'a' }));
    await s3.send(new DeleteObjectCommand({ Bucket: 'legacy-bucket', Key: 'a' }));
    assert.deepEqual(
      fake.requests.filter((request) => request.operation === 'DeleteObject').map((request) => request.status),
      [204, 204],
    );
    const bulk = await s3.send(
      new DeleteObjectsCommand({ Bucket: 'legacy-bucket', Delete: { Objects: [{ Key: 'b&<c' }, { Key: 'absent' }] } }),
    );
    assert.deepEqual(
      bulk.Deleted?.map((deleted) => deleted.Key),
      ['b&<c', 'absent'],
    );
    assert.deepEqual(
      fake.objects('legacy-bucket').map((object) => object.key),
      ['keep'],
    );
  });

  it('stores the canned ACL on a bucket without ownership controls', async () => {
    await s3.send(
      new PutObjectCommand({
        Bucket: 'legacy-bucket',
        Key: 'img.part.0',
        Body: Buffer.from('p'),
        ACL: 'aws-exec-read',
      }),
    );
    assert.equal(fake.objects('legacy-bucket')[0].acl, 'aws-exec-read');
    const controls = await rejection(s3.send(new GetBucketOwnershipControlsCommand({ Bucket: 'legacy-bucket' })));
    assert.equal(controls.name, 'OwnershipControlsNotFoundError');
  });

  it('refuses ACLs on a BucketOwnerEnforced bucket with AccessControlListNotSupported, but takes bucket-owner-full-control', async () => {
    fake.createBucket('enforced-bucket', { objectOwnership: 'BucketOwnerEnforced' });
    const error = await rejection(
      s3.send(
        new PutObjectCommand({ Bucket: 'enforced-bucket', Key: 'k', Body: Buffer.from('p'), ACL: 'aws-exec-read' }),
      ),
    );
    assert.equal(error.name, 'AccessControlListNotSupported');
    assert.equal(error.$metadata.httpStatusCode, 400);
    await s3.send(
      new PutObjectCommand({
        Bucket: 'enforced-bucket',
        Key: 'k',
        Body: Buffer.from('p'),
        ACL: 'bucket-owner-full-control',
      }),
    );
    await s3.send(new PutObjectCommand({ Bucket: 'enforced-bucket', Key: 'k2', Body: Buffer.from('p') }));
    assert.deepEqual(
      fake.objects('enforced-bucket').map((object) => object.key),
      ['k', 'k2'],
    );
    const controls = await s3.send(new GetBucketOwnershipControlsCommand({ Bucket: 'enforced-bucket' }));
    assert.equal(controls.OwnershipControls?.Rules?.[0].ObjectOwnership, 'BucketOwnerEnforced');
  });

  it('creates buckets BucketOwnerEnforced by default, in the constraint region, and reports their location', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'new-bucket' }));
    const controls = await s3.send(new GetBucketOwnershipControlsCommand({ Bucket: 'new-bucket' }));
    assert.equal(controls.OwnershipControls?.Rules?.[0].ObjectOwnership, 'BucketOwnerEnforced');
    await s3.send(new CreateBucketCommand({ Bucket: 'writer-bucket', ObjectOwnership: 'ObjectWriter' }));
    await s3.send(
      new PutObjectCommand({ Bucket: 'writer-bucket', Key: 'k', Body: Buffer.from('p'), ACL: 'aws-exec-read' }),
    );

    const west = s3For(fake, { region: 'eu-west-1' });
    try {
      await west.send(
        new CreateBucketCommand({
          Bucket: 'eu-bucket',
          CreateBucketConfiguration: { LocationConstraint: 'eu-west-1' },
        }),
      );
      assert.equal(
        (await west.send(new GetBucketLocationCommand({ Bucket: 'eu-bucket' }))).LocationConstraint,
        'eu-west-1',
      );
      const wrongEndpoint = await rejection(
        west.send(
          new CreateBucketCommand({
            Bucket: 'other-region',
            CreateBucketConfiguration: { LocationConstraint: 'us-west-2' },
          }),
        ),
      );
      assert.equal(wrongEndpoint.name, 'IllegalLocationConstraintException');
    } finally {
      west.destroy();
    }
    assert.equal((await s3.send(new GetBucketLocationCommand({ Bucket: 'new-bucket' }))).LocationConstraint, undefined);
    const again = await rejection(s3.send(new CreateBucketCommand({ Bucket: 'eu-bucket' })));
    assert.equal(again.name, 'BucketAlreadyOwnedByYou');
  });

  it('answers HeadBucket with 404 for a missing bucket and 301 with x-amz-bucket-region for another region', async () => {
    const head = await s3.send(new HeadBucketCommand({ Bucket: 'legacy-bucket' }));
    assert.equal(head.BucketRegion, 'us-east-1');
    const missing = await rejection(s3.send(new HeadBucketCommand({ Bucket: 'no-such-bucket' })));
    assert.equal(missing.$metadata.httpStatusCode, 404);
    fake.createBucket('west-bucket', { region: 'us-west-2' });
    const moved = await rejection(s3.send(new HeadBucketCommand({ Bucket: 'west-bucket' })));
    assert.equal(moved.$metadata.httpStatusCode, 301);
    assert.equal(fake.requests[fake.requests.length - 1].status, 301);
    const put = await rejection(
      s3.send(new PutObjectCommand({ Bucket: 'west-bucket', Key: 'k', Body: Buffer.from('x') })),
    );
    assert.equal(put.name, 'PermanentRedirect');
    const redirecting = s3For(fake, { followRegionRedirects: true });
    try {
      await redirecting.send(new PutObjectCommand({ Bucket: 'west-bucket', Key: 'k', Body: Buffer.from('x') }));
    } finally {
      redirecting.destroy();
    }
    assert.deepEqual(fake.getObject('west-bucket', 'k'), Buffer.from('x'));
  });

  it('answers NoSuchBucket for object operations on a missing bucket', async () => {
    const error = await rejection(
      s3.send(new PutObjectCommand({ Bucket: 'no-such-bucket', Key: 'k', Body: Buffer.from('x') })),
    );
    assert.equal(error.name, 'NoSuchBucket');
    assert.equal(error.$metadata.httpStatusCode, 404);
  });
});
