/**
 * Uploading a bundle: preflight the bucket, skip parts S3 already has, PUT the rest in parallel
 * (bounded concurrency, Content-MD5 on each), then the manifest, then remove stale objects of an
 * earlier bundle of the same name. A failure leaves a bundle that the next run resumes.
 */
import { S3Client } from '@aws-sdk/client-s3';
import { setMaxListeners } from 'events';
import { promises as fs } from 'fs';
import { BundleAcl, preflightBucket } from './bucket';
import { BundleAddress, bundleAddress, resumeKey } from './bundleAddress';
import { conditionalPut, listWithRecord, LocationClaim, LocationHeldError, lostPlace, readRecord } from './bundleClaim';
import { describeHolder, parseClaim } from './claimRecord';
import { listBundleObjects } from './bundleObjects';
import { forEachLimited, withDeadline } from './concurrency';
import { readLocalBundle } from './localBundle';
import { BundleLocation, imageLocationOf } from './location';
import { LocalFile, planUpload } from './uploadPlan';
import { deleteObject, deleteObjectIfUnchanged, putObjectAcl } from './objects';
import { StoredObject } from './storedObject';

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
  /**
   * The claim object this run could not remove at the end (S3 failed), with why: the bundle is whole,
   * but another host's run finds the place held until the object is removed.
   */
  claimLeft?: string;
}

/** PUTs a file, replacing only the object found there at the start (or creating it where there was none). */
async function putFile(
  s3: S3Client,
  address: BundleAddress,
  file: LocalFile,
  found: StoredObject | undefined,
  acl: BundleAcl,
  contentType: string,
  signal?: AbortSignal,
): Promise<string> {
  return conditionalPut(
    s3,
    address.location.bucket,
    file.key,
    await fs.readFile(file.path),
    {
      acl,
      contentType,
      md5: file.md5,
      signal,
      condition: found ? { ifMatch: found.etag.toLowerCase() } : { ifNoneMatch: true },
    },
    () => lostPlace(address, file.key),
  );
}

/**
 * After this run lost its place (a delete-bundle took it over, or its objects changed under it): the
 * error again, saying what became of the objects this run wrote. Each is removed only while it is
 * still this run's write (S3's conditional delete), unless another writer holds the place now, which
 * may be using them; a delete-bundle, or no claim at all, means nobody will.
 */
async function withdrawnAfterLoss(
  s3: S3Client,
  address: BundleAddress,
  written: ReadonlyMap<string, string>,
  lost: LocationHeldError,
  claim: LocationClaim,
): Promise<LocationHeldError> {
  if (written.size === 0) return lost;
  const bucket = address.location.bucket;
  const found = await readRecord(s3, address).catch(() => undefined);
  // This run's own claim still there (it lost to objects another run wrote): nobody else will use them.
  const holder = found && !claim.owns(found) ? parseClaim(found.text) : undefined;
  if (holder && holder.action !== 'delete')
    return new LocationHeldError(
      address,
      `${lost.fault}; the ${written.size} objects this run wrote are left to ${describeHolder(holder)}, which holds the place now`,
    );
  const left: string[] = [];
  await forEachLimited([...written], 4, async ([key, etag]) => {
    await deleteObjectIfUnchanged(s3, bucket, key, etag).catch(() => left.push(key));
  });
  const outcome =
    left.length === 0
      ? `none of the ${written.size} objects this run wrote is left`
      : `${left.length} of the ${written.size} objects this run wrote could not be removed and are still there (s3://${bucket}/${left.sort()[0]}${left.length > 1 ? ', …' : ''})`;
  return new LocationHeldError(address, `${lost.fault}; ${outcome}`);
}

/** Fails unless every file is in S3 as uploaded (another run may have replaced or removed one). */
async function verifyUploaded(
  s3: S3Client,
  address: BundleAddress,
  files: readonly LocalFile[],
  signal?: AbortSignal,
): Promise<void> {
  const listed = new Map(
    (await listBundleObjects(s3, address.location, address.name, signal)).map((object) => [object.key, object]),
  );
  for (const file of files) {
    const object = listed.get(file.key);
    if (!object) throw lostPlace(address, file.key, 'was removed');
    if (object.size !== file.size || object.etag.toLowerCase() !== file.md5) throw lostPlace(address, file.key);
  }
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
  const address = bundleAddress(location, name);
  // The listing and the record as they were at one moment (see listWithRecord).
  const { listing: listed, found } = await listWithRecord(s3, location, name, signal);
  const recordKey = resumeKey(address);
  // The place is claimed first: another upload, bundle or delete of this bundle at once is refused.
  const claim = await LocationClaim.take(s3, address, 'upload', found, { signal });
  const remote = listed.filter((object) => object.key !== recordKey);
  const remoteByKey = new Map(remote.map((object) => [object.key, object]));
  const plan = planUpload(local.parts, local.manifestFile, remote);

  const totalBytes = local.parts.reduce((sum, part) => sum + part.size, 0) + local.manifestFile.size;
  let bytes = 0;
  const report = (file: LocalFile, skipped: boolean) => {
    bytes += file.size;
    options.onProgress?.({ bytes, totalBytes, key: file.key, skipped });
  };
  const concurrency = options.concurrency ?? DEFAULT_UPLOAD_CONCURRENCY;
  let claimLeft: string | undefined;
  // What this run stored, by key, with the ETag S3 gave it: removed again if the place is lost.
  const written = new Map<string, string>();
  try {
    // What is skipped as already there gets the ACL asked for, as an uploaded object would.
    await forEachLimited(
      plan.skip,
      concurrency,
      async (part) => {
        await putObjectAcl(s3, location.bucket, part.key, acl, signal);
        report(part, true);
      },
      signal,
    );
    await forEachLimited(
      plan.upload,
      concurrency,
      async (part) => {
        written.set(
          part.key,
          await putFile(s3, address, part, remoteByKey.get(part.key), acl, 'application/octet-stream', signal),
        );
        report(part, false);
      },
      signal,
    );
    // The manifest counts only while the place is still this run's: checked before and after it.
    const stillOurs = async () => {
      await verifyUploaded(s3, address, local.parts, signal);
      await claim.check(signal);
    };
    await stillOurs();
    if (plan.manifest) {
      const manifest = plan.manifest;
      written.set(
        manifest.key,
        await putFile(s3, address, manifest, remoteByKey.get(manifest.key), acl, 'application/xml', signal),
      );
      report(manifest, false);
    } else {
      await putObjectAcl(s3, location.bucket, local.manifestFile.key, acl, signal);
      report(local.manifestFile, true);
    }
    await stillOurs();
    await forEachLimited(plan.stale, 4, (key) => deleteObject(s3, location.bucket, key, signal), signal);
  } catch (error) {
    if (error instanceof LocationHeldError) throw await withdrawnAfterLoss(s3, address, written, error, claim);
    throw error;
  } finally {
    // Released whether or not the upload completed (the parts stay for a re-run); never another run's.
    claimLeft = await claim.release().then(
      () => undefined,
      (error: unknown) =>
        `s3://${location.bucket}/${claim.key} (${error instanceof Error ? error.message : String(error)})`,
    );
  }
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
    claimLeft,
  };
}
