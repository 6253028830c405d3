/** Bucket operations: listings, HeadBucket, location, ownership controls, CreateBucket, DeleteBucket, ListBuckets. */
import { AwsError } from './errors';
import { compareKeys, listKeys, Listing } from './s3Listing';
import {
  canonicalUserId,
  document,
  HttpAnswer,
  isoSeconds,
  malformedXml,
  noSuchBucket,
  parseBody,
  requireBucket,
  S3_NAMESPACE,
  S3Request,
} from './s3Common';
import { LocalAwsState } from './state';
import { ObjectOwnership } from './types';
import { childNodes, childText, el, element, opt, xmlDocument, XmlContent } from './xml';

const OWNERSHIPS: readonly ObjectOwnership[] = ['BucketOwnerEnforced', 'ObjectWriter', 'BucketOwnerPreferred'];

function validBucketName(name: string): boolean {
  return /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(name) && !name.includes('..') && !/^\d+\.\d+\.\d+\.\d+$/.test(name);
}

function encodeKey(value: string, urlEncoding: boolean): string {
  return urlEncoding ? encodeURIComponent(value).replace(/%2F/g, '/') : value;
}

function listingQuery(request: S3Request): {
  prefix: string;
  delimiter?: string;
  maxKeys: number;
  urlEncoding: boolean;
} {
  const maxKeysText = request.query['max-keys'];
  if (maxKeysText !== undefined && !/^\d+$/.test(maxKeysText)) {
    throw new AwsError(400, 'InvalidArgument', 'Provided max-keys not an integer or within integer range', {
      ArgumentName: 'max-keys',
      ArgumentValue: maxKeysText,
    });
  }
  const encoding = request.query['encoding-type'];
  if (encoding !== undefined && encoding !== 'url') {
    throw new AwsError(400, 'InvalidArgument', 'Invalid Encoding Method specified in Request', {
      ArgumentName: 'encoding-type',
      ArgumentValue: encoding,
    });
  }
  return {
    prefix: request.query.prefix ?? '',
    delimiter: request.query.delimiter || undefined,
    maxKeys: Math.min(maxKeysText === undefined ? 1000 : Number(maxKeysText), 1000),
    urlEncoding: encoding === 'url',
  };
}

function contentsXml(listing: Listing, urlEncoding: boolean): XmlContent[] {
  return [
    listing.objects.map((object) =>
      el(
        'Contents',
        el('Key', encodeKey(object.key, urlEncoding)),
        el('LastModified', isoSeconds(object.lastModified)),
        el('ETag', `"${object.md5}"`),
        el('Size', object.body.length),
        el('StorageClass', 'STANDARD'),
      ),
    ),
    listing.commonPrefixes.map((prefix) => el('CommonPrefixes', el('Prefix', encodeKey(prefix, urlEncoding)))),
  ];
}

export function listObjectsV2(state: LocalAwsState, request: S3Request): HttpAnswer {
  const bucket = requireBucket(state, request);
  const query = listingQuery(request);
  const token = request.query['continuation-token'];
  let resumeAfter: string | undefined;
  if (token !== undefined) {
    const decoded = Buffer.from(token, 'base64url').toString('utf8');
    if (!token || !decoded.startsWith('after:'))
      throw new AwsError(400, 'InvalidArgument', 'The continuation token provided is incorrect', {
        ArgumentName: 'continuation-token',
      });
    resumeAfter = decoded.slice('after:'.length);
  }
  const startAfter = request.query['start-after'];
  const after = [resumeAfter, startAfter]
    .filter((value): value is string => value !== undefined)
    .sort(compareKeys)
    .pop();
  const listing = listKeys(bucket.objects.values(), { ...query, after });
  const nextToken =
    listing.truncated && listing.last !== undefined
      ? Buffer.from(`after:${listing.last}`, 'utf8').toString('base64url')
      : undefined;
  return document(
    200,
    'ListBucketResult',
    el('Name', bucket.name),
    el('Prefix', encodeKey(query.prefix, query.urlEncoding)),
    opt('Delimiter', query.delimiter === undefined ? undefined : encodeKey(query.delimiter, query.urlEncoding)),
    el('MaxKeys', query.maxKeys),
    opt('EncodingType', query.urlEncoding ? 'url' : undefined),
    el('KeyCount', listing.objects.length + listing.commonPrefixes.length),
    el('IsTruncated', listing.truncated),
    opt('ContinuationToken', token),
    opt('NextContinuationToken', nextToken),
    opt('StartAfter', startAfter === undefined ? undefined : encodeKey(startAfter, query.urlEncoding)),
    contentsXml(listing, query.urlEncoding),
  );
}

export function listObjects(state: LocalAwsState, request: S3Request): HttpAnswer {
  const bucket = requireBucket(state, request);
  const query = listingQuery(request);
  const marker = request.query.marker;
  const listing = listKeys(bucket.objects.values(), { ...query, after: marker || undefined });
  return document(
    200,
    'ListBucketResult',
    el('Name', bucket.name),
    el('Prefix', encodeKey(query.prefix, query.urlEncoding)),
    el('Marker', marker === undefined ? '' : encodeKey(marker, query.urlEncoding)),
    opt(
      'NextMarker',
      listing.truncated && query.delimiter !== undefined && listing.last !== undefined
        ? encodeKey(listing.last, query.urlEncoding)
        : undefined,
    ),
    el('MaxKeys', query.maxKeys),
    opt('Delimiter', query.delimiter === undefined ? undefined : encodeKey(query.delimiter, query.urlEncoding)),
    opt('EncodingType', query.urlEncoding ? 'url' : undefined),
    el('IsTruncated', listing.truncated),
    contentsXml(listing, query.urlEncoding),
  );
}

