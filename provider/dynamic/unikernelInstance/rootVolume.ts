/**
 * UnikernelInstance's root volume, changed in place: checked against the live volume and its last
 * modification before anything is changed (EC2 takes one modification at a time, at most four in
 * a rolling 24 hours), then modified live. Also what create and refresh record of it.
 */
import type { EC2Client } from '@aws-sdk/client-ec2';
import { errorCode } from '../../aws/errors';
import { InstanceId } from '../../aws/ids';
import { describeRootVolume, LiveRootVolume, lastVolumeModification, modifyVolume } from '../../aws/volumes';
import { WaitOptions } from '../../aws/waiting';
import { reason } from '../failures';
import { RootVolumeChange } from './rules';

/** A root volume change refused before anything was changed: one line naming rootBlockDevice. */
export class RootVolumeRefusedError extends Error {
  constructor(message: string) {
    super(`rootBlockDevice: ${message}`);
    this.name = 'RootVolumeRefusedError';
  }
}

/** The live volume as `rootBlockDevice` records it (no volume id). */
export function recordedRootVolume(live: LiveRootVolume): Record<string, unknown> {
  const { volumeId: _volumeId, tags: _tags, ...fields } = live;
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined));
}

/**
 * What is left to ask ModifyVolume for once the live volume is known (pure): the fields that differ
 * from it. A smaller size than the live one is refused (EBS volumes cannot shrink).
 */
export function targetAgainstLive(change: RootVolumeChange, live: LiveRootVolume): RootVolumeChange {
  if (change.volumeSize !== undefined && live.volumeSize !== undefined && change.volumeSize < live.volumeSize)
    throw new RootVolumeRefusedError(
      `volumeSize ${change.volumeSize} is smaller than the ${live.volumeSize} GiB of the root volume ${live.volumeId}, and EBS volumes cannot shrink; nothing was changed: give at least ${live.volumeSize}, or run refresh (which records the live size) and up again to replace the instance`,
    );
  const target: RootVolumeChange = {};
  for (const field of ['volumeSize', 'volumeType', 'iops', 'throughput'] as const) {
    const value = change[field];
    if (value !== undefined && value !== live[field]) Object.assign(target, { [field]: value });
  }
  return target;
}

export interface RootVolumeUpdate {
  ec2: EC2Client;
  instance: InstanceId;
  rootDeviceName: string;
  change: RootVolumeChange;
  wait: WaitOptions;
  signal?: AbortSignal;
  progress: (message: string) => void;
}

/**
 * Modifies the root volume, live; made before any other change of the update, so that a refusal
 * (the volume busy with a modification, EC2's rate limit) leaves nothing changed. Returns the live
 * volume after (as recorded), or undefined when there was nothing to modify.
 */
export async function updateRootVolume(update: RootVolumeUpdate): Promise<Record<string, unknown> | undefined> {
  const { ec2, instance, rootDeviceName, change, progress } = update;
  const live = await describeRootVolume(ec2, instance, rootDeviceName, update.signal);
  if (!live)
    throw new RootVolumeRefusedError(
      `instance ${instance} has no EBS volume at its root device ${rootDeviceName} (an instance-store instance has none); nothing was changed: remove rootBlockDevice`,
    );
  const target = targetAgainstLive(change, live);
  if (Object.keys(target).length === 0) {
    progress(`root volume ${live.volumeId} already is as given`);
    return recordedRootVolume(live);
  }
  const last = await lastVolumeModification(ec2, live.volumeId, update.signal);
  if (last?.state === 'modifying' || last?.state === 'optimizing')
    throw new RootVolumeRefusedError(
      `the last modification of the root volume ${live.volumeId}${last.startTime ? ` (started ${last.startTime.toISOString()})` : ''} is still ${last.state}, and EC2 takes another only once it is completed; nothing was changed: run up again once it is (optimizing can take hours; DescribeVolumesModifications shows it)`,
    );
  progress(`modifying the root volume ${live.volumeId}: ${JSON.stringify(target)}`);
  let state: string;
  try {
    state = await modifyVolume(ec2, live.volumeId, target, update.wait, update.signal, progress);
  } catch (error) {
    if (errorCode(error) !== 'VolumeModificationRateExceeded') throw error;
    throw new RootVolumeRefusedError(
      `EC2 refused to modify the root volume ${live.volumeId} (${reason(error)}); nothing was changed: run up again after the time EC2 gives (at most four modifications a volume in 24 hours)`,
    );
  }
  progress(
    `root volume ${live.volumeId} modified (${state}: in use with its new configuration${target.volumeSize !== undefined ? "; the unikernel's file system is not grown" : ''})`,
  );
  const after = await describeRootVolume(ec2, instance, rootDeviceName, update.signal);
  return after && recordedRootVolume(after);
}
