/**
 * Checks the SigV4 `Authorization` header of a request by signing the same request again with the
 * known secret (@smithy/signature-v4) and comparing the signatures.
 */
import { createHash, createHmac, Hash, Hmac, timingSafeEqual } from 'crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import { AwsError } from './errors';
import { sha256Hex } from './checksums';
import { ServiceName } from './types';

const AUTHORIZATION =
  /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/;

const MAX_SKEW_MS = 15 * 60 * 1000;

/** Payload hashes S3 accepts instead of a hex SHA-256 of the body. */
export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
export const STREAMING_UNSIGNED_TRAILER = 'STREAMING-UNSIGNED-PAYLOAD-TRAILER';

type SourceData = string | ArrayBuffer | ArrayBufferView;

function toBuffer(data: SourceData): Buffer {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/** The hash constructor @smithy/signature-v4 wants, on Node's crypto. */
export class NodeSha256 {
  private readonly hash: Hash | Hmac;

  constructor(secret?: SourceData) {
    this.hash = secret === undefined ? createHash('sha256') : createHmac('sha256', toBuffer(secret));
  }

  update(data: SourceData): void {
    this.hash.update(toBuffer(data));
  }

  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }

  reset(): void {
    throw new Error('NodeSha256 cannot be reset');
  }
}

export interface SignedRequest {
  method: string;
  /** Raw path as received (percent-encoded). */
  path: string;
  query: Record<string, string | string[]>;
  headers: Readonly<Record<string, string | undefined>>;
  body: Buffer;
}

export interface VerifiedSignature {
  accessKeyId: string;
  region: string;
  service: string;
  date: Date;
  /** The declared payload hash (x-amz-content-sha256), when there is one. */
  payloadHash?: string;
}

interface AuthErrors {
  /** A session token that is not the key's, missing for a temporary key, or given with a long-term one. */
  badToken?: () => AwsError;
  /** A temporary key past its expiration. */
  expiredToken?: () => AwsError;
  missing: () => AwsError;
  malformed: (message: string) => AwsError;
  unknownKey: (accessKeyId: string) => AwsError;
  skewed: (requestTime: Date, now: Date) => AwsError;
  mismatch: () => AwsError;
}

const S3_ERRORS: AuthErrors = {
  badToken: () => new AwsError(400, 'InvalidToken', 'The provided token is malformed or otherwise invalid.'),
  expiredToken: () => new AwsError(400, 'ExpiredToken', 'The provided token has expired.'),
  missing: () => new AwsError(403, 'AccessDenied', 'Access Denied'),
  malformed: (message) =>
    new AwsError(400, 'AuthorizationHeaderMalformed', `The authorization header is malformed; ${message}`),
  unknownKey: (accessKeyId) =>
    new AwsError(403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.', {
      AWSAccessKeyId: accessKeyId,
    }),
  skewed: (requestTime, now) =>
    new AwsError(
      403,
      'RequestTimeTooSkewed',
      'The difference between the request time and the current time is too large.',
      {
        RequestTime: requestTime.toISOString(),
        ServerTime: now.toISOString(),
        MaxAllowedSkewMilliseconds: String(MAX_SKEW_MS),
      },
    ),
  mismatch: () =>
    new AwsError(
      403,
      'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
    ),
};

const EC2_ERRORS: AuthErrors = {
  missing: () => new AwsError(401, 'MissingAuthenticationToken', 'Request is missing Authentication Token'),
  malformed: (message) =>
    new AwsError(400, 'IncompleteSignature', `The request signature does not conform to AWS standards: ${message}`),
  unknownKey: () => new AwsError(401, 'AuthFailure', 'AWS was not able to validate the provided access credentials'),
  skewed: () => new AwsError(400, 'RequestExpired', 'Request has expired.'),
  mismatch: () =>
    new AwsError(
      403,
      'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
    ),
};

/** The errors of REST-JSON services such as the EBS direct APIs. */
const REST_JSON_ERRORS: AuthErrors = {
  missing: () => new AwsError(403, 'MissingAuthenticationTokenException', 'Missing Authentication Token'),
  malformed: (message) =>
    new AwsError(
      400,
      'IncompleteSignatureException',
      `The request signature does not conform to AWS standards: ${message}`,
    ),
  unknownKey: () =>
    new AwsError(403, 'UnrecognizedClientException', 'The security token included in the request is invalid.'),
  skewed: (requestTime, now) =>
    new AwsError(
      403,
      'InvalidSignatureException',
      `Signature expired: ${requestTime.toISOString()} is now earlier than ${new Date(now.getTime() - MAX_SKEW_MS).toISOString()} (${now.toISOString()} - 15 min.)`,
    ),
  mismatch: () =>
    new AwsError(
      403,
      'InvalidSignatureException',
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
    ),
};

const S3_SPECIAL_PAYLOAD_HASHES = [
  UNSIGNED_PAYLOAD,
  STREAMING_UNSIGNED_TRAILER,
  'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
  'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER',
  'STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD',
  'STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER',
];

/** S3 trusts x-amz-content-sha256 in the signature, and compares it with the body itself. */
function checkS3PayloadHash(payloadHash: string | undefined, body: Buffer): void {
  if (payloadHash === undefined)
    throw new AwsError(400, 'InvalidRequest', 'Missing required header for this request: x-amz-content-sha256');
  if (S3_SPECIAL_PAYLOAD_HASHES.includes(payloadHash)) return;
  if (!/^[0-9a-f]{64}$/.test(payloadHash)) {
    throw new AwsError(
      400,
      'InvalidArgument',
      `x-amz-content-sha256 must be ${S3_SPECIAL_PAYLOAD_HASHES.join(', ')} or a valid sha256 value.`,
      {
        ArgumentName: 'x-amz-content-sha256',
        ArgumentValue: payloadHash,
      },
    );
  }
  const computed = sha256Hex(body);
  if (payloadHash !== computed) {
    throw new AwsError(
      400,
      'XAmzContentSHA256Mismatch',
      "The provided 'x-amz-content-sha256' header does not match what was computed.",
      {
        ClientComputedContentSHA256: payloadHash,
        S3ComputedContentSHA256: computed,
      },
    );
  }
}

