import { strict as assert } from 'assert';
import { randomBytes } from 'crypto';
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectAclCommand,
  GetObjectCommand,
  PutObjectAclCommand,
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

function expectCode(error: S3ServiceException, code: string, status: number): void {
  assert.equal(error.name, code);
  assert.equal(error.$metadata.httpStatusCode, status);
}

describe('local AWS: S3 conditional writes and the limits S3 enforces', function () {
  let local: LocalAws;
  let s3: S3Client;
  const Bucket = 'bundles';

  beforeEach(async () => {
    local = await LocalAws.start();
    s3 = s3For(local);
    local.createBucket(Bucket, { objectOwnership: 'ObjectWriter' });
  });

  afterEach(async () => {
    s3.destroy();
    await local.stop();
  });

  const put = (Key: string, Body: Buffer, extra: { IfNoneMatch?: string; IfMatch?: string } = {}) =>
    s3.send(new PutObjectCommand({ Bucket, Key, Body, ...extra }));

  it('If-None-Match: * writes a new key and answers 412 PreconditionFailed when the key exists', async () => {
    const first = randomBytes(100);
    await put('k', first, { IfNoneMatch: '*' });
    expectCode(await rejection(put('k', randomBytes(100), { IfNoneMatch: '*' })), 'PreconditionFailed', 412);
    assert.equal(local.objects(Bucket)[0].md5, md5Hex(first), 'the first object is untouched');
  });

  it('If-Match: ETag replaces only that version: 412 on another ETag, 404 NoSuchKey when the key is absent', async () => {
    const first = randomBytes(100);
    const written = await put('k', first);
    expectCode(
      await rejection(put('k', randomBytes(10), { IfMatch: `"${md5Hex(randomBytes(4))}"` })),
      'PreconditionFailed',
      412,
    );
    expectCode(await rejection(put('absent', randomBytes(10), { IfMatch: written.ETag })), 'NoSuchKey', 404);
    const second = randomBytes(50);
    await put('k', second, { IfMatch: written.ETag });
    assert.equal(local.objects(Bucket)[0].md5, md5Hex(second));
  });

  it('a conditional delete (If-Match: ETag) removes only that version: 412 on another ETag, 404 NoSuchKey when absent', async () => {
    const written = await put('k', randomBytes(100));
    const del = (Key: string, IfMatch?: string) => s3.send(new DeleteObjectCommand({ Bucket, Key, IfMatch }));
    expectCode(await rejection(del('k', `"${md5Hex(randomBytes(4))}"`)), 'PreconditionFailed', 412);
    assert.equal(local.objects(Bucket).length, 1, 'another ETag removes nothing');
    expectCode(await rejection(del('absent', written.ETag)), 'NoSuchKey', 404);
    await del('absent');
    await del('k', written.ETag);
    assert.deepEqual(local.objects(Bucket), []);
  });

  it('the first of two racing If-None-Match writes to finish wins; the other gets 412', async () => {
    local.faults.inject({ operation: 'PutObject', kind: 'latency', ms: 300, times: 1 });
    const slow = put('race', Buffer.from('slow'), { IfNoneMatch: '*' });
    await new Promise((resolve) => setTimeout(resolve, 50));
    await put('race', Buffer.from('fast'), { IfNoneMatch: '*' });
    expectCode(await rejection(slow), 'PreconditionFailed', 412);
    assert.equal(local.getObject(Bucket, 'race')?.toString(), 'fast');
  });

  it('a write or delete that finishes while a conditional write is in flight gives 409 ConditionalRequestConflict', async () => {
    const written = await put('k', Buffer.from('one'));
    local.faults.inject({ operation: 'PutObject', kind: 'latency', ms: 300, times: 1 });
    const replacing = put('k', Buffer.from('two'), { IfMatch: written.ETag });
    await new Promise((resolve) => setTimeout(resolve, 50));
    await put('k', Buffer.from('three'));
    expectCode(await rejection(replacing), 'ConditionalRequestConflict', 409);
    assert.equal(local.getObject(Bucket, 'k')?.toString(), 'three');

    local.faults.inject({ operation: 'PutObject', kind: 'latency', ms: 300, times: 1 });
    const creating = put('k', Buffer.from('four'), { IfNoneMatch: '*' });
    await new Promise((resolve) => setTimeout(resolve, 50));
    await s3.send(new DeleteObjectCommand({ Bucket, Key: 'k' }));
    expectCode(await rejection(creating), 'ConditionalRequestConflict', 409);
    assert.equal(local.getObject(Bucket, 'k'), undefined);
  });

  it('refuses keys longer than 1,024 UTF-8 bytes with KeyTooLongError', async () => {
    await put('a'.repeat(1024), Buffer.from('x'));
    expectCode(await rejection(put('a'.repeat(1025), Buffer.from('x'))), 'KeyTooLongError', 400);
    // 342 three-byte characters: 1,026 bytes though only 342 characters.
    expectCode(await rejection(put('€'.repeat(342), Buffer.from('x'))), 'KeyTooLongError', 400);
    assert.equal(local.objects(Bucket).length, 1);
  });

  it('refuses public-read where Block Public Access forbids public ACLs, and allows it where it does not', async () => {
    expectCode(
      await rejection(s3.send(new PutObjectCommand({ Bucket, Key: 'p', Body: Buffer.from('x'), ACL: 'public-read' }))),
      'AccessDenied',
      403,
    );
    assert.equal(local.objects(Bucket).length, 0);
    await s3.send(new PutObjectCommand({ Bucket, Key: 'p', Body: Buffer.from('x'), ACL: 'aws-exec-read' }));
    expectCode(
      await rejection(s3.send(new PutObjectAclCommand({ Bucket, Key: 'p', ACL: 'public-read' }))),
      'AccessDenied',
      403,
    );
    local.createBucket('open', { objectOwnership: 'ObjectWriter', blockPublicAcls: false });
    await s3.send(new PutObjectCommand({ Bucket: 'open', Key: 'p', Body: Buffer.from('x'), ACL: 'public-read' }));
    assert.equal(local.objects('open')[0].acl, 'public-read');
  });

  it('PutObjectAcl sets a canned ACL that GetObjectAcl shows', async () => {
    await s3.send(new PutObjectCommand({ Bucket, Key: 'p', Body: Buffer.from('x') }));
    const before = await s3.send(new GetObjectAclCommand({ Bucket, Key: 'p' }));
    assert.equal(before.Grants?.length, 1);
    await s3.send(new PutObjectAclCommand({ Bucket, Key: 'p', ACL: 'aws-exec-read' }));
    const after = await s3.send(new GetObjectAclCommand({ Bucket, Key: 'p' }));
    assert.deepEqual(
      after.Grants?.map((grant) => grant.Permission),
      ['FULL_CONTROL', 'READ'],
    );
    expectCode(
      await rejection(s3.send(new PutObjectAclCommand({ Bucket, Key: 'gone', ACL: 'private' }))),
      'NoSuchKey',
      404,
    );
  });

  it('refuses CopyObject onto itself that changes nothing, and allows it with new metadata', async () => {
    await s3.send(new PutObjectCommand({ Bucket, Key: 'c', Body: Buffer.from('x'), Metadata: { a: '1' } }));
    const self = () => ({ Bucket, Key: 'c', CopySource: `${Bucket}/c` });
    expectCode(await rejection(s3.send(new CopyObjectCommand(self()))), 'InvalidRequest', 400);
    expectCode(
      await rejection(s3.send(new CopyObjectCommand({ ...self(), ACL: 'aws-exec-read' }))),
      'InvalidRequest',
      400,
    );
    await s3.send(new CopyObjectCommand({ ...self(), MetadataDirective: 'REPLACE', Metadata: { b: '2' } }));
    const got = await s3.send(new GetObjectCommand({ Bucket, Key: 'c' }));
    assert.deepEqual(got.Metadata, { b: '2' });
  });
});
