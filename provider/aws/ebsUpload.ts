/**
 * Writing a raw disk image into a new EBS snapshot with the EBS direct APIs: StartSnapshot, then
 * PutSnapshotBlock for every 512 KiB block (many in flight, each with its SHA-256), CompleteSnapshot
 * with the LINEAR aggregate checksum, then EC2 DescribeSnapshots until the snapshot is `completed`.
 *
 * A container image (qcow2, VMDK, VHD, VHDX, VDI) is read in place through qemu-nbd when qemu-img
 * and qemu-nbd are installed (rawImage.ts), never written out as raw; refused with the command
 * that converts it otherwise.
 *
 * A full upload with nothing to match (no parent, no identity from a check) reads the image once:
 * the blocks where the file system reports data are read, hashed and sent as they go, the others
 * sent as zeros (blockList.ts's planUnhashed); the identity and block list come out of that pass.
 * Otherwise the image is first hashed block by block over its data extents (imageBlocks.ts), and
 * the plan of the blocks to write comes from that (blockList.ts): every block, or, given the
 * previous snapshot and the list of its blocks, only the blocks that changed, written into a child
 * of it (ParentSnapshotId). A parent that is gone, or a list that is missing, gives a full upload
 * that says why. Each block is then read again as it is sent and must hash as planned. In both, the
 * file's size and change times must not move during the upload: an image that changes fails the
 * upload (its snapshot deleted) instead of giving a snapshot of neither version.
 * At most `concurrency` + 1 blocks are in memory. Requests are
 * retried by the SDK's standard strategy (throttling, 5xx, timeouts, resets); a block the service
 * does not know the snapshot for yet (right after StartSnapshot) is retried here. Any failure after
 * StartSnapshot deletes the partial snapshot; if that fails too, the error carries its id.
 */
import { randomUUID } from 'crypto';
import { setMaxListeners } from 'events';
import * as path from 'path';
import { setTimeout as sleep } from 'timers/promises';
import { CompleteSnapshotCommand, EBSClient, PutSnapshotBlockCommand, StartSnapshotCommand } from '@aws-sdk/client-ebs';
import { EC2Client } from '@aws-sdk/client-ec2';
import { withDeadline } from './concurrency';
import {
  BlockPlan,
  contentIdentity,
  decodeBlockList,
  encodeBlockList,
  PlannedBlock,
  planBlocks,
  planUnhashed,
  ZERO_BLOCK_DIGEST,
} from './blockList';
import { aggregateChecksum, EBS_BLOCK_BYTES, planSnapshot, prepareBlock, SnapshotPlan } from './ebsBlocks';
import { AwsInputError, AwsOperationError, awsCall, errorCode } from './errors';
import { SnapshotId, snapshotId } from './ids';
import { ContainerFormat } from './diskFormat';
import { withGuestDisk } from './rawImage';
import { GuestDisk } from './guestDisk';
import { blocksWithData, hashGuestDisk, HashedImage, imageChanged, sameVersion } from './imageBlocks';
import { deleteSnapshot, describeSnapshot, SnapshotNotCompletedError, waitForSnapshotCompleted } from './snapshots';
import { Tags, toTagList } from './tags';
import { WaitOptions } from './waiting';
import { isWholeNumber } from '../common/numbers';

export const DEFAULT_SNAPSHOT_CONCURRENCY = 32;
/** StartSnapshot's Timeout: minutes without a block written, or before completion, after which EBS cancels the snapshot. */
export const DEFAULT_SNAPSHOT_TIMEOUT_MINUTES = 60;

export interface BlockRetry {
  /** Attempts in all, the first included (ConcurrentLimitExceededException; the partial snapshot's deletion). */
  attempts: number;
  /** Delay before the second attempt; it doubles (with jitter) after each, up to `maxDelayMs`. */
  baseDelayMs: number;
  /** Longest delay between two attempts. Default 10 s. */
  maxDelayMs?: number;
  /**
   * How long after StartSnapshot "the snapshot does not exist" is taken for a snapshot not visible
   * yet and retried: up to about 2 minutes, the EBS team's advice (awslabs/coldsnap#43). Default 120 s.
   */
  notVisibleForMs?: number;
}

