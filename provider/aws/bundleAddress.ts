/**
 * Every S3 key of one bundle, worked out in one place (pure): the parts, the manifest, the resume
 * record, the listing prefix and RegisterImage's ImageLocation, from a location and a bundle name.
 */
import { isBundleFileOf, manifestFileName, partFileName, resumeFileName } from '../bundle/parts';
import { BucketName } from './ids';
import { BundleLocation, describeLocation, imageLocationOf, objectKey, subLocation } from './location';

export interface BundleAddress {
  readonly location: BundleLocation;
  readonly name: string;
}

export function bundleAddress(location: BundleLocation, name: string): BundleAddress {
  return { location, name };
}

export function bucketOf(address: BundleAddress): BucketName {
  return address.location.bucket;
}

/** Part `index` of `count` (or of a bound on the count: the index is padded to its digits). */
export function partKey(address: BundleAddress, index: number, count: number): string {
  return objectKey(address.location, partFileName(address.name, index, count));
}

export function manifestKey(address: BundleAddress): string {
  return objectKey(address.location, manifestFileName(address.name));
}

/** `NAME.resume.json`: the record of an unfinished bundle. */
export function resumeKey(address: BundleAddress): string {
  return objectKey(address.location, resumeFileName(address.name));
}

/** Every key of the bundle starts with this; so may keys of other bundles (`NAME.x.…`). */
export function listingPrefix(address: BundleAddress): string {
  return objectKey(address.location, `${address.name}.`);
}

/** Whether a listed key is one of the bundle's objects: a part, the manifest or the record. */
export function isKeyOfBundle(address: BundleAddress, key: string): boolean {
  return (
    key.startsWith(address.location.keyPrefix) &&
    isBundleFileOf(address.name, key.slice(address.location.keyPrefix.length))
  );
}

/** RegisterImage's ImageLocation: `bucket/prefix/NAME.manifest.xml`, no s3:// scheme. */
export function imageLocation(address: BundleAddress): string {
  return imageLocationOf({ bucket: address.location.bucket, key: manifestKey(address) });
}

/** The same bundle's name and location as one string, to tell whether two bundles are at one place. */
export function addressText(address: BundleAddress): string {
  return `${address.location.bucket}/${address.location.keyPrefix}${address.name}`;
}

/**
 * Folders made next to each other as `STEM-xxxxxxxx/` under `parent` (BundledImage's folder per
 * create): the listing prefix of them all, and the folder a listed key of a bundle named `name` is in
 * (undefined when the key is not that bundle's record in such a folder).
 */
export function siblingsPrefix(parent: BundleLocation, stem: string): string {
  return objectKey(parent, `${stem}-`);
}

export function siblingOf(parent: BundleLocation, stem: string, name: string, key: string): BundleAddress | undefined {
  const rest = key.slice(siblingsPrefix(parent, stem).length);
  const match = /^([0-9a-f]{8})\/(.*)$/.exec(rest);
  if (!key.startsWith(siblingsPrefix(parent, stem)) || !match || match[2] !== resumeFileName(name)) return undefined;
  return bundleAddress(subLocation(parent, `${stem}-${match[1]}`), name);
}

/** `s3://bucket/prefix/`, the folder of the bundle, for messages. */
export function describeAddress(address: BundleAddress): string {
  return describeLocation(address.location);
}
