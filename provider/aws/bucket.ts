/**
 * Bucket preflight: before a single byte is uploaded, make sure the bucket exists (or create it
 * when asked), is in the expected region, and accepts the ACL that lets EC2 read the bundle.
 */
import {
  CreateBucketCommand,
  GetBucketOwnershipControlsCommand,
  HeadBucketCommand,
  ObjectOwnership,
  S3Client,
} from '@aws-sdk/client-s3';
import { AwsInputError, AwsOperationError, awsCall, errorCode } from './errors';
import { BucketName } from './ids';
import { BundleAcl, needsAclsEnabled } from './acl';

export type { BundleAcl };

export interface BucketPreflight {
  s3: S3Client;
  bucket: BucketName;
  acl: BundleAcl;
  /** Create the bucket (in the client's region, with ACLs enabled) when it does not exist. */
  createBucket?: boolean;
  signal?: AbortSignal;
}

export interface BucketState {
  region: string;
  objectOwnership: string;
  created: boolean;
}

interface HeadBucketResult {
  exists: boolean;
  region?: string;
}

async function headBucket(s3: S3Client, bucket: BucketName, signal?: AbortSignal): Promise<HeadBucketResult> {
  try {
    const output = await s3.send(new HeadBucketCommand({ Bucket: bucket }), { abortSignal: signal });
    return { exists: true, region: output.BucketRegion };
  } catch (error) {
    const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    const code = errorCode(error);
    if (status === 404 || code === 'NotFound' || code === 'NoSuchBucket') return { exists: false };
    if (status === 301 || code === 'PermanentRedirect') {
      const region = (error as { $response?: { headers?: Record<string, string> } }).$response?.headers?.[
        'x-amz-bucket-region'
      ];
      return { exists: true, region: region ?? 'another region' };
    }
    if (status === 403) {
      throw new AwsOperationError(
        'HeadBucket',
        `s3://${bucket}`,
        'AccessDenied',
        // HEAD answers carry no error body, so a wrong secret key looks the same as a foreign bucket.
        `S3 refused access to bucket ${bucket} (HTTP 403): check the credentials (a wrong secret access key gives this too), or the bucket belongs to another account or the credentials lack s3:ListBucket and s3:PutObject`,
        false,
      );
    }
    throw error;
  }
}

async function ownershipOf(s3: S3Client, bucket: BucketName, signal?: AbortSignal): Promise<string> {
  try {
    const output = await s3.send(new GetBucketOwnershipControlsCommand({ Bucket: bucket }), { abortSignal: signal });
    return output.OwnershipControls?.Rules?.[0]?.ObjectOwnership ?? 'ObjectWriter';
  } catch (error) {
    // Buckets made before ownership controls existed have none: ACLs are enabled (ObjectWriter).
    if (errorCode(error) === 'OwnershipControlsNotFoundError') return 'ObjectWriter';
    throw error;
  }
}

export async function preflightBucket(options: BucketPreflight): Promise<BucketState> {
  const { s3, bucket, acl, signal } = options;
  const clientRegion = await s3.config.region();
  const resource = `s3://${bucket}`;
  const head = await awsCall('HeadBucket', resource, () => headBucket(s3, bucket, signal));
  let created = false;
  if (!head.exists) {
    if (!options.createBucket) {
      throw new AwsInputError('bucket', `bucket ${bucket} does not exist in ${clientRegion}`, { kind: 'createBucket' });
    }
    await awsCall('CreateBucket', resource, () =>
      s3.send(
        new CreateBucketCommand({
          Bucket: bucket,
          CreateBucketConfiguration:
            clientRegion === 'us-east-1' ? undefined : { LocationConstraint: clientRegion as never },
          ObjectOwnership: needsAclsEnabled(acl) ? ObjectOwnership.ObjectWriter : undefined,
        }),
        { abortSignal: signal },
      ),
    );
    created = true;
  } else if (head.region && head.region !== clientRegion) {
    throw new AwsInputError(
      'region',
      `bucket ${bucket} is in ${head.region}, not ${clientRegion}: use region ${head.region}, or a bucket in ${clientRegion} (AMIs are registered in the bucket's region)`,
    );
  }
  const objectOwnership = await awsCall('GetBucketOwnershipControls', resource, () => ownershipOf(s3, bucket, signal));
  if (objectOwnership === 'BucketOwnerEnforced' && needsAclsEnabled(acl)) {
    throw new AwsInputError(
      'acl',
      `bucket ${bucket} has ACLs disabled (Object Ownership: BucketOwnerEnforced), so S3 would refuse the ${acl} ACL that lets EC2 read the bundle; ` +
        `enable ACLs with: aws s3api put-bucket-ownership-controls --bucket ${bucket} --ownership-controls 'Rules=[{ObjectOwnership=ObjectWriter}]' ` +
        '(nothing was uploaded)',
    );
  }
  return { region: clientRegion, objectOwnership, created };
}