/** Time as the upload waits on it: the real clock, or a test's. */
export interface UploadClock {
  now(): number;
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

const REAL_CLOCK: UploadClock = {
  now: () => Date.now(),
  sleep: (ms, signal) => sleep(ms, undefined, { signal }),
};

const DEFAULT_BLOCK_RETRY: BlockRetry = { attempts: 6, baseDelayMs: 500 };
const DEFAULT_NOT_VISIBLE_MS = 120_000;
const DEFAULT_MAX_DELAY_MS = 10_000;

function retryDelay(retry: BlockRetry, attempt: number): number {
  const delay = Math.min(retry.maxDelayMs ?? DEFAULT_MAX_DELAY_MS, retry.baseDelayMs * 2 ** (attempt - 1));
  return delay * (0.5 + Math.random() / 2);
}

export interface SnapshotUploadProgress {
  phase: 'uploading' | 'completing' | 'waiting';
  /** Blocks written, of `blocksTotal` (the blocks the plan writes). */
  blocksDone: number;
  blocksTotal: number;
  blocksUploaded: number;
  /** Blocks not written: zero blocks skipped, or blocks unchanged from the parent. */
  blocksSkipped: number;
  /** Bytes of the blocks written, of `totalBytes` (512 KiB per planned block). */
  bytesDone: number;
  totalBytes: number;
}

/** The previous snapshot of the same image and the list of its blocks (`blockList` of its upload). */
export interface ParentSnapshot {
  snapshotId: string;
  /** Undefined or unreadable: a full upload. */
  blockList?: string;
}

export interface UploadSnapshotOptions {
  ebs: EBSClient;
  /** For DescribeSnapshots (waiting for `completed`) and DeleteSnapshot (after a failure). */
  ec2: EC2Client;
  /**
   * A disk image file: raw, or a container (qcow2, VMDK, VHD, VHDX, VDI) read in place through
   * qemu-nbd when it and qemu-img are on PATH (rawImage.ts), refused with the command to run when not.
   */
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
   * was accepted (the new snapshot is not visible everywhere yet: retried for `notVisibleForMs`
   * after StartSnapshot) or with ConcurrentLimitExceededException (`attempts`). Throttling, 5xx and
   * request timeouts are retried by the SDK. Default 6 attempts, delays from 500 ms to 10 s, 2 minutes.
   */
  blockRetry?: BlockRetry;
  /** The clock the retries wait on (tests give their own). */
  clock?: UploadClock;
  /** Time allowed to delete the partial snapshot after a failure. Default 60 s. */
  cleanupTimeoutMs?: number;
  /** Write only the blocks that differ from this snapshot's, into a child of it. */
  parent?: ParentSnapshot;
  /** The image's blocks as already hashed (by a check); hashed here when absent, or when the image is converted. */
  hashed?: HashedImage;
  /**
   * The content identity the image must have (what a check saw): another one stops the upload before
   * StartSnapshot, as an image that changed.
   */
  expectedIdentity?: string;
  /** What the upload says about its plan (a full upload and why, blocks unchanged). */
  onNotice?: (message: string) => void;
}

export interface SnapshotUploadResult {
  snapshotId: SnapshotId;
  volumeSizeGiB: number;
  imageBytes: number;
  /** Blocks the image covers. */
  imageBlocks: number;
  /** PutSnapshotBlock calls that succeeded: CompleteSnapshot's ChangedBlocksCount. */
  blocksUploaded: number;
  /** Blocks of the image that were all zeros (uploaded unless skipZeroBlocks or unchanged). */
  zeroBlocks: number;
  zeroBlocksSkipped: number;
  /** The parent the snapshot was written as a child of: only changed blocks were uploaded. */
  parentSnapshotId?: SnapshotId;
  /** With a parent: the image's blocks left as the parent has them. */
  blocksUnchanged: number;
  /** Why a parent was given but the whole image was uploaded. */
  fullUploadReason?: string;
  /** The list of the snapshot's blocks, to give as `parent.blockList` to the next upload. */
  blockList: string;
  /** The image's content identity (blockList.ts): equal for equal content, holes or zeros alike. */
  contentIdentity: string;
  /** The LINEAR aggregate checksum sent with CompleteSnapshot (base64). */
  checksum: string;
  /**
   * 512 KiB blocks read from the (raw) image by this call: once per block holding data when nothing
   * was needed before the upload (no parent, no `hashed`, no `expectedIdentity`), else the hashing
   * pass (unless `hashed` was given) and the blocks written.
   */
  blocksRead: number;
  /** The container format the guest disk was read from through qemu-nbd (undefined: it was raw). */
  convertedFrom?: ContainerFormat;
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

interface WriteState {
  uploaded: number;
  skipped: number;
  zero: number;
  digests: { index: number; digest: Buffer }[];
}

const ZERO_DATA = Buffer.alloc(EBS_BLOCK_BYTES);
const ZERO_CHECKSUM = ZERO_BLOCK_DIGEST.toString('base64');

interface SendableBlock {
  index: number;
  /** x-amz-Progress: the share of the plan written once this block is. */
  progress: number;
  data: Buffer;
  digest: Buffer;
  checksum: string;
}

class SnapshotWriter {
  /** Whether the service has accepted a block: from then on ResourceNotFoundException is final. */
  visible = false;
  private written = 0;
  private bytesDone = 0;
  private totalBytes = 0;
  /** Planned blocks left out once read (all zeros, with skipZeroBlocks). */
  private dropped = 0;
  /** Blocks read from the image. */
  reads = 0;
  /** The digests of the non-zero blocks read for a plan made before hashing (planUnhashed). */
  readonly readDigests = new Map<number, Buffer>();
  readonly state: WriteState = { uploaded: 0, skipped: 0, zero: 0, digests: [] };

