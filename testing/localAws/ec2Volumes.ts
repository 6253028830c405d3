/**
 * EBS volumes, as EC2 keeps them: an EBS-backed instance's root volume, made at launch and attached
 * at the AMI's root device name; DescribeVolumes, ModifyVolume (Elastic Volumes: grow, type, IOPS,
 * throughput, live) and DescribeVolumesModifications. A modification goes modifying → optimizing →
 * completed on the clock. As EC2 documents it in 2026, a volume takes a new modification only once
 * the last one is completed, and at most four in a rolling 24-hour period (VolumeModificationRateExceeded).
 * A volume follows its instance: in-use while it lives; at termination deleted with
 * deleteOnTermination, else available and detached.
 */
import { Ec2Action } from './ec2Context';
import { filters, integer, invalidValue, passesFilters, QueryParams, required, scalarList } from './ec2Params';
import { tagSet } from './ec2Images';
import { AwsError } from './errors';
import {
  InstanceRecord,
  LocalAwsState,
  stateAt,
  VolumeConfiguration,
  VolumeModificationRecord,
  VolumeRecord,
} from './state';
import { el, items, opt, XmlContent } from './xml';

/** At most this many modifications start in any rolling window of this length. */
export const MODIFICATIONS_PER_WINDOW = 4;
export const MODIFICATION_WINDOW_MS = 24 * 60 * 60 * 1000;

const VOLUME_TYPES = ['gp2', 'gp3', 'io1', 'io2', 'st1', 'sc1', 'standard'];
/** GiB each type takes. */
const SIZE_RANGE: Record<string, [number, number]> = {
  gp2: [1, 16_384],
  gp3: [1, 65_536],
  io1: [4, 16_384],
  io2: [4, 65_536],
  st1: [125, 16_384],
  sc1: [125, 16_384],
  standard: [1, 1_024],
};
const IOPS_RANGE: Record<string, [number, number]> = { gp3: [3_000, 80_000], io1: [100, 64_000], io2: [100, 256_000] };
const THROUGHPUT_RANGE: [number, number] = [125, 2_000];

/** Registers the root volume of a new EBS-backed instance. */
export function attachRootVolume(state: LocalAwsState, instance: InstanceRecord, snapshotId: string | undefined): void {
  const volume = instance.settings.rootVolume;
  if (!volume) return;
  // A gp3 volume always has its IOPS and throughput: 3000 and 125 MiB/s unless given.
  if (volume.volumeType === 'gp3') {
    volume.iops ??= 3_000;
    volume.throughput ??= 125;
  }
  state.volumes.set(volume.volumeId, {
    volume,
    instanceId: instance.instanceId,
    device: instance.rootDeviceName,
    availabilityZone: instance.settings.availabilityZone,
    snapshotId,
    createTime: instance.launchTime.getTime(),
    modifications: [],
  });
}

interface VolumeView {
  status: 'in-use' | 'available';
  attached: boolean;
}

/** What the volume is now, from its instance's state; undefined once deleted with its instance. */
function viewOf(state: LocalAwsState, record: VolumeRecord): VolumeView | undefined {
  const instance = state.instances.get(record.instanceId);
  const terminated = !instance || state.instanceState(instance).state === 'terminated';
  if (!terminated) return { status: 'in-use', attached: true };
  return record.volume.deleteOnTermination ? undefined : { status: 'available', attached: false };
}

export function volumeNotFound(id: string): AwsError {
  return new AwsError(400, 'InvalidVolume.NotFound', `The volume '${id}' does not exist.`);
}

/** The volume of this id while it exists (attached, or kept after its instance ended). */
export function existingVolume(state: LocalAwsState, id: string): VolumeRecord | undefined {
  const record = state.volumes.get(id);
  return record && viewOf(state, record) ? record : undefined;
}

function checkVolumeId(id: string): void {
  if (!/^vol-[0-9a-f]{8,17}$/.test(id)) throw new AwsError(400, 'InvalidVolumeID.Malformed', `Invalid id: "${id}"`);
}

