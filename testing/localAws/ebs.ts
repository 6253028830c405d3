/**
 * The EBS direct APIs (REST-JSON, version 2019-11-02) that write snapshots: StartSnapshot,
 * PutSnapshotBlock and CompleteSnapshot. Wire shapes as @aws-sdk/client-ebs's schema has them:
 *
 * - `POST /snapshots`, JSON body {VolumeSize, ParentSnapshotId, Tags, Description, ClientToken,
 *   Encrypted, KmsKeyArn, Timeout} → 201 JSON {SnapshotId, OwnerId, Status, StartTime (epoch
 *   seconds), VolumeSize, BlockSize, Description, Tags, ParentSnapshotId, KmsKeyArn, SseType}.
 * - `PUT /snapshots/{SnapshotId}/blocks/{BlockIndex}`, the block as the body, headers
 *   x-amz-Data-Length, x-amz-Checksum, x-amz-Checksum-Algorithm, x-amz-Progress → 201 with
 *   x-amz-Checksum and x-amz-Checksum-Algorithm.
 * - `POST /snapshots/completion/{SnapshotId}`, headers x-amz-ChangedBlocksCount, x-amz-Checksum,
 *   x-amz-Checksum-Algorithm, x-amz-Checksum-Aggregation-Method → 202 JSON {Status}.
 * - Errors: status, `x-amzn-ErrorType: <code>` and JSON {Message, Reason}.
 */
import { createHash } from 'crypto';
import { AwsError } from './errors';
import { getSnapshotBlock, listSnapshotBlocks } from './ebsRead';
import { FaultInjector } from './faults';
import { HttpAnswer } from './s3Common';
import { LocalAwsState, SnapshotRecord, TimelineEntry } from './state';
import { RecordedRequest, SnapshotState } from './types';

export const EBS_BLOCK_BYTES = 524_288;
const BLOCKS_PER_GIB = 2048;
const MAX_VOLUME_GIB = 65_536;
const SNAPSHOT_ID = /^snap-[0-9a-f]+$/;

export interface EbsRoute {
  operation: string;
  snapshotId?: string;
  blockIndex?: string;
}

export interface EbsRequest {
  state: LocalAwsState;
  faults: FaultInjector;
  record: RecordedRequest;
  route: EbsRoute;
  headers: Readonly<Record<string, string>>;
  body: Buffer;
  /** The query string's parameters (ListSnapshotBlocks, GetSnapshotBlock). */
  query?: Readonly<Record<string, string>>;
}

/** The operation a method and path name (before the body is read, so reset faults can match it). */
export function routeEbs(method: string, path: string): EbsRoute {
  let parts: string[];
  try {
    parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    return { operation: 'Unknown' };
  }
  if (parts[0] !== 'snapshots') return { operation: 'Unknown' };
  if (method === 'POST' && parts.length === 1) return { operation: 'StartSnapshot' };
  if (method === 'POST' && parts.length === 3 && parts[1] === 'completion')
    return { operation: 'CompleteSnapshot', snapshotId: parts[2] };
  if (parts.length === 4 && parts[2] === 'blocks')
    return {
      operation: method === 'PUT' ? 'PutSnapshotBlock' : method === 'GET' ? 'GetSnapshotBlock' : 'Unknown',
      snapshotId: parts[1],
      blockIndex: parts[3],
    };
  if (method === 'GET' && parts.length === 3 && parts[2] === 'blocks')
    return { operation: 'ListSnapshotBlocks', snapshotId: parts[1] };
  if (method === 'GET' && parts.length === 3 && parts[2] === 'changedblocks')
    return { operation: 'ListChangedBlocks', snapshotId: parts[1] };
  return { operation: 'Unknown' };
}

function validation(message: string, reason?: string): AwsError {
  return new AwsError(400, 'ValidationException', message, reason ? { Reason: reason } : {});
}