  constructor(
    private readonly options: UploadSnapshotOptions,
    private readonly id: SnapshotId,
    private readonly plan: SnapshotPlan,
    private readonly blocks: BlockPlan,
    private readonly disk: GuestDisk,
    private readonly signal: AbortSignal,
    private readonly stop: () => void,
    private readonly clock: UploadClock,
    /** When StartSnapshot answered, on `clock`. */
    private readonly startedAt: number,
  ) {
    for (const planned of blocks.blocks) this.totalBytes += this.blockBytes(planned.index);
  }

  /** Image bytes in a block (512 KiB for a block past the end of the image, written with zeros). */
  private blockBytes(index: number): number {
    const offset = index * EBS_BLOCK_BYTES;
    return offset >= this.plan.imageBytes ? EBS_BLOCK_BYTES : Math.min(EBS_BLOCK_BYTES, this.plan.imageBytes - offset);
  }

  progress(phase: SnapshotUploadProgress['phase']): void {
    const { uploaded, skipped } = this.state;
    const total = this.blocks.blocks.length - this.dropped;
    this.options.onProgress?.({
      phase,
      blocksDone: this.written,
      blocksTotal: total,
      blocksUploaded: uploaded,
      blocksSkipped: skipped,
      bytesDone: this.bytesDone,
      totalBytes: this.totalBytes,
    });
  }

