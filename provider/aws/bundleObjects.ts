/** Listing the S3 objects of one bundle (paginated: no 1,000-key limit, unlike ec2-delete-bundle -p). */
import { paginateListObjectsV2, S3Client } from '@aws-sdk/client-s3';
import { bundleAddress, isKeyOfBundle, listingPrefix } from './bundleAddress';
import { awsCall } from './errors';
import { BundleLocation } from './location';
import { StoredObject } from './storedObject';

/** Every object under the prefix, with its size and ETag (paginated). */
export async function listObjects(
  s3: S3Client,
  bucket: string,
  prefix: string,
  signal?: AbortSignal,
): Promise<StoredObject[]> {
  return awsCall('ListObjectsV2', `s3://${bucket}/${prefix}*`, async () => {
    const found: StoredObject[] = [];
    for await (const page of paginateListObjectsV2(
      { client: s3, pageSize: 1000 },
      { Bucket: bucket, Prefix: prefix },
    )) {
      signal?.throwIfAborted();
      for (const object of page.Contents ?? [])
        found.push({ key: object.Key ?? '', size: object.Size ?? 0, etag: (object.ETag ?? '').replace(/"/g, '') });
    }
    return found;
  });
}

export async function listBundleObjects(
  s3: S3Client,
  location: BundleLocation,
  name: string,
  signal?: AbortSignal,
): Promise<StoredObject[]> {
  const address = bundleAddress(location, name);
  const listed = await listObjects(s3, location.bucket, listingPrefix(address), signal);
  return listed.filter((object) => isKeyOfBundle(address, object.key));
}
