/** What the S3 handlers share: request and answer shapes, XML documents, bucket lookup. */
import { createHash } from 'crypto';
import { AwsError } from './errors';
import { Bucket, LocalAwsState } from './state';
import { element, parseXml, XmlContent, XmlNode, xmlDocument, XmlSyntaxError } from './xml';

export const S3_NAMESPACE = 'http://s3.amazonaws.com/doc/2006-03-01/';

export interface S3Route {
  operation: string;
  bucket?: string;
  key?: string;
}

export interface S3Request extends S3Route {
  method: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  body: Buffer;
  /** The region of the credential scope. */
  signingRegion: string;
  /** The state's change count when the request arrived (before its body was read). */
  arrivalChangeCount?: number;
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string>;
  body?: Buffer | string;
}

export function document(status: number, name: string, ...content: XmlContent[]): HttpAnswer {
  return {
    status,
    headers: { 'content-type': 'application/xml' },
    body: xmlDocument(element(name, { xmlns: S3_NAMESPACE }, ...content)),
  };
}

export function noSuchBucket(name: string): AwsError {
  return new AwsError(404, 'NoSuchBucket', 'The specified bucket does not exist', { BucketName: name });
}

export function noSuchKey(key: string): AwsError {
  return new AwsError(404, 'NoSuchKey', 'The specified key does not exist.', { Key: key });
}

export function httpDate(date: Date): string {
  return date.toUTCString();
}

export function isoSeconds(date: Date): string {
  return date.toISOString();
}

export function requireBucket(state: LocalAwsState, request: S3Request): Bucket {
  const bucket = state.buckets.get(request.bucket ?? '');
  if (!bucket) throw noSuchBucket(request.bucket ?? '');
  if (bucket.region !== request.signingRegion) {
    throw new AwsError(
      301,
      'PermanentRedirect',
      'The bucket you are attempting to access must be addressed using the specified endpoint. Please send all future requests to this endpoint.',
      { Bucket: bucket.name, Endpoint: `s3.${bucket.region}.amazonaws.com` },
      { 'x-amz-bucket-region': bucket.region },
    );
  }
  return bucket;
}

export function malformedXml(): AwsError {
  return new AwsError(
    400,
    'MalformedXML',
    'The XML you provided was not well-formed or did not validate against our published schema',
  );
}

export function parseBody(body: Buffer): XmlNode {
  try {
    return parseXml(body.toString('utf8'));
  } catch (error) {
    if (error instanceof XmlSyntaxError) {
      throw malformedXml();
    }
    throw error;
  }
}

export function canonicalUserId(accountId: string): string {
  return createHash('sha256').update(`canonical-user/${accountId}`).digest('hex');
}