export function headBucket(state: LocalAwsState, request: S3Request): HttpAnswer {
  const bucket = requireBucket(state, request);
  return { status: 200, headers: { 'x-amz-bucket-region': bucket.region } };
}

export function getBucketLocation(state: LocalAwsState, request: S3Request): HttpAnswer {
  const bucket = state.buckets.get(request.bucket ?? '');
  if (!bucket) throw noSuchBucket(request.bucket ?? '');
  return {
    status: 200,
    headers: { 'content-type': 'application/xml' },
    body: xmlDocument(
      element('LocationConstraint', { xmlns: S3_NAMESPACE }, bucket.region === 'us-east-1' ? undefined : bucket.region),
    ),
  };
}

export function getOwnershipControls(state: LocalAwsState, request: S3Request): HttpAnswer {
  const bucket = requireBucket(state, request);
  if (!bucket.ownership) {
    throw new AwsError(404, 'OwnershipControlsNotFoundError', 'The bucket ownership controls were not found', {
      BucketName: bucket.name,
    });
  }
  return document(200, 'OwnershipControls', el('Rule', el('ObjectOwnership', bucket.ownership)));
}

function parseOwnership(value: string | undefined): ObjectOwnership {
  const ownership = OWNERSHIPS.find((candidate) => candidate === value);
  if (!ownership)
    throw new AwsError(400, 'InvalidArgument', `Invalid x-amz-object-ownership: ${value}`, {
      ArgumentName: 'x-amz-object-ownership',
    });
  return ownership;
}

export function putOwnershipControls(state: LocalAwsState, request: S3Request): HttpAnswer {
  const bucket = requireBucket(state, request);
  const root = parseBody(request.body);
  const rule = childNodes(root, 'Rule')[0];
  if (root.name !== 'OwnershipControls' || !rule) {
    throw malformedXml();
  }
  bucket.ownership = parseOwnership(childText(rule, 'ObjectOwnership'));
  return { status: 200, headers: {} };
}

export function deleteOwnershipControls(state: LocalAwsState, request: S3Request): HttpAnswer {
  const bucket = requireBucket(state, request);
  bucket.ownership = undefined;
  return { status: 204, headers: {} };
}

export function createBucket(state: LocalAwsState, request: S3Request): HttpAnswer {
  const name = request.bucket ?? '';
  if (!validBucketName(name))
    throw new AwsError(400, 'InvalidBucketName', 'The specified bucket is not valid.', { BucketName: name });
  let constraint: string | undefined;
  if (request.body.length > 0) {
    const root = parseBody(request.body);
    if (root.name !== 'CreateBucketConfiguration') {
      throw malformedXml();
    }
    constraint = childText(root, 'LocationConstraint') || undefined;
  }
  if (constraint === 'us-east-1')
    throw new AwsError(400, 'InvalidLocationConstraint', 'The specified location-constraint is not valid', {
      LocationConstraint: constraint,
    });
  const region = constraint === 'EU' ? 'eu-west-1' : (constraint ?? 'us-east-1');
  if (request.signingRegion !== 'us-east-1' && region !== request.signingRegion) {
    const which = constraint === undefined ? 'unspecified' : constraint;
    throw new AwsError(
      400,
      'IllegalLocationConstraintException',
      `The ${which} location constraint is incompatible for the region specific endpoint this request was sent to.`,
    );
  }
  const ownership =
    request.headers['x-amz-object-ownership'] === undefined
      ? 'BucketOwnerEnforced'
      : parseOwnership(request.headers['x-amz-object-ownership']);
  const acl = request.headers['x-amz-acl'];
  if (
    ownership === 'BucketOwnerEnforced' &&
    acl !== undefined &&
    acl !== 'private' &&
    acl !== 'bucket-owner-full-control'
  ) {
    throw new AwsError(
      400,
      'InvalidBucketAclWithObjectOwnership',
      "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting",
    );
  }
  const existing = state.buckets.get(name);
  if (existing) {
    // us-east-1 answers 200 to the owner re-creating a bucket there; every other region refuses.
    if (existing.region === 'us-east-1' && region === 'us-east-1')
      return { status: 200, headers: { location: `/${name}` } };
    throw new AwsError(
      409,
      'BucketAlreadyOwnedByYou',
      'Your previous request to create the named bucket succeeded and you already own it.',
      { BucketName: name },
    );
  }
  state.createBucket(name, region, ownership);
  return { status: 200, headers: { location: `/${name}` } };
}

export function deleteBucket(state: LocalAwsState, request: S3Request): HttpAnswer {
  const bucket = requireBucket(state, request);
  if (bucket.objects.size > 0)
    throw new AwsError(409, 'BucketNotEmpty', 'The bucket you tried to delete is not empty', {
      BucketName: bucket.name,
    });
  state.buckets.delete(bucket.name);
  return { status: 204, headers: {} };
}

export function listBuckets(state: LocalAwsState): HttpAnswer {
  const buckets = [...state.buckets.values()].sort((a, b) => compareKeys(a.name, b.name));
  return document(
    200,
    'ListAllMyBucketsResult',
    el('Owner', el('ID', canonicalUserId(state.config.accountId))),
    el(
      'Buckets',
      buckets.map((bucket) =>
        el(
          'Bucket',
          el('Name', bucket.name),
          el('CreationDate', isoSeconds(bucket.creationDate)),
          el('BucketRegion', bucket.region),
        ),
      ),
    ),
  );
}
