/** Listing the S3 objects of one bundle (paginated: no 1,000-key limit, unlike ec2-delete-bundle -p). */
import { paginateListObjectsV2, S3Client } from '@aws-sdk/client-s3';
import { isBundleFileOf } from '../bundle/parts';
import { awsCall } from './errors';
import { BundleLocation } from './location';
import { RemoteObject } from './uploadPlan';

export async function listBundleObjects(s3: S3Client, location: BundleLocation, name: string, signal?: AbortSignal): Promise<RemoteObject[]> {
  const prefix = `${location.keyPrefix}${name}.`;
  return awsCall('ListObjectsV2', `s3://${location.bucket}/${prefix}*`, async () => {
    const found: RemoteObject[] = [];
    for await (const page of paginateListObjectsV2({ client: s3, pageSize: 1000 }, { Bucket: location.bucket, Prefix: prefix }, )) {
      signal?.throwIfAborted();
      for (const object of page.Contents ?? []) {
        const key = object.Key ?? '';
        if (!isBundleFileOf(name, key.slice(location.keyPrefix.length))) continue;
        found.push({ key, size: object.Size ?? 0, etag: (object.ETag ?? '').replace(/"/g, '') });
      }
    }
    return found;
  });
}
