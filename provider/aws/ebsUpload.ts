/**
 * Writing a raw disk image into a new EBS snapshot with the EBS direct APIs: StartSnapshot, then
 * PutSnapshotBlock for every 512 KiB block (many in flight, each with its SHA-256), CompleteSnapshot
 * with the LINEAR aggregate checksum, then EC2 DescribeSnapshots until the snapshot is `completed`.
 *
 * The image is read as it is sent: at most `concurrency` + 1 blocks are in memory. Requests are
 * retried by the SDK's standard strategy (throttling, 5xx, timeouts, resets); a block the service
 * does not know the snapshot for yet (right after StartSnapshot) is retried here. Any failure after
 * StartSnapshot deletes the partial snapshot; if that fails too, the error carries its id.
 */
import { randomUUID } from 'crypto';
import { setMaxListeners } from 'events';
import { promises as fs } from 'fs';
import * as path from 'path';
import { setTimeout as sleep } from 'timers/promises';
import { CompleteSnapshotCommand, EBSClient, PutSnapshotBlockCommand, StartSnapshotCommand } from '@aws-sdk/client-ebs';
import { EC2Client } from '@aws-sdk/client-ec2';
import { withDeadline } from './concurrency';
import {
  aggregateChecksum,
  blockSpan,
  EBS_BLOCK_BYTES,
  planSnapshot,
  prepareBlock,
  PreparedBlock,
  SnapshotPlan,
} from './ebsBlocks';
import { AwsInputError, AwsOperationError, awsCall, errorCode } from './errors';
import { SnapshotId, snapshotId } from './ids';
import { deleteSnapshot, SnapshotNotCompletedError, waitForSnapshotCompleted } from './snapshots';
import { Tags, toTagList } from './tags';
import { WaitOptions } from './waiting';
import { isWholeNumber } from '../common/numbers';

export const DEFAULT_SNAPSHOT_CONCURRENCY = 32;
/** StartSnapshot's Timeout: minutes without a block written, or before completion, after which EBS cancels the snapshot. */
export const DEFAULT_SNAPSHOT_TIMEOUT_MINUTES = 60;

export interface BlockRetry {
  /** Attempts in all, the first included. */
  attempts: number;
  /** Delay before the second attempt; it doubles (with jitter) after each. */
  baseDelayMs: number;
}

const DEFAULT_BLOCK_RETRY: BlockRetry = { attempts: 6, baseDelayMs: 500 };

export interface SnapshotUploadProgress {
  phase: 'uploading' | 'completing' | 'waiting';
  /** Blocks uploaded or skipped, of `blocksTotal` (the blocks the image covers). */
  blocksDone: number;
  blocksTotal: number;
  blocksUploaded: number;
  blocksSkipped: number;
  /** Image bytes in the blocks done, of `totalBytes` (the image size). */
  bytesDone: number;
  totalBytes: number;
}

export interface UploadSnapshotOptions {
  ebs: EBSClient;
  /** For DescribeSnapshots (waiting for `completed`) and DeleteSnapshot (after a failure). */
  ec2: EC2Client;
  /** A raw disk image file. */
  imagePath: string;
  /** Default: the image size rounded up to whole GiB; never smaller than that. */
  volumeSizeGiB?: number;
  description?: string;
  tags?: Tags;
  /** StartSnapshot's idempotency token; default a fresh UUID. */
  clientToken?: string;
  /** Blocks in flight. Default 32. */
  concurrency?: number;
  /**
   * Skip blocks of zeros instead of uploading them. Off by default: volumes restored encrypted from
   * a snapshot with unwritten blocks may not read zeros there. Turn it on only for images that are
   * never launched encrypted.
   */
  skipZeroBlocks?: boolean;
  encrypted?: boolean;
  kmsKeyArn?: string;
  /** StartSnapshot's Timeout in minutes (10 to 4320). Default 60. */
  timeoutMinutes?: number;
  /** Waiting for `completed` after CompleteSnapshot. */
  wait?: WaitOptions;
  /** Overall deadline, in ms; the partial snapshot is still deleted after it passes. */
  deadlineMs?: number;
  signal?: AbortSignal;
  onProgress?: (progress: SnapshotUploadProgress) => void;
  /**
   * Retries of a block that fails with ResourceNotFoundException before any block of the snapshot
   * was accepted (the new snapshot is not visible everywhere yet) or with
   * ConcurrentLimitExceededException. Throttling and 5xx are retried by the SDK. Default 6 attempts
   * from 500 ms.
   */
  blockRetry?: BlockRetry;
  /** Time allowed to delete the partial snapshot after a failure. Default 60 s. */
  cleanupTimeoutMs?: number;
}

