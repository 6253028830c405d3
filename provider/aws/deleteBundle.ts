/**
 * Deleting a bundle from S3: the manifest first (so nothing can register a half-deleted bundle),
 * then every part the manifest lists, then any other object of the same bundle name found by a
 * paginated listing (parts of an earlier, larger bundle).
 */
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { setMaxListeners } from 'events';
import * as path from 'path';
import { parseManifest } from '../bundle/manifestParse';
import { readManifestFile } from '../bundle/manifestFile';
import { BundleAddress, bundleAddress, manifestKey as manifestKeyOf } from './bundleAddress';
import { LocationClaim, LocationHeldError, readRecord } from './bundleClaim';
import { listBundleObjects } from './bundleObjects';
import { forEachLimited, withDeadline } from './concurrency';
import { awsCall, errorCode } from './errors';
import { BundleLocation, objectKey } from './location';
import { deleteObject } from './objects';

export interface DeleteBundleOptions {
  s3: S3Client;
  location: BundleLocation;
  /** The bundle name (NAME of NAME.manifest.xml); or give manifestPath. */
  name?: string;
  /** A local copy of the manifest; otherwise the one in S3 is read. */
  manifestPath?: string;
  concurrency?: number;
  deadlineMs?: number;
  signal?: AbortSignal;
}

export interface DeleteBundleResult {
  deleted: string[];
}

async function remoteManifestParts(
  s3: S3Client,
  bucket: string,
  key: string,
  signal?: AbortSignal,
): Promise<string[] | undefined> {
  try {
    const output = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: signal });
    const xml = (await output.Body?.transformToString('utf8')) ?? '';
    return parseManifest(xml).manifest.image.parts.map((part) => part.filename);
  } catch (error) {
    const code = errorCode(error);
    if (code === 'NoSuchKey' || code === 'NotFound') return undefined;
    // An unreadable manifest still gets deleted; its parts are found by listing.
    if (error instanceof Error && error.name === 'BundleIntegrityError') return undefined;
    throw error;
  }
}

export async function deleteBundle(options: DeleteBundleOptions): Promise<DeleteBundleResult> {
  const { s3, location } = options;
  const signal = withDeadline(options.signal, options.deadlineMs);
  // Every request in flight listens on the signal; more than Node's default of 10 is expected here.
  if (signal) setMaxListeners((options.concurrency ?? 8) + 10, signal);
  let name = options.name;
  let listedParts: string[] | undefined;
  let manifestKey: string;
  if (options.manifestPath) {
    const { manifest } = parseManifest(await readManifestFile(options.manifestPath));
    name = manifest.image.name;
    listedParts = manifest.image.parts.map((part) => part.filename);
    manifestKey = objectKey(location, path.basename(options.manifestPath));
  } else {
    if (!name) throw new Error('deleteBundle needs a bundle name or a manifest path');
    manifestKey = manifestKeyOf(bundleAddress(location, name));
    listedParts = await awsCall('GetObject', `s3://${location.bucket}/${manifestKey}`, () =>
      remoteManifestParts(s3, location.bucket, manifestKey, signal),
    );
  }
  const bundleName = name as string;
  const remove = (key: string) => deleteObject(s3, location.bucket, key, signal);
  const address = bundleAddress(location, bundleName);

  // The place is claimed first, over any other run's claim: a run still writing this bundle then
  // finds its claim gone and stops before its manifest counts, instead of completing over the delete.
  const { claim, found } = await takeOver(s3, address, signal);
  await remove(manifestKey);
  const keys = new Set((listedParts ?? []).map((file) => objectKey(location, file)));
  for (const object of await listBundleObjects(s3, location, bundleName, signal)) keys.add(object.key);
  keys.delete(manifestKey);
  keys.delete(claim.key);
  const parts = [...keys].sort();
  await forEachLimited(parts, options.concurrency ?? 8, remove, signal);
  await remove(claim.key);
  // The claim is removed last; it counts as deleted when a record of the bundle was there before.
  return { deleted: [manifestKey, ...[...parts, ...(found ? [claim.key] : [])].sort()] };
}

/** Times delete-bundle reads the record again when another run's write lands between its read and its claim. */
const TAKE_OVER_ATTEMPTS = 5;

/**
 * delete-bundle's claim over whatever holds the place. A run writing the record at the same moment
 * makes the conditional write fail (412, or S3's 409 ConditionalRequestConflict): read it again and
 * take that one over, a few times, before giving up with the refusal.
 */
async function takeOver(s3: S3Client, address: BundleAddress, signal?: AbortSignal) {
  for (let attempt = 1; ; attempt++) {
    // A record too large to be one this tool wrote is replaced unread, like any other.
    const found = await readRecord(s3, address, signal, 'etagOnly');
    try {
      return { claim: await LocationClaim.take(s3, address, 'delete', found, { signal, force: true }), found };
    } catch (error) {
      if (!(error instanceof LocationHeldError) || attempt >= TAKE_OVER_ATTEMPTS) throw error;
    }
  }
}