/** The volumes an explicit id list names (all of them), or EC2's error naming an unknown one. */
function namedVolumes(state: LocalAwsState, ids: readonly string[]): VolumeRecord[] {
  return ids.map((id) => {
    checkVolumeId(id);
    const record = state.volumes.get(id);
    if (!record || !viewOf(state, record)) throw volumeNotFound(id);
    return record;
  });
}

function modificationState(state: LocalAwsState, modification: VolumeModificationRecord) {
  const { volumeModifyingMs, volumeOptimizingMs } = state.config;
  const start = modification.startTime;
  return stateAt(
    [
      { at: start, state: 'modifying' as const },
      { at: start + volumeModifyingMs, state: 'optimizing' as const },
      { at: start + volumeModifyingMs + volumeOptimizingMs, state: 'completed' as const },
    ],
    state.now(),
  );
}

const PROGRESS = { modifying: 0, optimizing: 50, completed: 100 };

function renderModification(state: LocalAwsState, volumeId: string, modification: VolumeModificationRecord) {
  const current = modificationState(state, modification);
  const { original, target } = modification;
  return [
    el('volumeId', volumeId),
    el('modificationState', current.state),
    el('targetSize', target.sizeGiB),
    opt('targetIops', target.iops),
    el('targetVolumeType', target.volumeType),
    opt('targetThroughput', target.throughput),
    el('targetMultiAttachEnabled', false),
    el('originalSize', original.sizeGiB),
    opt('originalIops', original.iops),
    el('originalVolumeType', original.volumeType),
    opt('originalThroughput', original.throughput),
    el('originalMultiAttachEnabled', false),
    el('progress', PROGRESS[current.state]),
    el('startTime', new Date(modification.startTime).toISOString()),
    current.state === 'completed' ? el('endTime', new Date(current.at).toISOString()) : undefined,
  ];
}

const VOLUME_FILTERS = [
  'attachment.device',
  'attachment.delete-on-termination',
  'attachment.instance-id',
  'attachment.status',
  'availability-zone',
  'encrypted',
  'size',
  'snapshot-id',
  'status',
  'volume-id',
  'volume-type',
];

/** A gp2 volume's baseline IOPS: 3 per GiB, from 100 to 16000 (EC2 reports it; it cannot be set). */
function gp2Baseline(sizeGiB: number): number {
  return Math.min(16_000, Math.max(100, 3 * sizeGiB));
}

function renderVolume(state: LocalAwsState, record: VolumeRecord, view: VolumeView): XmlContent {
  const { volume } = record;
  return [
    el('volumeId', volume.volumeId),
    el('size', volume.sizeGiB),
    el('snapshotId', record.snapshotId ?? ''),
    el('availabilityZone', record.availabilityZone),
    el('status', view.status),
    el('createTime', new Date(record.createTime).toISOString()),
    items('attachmentSet', view.attached ? [record] : [], (attached) => [
      el('volumeId', volume.volumeId),
      el('instanceId', attached.instanceId),
      el('device', attached.device),
      el('status', 'attached'),
      el('attachTime', new Date(attached.createTime).toISOString()),
      el('deleteOnTermination', volume.deleteOnTermination),
    ]),
    el('volumeType', volume.volumeType),
    opt('iops', volume.iops ?? (volume.volumeType === 'gp2' ? gp2Baseline(volume.sizeGiB) : undefined)),
    opt('throughput', volume.throughput),
    el('encrypted', volume.encrypted),
    opt('kmsKeyId', volume.kmsKeyId),
    el('multiAttachEnabled', false),
    tagSet(state.volumeTags.get(volume.volumeId) ?? new Map()),
  ];
}

