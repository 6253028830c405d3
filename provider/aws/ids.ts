/**
 * Branded id types: an ImageId can never be passed where an InstanceId is expected, even though
 * both are strings on the wire. Values only become branded through the parsers below.
 */
import { AwsInputError } from './errors';

declare const brand: unique symbol;
export type Branded<T, B extends string> = T & { readonly [brand]: B };

export type ImageId = Branded<string, 'ImageId'>;
export type InstanceId = Branded<string, 'InstanceId'>;
export type KernelId = Branded<string, 'KernelId'>;
export type RamdiskId = Branded<string, 'RamdiskId'>;
export type SnapshotId = Branded<string, 'SnapshotId'>;
export type BucketName = Branded<string, 'BucketName'>;
export type AccountId = Branded<string, 'AccountId'>;
export type InstanceType = Branded<string, 'InstanceType'>;

function resourceId<T extends string>(prefix: string, what: string) {
  const pattern = new RegExp(`^${prefix}-([0-9a-f]{8}|[0-9a-f]{17})$`);
  return (value: string, input = what): T => {
    if (!pattern.test(value)) {
      throw new AwsInputError(input, `"${value}" is not ${what}: expected ${prefix}- followed by 8 or 17 hex digits`);
    }
    return value as T;
  };
}

export const imageId = resourceId<ImageId>('ami', 'an AMI id');
export const instanceId = resourceId<InstanceId>('i', 'an instance id');
export const kernelId = resourceId<KernelId>('aki', 'a kernel id');
export const ramdiskId = resourceId<RamdiskId>('ari', 'a ramdisk id');
export const snapshotId = resourceId<SnapshotId>('snap', 'a snapshot id');

export function accountId(value: string, input = 'accountId'): AccountId {
  const digits = value.replace(/-/g, '');
  if (!/^[0-9]{12}$/.test(digits)) throw new AwsInputError(input, `"${value}" is not a 12-digit AWS account id`);
  return digits as AccountId;
}

export function instanceType(value: string, input = 'instanceType'): InstanceType {
  if (!/^[a-z][a-z0-9-]*[0-9][a-z0-9-]*\.[a-z0-9]+$/.test(value)) {
    throw new AwsInputError(input, `"${value}" is not an instance type such as m3.medium`);
  }
  return value as InstanceType;
}

/**
 * S3 bucket naming rules (the general-purpose bucket rules, which are also what ec2-upload-bundle
 * calls "S3 v2 safe"). Returns the problem, or undefined for a good name.
 */
export function bucketNameProblem(name: string): string | undefined {
  if (name.length < 3 || name.length > 63) return 'must be 3 to 63 characters long';
  if (!/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/.test(name)) {
    return 'may contain only lowercase letters, digits, "." and "-", and must begin and end with a letter or digit';
  }
  if (/\.\.|-\.|\.-/.test(name)) return 'must not contain "..", "-." or ".-"';
  if (/^\d+\.\d+\.\d+\.\d+$/.test(name)) return 'must not look like an IP address';
  return undefined;
}

export function bucketName(value: string, input = 'bucket'): BucketName {
  const problem = bucketNameProblem(value);
  if (problem) throw new AwsInputError(input, `bucket name "${value}" ${problem}`);
  return value as BucketName;
}