function parseAmzDate(value: string | undefined): Date | undefined {
  const match = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value ?? '');
  if (!match) return undefined;
  const [, year, month, day, hour, minute, second] = match.map(Number);
  return new Date(Date.UTC(year, month - 1, day, hour, minute, second));
}

/** The service named in the credential scope, or undefined when there is no readable scope. */
export function scopeService(authorization: string | undefined): string | undefined {
  return AUTHORIZATION.exec(authorization ?? '')?.[4];
}

/** An access key's secret, and for a temporary key (STS) its session token and expiration. */
export interface SigningKey {
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: number;
}

export async function verifySignature(
  service: ServiceName,
  request: SignedRequest,
  keys: (accessKeyId: string) => SigningKey | undefined,
  now: Date,
): Promise<VerifiedSignature> {
  const errors =
    service === 's3' ? S3_ERRORS : service === 'ebs' ? REST_JSON_ERRORS : service === 'sts' ? STS_ERRORS : EC2_ERRORS;
  const authorization = request.headers.authorization;
  if (authorization === undefined) throw errors.missing();
  const match = AUTHORIZATION.exec(authorization);
  if (!match) throw errors.malformed('expected "AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…"');
  const [, accessKeyId, scopeDay, region, scopeServiceName, signedHeaderList, signature] = match;
  if (scopeServiceName !== service)
    throw errors.malformed(`the credential scope names service '${scopeServiceName}'; expecting '${service}'`);
  const key = keys(accessKeyId);
  if (key === undefined) throw errors.unknownKey(accessKeyId);
  const secret = key.secretAccessKey;
  // A temporary key is valid only with its own session token (signed, as the SDK sends it), until it expires.
  const token = request.headers['x-amz-security-token'];
  if (token !== key.sessionToken) throw (errors.badToken ?? errors.unknownKey)(accessKeyId);
  if (key.expiration !== undefined && now.getTime() >= key.expiration)
    throw (errors.expiredToken ?? errors.unknownKey)(accessKeyId);
  const date = parseAmzDate(request.headers['x-amz-date']);
  if (!date) throw errors.malformed('the x-amz-date header is missing or not in the form YYYYMMDDTHHMMSSZ');
  if (Math.abs(now.getTime() - date.getTime()) > MAX_SKEW_MS) throw errors.skewed(date, now);
  if (request.headers['x-amz-date']?.slice(0, 8) !== scopeDay)
    throw errors.malformed('the credential date is not the date of x-amz-date');

  const signedNames = signedHeaderList.split(';');
  if (!signedNames.includes('host')) throw errors.malformed('the host header must be signed');
  const payloadHash = request.headers['x-amz-content-sha256'];
  if (service === 's3') checkS3PayloadHash(payloadHash, request.body);
  // Other services hash the body they received, so any other declared hash breaks the signature; but
  // EBS block data is not part of the signature (its x-amz-Checksum is), so UNSIGNED-PAYLOAD is accepted.
  else if (
    payloadHash !== undefined &&
    payloadHash !== sha256Hex(request.body) &&
    !(service === 'ebs' && payloadHash === UNSIGNED_PAYLOAD)
  )
    throw errors.mismatch();

  const headers: Record<string, string> = {};
  for (const name of signedNames) headers[name] = request.headers[name] ?? '';
  const host = request.headers.host ?? '';
  const signer = new SignatureV4({
    credentials: { accessKeyId, secretAccessKey: secret },
    region,
    service: scopeServiceName,
    sha256: NodeSha256,
    applyChecksum: false,
    uriEscapePath: service !== 's3',
  });
  const signed = await signer.sign(
    {
      method: request.method,
      protocol: 'http:',
      hostname: host.replace(/:\d+$/, ''),
      port: Number(/:(\d+)$/.exec(host)?.[1] ?? 80),
      path: request.path,
      query: request.query,
      headers,
      body: request.body,
    },
    { signingDate: date },
  );
  const expected = /Signature=([0-9a-f]{64})/.exec(String(signed.headers.authorization ?? ''))?.[1] ?? '';
  if (expected.length !== signature.length || !timingSafeEqual(Buffer.from(expected), Buffer.from(signature))) {
    throw errors.mismatch();
  }
  return { accessKeyId, region, service: scopeServiceName, date, payloadHash };
}

/** STS (Query API, ErrorResponse documents). */
export const STS_ERRORS: AuthErrors = {
  badToken: () => new AwsError(403, 'InvalidClientTokenId', 'The security token included in the request is invalid.'),
  expiredToken: () => new AwsError(400, 'ExpiredToken', 'The security token included in the request is expired'),
  missing: () => new AwsError(403, 'MissingAuthenticationToken', 'Request is missing Authentication Token'),
  malformed: (message) =>
    new AwsError(400, 'IncompleteSignature', `The request signature does not conform to AWS standards: ${message}`),
  unknownKey: () => new AwsError(403, 'InvalidClientTokenId', 'The security token included in the request is invalid.'),
  skewed: () => new AwsError(403, 'SignatureDoesNotMatch', 'Signature expired.'),
  mismatch: () =>
    new AwsError(
      403,
      'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
    ),
};
