/** Object operations: PutObject (digests, aws-chunked, ACLs), GetObject/HeadObject, deletes, GetObjectAcl. */
import { createHash } from 'crypto';
import { decodeAwsChunked } from './awsChunked';
import {
  CHECKSUM_ALGORITHMS,
  CHECKSUM_NAMES,
  checksumBase64,
  checksumByteLength,
  decodeBase64Digest,
} from './checksums';
import { AwsError } from './errors';
import {
  canonicalUserId,
  document,
  HttpAnswer,
  httpDate,
  malformedXml,
  noSuchKey,
  parseBody,
  requireBucket,
  S3Request,
} from './s3Common';
import { STREAMING_UNSIGNED_TRAILER } from './sigv4';
import { Bucket, LocalAwsState, StoredObject } from './state';
import { childNodes, childText, el, element, XmlContent } from './xml';

const CANNED_ACLS = [
  'private',
  'public-read',
  'public-read-write',
  'aws-exec-read',
  'authenticated-read',
  'bucket-owner-read',
  'bucket-owner-full-control',
  'log-delivery-write',
];

/** The canonical user that aws-exec-read grants READ to: EC2, reading AMI bundles. */
const EC2_BUNDLE_READER = '6aa5a366c34c1cbe25dc49211496e913e0351eb0e8c37aa3477e40942ec6b97c';

/** The checksum headers of a request, checked against the data. */
function checkChecksums(
  headers: Record<string, string>,
  data: Buffer,
  trailers: Record<string, string> = {},
): StoredObject['checksum'] {
  let stored: StoredObject['checksum'];
  for (const algorithm of CHECKSUM_ALGORITHMS) {
    const name = `x-amz-checksum-${algorithm}`;
    const value = headers[name] ?? trailers[name];
    if (value === undefined) continue;
    if (!decodeBase64Digest(value, checksumByteLength(algorithm))) {
      throw new AwsError(400, 'InvalidRequest', `Value for ${name} header is invalid.`);
    }
    if (checksumBase64(algorithm, data) !== value) {
      throw new AwsError(
        400,
        'BadDigest',
        `The ${CHECKSUM_NAMES[algorithm]} you specified did not match the calculated checksum.`,
      );
    }
    stored = { algorithm, value };
  }
  return stored;
}

function checkContentMd5(headers: Record<string, string>, data: Buffer): void {
  const value = headers['content-md5'];
  if (value === undefined) return;
  const digest = decodeBase64Digest(value, 16);
  if (!digest)
    throw new AwsError(400, 'InvalidDigest', 'The Content-MD5 you specified is not valid.', { 'Content-MD5': value });
  if (!createHash('md5').update(data).digest().equals(digest)) {
    throw new AwsError(400, 'BadDigest', 'The Content-MD5 you specified did not match what we received.', {
      ExpectedDigest: value,
      CalculatedDigest: createHash('md5').update(data).digest('base64'),
    });
  }
}

/** The object data of a PutObject: the body itself, or the payload of its aws-chunked encoding. */
function objectData(request: S3Request): { data: Buffer; trailers: Record<string, string>; contentEncoding?: string } {
  const encodings = (request.headers['content-encoding'] ?? '')
    .split(',')
    .map((encoding) => encoding.trim())
    .filter((encoding) => encoding !== '');
  const payloadHash = request.headers['x-amz-content-sha256'] ?? '';
  const chunked = encodings.includes('aws-chunked') || payloadHash.startsWith('STREAMING-');
  const remaining = encodings.filter((encoding) => encoding !== 'aws-chunked');
  const contentEncoding = remaining.length > 0 ? remaining.join(',') : undefined;
  if (!chunked) return { data: request.body, trailers: {}, contentEncoding };
  if (payloadHash !== STREAMING_UNSIGNED_TRAILER) {
    throw new AwsError(
      501,
      'NotImplemented',
      `The local S3 accepts aws-chunked bodies only with x-amz-content-sha256: ${STREAMING_UNSIGNED_TRAILER}.`,
    );
  }
  const decoded = decodeAwsChunked(request.body);
  const declared = request.headers['x-amz-decoded-content-length'];
  if (declared === undefined) {
    throw new AwsError(411, 'MissingContentLength', 'You must provide the Content-Length HTTP header.');
  }
  if (Number(declared) !== decoded.data.length) {
    throw new AwsError(
      400,
      'IncompleteBody',
      'You did not provide the number of bytes specified by the Content-Length HTTP header',
      {
        NumberBytesExpected: declared,
        NumberBytesProvided: String(decoded.data.length),
      },
    );
  }
  for (const name of (request.headers['x-amz-trailer'] ?? '')
    .split(',')
    .map((trailer) => trailer.trim().toLowerCase())) {
    if (name !== '' && decoded.trailers[name] === undefined) {
      throw new AwsError(
        400,
        'MalformedTrailerError',
        'The request contained trailing data that was not well-formed or did not conform to our published schema.',
      );
    }
  }
  return { data: decoded.data, trailers: decoded.trailers, contentEncoding };
}

