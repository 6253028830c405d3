/**
 * An EBS-backed instance's root volume: read it (DescribeVolumes, by the instance and its root
 * device), modify it live (ModifyVolume: grow, type, IOPS, throughput; waited for until the
 * modification is `optimizing` or `completed`), read its last modification
 * (DescribeVolumesModifications), and set whether it is deleted with the instance
 * (ModifyInstanceAttribute's BlockDeviceMapping).
 */
import {
  DescribeVolumesCommand,
  DescribeVolumesModificationsCommand,
  EC2Client,
  ModifyInstanceAttributeCommand,
  ModifyVolumeCommand,
  VolumeType,
} from '@aws-sdk/client-ec2';
import { AwsOperationError, awsCall } from './errors';
import { InstanceId } from './ids';
import { fromTagList } from './tags';
import type { RootBlockDevice } from './instances';
import { WaitOptions } from './waiting';

/** The root volume as EC2 reports it, named as `rootBlockDevice` names it (iops only for gp3, io1, io2). */
export interface LiveRootVolume extends RootBlockDevice {
  volumeId: string;
  /** The volume's tags, as DescribeVolumes gives them with the rest. */
  tags: Record<string, string>;
}

/** What ModifyVolume is asked to change. */
export interface VolumeChange {
  volumeSize?: number;
  volumeType?: string;
  iops?: number;
  throughput?: number;
}

export interface VolumeModificationState {
  state?: string;
  startTime?: Date;
}

const TYPES_WITH_IOPS = ['gp3', 'io1', 'io2'];

/** The volume attached to the instance at its root device, or undefined (an instance-store instance). */
export async function describeRootVolume(
  ec2: EC2Client,
  instance: InstanceId,
  rootDeviceName: string,
  signal?: AbortSignal,
): Promise<LiveRootVolume | undefined> {
  const output = await awsCall('DescribeVolumes', instance, () =>
    ec2.send(
      new DescribeVolumesCommand({
        Filters: [
          { Name: 'attachment.instance-id', Values: [instance] },
          { Name: 'attachment.device', Values: [rootDeviceName] },
        ],
      }),
      { abortSignal: signal },
    ),
  );
  const volume = output.Volumes?.find((each) => each.VolumeId !== undefined);
  if (!volume?.VolumeId) return undefined;
  const attachment = volume.Attachments?.find((each) => each.InstanceId === instance);
  return {
    volumeId: volume.VolumeId,
    volumeSize: volume.Size,
    volumeType: volume.VolumeType,
    iops: TYPES_WITH_IOPS.includes(volume.VolumeType ?? '') ? volume.Iops : undefined,
    throughput: volume.VolumeType === 'gp3' ? volume.Throughput : undefined,
    encrypted: volume.Encrypted,
    kmsKeyId: volume.Encrypted ? volume.KmsKeyId : undefined,
    deleteOnTermination: attachment?.DeleteOnTermination,
    tags: fromTagList(volume.Tags),
  };
}

/** The volume's most recent modification, if it was ever modified. */
export async function lastVolumeModification(
  ec2: EC2Client,
  volumeId: string,
  signal?: AbortSignal,
): Promise<VolumeModificationState | undefined> {
  const output = await awsCall('DescribeVolumesModifications', volumeId, () =>
    ec2.send(new DescribeVolumesModificationsCommand({ VolumeIds: [volumeId] }), { abortSignal: signal }),
  );
  const last = output.VolumesModifications?.find((each) => each.VolumeId === volumeId);
  return last?.ModificationState === undefined
    ? undefined
    : { state: last.ModificationState, startTime: last.StartTime };
}

function abortable(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', stop);
      resolve();
    }, ms);
    const stop = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', stop, { once: true });
  });
}

/**
 * Modifies the volume, then waits until its modification is `optimizing` or `completed`: from
 * `optimizing` on, the volume has its new size and type and is in use as usual (its performance moves
 * to the target while it optimizes, which can take hours), so waiting for `completed` would hold the
 * update for nothing. A `failed` modification is an error.
 */
export async function modifyVolume(
  ec2: EC2Client,
  volumeId: string,
  change: VolumeChange,
  wait: WaitOptions,
  signal?: AbortSignal,
  onProgress?: (message: string) => void,
): Promise<string> {
  await awsCall('ModifyVolume', volumeId, () =>
    ec2.send(
      new ModifyVolumeCommand({
        VolumeId: volumeId,
        Size: change.volumeSize,
        // Checked input: one of the declared volume types.
        VolumeType: change.volumeType as VolumeType | undefined,
        Iops: change.iops,
        Throughput: change.throughput,
      }),
      { abortSignal: signal },
    ),
  );
  onProgress?.(`volume ${volumeId}: modifying`);
  const maxWaitMs = (wait.maxWaitSeconds ?? 900) * 1000;
  const started = Date.now();
  let delayMs = (wait.minDelaySeconds ?? 5) * 1000;
  const maxDelayMs = Math.max(delayMs, (wait.maxDelaySeconds ?? 15) * 1000);
  for (;;) {
    const state = (await lastVolumeModification(ec2, volumeId, signal))?.state;
    if (state === 'optimizing' || state === 'completed') return state;
    if (state === 'failed')
      throw new AwsOperationError(
        'ModifyVolume',
        volumeId,
        'ModificationFailed',
        `EC2 reports the modification of volume ${volumeId} failed; the volume keeps its former configuration (run up again to retry)`,
        true,
      );
    if (Date.now() - started > maxWaitMs)
      throw new AwsOperationError(
        'ModifyVolume',
        volumeId,
        'NotOptimizing',
        `the modification of volume ${volumeId} is still ${state ?? 'not reported'} after ${Math.round(maxWaitMs / 1000)} s; it goes on in EC2 (refresh reads the volume)`,
        true,
      );
    await abortable(delayMs, signal);
    delayMs = Math.min(maxDelayMs, delayMs * 2);
  }
}

/** Sets whether the root volume is deleted when the instance terminates. */
export async function setDeleteOnTermination(
  ec2: EC2Client,
  instance: InstanceId,
  rootDeviceName: string,
  value: boolean,
  signal?: AbortSignal,
): Promise<void> {
  await awsCall('ModifyInstanceAttribute', instance, () =>
    ec2.send(
      new ModifyInstanceAttributeCommand({
        InstanceId: instance,
        BlockDeviceMappings: [{ DeviceName: rootDeviceName, Ebs: { DeleteOnTermination: value } }],
      }),
      { abortSignal: signal },
    ),
  );
}
