/** Key listing for ListObjectsV2 and ListObjects: prefix, delimiter, start-after and resumption markers. */
import { StoredObject } from './state';

export interface ListingQuery {
  prefix: string;
  delimiter?: string;
  /** Keys and common prefixes up to and including this one have been returned already. */
  after?: string;
  maxKeys: number;
}

export interface Listing {
  objects: StoredObject[];
  commonPrefixes: string[];
  truncated: boolean;
  /** The last key or common prefix returned: where the next page starts. */
  last?: string;
}

/** S3 orders keys by their UTF-8 bytes. */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

export function listKeys(objects: Iterable<StoredObject>, query: ListingQuery): Listing {
  const sorted = [...objects]
    .filter((object) => object.key.startsWith(query.prefix))
    .sort((a, b) => compareKeys(a.key, b.key));
  const result: Listing = { objects: [], commonPrefixes: [], truncated: false };
  let returned = 0;
  for (const object of sorted) {
    const after = query.after;
    if (
      after !== undefined &&
      (compareKeys(object.key, after) <= 0 ||
        (query.delimiter && after.endsWith(query.delimiter) && object.key.startsWith(after)))
    ) {
      continue;
    }
    let commonPrefix: string | undefined;
    if (query.delimiter) {
      const at = object.key.indexOf(query.delimiter, query.prefix.length);
      if (at >= 0) commonPrefix = object.key.slice(0, at + query.delimiter.length);
    }
    if (commonPrefix !== undefined && commonPrefix === result.commonPrefixes[result.commonPrefixes.length - 1])
      continue;
    if (returned === query.maxKeys) {
      result.truncated = true;
      break;
    }
    returned++;
    if (commonPrefix !== undefined) {
      result.commonPrefixes.push(commonPrefix);
      result.last = commonPrefix;
    } else {
      result.objects.push(object);
      result.last = object.key;
    }
  }
  return result;
}