/** Canned ACLs that Block Public Access counts as public (they grant AllUsers or AuthenticatedUsers). */
const PUBLIC_ACLS = ['public-read', 'public-read-write', 'authenticated-read'];

function checkAcl(bucket: Bucket, headers: Record<string, string>): string | undefined {
  const acl = headers['x-amz-acl'];
  if (acl !== undefined && !CANNED_ACLS.includes(acl))
    throw new AwsError(400, 'InvalidArgument', `Invalid canned ACL: ${acl}`, { ArgumentName: 'x-amz-acl' });
  if (bucket.blockPublicAcls && acl !== undefined && PUBLIC_ACLS.includes(acl)) {
    // BlockPublicAcls: a request that would make the object public is refused.
    throw new AwsError(403, 'AccessDenied', 'Access Denied');
  }
  const grants = Object.keys(headers).some((name) => name.startsWith('x-amz-grant-'));
  if (
    bucket.ownership === 'BucketOwnerEnforced' &&
    (grants || (acl !== undefined && acl !== 'bucket-owner-full-control'))
  ) {
    throw new AwsError(400, 'AccessControlListNotSupported', 'The bucket does not allow ACLs');
  }
  return acl;
}

function objectHeaders(object: StoredObject): Record<string, string> {
  const headers: Record<string, string> = {
    etag: `"${object.md5}"`,
    'last-modified': httpDate(object.lastModified),
    'content-type': object.contentType,
    'accept-ranges': 'bytes',
    'x-amz-server-side-encryption': 'AES256',
  };
  if (object.contentEncoding) headers['content-encoding'] = object.contentEncoding;
  for (const [name, value] of Object.entries(object.metadata)) headers[`x-amz-meta-${name}`] = value;
  return headers;
}

/** S3's longest object key, in UTF-8 bytes. */
export const MAX_KEY_BYTES = 1024;

export function checkKeyLength(key: string): void {
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) {
    throw new AwsError(400, 'KeyTooLongError', 'Your key is too long', {
      MaxSizeAllowed: String(MAX_KEY_BYTES),
      Size: String(Buffer.byteLength(key, 'utf8')),
    });
  }
}

/**
 * Conditional writes (If-None-Match: *, If-Match: ETag), as S3 evaluates them when the write
 * completes: the first write to finish wins and a later If-None-Match gets 412; If-Match with another
 * ETag gets 412, on a missing key 404 NoSuchKey; a write or delete of the key that finished while this
 * conditional write was in flight gives 409 ConditionalRequestConflict.
 */
export function checkWriteConditions(state: LocalAwsState, bucket: Bucket, request: S3Request): void {
  const key = request.key ?? '';
  const ifNoneMatch = request.headers['if-none-match'];
  const ifMatch = request.headers['if-match'];
  if (ifNoneMatch === undefined && ifMatch === undefined) return;
  if (ifNoneMatch !== undefined && ifNoneMatch.trim() !== '*') {
    throw new AwsError(501, 'NotImplemented', 'A header you provided implies functionality that is not implemented', {
      Header: 'If-None-Match',
    });
  }
  const current = bucket.objects.get(key);
  const precondition = () =>
    new AwsError(412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', {
      Condition: ifNoneMatch !== undefined ? 'If-None-Match' : 'If-Match',
    });
  if (ifNoneMatch !== undefined && current) throw precondition();
  if (request.arrivalChangeCount !== undefined && state.changedSince(bucket, key, request.arrivalChangeCount)) {
    throw new AwsError(
      409,
      'ConditionalRequestConflict',
      'The conditional request cannot succeed due to a conflicting operation against this resource.',
    );
  }
  if (ifMatch !== undefined) {
    if (!current) throw noSuchKey(key);
    const wanted = ifMatch
      .split(',')
      .map((tag) => tag.trim().replace(/^W\//, '').replace(/"/g, ''))
      .filter((tag) => tag !== '');
    if (!wanted.includes('*') && !wanted.includes(current.md5)) throw precondition();
  }
}

export function putObject(state: LocalAwsState, request: S3Request): HttpAnswer {
  const bucket = requireBucket(state, request);
  const { data, trailers, contentEncoding } = objectData(request);
  const acl = checkAcl(bucket, request.headers);
  checkContentMd5(request.headers, data);
  const checksum = checkChecksums(request.headers, data, trailers);
  checkWriteConditions(state, bucket, request);
  const metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers))
    if (name.startsWith('x-amz-meta-')) metadata[name.slice('x-amz-meta-'.length)] = value;
  const stored = state.storeObject(bucket, {
    key: request.key ?? '',
    body: data,
    contentType: request.headers['content-type'] ?? 'binary/octet-stream',
    contentEncoding,
    acl,
    metadata,
    checksum,
  });
  const headers: Record<string, string> = { etag: `"${stored.md5}"`, 'x-amz-server-side-encryption': 'AES256' };
  if (checksum) headers[`x-amz-checksum-${checksum.algorithm}`] = checksum.value;
  return { status: 200, headers };
}

