/** The S3 REST API, path-style: dispatch to the bucket and object handlers, and the error document. */
import { AwsError } from './errors';
import {
  createBucket,
  deleteBucket,
  deleteOwnershipControls,
  getBucketLocation,
  getOwnershipControls,
  headBucket,
  listBuckets,
  listObjects,
  listObjectsV2,
  putOwnershipControls,
} from './s3Buckets';
import { HttpAnswer, S3Request } from './s3Common';
import {
  checkKeyLength,
  copyObject,
  deleteObject,
  deleteObjects,
  getObject,
  getObjectAcl,
  putObject,
  putObjectAcl,
} from './s3Objects';
import { LocalAwsState } from './state';
import { el, xmlDocument } from './xml';

export type { HttpAnswer, S3Request, S3Route } from './s3Common';
export { routeS3 } from './s3Routes';

function notImplemented(request: S3Request): never {
  throw new AwsError(
    501,
    'NotImplemented',
    `The local S3 does not implement ${request.operation} (${request.method}).`,
  );
}

export function handleS3(state: LocalAwsState, request: S3Request): HttpAnswer {
  if (request.key !== undefined) checkKeyLength(request.key);
  switch (request.operation) {
    case 'PutObject':
      return putObject(state, request);
    case 'GetObject':
      return getObject(state, request, false);
    case 'HeadObject':
      return getObject(state, request, true);
    case 'CopyObject':
      return copyObject(state, request);
    case 'DeleteObject':
      return deleteObject(state, request);
    case 'DeleteObjects':
      return deleteObjects(state, request);
    case 'GetObjectAcl':
      return getObjectAcl(state, request);
    case 'PutObjectAcl':
      return putObjectAcl(state, request);
    case 'ListObjectsV2':
      return listObjectsV2(state, request);
    case 'ListObjects':
      return listObjects(state, request);
    case 'HeadBucket':
      return headBucket(state, request);
    case 'GetBucketLocation':
      return getBucketLocation(state, request);
    case 'GetBucketOwnershipControls':
      return getOwnershipControls(state, request);
    case 'PutBucketOwnershipControls':
      return putOwnershipControls(state, request);
    case 'DeleteBucketOwnershipControls':
      return deleteOwnershipControls(state, request);
    case 'CreateBucket':
      return createBucket(state, request);
    case 'DeleteBucket':
      return deleteBucket(state, request);
    case 'ListBuckets':
      return listBuckets(state);
    default:
      return notImplemented(request);
  }
}

export function renderS3Error(error: AwsError, requestId: string, head: boolean): HttpAnswer {
  const headers: Record<string, string> = { ...error.headers };
  if (head) return { status: error.status, headers };
  const details = Object.entries(error.details).map(([name, value]) => el(name, value));
  return {
    status: error.status,
    headers: { 'content-type': 'application/xml', ...headers },
    body: xmlDocument(
      el(
        'Error',
        el('Code', error.code),
        el('Message', error.message),
        details,
        el('RequestId', requestId),
        el('HostId', Buffer.from(requestId).toString('base64')),
      ),
    ),
  };
}
