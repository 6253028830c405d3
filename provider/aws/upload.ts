/**
 * Uploading a bundle: preflight the bucket, skip parts S3 already has, PUT the rest in parallel
 * (bounded concurrency, Content-MD5 on each), then the manifest, then remove stale objects of an
 * earlier bundle of the same name. A failure leaves a bundle that the next run resumes.
 */
import { S3Client } from '@aws-sdk/client-s3';
import { setMaxListeners } from 'events';
import { promises as fs } from 'fs';
import { BundleAcl, preflightBucket } from './bucket';
import { listBundleObjects } from './bundleObjects';
import { forEachLimited, withDeadline } from './concurrency';
import { readLocalBundle } from './localBundle';
import { BundleLocation, imageLocationOf } from './location';
import { LocalFile, planUpload } from './uploadPlan';
import { deleteObject, putObject } from './objects';

export const DEFAULT_UPLOAD_CONCURRENCY = 8;

export interface UploadProgress {
  bytes: number;
  totalBytes: number;
  /** The object just stored, or skipped because S3 already had it. */
  key: string;
  skipped: boolean;
}

export interface UploadBundleOptions {
  s3: S3Client;
  manifestPath: string;
  location: BundleLocation;
  acl?: BundleAcl;
  createBucket?: boolean;
  /** Folder of the parts; default the manifest's folder. */
  partDirectory?: string;
  concurrency?: number;
  /** Overall deadline for the whole upload, in ms. */
  deadlineMs?: number;
  signal?: AbortSignal;
  onProgress?: (progress: UploadProgress) => void;
}

export interface UploadResult {
  /** RegisterImage's ImageLocation: bucket/prefix/NAME.manifest.xml. */
  imageLocation: string;
  manifestKey: string;
  name: string;
  uploaded: string[];
  skipped: string[];
  removedStale: string[];
  bytesUploaded: number;
  bucketCreated: boolean;
  /** Every object of the bundle with its MD5 (its S3 ETag), parts first, the manifest last. */
  objects: { key: string; md5: string; size: number }[];
}

async function putFile(
  s3: S3Client,
  location: BundleLocation,
  file: LocalFile,
  acl: BundleAcl,
  contentType: string,
  signal?: AbortSignal,
): Promise<void> {
  await putObject(s3, location.bucket, file.key, await fs.readFile(file.path), {
    acl,
    contentType,
    md5: file.md5,
    signal,
  });
}

export async function uploadBundle(options: UploadBundleOptions): Promise<UploadResult> {
  const { s3, location } = options;
  const acl = options.acl ?? 'aws-exec-read';
  const signal = withDeadline(options.signal, options.deadlineMs);
  // Every request in flight listens on the signal; more than Node's default of 10 is expected here.
  if (signal) setMaxListeners((options.concurrency ?? DEFAULT_UPLOAD_CONCURRENCY) + 10, signal);
  const local = await readLocalBundle(options.manifestPath, location, options.partDirectory);
  const name = local.manifest.image.name;
  const bucket = await preflightBucket({
    s3,
    bucket: location.bucket,
    acl,
    createBucket: options.createBucket,
    signal,
  });
  const remote = await listBundleObjects(s3, location, name, signal);
  const plan = planUpload(local.parts, local.manifestFile, remote);

  const totalBytes = local.parts.reduce((sum, part) => sum + part.size, 0) + local.manifestFile.size;
  let bytes = 0;
  const report = (file: LocalFile, skipped: boolean) => {
    bytes += file.size;
    options.onProgress?.({ bytes, totalBytes, key: file.key, skipped });
  };
  plan.skip.forEach((file) => report(file, true));
  await forEachLimited(
    plan.upload,
    options.concurrency ?? DEFAULT_UPLOAD_CONCURRENCY,
    async (part) => {
      await putFile(s3, location, part, acl, 'application/octet-stream', signal);
      report(part, false);
    },
    signal,
  );
  if (plan.manifest) {
    await putFile(s3, location, plan.manifest, acl, 'application/xml', signal);
    report(plan.manifest, false);
  } else {
    report(local.manifestFile, true);
  }
  await forEachLimited(plan.stale, 4, (key) => deleteObject(s3, location.bucket, key, signal), signal);
  return {
    imageLocation: imageLocationOf({ bucket: location.bucket, key: local.manifestFile.key }),
    manifestKey: local.manifestFile.key,
    name,
    uploaded: [...plan.upload.map((file) => file.key), ...(plan.manifest ? [plan.manifest.key] : [])],
    skipped: plan.skip.map((file) => file.key),
    removedStale: plan.stale,
    bytesUploaded: plan.upload.reduce((sum, file) => sum + file.size, 0) + (plan.manifest?.size ?? 0),
    bucketCreated: bucket.created,
    objects: [...local.parts, local.manifestFile].map(({ key, md5, size }) => ({ key, md5, size })),
  };
}