function parseRange(header: string, size: number): { start: number; end: number } | undefined {
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === '' && match[2] === '')) return undefined;
  if (match[1] === '') {
    const suffix = Math.min(Number(match[2]), size);
    if (suffix === 0)
      throw new AwsError(416, 'InvalidRange', 'The requested range is not satisfiable', {
        ActualObjectSize: String(size),
      });
    return { start: size - suffix, end: size - 1 };
  }
  const start = Number(match[1]);
  const end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (start >= size || end < start)
    throw new AwsError(416, 'InvalidRange', 'The requested range is not satisfiable', {
      ActualObjectSize: String(size),
    });
  return { start, end };
}

export function getObject(state: LocalAwsState, request: S3Request, head: boolean): HttpAnswer {
  const bucket = requireBucket(state, request);
  const object = bucket.objects.get(request.key ?? '');
  if (!object) throw noSuchKey(request.key ?? '');
  const headers = objectHeaders(object);
  const range = request.headers.range !== undefined ? parseRange(request.headers.range, object.body.length) : undefined;
  if (range) {
    headers['content-range'] = `bytes ${range.start}-${range.end}/${object.body.length}`;
    headers['content-length'] = String(range.end - range.start + 1);
    return { status: 206, headers, body: head ? undefined : object.body.subarray(range.start, range.end + 1) };
  }
  if (object.checksum && request.headers['x-amz-checksum-mode']?.toUpperCase() === 'ENABLED') {
    headers[`x-amz-checksum-${object.checksum.algorithm}`] = object.checksum.value;
    headers['x-amz-checksum-type'] = 'FULL_OBJECT';
  }
  headers['content-length'] = String(object.body.length);
  return { status: 200, headers, body: head ? undefined : object.body };
}