function json(status: number, value: unknown): HttpAnswer {
  return { status, headers: { 'content-type': 'application/json' }, body: JSON.stringify(value) };
}

export function renderEbsError(error: AwsError): HttpAnswer {
  return {
    status: error.status,
    headers: { 'content-type': 'application/json', 'x-amzn-ErrorType': error.code, ...error.headers },
    body: JSON.stringify({ Message: error.message, ...error.details }),
  };
}

export function ebsThrottle(): AwsError {
  return new AwsError(
    400,
    'RequestThrottledException',
    'The number of API requests has exceeded the maximum allowed API request throttling limit for the snapshot.',
    { Reason: 'RESOURCE_LEVEL_THROTTLE' },
  );
}

/** The snapshot an EBS direct call names: ResourceNotFoundException for an unknown (or still hidden) id. */
function directSnapshot(state: LocalAwsState, id: string | undefined): SnapshotRecord {
  if (id === undefined || !SNAPSHOT_ID.test(id))
    throw validation(`The snapshot ID '${id ?? ''}' is not valid.`, 'INVALID_SNAPSHOT_ID');
  const snapshot = state.snapshots.get(id);
  if (!snapshot || state.isHidden(id, true))
    throw new AwsError(404, 'ResourceNotFoundException', `The snapshot '${id}' does not exist.`, {
      Reason: 'SNAPSHOT_NOT_FOUND',
    });
  return snapshot;
}

function integerField(
  input: Record<string, unknown>,
  name: string,
  minimum: number,
  maximum: number,
  reason: string,
): number | undefined {
  const value = input[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < minimum || value > maximum) {
    throw validation(
      `The value ${JSON.stringify(value)} for ${name} is not valid: expected an integer from ${minimum} to ${maximum}.`,
      reason,
    );
  }
  return value;
}

function stringField(input: Record<string, unknown>, name: string, maximum: number): string | undefined {
  const value = input[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value.length > maximum)
    throw validation(
      `The value for ${name} must be a string of at most ${maximum} characters.`,
      'INVALID_PARAMETER_VALUE',
    );
  return value;
}

function tagsField(input: Record<string, unknown>): Map<string, string> {
  const tags = new Map<string, string>();
  const value = input.Tags;
  if (value === undefined || value === null) return tags;
  if (!Array.isArray(value)) throw validation('Tags must be a list of {Key, Value}.', 'INVALID_TAG');
  for (const tag of value as unknown[]) {
    const { Key, Value } = (tag ?? {}) as { Key?: unknown; Value?: unknown };
    if (
      typeof Key !== 'string' ||
      Key.length === 0 ||
      Key.length > 127 ||
      (Value !== undefined && (typeof Value !== 'string' || Value.length > 255))
    ) {
      throw validation('A tag key must be 1 to 127 characters and a value at most 255.', 'INVALID_TAG');
    }
    if (Key.toLowerCase().startsWith('aws:'))
      throw validation("Tag keys starting with 'aws:' are reserved.", 'INVALID_TAG');
    tags.set(Key, typeof Value === 'string' ? Value : '');
  }
  if (tags.size > 50) throw validation('A snapshot can have at most 50 tags.', 'INVALID_TAG');
  return tags;
}

function describe(state: LocalAwsState, snapshot: SnapshotRecord) {
  return {
    SnapshotId: snapshot.snapshotId,
    OwnerId: snapshot.ownerId,
    Status: state.snapshotState(snapshot).state,
    StartTime: snapshot.startTime.getTime() / 1000,
    VolumeSize: snapshot.volumeSizeGiB,
    BlockSize: EBS_BLOCK_BYTES,
    Description: snapshot.description,
    Tags: snapshot.tags.size > 0 ? [...snapshot.tags].map(([Key, Value]) => ({ Key, Value })) : undefined,
    ParentSnapshotId: snapshot.parentSnapshotId,
    KmsKeyArn: snapshot.kmsKeyArn,
    SseType: snapshot.encrypted ? 'sse-ebs' : 'none',
  };
}

