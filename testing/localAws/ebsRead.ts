/**
 * The EBS direct APIs that read snapshots: ListSnapshotBlocks and GetSnapshotBlock. A snapshot
 * written as a child (ParentSnapshotId) holds every block of its parent it did not write, as EBS
 * does, so reading a child back gives the whole volume. Only completed snapshots can be read.
 *
 * - `GET /snapshots/{SnapshotId}/blocks?maxResults=&pageToken=&startingBlockIndex=` → 200 JSON
 *   {Blocks: [{BlockIndex, BlockToken}], ExpiryTime (epoch seconds), VolumeSize, BlockSize, NextToken}.
 * - `GET /snapshots/{SnapshotId}/blocks/{BlockIndex}?blockToken=` → 200, the block as the body,
 *   headers x-amz-Data-Length, x-amz-Checksum, x-amz-Checksum-Algorithm.
 */
import { createHash, createHmac, randomBytes } from 'crypto';
import { AwsError } from './errors';
import { HttpAnswer } from './s3Common';
import { LocalAwsState, SnapshotRecord } from './state';

const BLOCK_BYTES = 524_288;
const TOKEN_LIFETIME_MS = 7 * 24 * 3600 * 1000;
const secrets = new WeakMap<LocalAwsState, Buffer>();

function validation(message: string, reason: string): AwsError {
  return new AwsError(400, 'ValidationException', message, { Reason: reason });
}

function blockToken(state: LocalAwsState, snapshotId: string, index: number): string {
  let secret = secrets.get(state);
  if (!secret) {
    secret = randomBytes(32);
    secrets.set(state, secret);
  }
  return createHmac('sha256', secret).update(`${snapshotId}/${index}`).digest('base64');
}

function readable(state: LocalAwsState, snapshot: SnapshotRecord): void {
  const current = state.snapshotState(snapshot).state;
  if (current !== 'completed')
    throw validation(
      `The snapshot '${snapshot.snapshotId}' is ${current}; only completed snapshots can be read.`,
      'INVALID_PARAMETER_VALUE',
    );
}

function wholeQuery(
  query: Readonly<Record<string, string>>,
  name: string,
  minimum: number,
  maximum: number,
): number | undefined {
  const text = query[name];
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text) || Number(text) < minimum || Number(text) > maximum)
    throw validation(
      `The value ${text} for ${name} is not valid: expected an integer from ${minimum} to ${maximum}.`,
      'INVALID_PARAMETER_VALUE',
    );
  return Number(text);
}

export function listSnapshotBlocks(
  state: LocalAwsState,
  snapshot: SnapshotRecord,
  query: Readonly<Record<string, string>>,
): HttpAnswer {
  readable(state, snapshot);
  const maxResults = wholeQuery(query, 'maxResults', 100, 10_000) ?? 10_000;
  const starting = wholeQuery(query, 'startingBlockIndex', 0, Number.MAX_SAFE_INTEGER) ?? 0;
  let from = starting;
  if (query.pageToken !== undefined) {
    if (!/^\d+$/.test(query.pageToken)) throw validation('The page token is not valid.', 'INVALID_PAGE_TOKEN');
    from = Math.max(from, Number(query.pageToken));
  }
  const indexes = [...snapshot.blocks.keys()].filter((index) => index >= from).sort((a, b) => a - b);
  const page = indexes.slice(0, maxResults);
  const next = indexes.length > maxResults ? String(indexes[maxResults]) : undefined;
  const body = {
    Blocks: page.map((index) => ({ BlockIndex: index, BlockToken: blockToken(state, snapshot.snapshotId, index) })),
    ExpiryTime: (state.now() + TOKEN_LIFETIME_MS) / 1000,
    VolumeSize: snapshot.volumeSizeGiB,
    BlockSize: BLOCK_BYTES,
    NextToken: next,
  };
  return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}

export function getSnapshotBlock(
  state: LocalAwsState,
  snapshot: SnapshotRecord,
  indexText: string,
  query: Readonly<Record<string, string>>,
): HttpAnswer {
  readable(state, snapshot);
  if (!/^\d+$/.test(indexText)) throw validation(`The block index '${indexText}' is not valid.`, 'INVALID_BLOCK');
  const index = Number(indexText);
  const token = query.blockToken;
  if (token === undefined) throw validation('blockToken is required.', 'INVALID_BLOCK_TOKEN');
  const data = snapshot.blocks.get(index);
  if (!data || token !== blockToken(state, snapshot.snapshotId, index))
    throw validation(
      `The block token is not valid for block ${index} of '${snapshot.snapshotId}'.`,
      'INVALID_BLOCK_TOKEN',
    );
  return {
    status: 200,
    headers: {
      'content-type': 'application/octet-stream',
      'x-amz-Data-Length': String(data.length),
      'x-amz-Checksum': createHash('sha256').update(data).digest('base64'),
      'x-amz-Checksum-Algorithm': 'SHA256',
    },
    body: data,
  };
}