export interface SnapshotUploadResult {
  snapshotId: SnapshotId;
  volumeSizeGiB: number;
  imageBytes: number;
  /** Blocks the image covers. */
  imageBlocks: number;
  /** PutSnapshotBlock calls that succeeded: CompleteSnapshot's ChangedBlocksCount. */
  blocksUploaded: number;
  /** Blocks of the image that were all zeros (uploaded unless skipZeroBlocks). */
  zeroBlocks: number;
  zeroBlocksSkipped: number;
  /** The LINEAR aggregate checksum sent with CompleteSnapshot (base64). */
  checksum: string;
  clientToken: string;
  state: 'completed';
}

/**
 * The upload failed after StartSnapshot. `snapshotRemains` says whether the partial snapshot still
 * exists (its deletion failed): then `snapshotId` must be kept and deleted later.
 */
export class SnapshotUploadError extends AwsOperationError {
  constructor(
    readonly snapshotId: SnapshotId,
    readonly snapshotRemains: boolean,
    cause: unknown,
    readonly cleanupError?: unknown,
  ) {
    const causeMessage = cause instanceof Error ? cause.message : String(cause);
    const fate = snapshotRemains
      ? `the partial snapshot ${snapshotId} could not be deleted (${cleanupError instanceof Error ? cleanupError.message : String(cleanupError)}): delete it later (aws ec2 delete-snapshot --snapshot-id ${snapshotId})`
      : `the partial snapshot ${snapshotId} was deleted`;
    const operation = cause instanceof AwsOperationError ? cause.operation : 'UploadSnapshot';
    const code = cause instanceof AwsOperationError ? cause.code : cause instanceof Error ? cause.name : 'Error';
    super(
      operation,
      snapshotId,
      code,
      `${causeMessage}; ${fate}`,
      !snapshotRemains && cause instanceof AwsOperationError && cause.retryable,
    );
    this.name = 'SnapshotUploadError';
    this.cause = cause;
  }
}

function positiveInteger(input: string, value: number, minimum: number, maximum = Number.MAX_SAFE_INTEGER): number {
  if (!isWholeNumber(value, minimum, maximum))
    throw new AwsInputError(input, `${input} ${value} must be a whole number from ${minimum} to ${maximum}`);
  return value;
}

async function openImage(imagePath: string): Promise<{ handle: fs.FileHandle; size: number }> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(imagePath, 'r');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new AwsInputError(
      'image',
      code === 'ENOENT' ? `${imagePath}: no such file` : `${imagePath} cannot be read (${code ?? String(error)})`,
    );
  }
  try {
    const stat = await handle.stat();
    const size = stat.size;
    if (!stat.isFile()) throw new AwsInputError('image', `${imagePath} is not a regular file`);
    if (size === 0) throw new AwsInputError('image', `${imagePath} is empty`);
    return { handle, size };
  } catch (error) {
    await handle.close();
    throw error;
  }
}

async function readFully(handle: fs.FileHandle, buffer: Buffer, length: number, position: number): Promise<void> {
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(buffer, done, length - done, position + done);
    if (bytesRead === 0)
      throw new AwsInputError(
        'image',
        `the image ended at byte ${position + done} while reading it; it must not change during the upload`,
      );
    done += bytesRead;
  }
}

interface WriteState {
  uploaded: number;
  skipped: number;
  zero: number;
  digests: { index: number; digest: Buffer }[];
}

class SnapshotWriter {
  /** Whether the service has accepted a block: from then on ResourceNotFoundException is final. */
  private visible = false;
  private bytesDone = 0;
  readonly state: WriteState = { uploaded: 0, skipped: 0, zero: 0, digests: [] };

  constructor(
    private readonly options: UploadSnapshotOptions,
    private readonly id: SnapshotId,
    private readonly plan: SnapshotPlan,
    private readonly handle: fs.FileHandle,
    private readonly signal: AbortSignal,
    private readonly stop: () => void,
  ) {}

  progress(phase: SnapshotUploadProgress['phase']): void {
    const { uploaded, skipped } = this.state;
    this.options.onProgress?.({
      phase,
      blocksDone: uploaded + skipped,
      blocksTotal: this.plan.imageBlocks,
      blocksUploaded: uploaded,
      blocksSkipped: skipped,
      bytesDone: this.bytesDone,
      totalBytes: this.plan.imageBytes,
    });
  }

