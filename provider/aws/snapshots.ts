/**
 * EBS snapshots through EC2: describe (undefined when gone), wait for `completed` (an `error`
 * state is final and reported with its message), delete.
 */
import {
  DeleteSnapshotCommand,
  DescribeSnapshotsCommand,
  EC2Client,
  Snapshot,
  waitUntilSnapshotCompleted,
} from '@aws-sdk/client-ec2';
import { AwsOperationError, describeAwsError, errorCode } from './errors';
import { SnapshotId } from './ids';
import { fromTagList, Tags } from './tags';
import { waiterParameters, WaitOptions } from './waiting';

export interface SnapshotSummary {
  snapshotId: SnapshotId;
  /** pending, completed, error (also recoverable, recovering for archived snapshots). */
  state: string;
  /** Why the snapshot is in the error state. */
  stateMessage?: string;
  /** e.g. "100%". */
  progress?: string;
  volumeSizeGiB?: number;
  description?: string;
  encrypted?: boolean;
  /** The KMS key of an encrypted snapshot. */
  kmsKeyId?: string;
  ownerId?: string;
  startTime?: string;
  tags: Tags;
}

/** The snapshot did not reach `completed` (it exists, with this id, unless `deleted`). */
export class SnapshotNotCompletedError extends AwsOperationError {
  constructor(
    readonly snapshotId: SnapshotId,
    readonly state: string,
    readonly reason: string,
  ) {
    super(
      'CompleteSnapshot',
      snapshotId,
      state === 'error' ? 'SnapshotError' : 'SnapshotNotCompleted',
      `snapshot ${snapshotId} is ${state}, not completed: ${reason}`,
      false,
    );
    this.name = 'SnapshotNotCompletedError';
  }
}

const NOT_FOUND = new Set(['InvalidSnapshot.NotFound']);

function summarize(snapshot: Snapshot): SnapshotSummary {
  return {
    snapshotId: snapshot.SnapshotId as SnapshotId,
    state: snapshot.State ?? 'unknown',
    stateMessage: snapshot.StateMessage || undefined,
    progress: snapshot.Progress,
    volumeSizeGiB: snapshot.VolumeSize,
    description: snapshot.Description,
    encrypted: snapshot.Encrypted,
    kmsKeyId: snapshot.KmsKeyId,
    ownerId: snapshot.OwnerId,
    startTime: snapshot.StartTime?.toISOString(),
    tags: fromTagList(snapshot.Tags),
  };
}

/** The snapshot, or undefined when EC2 does not know it (deleted, never existed, or not visible yet). */
export async function describeSnapshot(
  ec2: EC2Client,
  id: SnapshotId,
  signal?: AbortSignal,
): Promise<SnapshotSummary | undefined> {
  try {
    const output = await ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [id] }), { abortSignal: signal });
    const snapshot = output.Snapshots?.find((candidate) => candidate.SnapshotId === id);
    return snapshot ? summarize(snapshot) : undefined;
  } catch (error) {
    if (NOT_FOUND.has(errorCode(error) ?? '')) return undefined;
    throw describeAwsError(error, 'DescribeSnapshots', id);
  }
}

/** The tag that names the content identity of the image a snapshot holds (see blockList.ts). */
export const IMAGE_IDENTITY_TAG = 'unikernel:image-identity';

/**
 * A completed snapshot of this account that holds the image with this content identity (the newest,
 * when there are several), or undefined.
 */
export async function findSnapshotOfImage(
  ec2: EC2Client,
  identity: string,
  signal?: AbortSignal,
): Promise<SnapshotSummary | undefined> {
  try {
    const output = await ec2.send(
      new DescribeSnapshotsCommand({
        OwnerIds: ['self'],
        Filters: [
          { Name: `tag:${IMAGE_IDENTITY_TAG}`, Values: [identity] },
          { Name: 'status', Values: ['completed'] },
        ],
      }),
      { abortSignal: signal },
    );
    const newest = [...(output.Snapshots ?? [])].sort(
      (a, b) => (b.StartTime?.getTime() ?? 0) - (a.StartTime?.getTime() ?? 0),
    )[0];
    return newest ? summarize(newest) : undefined;
  } catch (error) {
    throw describeAwsError(error, 'DescribeSnapshots', identity);
  }
}

/**
 * Polls DescribeSnapshots until the snapshot is completed. An `error` state stops the wait at once
 * (it is final) and throws SnapshotNotCompletedError with EC2's StateMessage; so does a snapshot
 * still pending at the deadline. A snapshot EC2 does not know yet is polled again (eventual
 * consistency after StartSnapshot).
 */
export async function waitForSnapshotCompleted(
  ec2: EC2Client,
  id: SnapshotId,
  wait?: WaitOptions,
  signal?: AbortSignal,
): Promise<SnapshotSummary> {
  try {
    await waitUntilSnapshotCompleted(
      waiterParameters(ec2, wait, { maxWaitSeconds: 3600, minDelaySeconds: 2, maxDelaySeconds: 15 }, signal),
      { SnapshotIds: [id] },
    );
  } catch (error) {
    // The SDK's waiter reports an abort as JSON text ({"state":"ABORTED",...}): say it in words.
    if (signal?.aborted)
      throw new SnapshotNotCompletedError(
        id,
        'pending',
        signal.reason instanceof Error && signal.reason.name === 'TimeoutError'
          ? 'the time allowed ran out while waiting for it to complete'
          : 'the wait for it to complete was cancelled',
      );
    const snapshot = await describeSnapshot(ec2, id, signal).catch(() => undefined);
    if (!snapshot) throw new SnapshotNotCompletedError(id, 'unknown', 'EC2 does not find it');
    const reason =
      snapshot.state === 'error' ? (snapshot.stateMessage ?? 'EC2 gives no reason') : 'it did not complete in time';
    throw new SnapshotNotCompletedError(id, snapshot.state, reason);
  }
  const snapshot = await describeSnapshot(ec2, id, signal);
  if (!snapshot) throw new SnapshotNotCompletedError(id, 'unknown', 'it vanished after completing');
  return snapshot;
}

/**
 * Deletes a snapshot; returns false when it was already gone. A snapshot that is the root of a
 * registered AMI cannot be deleted (InvalidSnapshot.InUse): deregister the AMI first.
 */
export async function deleteSnapshot(ec2: EC2Client, id: SnapshotId, signal?: AbortSignal): Promise<boolean> {
  try {
    await ec2.send(new DeleteSnapshotCommand({ SnapshotId: id }), { abortSignal: signal });
    return true;
  } catch (error) {
    if (NOT_FOUND.has(errorCode(error) ?? '')) return false;
    throw describeAwsError(error, 'DeleteSnapshot', id);
  }
}
