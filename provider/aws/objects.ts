/** Single-object S3 calls shared by the uploaders: a PUT with Content-MD5 and the bundle ACL, a DELETE. */
import { DeleteObjectCommand, ObjectCannedACL, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { createHash } from 'crypto';
import { BundleAcl } from './acl';
import { awsCall } from './errors';

export interface PutOptions {
  acl: BundleAcl;
  contentType: string;
  /** Hex MD5 of the body when already known (it is sent as Content-MD5, so S3 checks it). */
  md5?: string;
  signal?: AbortSignal;
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
      }),
      { abortSignal: options.signal },
    ),
  );
  return unquotedEtag(output.ETag) ?? md5;
}

export function unquotedEtag(etag: string | undefined): string | undefined {
  return etag === undefined ? undefined : etag.replace(/"/g, '').toLowerCase();
}

export async function deleteObject(s3: S3Client, bucket: string, key: string, signal?: AbortSignal): Promise<void> {
  await awsCall('DeleteObject', `s3://${bucket}/${key}`, () =>
    s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: signal }),
  );
}
