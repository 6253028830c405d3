/** Naming the S3 operation of a request from its method, path and sub-resources. */
import { S3Route } from './s3Common';

function has(query: Record<string, string>, name: string): boolean {
  return Object.prototype.hasOwnProperty.call(query, name);
}

function bucketOperation(method: string, query: Record<string, string>): string {
  switch (method) {
    case 'HEAD':
      return 'HeadBucket';
    case 'GET':
      if (has(query, 'location')) return 'GetBucketLocation';
      if (has(query, 'ownershipControls')) return 'GetBucketOwnershipControls';
      if (query['list-type'] === '2') return 'ListObjectsV2';
      if (
        Object.keys(query).some(
          (name) => !['prefix', 'delimiter', 'marker', 'max-keys', 'encoding-type'].includes(name),
        )
      )
        return 'UnsupportedBucketGet';
      return 'ListObjects';
    case 'PUT':
      if (has(query, 'ownershipControls')) return 'PutBucketOwnershipControls';
      return Object.keys(query).length === 0 ? 'CreateBucket' : 'UnsupportedBucketPut';
    case 'DELETE':
      if (has(query, 'ownershipControls')) return 'DeleteBucketOwnershipControls';
      return Object.keys(query).length === 0 ? 'DeleteBucket' : 'UnsupportedBucketDelete';
    case 'POST':
      return has(query, 'delete') ? 'DeleteObjects' : 'UnsupportedBucketPost';
    default:
      return 'Unsupported';
  }
}

function objectOperation(method: string, query: Record<string, string>, headers: Record<string, string>): string {
  const subresources = Object.keys(query).filter((name) => name !== 'x-id');
  switch (method) {
    case 'GET':
      return subresources.length === 0 ? 'GetObject' : has(query, 'acl') ? 'GetObjectAcl' : 'UnsupportedObjectGet';
    case 'HEAD':
      return 'HeadObject';
    case 'PUT':
      if (has(query, 'uploadId')) return 'UploadPart';
      if (headers['x-amz-copy-source'] !== undefined) return 'CopyObject';
      return subresources.length === 0 ? 'PutObject' : has(query, 'acl') ? 'PutObjectAcl' : 'UnsupportedObjectPut';
    case 'DELETE':
      return has(query, 'uploadId') ? 'AbortMultipartUpload' : 'DeleteObject';
    case 'POST':
      if (has(query, 'uploads')) return 'CreateMultipartUpload';
      if (has(query, 'uploadId')) return 'CompleteMultipartUpload';
      return 'UnsupportedObjectPost';
    default:
      return 'Unsupported';
  }
}

export function routeS3(
  method: string,
  rawPath: string,
  query: Record<string, string>,
  headers: Record<string, string>,
): S3Route {
  const trimmed = rawPath.replace(/^\//, '');
  if (trimmed === '') return { operation: method === 'GET' ? 'ListBuckets' : 'Unsupported' };
  const slash = trimmed.indexOf('/');
  const bucket = decodeURIComponent(slash < 0 ? trimmed : trimmed.slice(0, slash));
  const rest = slash < 0 ? '' : trimmed.slice(slash + 1);
  if (rest === '') return { operation: bucketOperation(method, query), bucket };
  return { operation: objectOperation(method, query, headers), bucket, key: decodeURIComponent(rest) };
}