/** CopyObject within the local AWS: `x-amz-copy-source: /bucket/key` (URL-encoded), a new ACL or none. */
export function copyObject(state: LocalAwsState, request: S3Request): HttpAnswer {
  const target = requireBucket(state, request);
  const source = decodeURIComponent(request.headers['x-amz-copy-source'] ?? '').replace(/^\//, '');
  const slash = source.indexOf('/');
  const sourceBucket = state.buckets.get(source.slice(0, slash));
  const original = slash > 0 ? sourceBucket?.objects.get(source.slice(slash + 1).split('?')[0]) : undefined;
  if (!sourceBucket)
    throw new AwsError(404, 'NoSuchBucket', 'The specified bucket does not exist', {
      BucketName: source.slice(0, slash),
    });
  if (!original) throw noSuchKey(source.slice(slash + 1));
  const acl = checkAcl(target, request.headers);
  const replace = (request.headers['x-amz-metadata-directive'] ?? 'COPY').toUpperCase() === 'REPLACE';
  const onItself = sourceBucket === target && original.key === (request.key ?? '');
  const changes =
    replace ||
    request.headers['x-amz-storage-class'] !== undefined ||
    request.headers['x-amz-website-redirect-location'] !== undefined ||
    request.headers['x-amz-server-side-encryption'] !== undefined;
  if (onItself && !changes) {
    throw new AwsError(
      400,
      'InvalidRequest',
      "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
    );
  }
  checkWriteConditions(state, target, request);
  const metadata: Record<string, string> = {};
  if (replace) {
    for (const [name, value] of Object.entries(request.headers))
      if (name.startsWith('x-amz-meta-')) metadata[name.slice('x-amz-meta-'.length)] = value;
  }
  const copied = state.storeObject(target, {
    key: request.key ?? '',
    body: Buffer.from(original.body),
    contentType: replace ? (request.headers['content-type'] ?? 'binary/octet-stream') : original.contentType,
    contentEncoding: original.contentEncoding,
    acl,
    metadata: replace ? metadata : { ...original.metadata },
    checksum: original.checksum,
  });
  return document(
    200,
    'CopyObjectResult',
    el('LastModified', copied.lastModified.toISOString()),
    el('ETag', `"${copied.md5}"`),
  );
}

/**
 * DeleteObject, with S3's conditional delete: If-Match with another ETag gets 412, on a missing key
 * 404 NoSuchKey (an unconditional delete of a missing key is a 204). If-None-Match is not a delete
 * condition.
 */
export function deleteObject(state: LocalAwsState, request: S3Request): HttpAnswer {
  const bucket = requireBucket(state, request);
  if (request.headers['if-none-match'] !== undefined)
    throw new AwsError(501, 'NotImplemented', 'A header you provided implies functionality that is not implemented', {
      Header: 'If-None-Match',
    });
  checkWriteConditions(state, bucket, request);
  state.removeObject(bucket, request.key ?? '');
  return { status: 204, headers: {} };
}

export function deleteObjects(state: LocalAwsState, request: S3Request): HttpAnswer {
  const bucket = requireBucket(state, request);
  const checksumGiven =
    request.headers['content-md5'] !== undefined ||
    CHECKSUM_ALGORITHMS.some((algorithm) => request.headers[`x-amz-checksum-${algorithm}`] !== undefined);
  if (!checksumGiven)
    throw new AwsError(400, 'InvalidRequest', 'Missing required header for this request: Content-MD5');
  checkContentMd5(request.headers, request.body);
  checkChecksums(request.headers, request.body);
  const root = parseBody(request.body);
  const objects = childNodes(root, 'Object');
  if (root.name !== 'Delete' || objects.length === 0 || objects.length > 1000) {
    throw malformedXml();
  }
  const quiet = childText(root, 'Quiet') === 'true';
  const deleted: string[] = [];
  for (const object of objects) {
    const key = childText(object, 'Key');
    if (key === undefined) throw malformedXml();
    state.removeObject(bucket, key);
    deleted.push(key);
  }
  return document(200, 'DeleteResult', quiet ? [] : deleted.map((key) => el('Deleted', el('Key', key))));
}

export function getObjectAcl(state: LocalAwsState, request: S3Request): HttpAnswer {
  const bucket = requireBucket(state, request);
  const object = bucket.objects.get(request.key ?? '');
  if (!object) throw noSuchKey(request.key ?? '');
  const owner = canonicalUserId(state.config.accountId);
  const grantee = (content: XmlContent, type: string) =>
    element('Grantee', { 'xmlns:xsi': 'http://www.w3.org/2001/XMLSchema-instance', 'xsi:type': type }, content);
  const grants: XmlContent[] = [
    el('Grant', grantee(el('ID', owner), 'CanonicalUser'), el('Permission', 'FULL_CONTROL')),
  ];
  const acl = bucket.ownership === 'BucketOwnerEnforced' ? undefined : object.acl;
  if (acl === 'public-read' || acl === 'public-read-write') {
    grants.push(
      el(
        'Grant',
        grantee(el('URI', 'http://acs.amazonaws.com/groups/global/AllUsers'), 'Group'),
        el('Permission', 'READ'),
      ),
    );
  }
  if (acl === 'aws-exec-read') {
    grants.push(
      el(
        'Grant',
        grantee([el('ID', EC2_BUNDLE_READER), el('DisplayName', 'za-team')], 'CanonicalUser'),
        el('Permission', 'READ'),
      ),
    );
  }
  return document(200, 'AccessControlPolicy', el('Owner', el('ID', owner)), el('AccessControlList', grants));
}

/** PutObjectAcl with a canned ACL (x-amz-acl); grant headers and ACL documents are not modelled. */
export function putObjectAcl(state: LocalAwsState, request: S3Request): HttpAnswer {
  const bucket = requireBucket(state, request);
  const object = bucket.objects.get(request.key ?? '');
  if (!object) throw noSuchKey(request.key ?? '');
  if (request.headers['x-amz-acl'] === undefined) {
    throw new AwsError(
      501,
      'NotImplemented',
      'The local S3 implements PutObjectAcl only with a canned ACL (x-amz-acl).',
    );
  }
  object.acl = checkAcl(bucket, request.headers);
  return { status: 200, headers: {} };
}