  private async put(block: PreparedBlock & { checksum: string }): Promise<void> {
    const retry = this.options.blockRetry ?? DEFAULT_BLOCK_RETRY;
    const resource = `${this.id} block ${block.index}`;
    const progress = Math.min(100, Math.floor(((block.index + 1) * 100) / this.plan.imageBlocks));
    for (let attempt = 1; ; attempt++) {
      try {
        const command = new PutSnapshotBlockCommand({
          SnapshotId: this.id,
          BlockIndex: block.index,
          BlockData: block.data,
          DataLength: EBS_BLOCK_BYTES,
          Checksum: block.checksum,
          ChecksumAlgorithm: 'SHA256',
          Progress: progress,
        });
        // The body's SHA-256 is already known: giving it to the signer saves hashing 512 KiB again.
        const payloadHash = block.digest?.toString('hex');
        command.middlewareStack.add(
          (next) => async (args) => {
            const request = args.request as { headers?: Record<string, string> } | undefined;
            if (request?.headers && payloadHash) request.headers['x-amz-content-sha256'] = payloadHash;
            return next(args);
          },
          { step: 'build', name: 'knownPayloadHash' },
        );
        const output = await awsCall('PutSnapshotBlock', resource, () =>
          this.options.ebs.send(command, { abortSignal: this.signal }),
        );
        if (output.Checksum !== undefined && output.Checksum !== block.checksum) {
          throw new AwsOperationError(
            'PutSnapshotBlock',
            resource,
            'ChecksumMismatch',
            `EBS stored block ${block.index} with checksum ${output.Checksum}, not ${block.checksum}`,
            true,
          );
        }
        this.visible = true;
        return;
      } catch (error) {
        const code = errorCode(error);
        const retryable =
          code === 'ConcurrentLimitExceededException' || (code === 'ResourceNotFoundException' && !this.visible);
        if (!retryable || attempt >= retry.attempts || this.signal.aborted) throw error;
        const delay = retry.baseDelayMs * 2 ** (attempt - 1) * (0.5 + Math.random() / 2);
        await sleep(delay, undefined, { signal: this.signal });
      }
    }
  }

  /** Reads and sends every block, `concurrency` at a time; stops at the first failure. */
  async writeAll(concurrency: number, skipZeroBlocks: boolean): Promise<void> {
    const { plan, state } = this;
    const inFlight = new Set<Promise<void>>();
    let failure: { error: unknown } | undefined;
    const fail = (error: unknown) => {
      failure ??= { error };
      this.stop();
    };
    this.progress('uploading');
    for (let index = 0; index < plan.imageBlocks && !failure; index++) {
      while (inFlight.size >= concurrency && !failure) await Promise.race(inFlight);
      if (failure) break;
      try {
        this.signal.throwIfAborted();
        const { offset, length } = blockSpan(index, plan.imageBytes);
        const buffer = Buffer.allocUnsafe(EBS_BLOCK_BYTES);
        await readFully(this.handle, buffer, length, offset);
        const block = prepareBlock(index, buffer, plan.imageBytes, skipZeroBlocks);
        if (block.zero) state.zero++;
        if (!block.upload || block.checksum === undefined || block.digest === undefined) {
          state.skipped++;
          this.bytesDone += length;
          this.progress('uploading');
          continue;
        }
        const digest = block.digest;
        const task: Promise<void> = this.put({ ...block, checksum: block.checksum }).then(() => {
          state.uploaded++;
          state.digests.push({ index, digest });
          this.bytesDone += length;
          this.progress('uploading');
        }, fail);
        const tracked: Promise<void> = task.finally(() => inFlight.delete(tracked));
        inFlight.add(tracked);
      } catch (error) {
        fail(error);
      }
    }
    await Promise.all(inFlight);
    if (failure) throw failure.error;
  }
}

/** Deletes the partial snapshot and returns the error to throw: it says whether the snapshot remains. */
async function cleanUp(options: UploadSnapshotOptions, id: SnapshotId, cause: unknown): Promise<SnapshotUploadError> {
  const retry = options.blockRetry ?? DEFAULT_BLOCK_RETRY;
  const signal = AbortSignal.timeout(options.cleanupTimeoutMs ?? 60_000);
  try {
    // EC2 may not know a snapshot that StartSnapshot created a moment ago: ask again before taking "not found" for "gone".
    for (let attempt = 1; attempt <= retry.attempts; attempt++) {
      if (await deleteSnapshot(options.ec2, id, signal)) break;
      if (attempt < retry.attempts) await sleep(retry.baseDelayMs * 2 ** (attempt - 1), undefined, { signal });
    }
    return new SnapshotUploadError(id, false, cause);
  } catch (error) {
    return new SnapshotUploadError(id, true, cause, error);
  }
}