function startSnapshot(request: EbsRequest): HttpAnswer {
  const { state } = request;
  let input: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(request.body.length === 0 ? '{}' : request.body.toString('utf8'));
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
    input = parsed as Record<string, unknown>;
  } catch {
    throw new AwsError(400, 'SerializationException', 'The request body is not a JSON object.');
  }
  const volumeSize = integerField(input, 'VolumeSize', 1, MAX_VOLUME_GIB, 'INVALID_VOLUME_SIZE');
  if (volumeSize === undefined) throw validation('VolumeSize is required.', 'INVALID_VOLUME_SIZE');
  const timeoutMinutes = integerField(input, 'Timeout', 10, 4320, 'INVALID_PARAMETER_VALUE') ?? 60;
  const description = stringField(input, 'Description', 255);
  const clientToken = stringField(input, 'ClientToken', 255);
  const kmsKeyArn = stringField(input, 'KmsKeyArn', 2048);
  const parentSnapshotId = stringField(input, 'ParentSnapshotId', 64);
  const encryptedValue = input.Encrypted;
  if (encryptedValue !== undefined && encryptedValue !== null && typeof encryptedValue !== 'boolean')
    throw validation('Encrypted must be a boolean.', 'INVALID_PARAMETER_VALUE');
  const tags = tagsField(input);
  if (encryptedValue === true && parentSnapshotId !== undefined)
    throw validation(
      "You can't specify Encrypted and ParentSnapshotId in the same request.",
      'INVALID_PARAMETER_VALUE',
    );
  if (kmsKeyArn !== undefined && encryptedValue !== true)
    throw validation('KmsKeyArn requires Encrypted to be true.', 'INVALID_PARAMETER_VALUE');

  const fingerprint = JSON.stringify([
    volumeSize,
    timeoutMinutes,
    description,
    kmsKeyArn,
    parentSnapshotId,
    encryptedValue ?? null,
    [...tags],
  ]);
  if (clientToken !== undefined) {
    const earlier = state.snapshotTokens.get(clientToken);
    const snapshot = earlier === undefined ? undefined : state.snapshots.get(earlier);
    if (snapshot) {
      if (snapshot.fingerprint !== fingerprint)
        throw new AwsError(
          409,
          'ConflictException',
          'The request uses the same client token as a previous, but non-identical request.',
        );
      return json(201, describe(state, snapshot));
    }
  }
  let parent: SnapshotRecord | undefined;
  if (parentSnapshotId !== undefined) {
    parent = directSnapshot(state, parentSnapshotId);
    if (state.snapshotState(parent).state !== 'completed')
      throw validation(`The parent snapshot '${parentSnapshotId}' is not completed.`, 'INVALID_PARAMETER_VALUE');
    if (parent.volumeSizeGiB > volumeSize)
      throw validation(
        `The volume size must be at least the parent snapshot's ${parent.volumeSizeGiB} GiB.`,
        'INVALID_VOLUME_SIZE',
      );
  }
  const now = state.now();
  const snapshot: SnapshotRecord = {
    snapshotId: state.newId('snap'),
    ownerId: state.config.accountId,
    volumeSizeGiB: volumeSize,
    description,
    tags,
    encrypted: encryptedValue === true || (parent?.encrypted ?? false),
    kmsKeyArn: kmsKeyArn ?? parent?.kmsKeyArn,
    parentSnapshotId,
    clientToken,
    fingerprint,
    timeoutMinutes,
    startTime: new Date(now),
    blocks: new Map(parent?.blocks ?? []),
    digests: new Map(),
    blocksWritten: 0,
    timeline: [{ at: now, state: 'pending' }],
  };
  state.snapshots.set(snapshot.snapshotId, snapshot);
  if (clientToken !== undefined) state.snapshotTokens.set(clientToken, snapshot.snapshotId);
  const hiding = request.faults.takeResourceFault(request.record, 'notFoundAfterCreate');
  if (hiding) state.hide(snapshot.snapshotId, hiding.forMs, hiding.forCalls);
  return json(201, describe(state, snapshot));
}

