/**
 * AWS failures as one clear line: the operation, the resource, what AWS said, and what to do.
 * Credentials never appear: access key ids are masked in anything AWS echoes back.
 */
import { InputError } from '../common/errors';
import { Remedy } from '../common/remedy';

/** A bad input to the AWS layer, named by the layer's field name; `remedy` as for the core's input errors. */
export class AwsInputError extends InputError {
  constructor(input: string, message: string, remedy?: Remedy) {
    super(input, message, remedy);
    this.name = 'AwsInputError';
  }
}

export class AwsOperationError extends Error {
  constructor(
    readonly operation: string,
    readonly resource: string,
    readonly code: string,
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
    this.name = 'AwsOperationError';
  }
}

interface SdkErrorShape {
  name?: string;
  code?: string;
  Code?: string;
  message?: string;
  $fault?: 'client' | 'server';
  $metadata?: { httpStatusCode?: number; requestId?: string };
  $retryable?: unknown;
}

const REMEDIES: Record<string, string> = {
  AuthFailure: 'check the AWS credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or AWS_PROFILE) and the region',
  SignatureDoesNotMatch:
    'the secret access key does not match the access key id: check AWS_SECRET_ACCESS_KEY or the profile',
  InvalidAccessKeyId: 'the access key id is unknown to AWS: check AWS_ACCESS_KEY_ID or the profile',
  InvalidClientTokenId: 'the access key id is unknown to AWS: check AWS_ACCESS_KEY_ID or the profile',
  ExpiredToken: 'the session credentials have expired: refresh them (aws sso login, or new STS credentials)',
  RequestExpired: "the machine's clock is more than 15 minutes off: fix the clock",
  UnauthorizedOperation: 'the credentials are not allowed to do this: grant the IAM permission for this action',
  AccessDenied: 'the credentials are not allowed to do this: grant the IAM permission (and check the bucket policy)',
  NoSuchBucket: 'the bucket does not exist: create it, or ask for it to be created',
  AccessControlListNotSupported:
    "the bucket has ACLs disabled (Object Ownership: bucket owner enforced), but EC2 reads instance-store bundles through the aws-exec-read ACL: set the bucket's Object Ownership to 'ObjectWriter' or 'BucketOwnerPreferred'",
  'InvalidAMIID.NotFound': 'the AMI does not exist in this region (deregistered, or another region or account)',
  'InvalidAMIID.Malformed': 'the AMI id is malformed',
  'InvalidAMIID.Unavailable': 'the AMI is not available (still pending, or failed)',
  'InvalidInstanceID.NotFound': 'the instance does not exist in this region',
  InsufficientInstanceCapacity:
    'AWS has no capacity for this instance type here right now: try another type or availability zone, or later',
  InstanceLimitExceeded:
    'the account has reached its instance limit for this type: terminate instances or request a higher limit',
  RequestLimitExceeded: 'AWS throttled the requests: try again later or with less concurrency',
  Throttling: 'AWS throttled the requests: try again later or with less concurrency',
  SlowDown: 'S3 asked to slow down: try again later or with less concurrency',
  'InvalidAMIName.Duplicate': 'an AMI of this name already exists in the account: choose another name or deregister it',
  InvalidManifest:
    'EC2 could not read the bundle manifest: check that it was uploaded with an ACL EC2 can read (aws-exec-read) and that the account id in it is yours',
  InvalidParameterCombination:
    'this instance type cannot run this image: choose a type that supports its root device and virtualization type',
  Unsupported: 'this is not supported for this instance type or region',
  IdempotentParameterMismatch:
    'a launch with the same client token but other parameters already happened: use a new client token',
  BucketAlreadyExists: 'the bucket name is taken by another account: choose another bucket name',
  BadDigest: 'the uploaded data did not match its checksum (corrupted in transit): retry the upload',
  RequestTimeout: 'the request timed out: check the network and retry',
  TimeoutError: 'the request timed out: check the network and retry',
  NetworkingError: 'the connection failed: check the network and the endpoint, then retry',
  UnrecognizedClientException: 'the access key id is unknown to AWS: check AWS_ACCESS_KEY_ID or the profile',
  InvalidSignatureException:
    'the signature does not match (wrong secret access key, or a clock more than 15 minutes off): check AWS_SECRET_ACCESS_KEY and the clock',
  MissingAuthenticationTokenException: 'the request was not signed: check that AWS credentials are configured',
  AccessDeniedException:
    'the credentials are not allowed to do this: grant the IAM permission (ebs:StartSnapshot, ebs:PutSnapshotBlock, ebs:CompleteSnapshot, and the KMS key for encrypted snapshots)',
  RequestThrottledException:
    'the EBS direct APIs throttled the requests: try again later or with fewer blocks in flight',
  ThrottlingException: 'AWS throttled the requests: try again later or with less concurrency',
  ConcurrentLimitExceededException:
    'too many EBS direct API requests in flight for the account: use fewer blocks in flight',
  ServiceQuotaExceededException:
    'an EBS quota is reached (for example snapshots in progress): wait for others to finish, or ask for a higher quota',
  ResourceNotFoundException: 'the EBS direct APIs do not find the snapshot (deleted, timed out, or in another region)',
  ValidationException: 'the EBS direct APIs refused the request as invalid',
  'InvalidSnapshot.NotFound': 'the snapshot does not exist in this region (deleted, or another region or account)',
  'InvalidSnapshot.InUse': 'the snapshot is the root of a registered AMI: deregister the AMI first',
  'InvalidSnapshotID.Malformed': 'the snapshot id is malformed',
  InvalidBlockDeviceMapping:
    'the root volume does not fit the snapshot: give a volume size at least as large as the snapshot',
};