export const describeVolumes: Ec2Action = (context) => {
  const { state, params } = context;
  const ids = scalarList(params, 'VolumeId');
  const filterList = filters(params);
  const candidates = ids.length > 0 ? namedVolumes(state, ids) : [...state.volumes.values()];
  const shown = candidates.flatMap((record) => {
    const view = viewOf(state, record);
    if (!view) return [];
    const { volume } = record;
    const fields: Record<string, string[]> = {
      'attachment.device': view.attached ? [record.device] : [],
      'attachment.delete-on-termination': view.attached ? [String(volume.deleteOnTermination)] : [],
      'attachment.instance-id': view.attached ? [record.instanceId] : [],
      'attachment.status': view.attached ? ['attached'] : [],
      'availability-zone': [record.availabilityZone],
      encrypted: [String(volume.encrypted)],
      size: [String(volume.sizeGiB)],
      'snapshot-id': record.snapshotId === undefined ? [] : [record.snapshotId],
      status: [view.status],
      'volume-id': [volume.volumeId],
      'volume-type': [volume.volumeType],
    };
    return passesFilters(filterList, fields, new Map(), VOLUME_FILTERS) ? [{ record, view }] : [];
  });
  return items('volumeSet', shown, (each) => renderVolume(state, each.record, each.view));
};

function inRange(name: string, value: number, [low, high]: [number, number], what: string): void {
  if (value < low || value > high)
    throw invalidValue(name, String(value), `${what} must be from ${low} to ${high}; ${value} was given.`);
}

/** The configuration a ModifyVolume request asks for, after EC2's checks against the volume's present one. */
function targetOf(params: QueryParams, current: VolumeConfiguration): VolumeConfiguration {
  const size = integer(params, 'Size');
  const type = params.VolumeType;
  const iops = integer(params, 'Iops');
  const throughput = integer(params, 'Throughput');
  if (size === undefined && type === undefined && iops === undefined && throughput === undefined)
    throw new AwsError(
      400,
      'MissingParameter',
      'The request must contain at least one of the parameters Size, VolumeType, Iops and Throughput.',
    );
  if (type !== undefined && !VOLUME_TYPES.includes(type)) throw invalidValue('VolumeType', type);
  const targetType = type ?? current.volumeType;
  if (size !== undefined && size < current.sizeGiB)
    throw invalidValue('Size', String(size), 'New size cannot be smaller than existing size.');
  const targetSize = size ?? current.sizeGiB;
  inRange('Size', targetSize, SIZE_RANGE[targetType], `The size of a ${targetType} volume (GiB)`);
  const iopsRange = IOPS_RANGE[targetType] as [number, number] | undefined;
  if (iops !== undefined && !iopsRange)
    throw new AwsError(
      400,
      'InvalidParameterCombination',
      `The parameter iops is not supported for ${targetType} volumes.`,
    );
  if (throughput !== undefined && targetType !== 'gp3')
    throw new AwsError(
      400,
      'InvalidParameterCombination',
      `The parameter throughput is not supported for ${targetType} volumes.`,
    );
  const sameFamily = current.volumeType === targetType;
  const keptIops = sameFamily ? current.iops : undefined;
  if (iops === undefined && keptIops === undefined && (targetType === 'io1' || targetType === 'io2'))
    throw new AwsError(
      400,
      'InvalidParameterCombination',
      `The parameter iops must be specified for ${targetType} volumes.`,
    );
  const targetIops = iopsRange ? (iops ?? keptIops ?? 3_000) : undefined;
  if (iops !== undefined && iopsRange) inRange('Iops', iops, iopsRange, `The IOPS of a ${targetType} volume`);
  const targetThroughput =
    targetType === 'gp3' ? (throughput ?? (sameFamily ? current.throughput : undefined) ?? 125) : undefined;
  if (throughput !== undefined)
    inRange('Throughput', throughput, THROUGHPUT_RANGE, 'The throughput of a gp3 volume (MiB/s)');
  const target = { sizeGiB: targetSize, volumeType: targetType, iops: targetIops, throughput: targetThroughput };
  if (
    target.sizeGiB === current.sizeGiB &&
    target.volumeType === current.volumeType &&
    target.iops === current.iops &&
    target.throughput === current.throughput
  )
    throw new AwsError(
      400,
      'InvalidParameterCombination',
      "The modification requested is the volume's present configuration: nothing would change.",
    );
  return target;
}