  private async put(block: SendableBlock): Promise<void> {
    const retry = this.options.blockRetry ?? DEFAULT_BLOCK_RETRY;
    const resource = `${this.id} block ${block.index}`;
    for (let attempt = 1; ; attempt++) {
      try {
        const command = new PutSnapshotBlockCommand({
          SnapshotId: this.id,
          BlockIndex: block.index,
          BlockData: block.data,
          DataLength: EBS_BLOCK_BYTES,
          Checksum: block.checksum,
          ChecksumAlgorithm: 'SHA256',
          Progress: block.progress,
        });
        // The body's SHA-256 is already known: giving it to the signer saves hashing 512 KiB again.
        const payloadHash = block.digest.toString('hex');
        command.middlewareStack.add(
          (next) => async (args) => {
            const request = args.request as { headers?: Record<string, string> } | undefined;
            if (request?.headers) request.headers['x-amz-content-sha256'] = payloadHash;
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
        const notVisible = code === 'ResourceNotFoundException' && !this.visible;
        const delay = retryDelay(retry, attempt);
        const retryable = notVisible
          ? this.clock.now() + delay - this.startedAt <= (retry.notVisibleForMs ?? DEFAULT_NOT_VISIBLE_MS)
          : code === 'ConcurrentLimitExceededException' && attempt < retry.attempts;
        if (!retryable || this.signal.aborted) throw error;
        await this.clock.sleep(delay, this.signal);
      }
    }
  }

  /**
   * A planned block as it is sent: zeros as they are, data read again and checked against the plan,
   * or read and hashed now (a plan made before hashing). Undefined: read, it holds only zeros, and
   * zero blocks are skipped.
   */
  private async load(planned: PlannedBlock, position: number): Promise<SendableBlock | undefined> {
    const progress = Math.min(100, Math.floor(((position + 1) * 100) / this.blocks.blocks.length));
    if (planned.zero)
      return { index: planned.index, progress, data: ZERO_DATA, digest: ZERO_BLOCK_DIGEST, checksum: ZERO_CHECKSUM };
    const offset = planned.index * EBS_BLOCK_BYTES;
    const length = Math.min(EBS_BLOCK_BYTES, this.plan.imageBytes - offset);
    const buffer = Buffer.allocUnsafe(EBS_BLOCK_BYTES);
    if (length <= 0 || !(await this.disk.read(buffer, length, offset)))
      throw imageChanged(this.options.imagePath, 'during the upload (it is shorter than when it was hashed)');
    this.reads++;
    const block = prepareBlock(planned.index, buffer, this.plan.imageBytes, false);
    if (planned.digest === undefined && block.digest !== undefined && block.checksum !== undefined) {
      if (!block.zero) this.readDigests.set(planned.index, block.digest);
      else if (this.options.skipZeroBlocks) {
        this.dropped++;
        this.totalBytes -= this.blockBytes(planned.index);
        this.state.skipped++;
        return undefined;
      } else this.state.zero++;
      return { index: planned.index, progress, data: block.data, digest: block.digest, checksum: block.checksum };
    }
    if (
      block.digest === undefined ||
      block.checksum === undefined ||
      planned.digest === undefined ||
      !block.digest.equals(planned.digest)
    )
      throw imageChanged(this.options.imagePath, `during the upload (block ${planned.index} is not as it was hashed)`);
    return { index: planned.index, progress, data: block.data, digest: block.digest, checksum: block.checksum };
  }

  /** Reads and sends the planned blocks, `concurrency` at a time; stops at the first failure. */
  async writeAll(concurrency: number): Promise<void> {
    const { state } = this;
    const inFlight = new Set<Promise<void>>();
    let failure: { error: unknown } | undefined;
    const fail = (error: unknown) => {
      failure ??= { error };
      this.stop();
    };
    this.progress('uploading');
    const inImage = this.blocks.blocks.filter((planned) => planned.index < this.plan.imageBlocks).length;
    state.skipped = this.plan.imageBlocks - inImage;
    for (const [position, planned] of this.blocks.blocks.entries()) {
      while (inFlight.size >= concurrency && !failure) await Promise.race(inFlight);
      if (failure) break;
      try {
        this.signal.throwIfAborted();
        const block = await this.load(planned, position);
        if (block === undefined) continue;
        if (planned.zero) state.zero++;
        const task: Promise<void> = this.put(block).then(() => {
          state.uploaded++;
          state.digests.push({ index: block.index, digest: block.digest });
          this.written++;
          this.bytesDone += this.blockBytes(block.index);
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

type ParentChoice = { parent: SnapshotId; plan: BlockPlan } | { reason?: string; plan: BlockPlan };

/** The parent to write a child of, or why the whole image is written (undefined: no parent was given). */
async function chooseParent(
  options: UploadSnapshotOptions,
  hashed: HashedImage,
  plan: SnapshotPlan,
  skipZeroBlocks: boolean,
  signal: AbortSignal,
): Promise<ParentChoice> {
  const full = (reason?: string): ParentChoice => ({ reason, plan: planBlocks(hashed, undefined, skipZeroBlocks) });
  const given = options.parent;
  if (given === undefined) return full();
  const list = decodeBlockList(given.blockList);
  if (list === undefined) return full(`the list of the blocks of ${given.snapshotId} is missing or unreadable`);
  let parent: SnapshotId;
  try {
    parent = snapshotId(given.snapshotId);
  } catch {
    return full(`"${given.snapshotId}" is not a snapshot id`);
  }
  const found = await describeSnapshot(options.ec2, parent, signal);
  if (!found) return full(`the previous snapshot ${parent} is gone`);
  if (found.state !== 'completed') return full(`the previous snapshot ${parent} is ${found.state}, not completed`);
  if (found.volumeSizeGiB !== undefined && found.volumeSizeGiB > plan.volumeSizeGiB)
    return full(
      `the previous snapshot ${parent} is ${found.volumeSizeGiB} GiB, larger than this ${plan.volumeSizeGiB} GiB one`,
    );
  // A child takes its parent's encryption and key (StartSnapshot refuses Encrypted with ParentSnapshotId).
  if ((found.encrypted ?? false) !== (options.encrypted ?? false))
    return full(
      `the previous snapshot ${parent} is ${found.encrypted ? 'encrypted' : 'not encrypted'}, and this one is to be ${options.encrypted ? 'encrypted' : 'unencrypted'}`,
    );
  if (options.kmsKeyArn !== undefined && found.kmsKeyId !== options.kmsKeyArn)
    return full(`the previous snapshot ${parent} is encrypted with another KMS key than ${options.kmsKeyArn}`);
  return { parent, plan: planBlocks(hashed, list, skipZeroBlocks) };
}

/** Deletes the partial snapshot and returns the error to throw: it says whether the snapshot remains. */
async function cleanUp(
  options: UploadSnapshotOptions,
  id: SnapshotId,
  cause: unknown,
  seen: boolean,
): Promise<SnapshotUploadError> {
  const retry = options.blockRetry ?? DEFAULT_BLOCK_RETRY;
  const signal = AbortSignal.timeout(options.cleanupTimeoutMs ?? 60_000);
  try {
    // EC2 may not know a snapshot that StartSnapshot created a moment ago: ask again before taking "not found" for "gone".
    for (let attempt = 1; attempt <= retry.attempts; attempt++) {
      if (await deleteSnapshot(options.ec2, id, signal)) return new SnapshotUploadError(id, false, cause);
      if (attempt < retry.attempts) await (options.clock ?? REAL_CLOCK).sleep(retryDelay(retry, attempt), signal);
    }
    // Never found: gone, if the service had shown it (it accepted a block); else maybe not visible yet.
    if (!seen) return new SnapshotUploadError(id, true, cause, new Error('EC2 does not find it yet'));
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
  return withGuestDisk('image', options.imagePath, (disk) => uploadGuestDisk(options, disk), options.signal);
}

async function uploadGuestDisk(options: UploadSnapshotOptions, disk: GuestDisk): Promise<SnapshotUploadResult> {
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
  const { size, version } = disk;
  // Blocks hashed before (by check) are the guest's, with the file given's version: a container's too.
  const given = options.hashed;
  // Hashed first only when something needs the blocks before the upload: a parent's plan, or an
  // identity to match. Else one read: each block is hashed as it is sent (planUnhashed).
  const hashFirst = given !== undefined || options.parent !== undefined || options.expectedIdentity !== undefined;
  const hashed = hashFirst ? (given ?? (await hashGuestDisk(disk, options.signal))) : undefined;
  if (hashed && !sameVersion(hashed.version, version)) throw imageChanged(options.imagePath, 'since it was hashed');
  if (hashed && options.expectedIdentity !== undefined && contentIdentity(hashed) !== options.expectedIdentity)
    throw imageChanged(options.imagePath, 'since it was checked');
  const hashRead = hashed && !given ? hashed.blocksRead : 0;
  const plan = planSnapshot(size, options.volumeSizeGiB);
  const outer = withDeadline(options.signal, options.deadlineMs);
  const controller = new AbortController();
  const signal = outer ? AbortSignal.any([outer, controller.signal]) : controller.signal;
  // Every request in flight listens on the signal; more than Node's default of 10 is expected here.
  setMaxListeners(concurrency + 16, signal);
  const choice: ParentChoice = hashed
    ? await chooseParent(options, hashed, plan, skipZeroBlocks, signal)
    : { plan: planUnhashed(size, blocksWithData(size, await disk.dataExtents()), skipZeroBlocks) };
  const parent = 'parent' in choice ? choice.parent : undefined;
  const fullUploadReason = 'reason' in choice ? choice.reason : undefined;
  if (fullUploadReason) options.onNotice?.(`uploading the whole image: ${fullUploadReason}`);
  else if (parent)
    options.onNotice?.(
      `writing ${choice.plan.blocks.length} changed block(s) of ${plan.imageBlocks} into a child of ${parent}`,
    );
  const clientToken = options.clientToken ?? randomUUID();
  const clock = options.clock ?? REAL_CLOCK;
  const started = await awsCall('StartSnapshot', `snapshot of ${path.basename(options.imagePath)}`, () =>
    options.ebs.send(
      new StartSnapshotCommand({
        VolumeSize: plan.volumeSizeGiB,
        ParentSnapshotId: parent,
        Description: options.description,
        Tags:
          options.tags && Object.keys(options.tags).length > 0
            ? toTagList(options.tags).map(({ Key, Value }) => ({ Key, Value }))
            : undefined,
        ClientToken: clientToken,
        // A child is encrypted as its parent is: EBS refuses Encrypted with ParentSnapshotId.
        Encrypted: parent ? undefined : options.encrypted,
        KmsKeyArn: parent ? undefined : options.kmsKeyArn,
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
  const writer = new SnapshotWriter(
    options,
    id,
    plan,
    choice.plan,
    disk,
    signal,
    () => controller.abort(),
    clock,
    clock.now(),
  );
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
    await writer.writeAll(concurrency);
    if (!sameVersion(version, await disk.currentVersion())) throw imageChanged(options.imagePath, 'during the upload');
    const content: HashedImage = hashed ?? {
      imageBytes: size,
      digests: writer.readDigests,
      version,
      blocksRead: writer.reads,
    };
    const zeroBlocks = plan.imageBlocks - content.digests.size;
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
      zeroBlocks,
      zeroBlocksSkipped: parent || !skipZeroBlocks ? 0 : zeroBlocks,
      parentSnapshotId: parent,
      blocksUnchanged: choice.plan.unchangedBlocks,
      fullUploadReason,
      blockList: encodeBlockList(content),
      contentIdentity: contentIdentity(content),
      blocksRead: hashRead + writer.reads,
      checksum,
      convertedFrom: disk.format,
      clientToken,
      state: 'completed',
    };
  } catch (error) {
    controller.abort();
    throw await cleanUp(options, id, error, writer.visible);
  }
}
