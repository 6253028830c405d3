/**
 * S3, EC2 and EBS clients configured the same way everywhere: the SDK's default credential chain and
 * region, endpoints from AWS_ENDPOINT_URL(_S3/_EC2/_EBS) or explicit settings, path-style S3 for any
 * custom endpoint, the SDK's standard retry strategy, per-request timeouts, and request checksums
 * only when required (so streamed bodies are never sent as aws-chunked to S3-compatible servers).
 */
import { EBSClient } from '@aws-sdk/client-ebs';
import { EC2Client } from '@aws-sdk/client-ec2';
import { S3Client } from '@aws-sdk/client-s3';
import type { AwsCredentialIdentity } from '@aws-sdk/types';
import { AssumeRoleSettings, assumedRoleCredentials } from './assumeRole';

export interface AwsSettings {
  region?: string;
  /** Endpoint for every service (like AWS_ENDPOINT_URL). */
  endpoint?: string;
  s3Endpoint?: string;
  ec2Endpoint?: string;
  /** Endpoint of the EBS direct APIs (like AWS_ENDPOINT_URL_EBS). */
  ebsEndpoint?: string;
  /** The shared config/credentials profile for region and credentials (like AWS_PROFILE). */
  profile?: string;
  /** Explicit credentials; by default the SDK's chain (environment, profile, SSO, instance role). */
  credentials?: AwsCredentialIdentity;
  /**
   * Roles to assume, in order (each with the credentials of the one before, the first with
   * `credentials`, else the profile's or the chain's), as @pulumi/aws's assumeRoles: requests are
   * signed with the last one's.
   */
  assumeRoles?: readonly AssumeRoleSettings[];
  /** Endpoint of STS, for the roles (like AWS_ENDPOINT_URL_STS). */
  stsEndpoint?: string;
  /** Attempts per request, the first included (SDK standard retry strategy). Default 5. */
  maxAttempts?: number;
  /** Time allowed for one request without a response, in ms. Default 60,000. */
  requestTimeoutMs?: number;
  /** Time allowed to connect, in ms. Default 10,000. */
  connectionTimeoutMs?: number;
  /**
   * Connections per endpoint; requests beyond it wait for a free socket. Default: the SDK's 50
   * (S3, EC2), 64 for the EBS client, whose uploads keep many blocks in flight.
   */
  maxSockets?: number;
  /** Path-style S3 addressing; default: on for custom endpoints, off for AWS. */
  forcePathStyle?: boolean;
}

export const DEFAULT_MAX_ATTEMPTS = 5;

function environmentEndpoint(service: 'S3' | 'EC2' | 'EBS' | 'STS'): string | undefined {
  return process.env[`AWS_ENDPOINT_URL_${service}`] || process.env.AWS_ENDPOINT_URL || undefined;
}

function common(settings: AwsSettings) {
  return {
    region: settings.region,
    profile: settings.profile,
    credentials:
      settings.assumeRoles && settings.assumeRoles.length > 0
        ? assumedRoleCredentials({
            roles: settings.assumeRoles,
            region: settings.region,
            endpoint: settings.stsEndpoint ?? settings.endpoint ?? environmentEndpoint('STS'),
            profile: settings.profile,
            source: settings.credentials,
            maxAttempts: settings.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
          })
        : settings.credentials,
    maxAttempts: settings.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
    retryMode: 'standard',
    requestHandler: {
      requestTimeout: settings.requestTimeoutMs ?? 60_000,
      connectionTimeout: settings.connectionTimeoutMs ?? 10_000,
      // Without this the handler only logs a warning when requestTimeout passes, and waits on.
      throwOnRequestTimeout: true,
      ...(settings.maxSockets === undefined
        ? {}
        : { httpAgent: { maxSockets: settings.maxSockets }, httpsAgent: { maxSockets: settings.maxSockets } }),
    },
  } as const;
}

export function createS3Client(settings: AwsSettings = {}): S3Client {
  const endpoint = settings.s3Endpoint ?? settings.endpoint ?? environmentEndpoint('S3');
  return new S3Client({
    ...common(settings),
    endpoint,
    forcePathStyle: settings.forcePathStyle ?? endpoint !== undefined,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

export function createEc2Client(settings: AwsSettings = {}): EC2Client {
  return new EC2Client({
    ...common(settings),
    endpoint: settings.ec2Endpoint ?? settings.endpoint ?? environmentEndpoint('EC2'),
  });
}

export const DEFAULT_EBS_MAX_SOCKETS = 64;

/**
 * The EBS direct APIs (StartSnapshot, PutSnapshotBlock, CompleteSnapshot). Not part of
 * `createClients`: only snapshot uploads need it. Its standard retry strategy already retries
 * ThrottlingException, RequestThrottledException, 500/502/503/504, timeouts and connection resets.
 * Its sockets (`maxSockets`, default 64) cap the blocks really in flight: give at least the
 * upload's concurrency.
 */
export function createEbsClient(settings: AwsSettings = {}): EBSClient {
  return new EBSClient({
    ...common({ ...settings, maxSockets: settings.maxSockets ?? DEFAULT_EBS_MAX_SOCKETS }),
    endpoint: settings.ebsEndpoint ?? settings.endpoint ?? environmentEndpoint('EBS'),
  });
}

export interface AwsClients {
  s3: S3Client;
  ec2: EC2Client;
}

export function createClients(settings: AwsSettings = {}): AwsClients {
  return { s3: createS3Client(settings), ec2: createEc2Client(settings) };
}
