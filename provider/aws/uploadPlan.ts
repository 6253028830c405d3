/**
 * What an upload has to do, decided before any PUT (pure): parts whose object already exists with
 * the same MD5 and size are skipped, so a re-run after a crash uploads only what is missing; the
 * manifest always goes last; objects of an earlier bundle of the same name that the new manifest
 * does not list are removed once the new manifest is in place.
 */
import { StoredObject } from './storedObject';

export interface LocalFile {
  key: string;
  fileName: string;
  path: string;
  size: number;
  /** Hex MD5: S3's ETag of a single-PUT object. */
  md5: string;
}

export interface UploadPlan {
  /** Parts to PUT, in index order. */
  upload: LocalFile[];
  /** Parts already in S3 with the same content. */
  skip: LocalFile[];
  /** The manifest, uploaded after every part is stored; undefined when S3 already has it. */
  manifest: LocalFile | undefined;
  /** Remote objects of the same bundle name that the new manifest does not list. */
  stale: string[];
}

export function sameContent(local: LocalFile, remote: StoredObject | undefined): boolean {
  return remote !== undefined && remote.size === local.size && remote.etag.toLowerCase() === local.md5;
}

export function planUpload(
  parts: readonly LocalFile[],
  manifest: LocalFile,
  remote: readonly StoredObject[],
): UploadPlan {
  const remoteByKey = new Map(remote.map((object) => [object.key, object]));
  const upload = parts.filter((part) => !sameContent(part, remoteByKey.get(part.key)));
  const skip = parts.filter((part) => sameContent(part, remoteByKey.get(part.key)));
  const current = new Set([manifest.key, ...parts.map((part) => part.key)]);
  const manifestUpToDate = upload.length === 0 && sameContent(manifest, remoteByKey.get(manifest.key));
  return {
    upload,
    skip,
    manifest: manifestUpToDate ? undefined : manifest,
    stale: remote.map((object) => object.key).filter((key) => !current.has(key)),
  };
}