/**
 * Uploads a raw image to a new EBS snapshot and waits until it is completed. Before StartSnapshot
 * succeeds, failures throw as they are (AwsInputError, AwsOperationError); after it, every failure
 * (cancellation included) throws SnapshotUploadError once the partial snapshot has been deleted, or
 * with `snapshotRemains` when it could not be.
 */
export async function uploadSnapshot(options: UploadSnapshotOptions): Promise<SnapshotUploadResult> {
  const concurrency = positiveInteger('concurrency', options.concurrency ?? DEFAULT_SNAPSHOT_CONCURRENCY, 1, 1024);
  const timeoutMinutes = positiveInteger(
    'timeoutMinutes',
    options.timeoutMinutes ?? DEFAULT_SNAPSHOT_TIMEOUT_MINUTES,
    10,
    4320,
  );
  if (options.description !== undefined && options.description.length > 255)
    throw new AwsInputError('description', 'the description must be at most 255 characters long');
  const skipZeroBlocks = options.skipZeroBlocks ?? false;
  const { handle, size } = await openImage(options.imagePath);
  try {
    const plan = planSnapshot(size, options.volumeSizeGiB);
    const outer = withDeadline(options.signal, options.deadlineMs);
    const controller = new AbortController();
    const signal = outer ? AbortSignal.any([outer, controller.signal]) : controller.signal;
    // Every request in flight listens on the signal; more than Node's default of 10 is expected here.
    setMaxListeners(concurrency + 16, signal);
    const clientToken = options.clientToken ?? randomUUID();
    const started = await awsCall('StartSnapshot', `snapshot of ${path.basename(options.imagePath)}`, () =>
      options.ebs.send(
        new StartSnapshotCommand({
          VolumeSize: plan.volumeSizeGiB,
          Description: options.description,
          Tags:
            options.tags && Object.keys(options.tags).length > 0
              ? toTagList(options.tags).map(({ Key, Value }) => ({ Key, Value }))
              : undefined,
          ClientToken: clientToken,
          Encrypted: options.encrypted,
          KmsKeyArn: options.kmsKeyArn,
          Timeout: timeoutMinutes,
        }),
        { abortSignal: signal },
      ),
    );
    if (!started.SnapshotId)
      throw new AwsOperationError(
        'StartSnapshot',
        options.imagePath,
        'NoSnapshotId',
        'StartSnapshot returned no snapshot id',
        true,
      );
    const id = snapshotId(started.SnapshotId);
    const writer = new SnapshotWriter(options, id, plan, handle, signal, () => controller.abort());
    try {
      if (started.BlockSize !== undefined && started.BlockSize !== EBS_BLOCK_BYTES) {
        throw new AwsOperationError(
          'StartSnapshot',
          id,
          'UnexpectedBlockSize',
          `the snapshot has ${started.BlockSize}-byte blocks; this uploader writes ${EBS_BLOCK_BYTES}-byte blocks`,
          false,
        );
      }
      await writer.writeAll(concurrency, skipZeroBlocks);
      const checksum = aggregateChecksum(writer.state.digests);
      writer.progress('completing');
      const completed = await awsCall('CompleteSnapshot', id, () =>
        options.ebs.send(
          new CompleteSnapshotCommand({
            SnapshotId: id,
            ChangedBlocksCount: writer.state.uploaded,
            Checksum: checksum,
            ChecksumAlgorithm: 'SHA256',
            ChecksumAggregationMethod: 'LINEAR',
          }),
          { abortSignal: signal },
        ),
      );
      if (completed.Status === 'error')
        throw new SnapshotNotCompletedError(id, 'error', 'CompleteSnapshot answered with status error');
      writer.progress('waiting');
      await waitForSnapshotCompleted(options.ec2, id, options.wait, signal);
      return {
        snapshotId: id,
        volumeSizeGiB: plan.volumeSizeGiB,
        imageBytes: size,
        imageBlocks: plan.imageBlocks,
        blocksUploaded: writer.state.uploaded,
        zeroBlocks: writer.state.zero,
        zeroBlocksSkipped: writer.state.skipped,
        checksum,
        clientToken,
        state: 'completed',
      };
    } catch (error) {
      controller.abort();
      throw await cleanUp(options, id, error);
    }
  } finally {
    await handle.close();
  }
}
