/** Where a bundle lives in S3: ec2-upload-bundle's `bucket[/key-prefix]` rules (pure). */
import { AwsInputError } from './errors';
import { bucketName, BucketName } from './ids';

export interface BundleLocation {
  bucket: BucketName;
  /** Empty, or ends with "/". */
  keyPrefix: string;
}

function trimSlashes(text: string): string {
  return text.replace(/^\/+|\/+$/g, '');
}

/** What is wrong with a key prefix (quoted as given), or undefined when it is a usable one. */
export function keyPrefixProblem(prefix: string): string | undefined {
  const trimmed = trimSlashes(prefix);
  if (trimmed !== '' && trimmed.split('/').some((segment) => segment === '' || segment === '.' || segment === '..')) {
    return `"${prefix}" has an empty, "." or ".." segment; give a prefix like images/v1`;
  }
  return undefined;
}

/** Leading and trailing slashes dropped, and a non-empty prefix ends with one "/". */
export function normalizeKeyPrefix(prefix: string | undefined): string {
  const trimmed = trimSlashes(prefix ?? '');
  return trimmed === '' ? '' : `${trimmed}/`;
}

/**
 * `-b bucket[/prefix]`: leading and trailing slashes dropped, split at the first "/", and a
 * non-empty prefix gets a trailing "/" (so `mybucket/images/v1` puts `images/v1/NAME.part.0`).
 */
export function parseBucketArgument(argument: string, input = 'bucket'): BundleLocation {
  const trimmed = trimSlashes(argument);
  if (trimmed === '')
    throw new AwsInputError(input, 'is empty; give a bucket name, optionally with a key prefix: bucket[/prefix]');
  const slash = trimmed.indexOf('/');
  const bucket = slash === -1 ? trimmed : trimmed.slice(0, slash);
  const prefix = slash === -1 ? '' : trimmed.slice(slash + 1);
  const problem = keyPrefixProblem(prefix);
  if (problem) throw new AwsInputError(input, `key prefix ${problem}`);
  return { bucket: bucketName(bucket, input), keyPrefix: normalizeKeyPrefix(prefix) };
}

/** The same bucket, one folder deeper: `folder` is a single key segment. */
export function subLocation(location: BundleLocation, folder: string): BundleLocation {
  return { bucket: location.bucket, keyPrefix: `${location.keyPrefix}${folder}/` };
}

export function objectKey(location: BundleLocation, fileName: string): string {
  return `${location.keyPrefix}${fileName}`;
}

/** `s3://bucket/prefix/`, for messages. */
export function describeLocation(location: BundleLocation): string {
  return `s3://${location.bucket}/${location.keyPrefix}`;
}

export interface ObjectAddress {
  bucket: BucketName;
  key: string;
}

/** RegisterImage's ImageLocation of a manifest: `bucket/key`, no s3:// scheme. */
export function imageLocationOf(manifest: ObjectAddress): string {
  return `${manifest.bucket}/${manifest.key}`;
}

/** Splits an ImageLocation (`bucket/key`, optionally with s3://) into bucket and key. */
export function parseImageLocation(location: string, input = 'manifestLocation'): ObjectAddress {
  const bare = location.replace(/^s3:\/\//, '');
  const slash = bare.indexOf('/');
  if (slash <= 0 || slash === bare.length - 1 || !bare.endsWith('.manifest.xml')) {
    throw new AwsInputError(
      input,
      `"${location}" is not a manifest location; expected bucket/prefix/NAME.manifest.xml`,
    );
  }
  return { bucket: bucketName(bare.slice(0, slash), input), key: bare.slice(slash + 1) };
}
