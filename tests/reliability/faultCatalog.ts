/**
 * The fault catalog: AWS misbehaviours the local AWS can inject, each with what the tool must make of
 * it. The catalog test runs every entry through bundling into S3 and registering; the load test
 * draws its faults from here. Adding a case is one line.
 */
import type { FaultRule } from '../../testing/localAws';

/** `recovers`: the run succeeds (SDK retries, waiters). `fails`: it fails with a message matching `message`, having told the caller of everything it left. */
export type FaultOutcome = { kind: 'recovers' } | { kind: 'fails'; message: RegExp };

export interface FaultCase {
  name: string;
  /** 5xx, throttling, reset, latency, notFoundAfterCreate or stuck: the family the case belongs to. */
  family: 'server error' | 'throttling' | 'reset' | 'latency' | 'not found after create' | 'stuck';
  faults: FaultRule[];
  outcome: FaultOutcome;
}

const part = (index: number) => (request: { key?: string }) => request.key?.endsWith(`.part.${index}`) === true;
const anyPart = (request: { key?: string }) => request.key?.includes('.part.') === true;
const claim = (request: { key?: string }) => request.key?.endsWith('.resume.json') === true;
const manifest = (request: { key?: string }) => request.key?.endsWith('.manifest.xml') === true;
const recovers: FaultOutcome = { kind: 'recovers' };

// One case a line: the table is read as data.
// prettier-ignore
export const FAULT_CATALOG: readonly FaultCase[] = [
  { name: 'S3 500 on two part PUTs', family: 'server error', faults: [{ service: 's3', operation: 'PutObject', kind: 'status', status: 500, code: 'InternalError', times: 2, match: anyPart }], outcome: recovers },
  { name: 'S3 503 on the claim', family: 'server error', faults: [{ service: 's3', operation: 'PutObject', kind: 'status', status: 503, code: 'ServiceUnavailable', times: 1, match: claim }], outcome: recovers },
  { name: 'S3 500 on the manifest', family: 'server error', faults: [{ service: 's3', operation: 'PutObject', kind: 'status', status: 500, code: 'InternalError', times: 2, match: manifest }], outcome: recovers },
  { name: 'S3 500 on the listing', family: 'server error', faults: [{ service: 's3', operation: 'ListObjectsV2', kind: 'status', status: 500, code: 'InternalError', times: 1 }], outcome: recovers },
  { name: 'S3 500 on the check of the claim', family: 'server error', faults: [{ service: 's3', operation: 'HeadObject', kind: 'status', status: 500, code: 'InternalError', times: 1 }], outcome: recovers },
  { name: 'S3 500 on every try of one part', family: 'server error', faults: [{ service: 's3', operation: 'PutObject', kind: 'status', status: 500, code: 'InternalError', match: part(2) }], outcome: { kind: 'fails', message: /InternalError.*kept in s3:\/\// } },
  { name: 'EC2 500 on RegisterImage', family: 'server error', faults: [{ service: 'ec2', operation: 'RegisterImage', kind: 'status', status: 500, code: 'InternalError', times: 1 }], outcome: recovers },
  { name: 'S3 SlowDown on part PUTs', family: 'throttling', faults: [{ service: 's3', operation: 'PutObject', kind: 'throttle', times: 2, match: anyPart }], outcome: recovers },
  { name: 'S3 SlowDown on the manifest', family: 'throttling', faults: [{ service: 's3', operation: 'PutObject', kind: 'throttle', times: 1, match: manifest }], outcome: recovers },
  { name: 'EC2 RequestLimitExceeded on DescribeImages', family: 'throttling', faults: [{ service: 'ec2', operation: 'DescribeImages', kind: 'throttle', times: 2 }], outcome: recovers },
  { name: 'EC2 RequestLimitExceeded on RegisterImage', family: 'throttling', faults: [{ service: 'ec2', operation: 'RegisterImage', kind: 'throttle', times: 1 }], outcome: recovers },
  { name: 'connection reset during a part', family: 'reset', faults: [{ service: 's3', operation: 'PutObject', kind: 'reset', times: 1, match: part(1) }], outcome: recovers },
  { name: 'connection reset during the claim', family: 'reset', faults: [{ service: 's3', operation: 'PutObject', kind: 'reset', times: 1, match: claim }], outcome: recovers },
  { name: 'connection reset during the manifest', family: 'reset', faults: [{ service: 's3', operation: 'PutObject', kind: 'reset', times: 1, match: manifest }], outcome: recovers },
  { name: 'connection reset on every try of one part', family: 'reset', faults: [{ service: 's3', operation: 'PutObject', kind: 'reset', match: part(3) }], outcome: { kind: 'fails', message: /part\.3.*kept in s3:\/\// } },
  { name: 'answer to the claim lost (it was stored)', family: 'reset', faults: [{ service: 's3', operation: 'PutObject', kind: 'answerLost', times: 1, match: claim }], outcome: recovers },
  { name: 'answer to a part lost (it was stored)', family: 'reset', faults: [{ service: 's3', operation: 'PutObject', kind: 'answerLost', times: 1, match: part(2) }], outcome: recovers },
  { name: 'answer to the manifest lost (it was stored)', family: 'reset', faults: [{ service: 's3', operation: 'PutObject', kind: 'answerLost', times: 1, match: manifest }], outcome: recovers },
  { name: 'answer to RegisterImage lost (it was registered; the retry meets Duplicate)', family: 'reset', faults: [{ service: 'ec2', operation: 'RegisterImage', kind: 'answerLost', times: 1 }], outcome: recovers },
  { name: 'latency on every S3 PUT', family: 'latency', faults: [{ service: 's3', operation: 'PutObject', kind: 'latency', ms: 25 }], outcome: recovers },
  { name: 'latency on EC2 calls', family: 'latency', faults: [{ service: 'ec2', operation: '*', kind: 'latency', ms: 25, times: 6 }], outcome: recovers },
  { name: 'image unknown for two calls after RegisterImage', family: 'not found after create', faults: [{ service: 'ec2', operation: 'RegisterImage', kind: 'notFoundAfterCreate', forCalls: 2 }], outcome: recovers },
  { name: 'image unknown for 150 ms after RegisterImage', family: 'not found after create', faults: [{ service: 'ec2', operation: 'RegisterImage', kind: 'notFoundAfterCreate', forMs: 150 }], outcome: recovers },
  { name: 'image stuck pending', family: 'stuck', faults: [{ service: 'ec2', operation: 'RegisterImage', kind: 'stuckPending', times: 1 }], outcome: { kind: 'fails', message: /ami-[0-9a-f]+.*pending/ } },
  { name: 'image goes to failed', family: 'stuck', faults: [{ service: 'ec2', operation: 'RegisterImage', kind: 'imageFails', times: 1, code: 'Client.InvalidManifest', message: 'broken' }], outcome: { kind: 'fails', message: /ami-[0-9a-f]+.*failed/ } },
];