function writable(state: LocalAwsState, snapshot: SnapshotRecord): void {
  const current = state.snapshotState(snapshot).state;
  if (current !== 'pending' || snapshot.completion) {
    throw validation(
      `The snapshot '${snapshot.snapshotId}' is ${snapshot.completion && current === 'pending' ? 'being completed' : current}; blocks can be written only while it is pending.`,
      'INVALID_PARAMETER_VALUE',
    );
  }
}

function putSnapshotBlock(request: EbsRequest): HttpAnswer {
  const { state, headers, body } = request;
  const snapshot = directSnapshot(state, request.route.snapshotId);
  writable(state, snapshot);
  const indexText = request.route.blockIndex ?? '';
  const volumeBlocks = snapshot.volumeSizeGiB * BLOCKS_PER_GIB;
  if (!/^\d+$/.test(indexText))
    throw validation(`The block index '${indexText}' is not a non-negative integer.`, 'INVALID_BLOCK');
  const index = Number(indexText);
  if (index >= volumeBlocks) {
    throw validation(
      `The block index ${index} is out of range for a ${snapshot.volumeSizeGiB} GiB volume (0 to ${volumeBlocks - 1}).`,
      'INVALID_BLOCK',
    );
  }
  const dataLength = headers['x-amz-data-length'];
  if (dataLength === undefined) throw validation('x-amz-Data-Length is required.', 'INVALID_PARAMETER_VALUE');
  if (dataLength !== String(EBS_BLOCK_BYTES))
    throw validation(
      `The data length ${dataLength} is not valid: the only supported size is ${EBS_BLOCK_BYTES} bytes.`,
      'INVALID_PARAMETER_VALUE',
    );
  if (body.length !== EBS_BLOCK_BYTES)
    throw validation(
      `The request carries ${body.length} bytes of block data, not the ${dataLength} of x-amz-Data-Length.`,
      'INVALID_BLOCK',
    );
  const algorithm = headers['x-amz-checksum-algorithm'];
  if (algorithm !== 'SHA256')
    throw validation(
      `The checksum algorithm ${algorithm ?? '(none)'} is not supported: use SHA256.`,
      'INVALID_PARAMETER_VALUE',
    );
  const checksum = headers['x-amz-checksum'];
  if (checksum === undefined || checksum.length > 64 || !/^[A-Za-z0-9+/=]+$/.test(checksum))
    throw validation('x-amz-Checksum must be a base64 SHA-256.', 'INVALID_PARAMETER_VALUE');
  const progress = headers['x-amz-progress'];
  if (progress !== undefined && (!/^\d+$/.test(progress) || Number(progress) > 100))
    throw validation(`The progress ${progress} is not a percentage from 0 to 100.`, 'INVALID_PARAMETER_VALUE');
  const digest = createHash('sha256').update(body).digest();
  if (digest.toString('base64') !== checksum)
    throw validation('The checksum of the block data does not match x-amz-Checksum.', 'INVALID_BLOCK');
  snapshot.blocks.set(index, Buffer.from(body));
  snapshot.digests.set(index, digest);
  snapshot.blocksWritten++;
  if (progress !== undefined) snapshot.progress = Number(progress);
  return { status: 201, headers: { 'x-amz-Checksum': checksum, 'x-amz-Checksum-Algorithm': 'SHA256' } };
}

/** LINEAR: SHA-256 over the SHA-256 digests of the written blocks in block index order, base64. */
export function linearChecksum(digests: ReadonlyMap<number, Buffer>): string {
  const hash = createHash('sha256');
  for (const index of [...digests.keys()].sort((a, b) => a - b)) hash.update(digests.get(index) as Buffer);
  return hash.digest('base64');
}

