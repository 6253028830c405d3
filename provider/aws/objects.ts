/**
 * Single-object S3 calls shared by the uploaders: a PUT with Content-MD5, the bundle ACL and an optional
 * write condition, an ACL change, a HEAD for the ETag, a DELETE.
 */
import {
  DeleteObjectCommand,
  HeadObjectCommand,
  ObjectCannedACL,
  PutObjectAclCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { createHash } from 'crypto';
import { BundleAcl } from './acl';
import { awsCall, errorCode } from './errors';

/**
 * S3's conditional write: create only (`If-None-Match: *`), or replace only the version with this
 * ETag (`If-Match`). A write that does not hold fails with `isConditionFailure`.
 */
export type WriteCondition = { ifNoneMatch: true } | { ifMatch: string };

export interface PutOptions {
  acl: BundleAcl;
  contentType: string;
  /** Hex MD5 of the body when already known (it is sent as Content-MD5, so S3 checks it). */
  md5?: string;
  signal?: AbortSignal;
  condition?: WriteCondition;
}

/**
 * PUTs the body and returns the object's ETag as S3 gave it: the hex MD5 for plain or SSE-S3
 * objects, something else under SSE-KMS, which is why it is taken from the answer.
 */
export async function putObject(
  s3: S3Client,
  bucket: string,
  key: string,
  body: Buffer,
  options: PutOptions,
): Promise<string> {
  const md5 = options.md5 ?? createHash('md5').update(body).digest('hex');
  const output = await awsCall('PutObject', `s3://${bucket}/${key}`, () =>
    s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: body,
        ContentLength: body.length,
        ContentMD5: Buffer.from(md5, 'hex').toString('base64'),
        ContentType: options.contentType,
        ACL: options.acl === 'none' ? undefined : (options.acl as ObjectCannedACL),
        IfNoneMatch: options.condition && 'ifNoneMatch' in options.condition ? '*' : undefined,
        IfMatch: options.condition && 'ifMatch' in options.condition ? `"${options.condition.ifMatch}"` : undefined,
      }),
      { abortSignal: options.signal },
    ),
  );
  return unquotedEtag(output.ETag) ?? md5;
}

/** A conditional write refused because another writer got there first (or removed what it expected). */
export function isConditionFailure(error: unknown): boolean {
  const code = errorCode(error);
  return code === 'PreconditionFailed' || code === 'ConditionalRequestConflict' || code === 'NoSuchKey';
}

/** Sets an existing object's canned ACL ('none' leaves it as it is: nothing was asked for). */
export async function putObjectAcl(
  s3: S3Client,
  bucket: string,
  key: string,
  acl: BundleAcl,
  signal?: AbortSignal,
): Promise<void> {
  if (acl === 'none') return;
  await awsCall('PutObjectAcl', `s3://${bucket}/${key}`, () =>
    // Every BundleAcl but 'none' is one of S3's canned ACL names.
    s3.send(new PutObjectAclCommand({ Bucket: bucket, Key: key, ACL: acl as ObjectCannedACL }), {
      abortSignal: signal,
    }),
  );
}

/** The object's ETag (unquoted, lower case), or undefined when there is no such object. */
export async function headEtag(
  s3: S3Client,
  bucket: string,
  key: string,
  signal?: AbortSignal,
): Promise<string | undefined> {
  try {
    const output = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: signal });
    return unquotedEtag(output.ETag);
  } catch (error) {
    const code = errorCode(error);
    if (code === 'NotFound' || code === 'NoSuchKey') return undefined;
    return awsCall('HeadObject', `s3://${bucket}/${key}`, () => Promise.reject(error));
  }
}

export function unquotedEtag(etag: string | undefined): string | undefined {
  return etag === undefined ? undefined : etag.replace(/"/g, '').toLowerCase();
}

/**
 * S3's conditional delete (If-Match): removes the object only while it is still the version with
 * this ETag. False when it is not (another run replaced it) or when it is already gone.
 */
export async function deleteObjectIfUnchanged(
  s3: S3Client,
  bucket: string,
  key: string,
  etag: string,
  signal?: AbortSignal,
): Promise<boolean> {
  try {
    await awsCall('DeleteObject', `s3://${bucket}/${key}`, () =>
      s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key, IfMatch: `"${etag}"` }), { abortSignal: signal }),
    );
    return true;
  } catch (error) {
    if (['PreconditionFailed', 'NoSuchKey', 'NotFound'].includes(errorCode(error) ?? '')) return false;
    throw error;
  }
}

export async function deleteObject(s3: S3Client, bucket: string, key: string, signal?: AbortSignal): Promise<void> {
  await awsCall('DeleteObject', `s3://${bucket}/${key}`, () =>
    s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: signal }),
  );
}