const ACCESS_KEY = /\b(AKIA|ASIA|AIDA|AROA)[A-Z0-9]{12,}\b/g;

export function redact(text: string): string {
  return text.replace(ACCESS_KEY, (match) => `${match.slice(0, 4)}…`);
}

function codeOf(error: SdkErrorShape): string {
  return error.Code ?? error.code ?? error.name ?? 'Error';
}

const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNABORTED',
]);

/** Wraps any SDK or network error in an AwsOperationError that reads as one line. */
export function describeAwsError(error: unknown, operation: string, resource: string): Error {
  if (error instanceof AwsOperationError || error instanceof AwsInputError) return error;
  if (error instanceof Error && error.name === 'AbortError') return error;
  const shape = (error ?? {}) as SdkErrorShape;
  let code = codeOf(shape);
  if (NETWORK_CODES.has(code)) code = 'NetworkingError';
  const awsMessage = redact(shape.message ?? String(error));
  const remedy = REMEDIES[code];
  const status = shape.$metadata?.httpStatusCode;
  const requestId = shape.$metadata?.requestId;
  const details = [status ? `HTTP ${status}` : undefined, requestId ? `request id ${requestId}` : undefined]
    .filter(Boolean)
    .join(', ');
  const message =
    `${operation} ${resource} failed: ${code}${awsMessage && awsMessage !== code ? ` (${awsMessage})` : ''}` +
    (remedy ? `; ${remedy}` : '') +
    (details ? ` [${details}]` : '');
  const retryable =
    shape.$fault === 'server' || code === 'NetworkingError' || /Throttl|RequestLimitExceeded|SlowDown/.test(code);
  return new AwsOperationError(operation, resource, code, message, retryable);
}

export function errorCode(error: unknown): string | undefined {
  if (error instanceof AwsOperationError) return error.code;
  if (error && typeof error === 'object') return codeOf(error as SdkErrorShape);
  return undefined;
}

/** Runs one AWS call and describes its failure. */
export async function awsCall<T>(operation: string, resource: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw describeAwsError(error, operation, resource);
  }
}