function completeSnapshot(request: EbsRequest): HttpAnswer {
  const { state, headers } = request;
  const snapshot = directSnapshot(state, request.route.snapshotId);
  const countText = headers['x-amz-changedblockscount'];
  if (countText === undefined || !/^\d+$/.test(countText))
    throw validation('x-amz-ChangedBlocksCount must be a non-negative integer.', 'INVALID_PARAMETER_VALUE');
  const checksum = headers['x-amz-checksum'];
  const algorithm = headers['x-amz-checksum-algorithm'];
  const aggregation = headers['x-amz-checksum-aggregation-method'];
  if (checksum !== undefined && algorithm !== 'SHA256')
    throw validation(
      `The checksum algorithm ${algorithm ?? '(none)'} is not supported: use SHA256.`,
      'INVALID_PARAMETER_VALUE',
    );
  if (checksum !== undefined && aggregation !== 'LINEAR')
    throw validation(
      `The checksum aggregation method ${aggregation ?? '(none)'} is not supported: use LINEAR.`,
      'INVALID_PARAMETER_VALUE',
    );
  const completion = {
    changedBlocksCount: Number(countText),
    checksum,
    checksumAlgorithm: algorithm,
    aggregationMethod: aggregation,
  };
  if (snapshot.completion) {
    // The same call again (an answer lost on the way back): answered like the first one.
    if (JSON.stringify(snapshot.completion) === JSON.stringify(completion))
      return json(202, { Status: state.snapshotState(snapshot).state });
    throw validation(
      `The snapshot '${snapshot.snapshotId}' was already completed with other parameters.`,
      'INVALID_PARAMETER_VALUE',
    );
  }
  writable(state, snapshot);
  snapshot.completion = completion;
  const now = state.now();
  const timeline: TimelineEntry<SnapshotState>[] = snapshot.timeline.filter((entry) => entry.at <= now);
  if (!request.faults.takeResourceFault(request.record, 'stuckPending')) {
    const failure = request.faults.takeResourceFault(request.record, 'snapshotFails');
    const at = now + state.config.snapshotCompletingMs;
    let message: string | undefined;
    if (failure) message = failure.message ?? 'The snapshot could not be completed.';
    else if (completion.changedBlocksCount !== snapshot.digests.size) {
      message = `ChangedBlocksCount ${completion.changedBlocksCount} does not match the ${snapshot.digests.size} blocks written.`;
    } else if (checksum !== undefined && checksum !== linearChecksum(snapshot.digests)) {
      message = 'The aggregated checksum does not match the checksums of the blocks written.';
    }
    timeline.push(
      message === undefined
        ? { at, state: 'completed' }
        : { at, state: 'error', reason: { code: 'SnapshotError', message } },
    );
  }
  snapshot.timeline = timeline;
  return json(202, { Status: 'pending' });
}

export function handleEbs(request: EbsRequest): HttpAnswer {
  switch (request.route.operation) {
    case 'StartSnapshot':
      return startSnapshot(request);
    case 'PutSnapshotBlock':
      return putSnapshotBlock(request);
    case 'CompleteSnapshot':
      return completeSnapshot(request);
    case 'ListSnapshotBlocks':
      return listSnapshotBlocks(
        request.state,
        directSnapshot(request.state, request.route.snapshotId),
        request.query ?? {},
      );
    case 'GetSnapshotBlock':
      return getSnapshotBlock(
        request.state,
        directSnapshot(request.state, request.route.snapshotId),
        request.route.blockIndex ?? '',
        request.query ?? {},
      );
    case 'Unknown':
      throw new AwsError(404, 'UnknownOperationException', 'Unknown operation');
    default:
      throw new AwsError(
        501,
        'NotImplemented',
        `The local EBS direct APIs do not implement ${request.route.operation}.`,
      );
  }
}