/** EC2's rate limit: the last modification completed, and fewer than four started in the rolling window. */
function checkRate(state: LocalAwsState, record: VolumeRecord): void {
  const last = record.modifications.at(-1);
  if (last) {
    const current = modificationState(state, last).state;
    if (current !== 'completed')
      throw new AwsError(
        400,
        'VolumeModificationRateExceeded',
        `The volume '${record.volume.volumeId}' has a modification that is ${current}; wait until it is completed before modifying the volume again.`,
      );
  }
  const now = state.now();
  const recent = record.modifications.filter((each) => now - each.startTime < MODIFICATION_WINDOW_MS);
  if (recent.length >= MODIFICATIONS_PER_WINDOW) {
    const retry = new Date(recent[recent.length - MODIFICATIONS_PER_WINDOW].startTime + MODIFICATION_WINDOW_MS);
    throw new AwsError(
      400,
      'VolumeModificationRateExceeded',
      `You've reached the maximum modification rate per volume limit (${MODIFICATIONS_PER_WINDOW} modifications in a rolling 24-hour period). Volume '${record.volume.volumeId}' can be modified again at ${retry.toISOString()}.`,
    );
  }
}

export const modifyVolume: Ec2Action = (context) => {
  const { state, params } = context;
  const [record] = namedVolumes(state, [required(params, 'VolumeId')]);
  if (params.MultiAttachEnabled !== undefined)
    throw new AwsError(400, 'InvalidParameterCombination', 'The local AWS does not model Multi-Attach.');
  const { volume } = record;
  const original: VolumeConfiguration = {
    sizeGiB: volume.sizeGiB,
    volumeType: volume.volumeType,
    iops: volume.iops,
    throughput: volume.throughput,
  };
  checkRate(state, record);
  const target = targetOf(params, original);
  const modification = { startTime: state.now(), original, target };
  record.modifications.push(modification);
  // DescribeVolumes shows the target configuration from the start, as EC2 does.
  Object.assign(volume, target);
  return el('volumeModification', renderModification(state, volume.volumeId, modification));
};

const MODIFICATION_FILTERS = ['modification-state', 'volume-id', 'target-volume-type', 'original-volume-type'];

export const describeVolumesModifications: Ec2Action = (context) => {
  const { state, params } = context;
  const ids = scalarList(params, 'VolumeId');
  const filterList = filters(params);
  const candidates = ids.length > 0 ? namedVolumes(state, ids) : [...state.volumes.values()];
  const latest = candidates.flatMap((record) => {
    const last = record.modifications.at(-1);
    if (!last || !viewOf(state, record)) return [];
    const fields: Record<string, string[]> = {
      'modification-state': [modificationState(state, last).state],
      'volume-id': [record.volume.volumeId],
      'target-volume-type': [last.target.volumeType],
      'original-volume-type': [last.original.volumeType],
    };
    return passesFilters(filterList, fields, new Map(), MODIFICATION_FILTERS) ? [{ record, last }] : [];
  });
  return items('volumeModificationSet', latest, (each) =>
    renderModification(state, each.record.volume.volumeId, each.last),
  );
};

/**
 * ModifyInstanceAttribute's BlockDeviceMapping: only Ebs.DeleteOnTermination of a device the
 * instance has mapped can change.
 */
export function modifyDeleteOnTermination(instance: InstanceRecord, params: QueryParams): void {
  const device = required(params, 'BlockDeviceMapping.1.DeviceName');
  const value = params['BlockDeviceMapping.1.Ebs.DeleteOnTermination'];
  if (value !== 'true' && value !== 'false')
    throw new AwsError(
      400,
      'InvalidParameterCombination',
      'BlockDeviceMapping takes Ebs.DeleteOnTermination (true or false) for a mapped device.',
    );
  const volume = instance.settings.rootVolume;
  if (!volume || device !== instance.rootDeviceName)
    throw invalidValue(
      'BlockDeviceMapping.DeviceName',
      device,
      `The instance '${instance.instanceId}' has no EBS volume mapped at ${device}.`,
    );
  const volumeId = params['BlockDeviceMapping.1.Ebs.VolumeId'];
  if (volumeId !== undefined && volumeId !== volume.volumeId)
    throw invalidValue(
      'BlockDeviceMapping.Ebs.VolumeId',
      volumeId,
      `The volume '${volumeId}' is not mapped at ${device}.`,
    );
  volume.deleteOnTermination = value === 'true';
}
