/** Where a bundle lives in S3: ec2-upload-bundle's `bucket[/key-prefix]` rules (pure). */
import { AwsInputError } from './errors';
import { bucketName, BucketName } from './ids';

export interface BundleLocation {
  bucket: BucketName;
  /** Empty, or ends with "/". */
  keyPrefix: string;
}

/**
 * `-b bucket[/prefix]`: leading and trailing slashes dropped, split at the first "/", and a
 * non-empty prefix gets a trailing "/" (so `mybucket/images/v1` puts `images/v1/NAME.part.0`).
 */
export function parseBucketArgument(argument: string, input = 'bucket'): BundleLocation {
  const trimmed = argument.replace(/^\/+|\/+$/g, '');
  if (trimmed === '') throw new AwsInputError(input, 'is empty; give a bucket name, optionally with a key prefix: bucket[/prefix]');
  const slash = trimmed.indexOf('/');
  const bucket = slash === -1 ? trimmed : trimmed.slice(0, slash);
  const prefix = slash === -1 ? '' : trimmed.slice(slash + 1);
  if (prefix !== '' && prefix.split('/').some((segment) => segment === '' || segment === '.' || segment === '..')) {
    throw new AwsInputError(input, `key prefix "${prefix}" has an empty, "." or ".." segment; give a prefix like images/v1`);
  }
  return { bucket: bucketName(bucket, input), keyPrefix: prefix === '' ? '' : `${prefix}/` };
}

export function objectKey(location: BundleLocation, fileName: string): string {
  return `${location.keyPrefix}${fileName}`;
}

/** RegisterImage's ImageLocation: `bucket/prefix/NAME.manifest.xml`, no s3:// scheme. */
export function imageLocation(location: BundleLocation, manifestFileName: string): string {
  return `${location.bucket}/${objectKey(location, manifestFileName)}`;
}

export interface ObjectAddress {
  bucket: BucketName;
  key: string;
}

/** Splits an ImageLocation (`bucket/key`, optionally with s3://) into bucket and key. */
export function parseImageLocation(location: string, input = 'manifestLocation'): ObjectAddress {
  const bare = location.replace(/^s3:\/\//, '');
  const slash = bare.indexOf('/');
  if (slash <= 0 || slash === bare.length - 1 || !bare.endsWith('.manifest.xml')) {
    throw new AwsInputError(input, `"${location}" is not a manifest location; expected bucket/prefix/NAME.manifest.xml`);
  }
  return { bucket: bucketName(bare.slice(0, slash), input), key: bare.slice(slash + 1) };
}
