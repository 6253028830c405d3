/** UnikernelInstance's pure rules: input checks and the diff. */
import { bootPatterns } from '../../aws/bootCheck';
import { imageId, instanceId, instanceType } from '../../aws/ids';
import { CheckFailure, FailureList } from '../failures';
import { pulumiRemedy } from '../remedies';
import { positiveSecondsProblem, regionMoves, wholeNumberProblem } from '../inputRules';
import { defaultsOf, keysWhere, parsePlanned, PlannedOf, withDefaults } from '../schema';
import { diffProperties, DiffOutcome, isKnown, isUnknown, sameValue } from '../values';
import { checkEc2Inputs } from './ec2Inputs';
import type { MetadataOptions } from '../../aws/instances';
import { UnikernelInstanceInputs, unikernelInstanceSchema } from './types';

type Props = Record<string, unknown>;

/** EC2 accepts at most 16 KiB of user data (before base64). */
export const MAX_USER_DATA_BYTES = 16 * 1024;

export function checkInstanceInputs(props: Props): CheckFailure[] {
  const list = new FailureList();
  const { planned: inputs, failures } = parsePlanned(unikernelInstanceSchema, props);
  for (const failure of failures) list.fail(failure.property, failure.reason);
  const { imageId: image, instanceType: type, subnetId, securityGroupIds, userData, httpTokens } = inputs;
  if (!image) list.fail('imageId', 'give the AMI to run (RegisteredAmi.imageId)');
  else if (isKnown(image)) list.attempt('imageId', () => imageId(image, 'imageId'));
  if (!type)
    list.fail(
      'instanceType',
      'give the instance type to run: m3.medium, say, for a paravirtual instance-store AMI, t3.micro for an EBS-backed HVM one',
    );
  else if (isKnown(type)) list.attempt('instanceType', () => instanceType(type, 'instanceType'));
  if (isKnown(subnetId) && !/^subnet-[0-9a-f]{8,17}$/.test(subnetId))
    list.fail('subnetId', `"${subnetId}" is not a subnet id (subnet-…)`);
  const badGroup = isKnown(securityGroupIds)
    ? securityGroupIds.find(
        (group) => !isUnknown(group) && !(typeof group === 'string' && /^sg-[0-9a-f]{8,17}$/.test(group)),
      )
    : undefined;
  if (badGroup !== undefined) list.fail('securityGroupIds', `"${String(badGroup)}" is not a security group id (sg-…)`);
  if (isKnown(userData) && Buffer.byteLength(userData) > MAX_USER_DATA_BYTES) {
    list.fail('userData', `is ${Buffer.byteLength(userData)} bytes; EC2 accepts at most ${MAX_USER_DATA_BYTES}`);
  }
  if (isKnown(httpTokens) && !['required', 'optional'].includes(httpTokens))
    list.fail('httpTokens', 'must be "required" (IMDSv2) or "optional"');
  checkEc2Inputs(list, inputs);
  list.fail('timeoutSeconds', positiveSecondsProblem(inputs.timeoutSeconds));
  checkBootInputs(list, inputs);
  const adopted = inputs.adoptInstanceId;
  if (isKnown(adopted)) list.attempt('adoptInstanceId', () => instanceId(adopted, 'adoptInstanceId'));
  return list.failures;
}

/** Boot verification's inputs: valid regular expressions, a positive deadline, nothing given that is switched off. */
function checkBootInputs(list: FailureList, inputs: PlannedOf<typeof unikernelInstanceSchema>): void {
  const { verifyBoot, bootMarker, bootFailurePatterns, bootTimeoutSeconds, bootPort, bootPortAddress } = inputs;
  if (isKnown(bootMarker)) list.attempt('bootMarker', () => bootPatterns(bootMarker));
  if (isKnown(bootFailurePatterns)) {
    const known = bootFailurePatterns.filter((each): each is string => typeof each === 'string' && !isUnknown(each));
    if (known.length !== bootFailurePatterns.filter((each) => !isUnknown(each)).length)
      list.fail('bootFailurePatterns', 'must be a list of regular expressions (strings)');
    else list.attempt('bootFailurePatterns', () => bootPatterns(undefined, known));
  }
  list.fail('bootTimeoutSeconds', positiveSecondsProblem(bootTimeoutSeconds));
  list.fail('bootPort', wholeNumberProblem(bootPort, 1, 65535, 'a TCP port'));
  if (isKnown(bootPortAddress) && !['public', 'private'].includes(bootPortAddress))
    list.fail('bootPortAddress', 'must be "public" or "private"');
  else if (bootPortAddress !== undefined && bootPort === undefined)
    list.fail('bootPortAddress', 'is given without bootPort: give the port to check, or remove it');
  else if (bootPortAddress === 'public' && inputs.associatePublicIpAddress === false && verifyBoot !== false)
    list.fail(
      'bootPortAddress',
      `is "public" but associatePublicIpAddress is false, so the instance will have no public IP to check the port on: ${pulumiRemedy({ kind: 'portWithoutPublicIp' })}`,
    );
  if (verifyBoot === false) {
    const given = (
      ['bootMarker', 'bootFailurePatterns', 'bootTimeoutSeconds', 'bootPort', 'bootPortAddress'] as const
    ).filter((key) => inputs[key] !== undefined);
    for (const key of given) list.fail(key, 'is given but verifyBoot is false: remove it, or turn verifyBoot on');
  }
}

const GONE_STATES = new Set(['shutting-down', 'terminated']);
export function isGone(state: string): boolean {
  return GONE_STATES.has(state);
}

/**
 * A replacement planned for an instance with termination protection: EC2 would refuse to terminate
 * the old one, leaving two. The preview fails with this instead, before anything is made.
 */
export class TerminationProtectedError extends Error {
  constructor(instance: string, replaces: readonly string[]) {
    super(
      `instance ${instance} has disableApiTermination true, and ${replaces.join(', ')} would replace it (EC2 refuses to terminate it): set disableApiTermination to false alone and run up first, then make this change`,
    );
    this.name = 'TerminationProtectedError';
  }
}

export interface InstanceDiff extends DiffOutcome {
  /** Why the instance is replaced, for the user (the dynamic diff has no room for messages). */
  notes: string[];
}

const DEFAULTS = defaultsOf(unikernelInstanceSchema);
/** Inputs EC2 chooses when not given: compared only when the new inputs give them. */
const CHOSEN_WHEN_ABSENT = [
  'availabilityZone',
  'privateIp',
  'associatePublicIpAddress',
  'securityGroupIds',
  'instanceInitiatedShutdownBehavior',
];
/** Compared below: the region as it takes effect, the type by root device, the metadata options as one. */
const COMPARED_APART = [
  'region',
  'instanceType',
  'metadataOptions',
  'httpTokens',
  'rootBlockDevice',
  ...CHOSEN_WHEN_ABSENT,
];
const REPLACE_ON = keysWhere(unikernelInstanceSchema, (property) => property.change === 'replace').filter(
  (key) => !COMPARED_APART.includes(key),
);
const UPDATE_ON = keysWhere(unikernelInstanceSchema, (property) => property.change === 'update').filter(
  (key) => !COMPARED_APART.includes(key),
);

/** Why EC2 cannot change each replacing input in place (the preview's note). */
const WHY_REPLACED: Record<string, string> = {
  imageId: 'EC2 cannot change the AMI an instance runs',
  subnetId: 'an instance cannot move to another subnet',
  userData:
    'EC2 changes user data only on a stopped instance, and the unikernel reads it at boot; a new instance is launched',
  keyName: 'EC2 sets the key pair only at launch',
  associatePublicIpAddress: 'EC2 assigns a public address to the primary interface only at launch',
  privateIp: 'the primary private address is fixed at launch',
  availabilityZone: 'an instance cannot move to another availability zone',
  placementGroup: 'the placement group is set at launch here',
  adoptInstanceId: 'another instance is adopted',
  region: 'an instance cannot move to another region',
};

/** The instance metadata options as they take effect (the deprecated httpTokens folded in), for comparison. */
export function effectiveMetadataOptions(props: Props): Record<string, unknown> {
  const given = props.metadataOptions;
  return {
    httpTokens: props.httpTokens ?? 'required',
    httpEndpoint: 'enabled',
    httpPutResponseHopLimit: 1,
    instanceMetadataTags: 'disabled',
    ...(given !== null && typeof given === 'object' ? definedFields(given as Props) : {}),
  };
}

function definedFields(value: Props): Props {
  return Object.fromEntries(Object.entries(value).filter(([, item]) => item !== undefined));
}

function changed(olds: Props, news: Props, key: string): boolean {
  return isUnknown(news[key]) || !sameValue(olds[key], news[key]);
}

function shown(value: unknown): string {
  return isUnknown(value) ? '(unknown)' : JSON.stringify(value);
}

/** `effectiveRegion`: the region the new inputs would use, unknown in preview, undefined if none is configured. */
export function diffInstance(olds: Props, news: Props, effectiveRegion: string | undefined): InstanceDiff {
  const before = withDefaults(olds, DEFAULTS);
  const after = withDefaults(news, DEFAULTS);
  const outcome = diffProperties(before, after, { replaceOn: REPLACE_ON, updateOn: UPDATE_ON });
  const replaces = [...outcome.replaces];
  let updates = outcome.changes && outcome.replaces.length === 0;
  const chosen = CHOSEN_WHEN_ABSENT.filter((key) => news[key] !== undefined && changed(olds, news, key));
  for (const key of chosen) {
    if (unikernelInstanceSchema[key as keyof typeof unikernelInstanceSchema].change === 'replace') replaces.push(key);
    else updates = true;
  }
  if (!sameValue(effectiveMetadataOptions(olds), effectiveMetadataOptions(news))) updates = true;
  const notes: string[] = [];
  const root = diffRootBlockDevice(olds.rootBlockDevice, news.rootBlockDevice);
  if (root.replaces) replaces.push('rootBlockDevice');
  else if (root.notes.length > 0) updates = true;
  if (changed(olds, news, 'instanceType')) {
    const change = `instanceType ${String(olds.instanceType)} → ${shown(news.instanceType).replace(/^"|"$/g, '')}`;
    if (olds.rootDeviceType === 'ebs') {
      updates = true;
      const verified = news.verifyBoot === false ? '' : ', and its boot verified again';
      notes.push(`${change}: changed in place (the EBS-backed instance is stopped, modified and started${verified})`);
    } else {
      replaces.push('instanceType');
      notes.push(
        olds.rootDeviceType === 'instance-store'
          ? `${change}: the instance is replaced (a type changes only on a stopped instance, and instance-store instances cannot be stopped)`
          : `${change}: the instance is replaced (its root device type is not recorded; a refresh records it, after which an EBS-backed one is changed in place)`,
      );
    }
  }
  if (replaces.length === 0 && changed(olds, news, 'iamInstanceProfile'))
    notes.push(
      `iamInstanceProfile ${shown(olds.iamInstanceProfile)} → ${shown(news.iamInstanceProfile)}: changed in place (its association is replaced)`,
    );
  if (root.replaces || replaces.length === 0) notes.push(...root.notes);
  for (const key of replaces.filter((each) => WHY_REPLACED[each] !== undefined))
    notes.push(`${key} ${shown(olds[key])} → ${shown(news[key])}: the instance is replaced (${WHY_REPLACED[key]})`);
  if (regionMoves(typeof olds.region === 'string' ? olds.region : undefined, effectiveRegion)) replaces.push('region');
  if (olds.state !== undefined && olds.state !== 'running') {
    replaces.push('state');
    notes.push(`the instance is ${String(olds.state)}, not running: it is replaced`);
  }
  const boot = olds.bootStatus as Record<string, unknown> | undefined;
  if (boot?.result === 'not verified') {
    replaces.push('bootStatus');
    notes.push(`its boot was not verified (${String(boot.summary)}): the instance is replaced`);
  }
  if (olds.statusCheck === 'impaired') {
    replaces.push('statusCheck');
    notes.push('its instance reachability check is impaired: the instance is replaced');
  }
  if (replaces.length > 0 && olds.disableApiTermination === true)
    throw new TerminationProtectedError(String(olds.instanceId), replaces);
  return { changes: updates || replaces.length > 0, replaces, notes };
}

const ROOT_FIELDS = [
  'volumeSize',
  'volumeType',
  'iops',
  'throughput',
  'encrypted',
  'kmsKeyId',
  'deleteOnTermination',
] as const;
/** Why a root volume field's change replaces the instance (EC2 modifies the rest of a volume live). */
const WHY_ROOT_REPLACED: Partial<Record<(typeof ROOT_FIELDS)[number], string>> = {
  encrypted: 'EC2 cannot encrypt or decrypt an existing volume; a new instance gets a new root volume',
  kmsKeyId: "a volume's KMS key is fixed when the volume is made; a new instance gets a new root volume",
};

function fieldsOf(value: unknown): Props {
  return value !== null && typeof value === 'object' ? (value as Props) : {};
}

/**
 * The root volume's changes (pure): only the fields the new inputs give are compared (the others
 * are EC2's choice, recorded from the live volume). A larger size, the type, IOPS, throughput and
 * deleteOnTermination change in place; a smaller size, encryption and the KMS key replace the
 * instance. A value unknown in preview replaces only where it could (size, encryption, key).
 */
export function diffRootBlockDevice(olds: unknown, news: unknown): { replaces: boolean; notes: string[] } {
  if (news === undefined) return { replaces: false, notes: [] };
  // Wholly unknown (a field unknown is compared below).
  if (news === null || typeof news !== 'object')
    return {
      replaces: true,
      notes: [
        'rootBlockDevice (unknown until apply): the instance is replaced (it could shrink or re-encrypt the volume)',
      ],
    };
  const before = fieldsOf(olds);
  const after = fieldsOf(news);
  const notes: string[] = [];
  let replaces = false;
  for (const field of ROOT_FIELDS) {
    const value = after[field];
    const old = before[field];
    if (value === undefined || (!isUnknown(value) && sameValue(old, value))) continue;
    const change = `rootBlockDevice.${field} ${shown(old)} → ${shown(value)}`;
    const canShrink = field === 'volumeSize' && (isUnknown(value) || (typeof old === 'number' && Number(value) < old));
    const why = canShrink
      ? isUnknown(value)
        ? 'the new size is unknown until apply, and EBS volumes cannot shrink'
        : 'EBS volumes cannot shrink; a new instance gets a new root volume of this size'
      : WHY_ROOT_REPLACED[field];
    if (why !== undefined) {
      replaces = true;
      notes.push(`${change}: the instance is replaced (${why})`);
    } else if (field === 'deleteOnTermination') {
      notes.push(`${change}: changed in place (ModifyInstanceAttribute)`);
    } else {
      const grown = field === 'volumeSize' ? "; the unikernel's file system is not grown" : '';
      notes.push(`${change}: changed in place (ModifyVolume, while the instance runs${grown})`);
    }
  }
  return { replaces, notes };
}

/** One change update makes in place, in the order it makes them. */
export type InPlaceChange =
  | { kind: 'rootVolume'; value: RootVolumeChange }
  | { kind: 'disableApiTermination'; value: boolean }
  | { kind: 'deleteOnTermination'; value: boolean }
  | { kind: 'instanceInitiatedShutdownBehavior'; value: 'stop' | 'terminate' }
  | { kind: 'securityGroupIds'; value: string[] }
  | { kind: 'monitoring'; value: boolean }
  | { kind: 'creditSpecification'; value: 'standard' | 'unlimited' }
  | { kind: 'metadataOptions'; value: Required<MetadataOptions> }
  | { kind: 'iamInstanceProfile'; value: string | undefined }
  | { kind: 'instanceType'; value: string };

type KnownInputs = Pick<
  UnikernelInstanceInputs,
  | 'disableApiTermination'
  | 'instanceInitiatedShutdownBehavior'
  | 'securityGroupIds'
  | 'monitoring'
  | 'creditSpecification'
  | 'metadataOptions'
  | 'httpTokens'
  | 'instanceType'
  | 'iamInstanceProfile'
  | 'rootBlockDevice'
>;

/** What ModifyVolume is to change on the root volume (given fields that differ from the state). */
export interface RootVolumeChange {
  volumeSize?: number;
  volumeType?: string;
  iops?: number;
  throughput?: number;
}

/**
 * What update changes in place, from the state before and the new inputs (pure). Termination
 * protection comes first (so that turning it off is done whatever fails after), the type last
 * (it stops and starts the instance).
 */
export function inPlaceChanges(before: KnownInputs, after: KnownInputs): InPlaceChange[] {
  const changes: InPlaceChange[] = [];
  const volume = rootVolumeChange(before.rootBlockDevice, after.rootBlockDevice);
  if (volume) changes.push({ kind: 'rootVolume', value: volume });
  const protection = after.disableApiTermination ?? false;
  if (protection !== (before.disableApiTermination ?? false))
    changes.push({ kind: 'disableApiTermination', value: protection });
  const deleting = after.rootBlockDevice?.deleteOnTermination;
  if (deleting !== undefined && deleting !== before.rootBlockDevice?.deleteOnTermination)
    changes.push({ kind: 'deleteOnTermination', value: deleting });
  const behaviour = after.instanceInitiatedShutdownBehavior;
  if (behaviour !== undefined && behaviour !== before.instanceInitiatedShutdownBehavior)
    changes.push({ kind: 'instanceInitiatedShutdownBehavior', value: behaviour });
  const groups = after.securityGroupIds;
  if (groups !== undefined && !sameValue(groups, before.securityGroupIds))
    changes.push({ kind: 'securityGroupIds', value: groups });
  const monitoring = after.monitoring ?? false;
  if (monitoring !== (before.monitoring ?? false)) changes.push({ kind: 'monitoring', value: monitoring });
  const credits = after.creditSpecification?.cpuCredits;
  if (credits !== undefined && credits !== before.creditSpecification?.cpuCredits)
    changes.push({ kind: 'creditSpecification', value: credits });
  const metadata = effectiveMetadataOptions(after);
  if (!sameValue(effectiveMetadataOptions(before), metadata))
    // Checked inputs: every field effectiveMetadataOptions fills is of its declared kind.
    changes.push({ kind: 'metadataOptions', value: metadata as Required<MetadataOptions> });
  if (after.iamInstanceProfile !== before.iamInstanceProfile)
    changes.push({ kind: 'iamInstanceProfile', value: after.iamInstanceProfile });
  if (after.instanceType !== before.instanceType) changes.push({ kind: 'instanceType', value: after.instanceType });
  return changes;
}

/** The root volume's fields ModifyVolume changes, given and different from before; undefined when none. */
export function rootVolumeChange(
  before: RootVolumeChange | undefined,
  after: RootVolumeChange | undefined,
): RootVolumeChange | undefined {
  if (!after) return undefined;
  const change: RootVolumeChange = {};
  for (const field of ['volumeSize', 'volumeType', 'iops', 'throughput'] as const) {
    const value = after[field];
    if (value !== undefined && value !== before?.[field]) Object.assign(change, { [field]: value });
  }
  return Object.keys(change).length > 0 ? change : undefined;
}

function sortedList(value: unknown): unknown {
  return Array.isArray(value) ? [...value].sort() : value;
}

/** What refresh found on the instance (DescribeInstances and DescribeInstanceAttribute). */
export interface LiveInstance {
  instanceType?: string;
  securityGroupIds: string[];
  disableApiTermination?: boolean;
  instanceInitiatedShutdownBehavior?: string;
  monitoring?: boolean;
  metadataOptions?: MetadataOptions;
  /** Read only when the program gives creditSpecification. */
  cpuCredits?: string;
  privateIpAddress?: string;
  placementGroup?: string;
  availabilityZone?: string;
  rootDeviceType?: string;
  /** The ARN of the instance profile associated, if any. */
  iamInstanceProfileArn?: string;
  /** The root volume of an EBS-backed instance (DescribeVolumes and its attachment). */
  rootVolume?: Props;
  /** Whether it has a public IPv4 address now (read only while it runs). */
  hasPublicIp?: boolean;
}

/** Whether an instance profile given by name or ARN is the one with this ARN (a name is its ARN's last part). */
export function sameProfile(given: string, arn: string): boolean {
  return given.startsWith('arn:') ? given === arn : arn.endsWith(`/${given}`);
}

/**
 * The inputs refresh records from the live instance (pure), so that drift shows in the next
 * preview: what the program manages (given, or with a default the live value departs from) takes
 * the live value; what EC2 chose and the program never gave stays ungiven.
 */
export function liveInputs(olds: Props, live: LiveInstance): Props {
  const given = (key: string) => olds[key] !== undefined;
  const drifted: Props = {
    instanceType: live.instanceType ?? olds.instanceType,
    availabilityZone: live.availabilityZone ?? olds.availabilityZone,
    rootDeviceType: live.rootDeviceType ?? olds.rootDeviceType,
  };
  // The same groups in another order are no drift: the program's order is kept.
  if (given('securityGroupIds') && !sameValue([...live.securityGroupIds].sort(), sortedList(olds.securityGroupIds)))
    drifted.securityGroupIds = live.securityGroupIds;
  if (given('privateIp') && live.privateIpAddress !== undefined) drifted.privateIp = live.privateIpAddress;
  // As @pulumi/aws reads it: an address gained or lost (an Elastic IP associated or released) is drift.
  if (given('associatePublicIpAddress') && live.hasPublicIp !== undefined)
    drifted.associatePublicIpAddress = live.hasPublicIp;
  if (given('instanceInitiatedShutdownBehavior') && live.instanceInitiatedShutdownBehavior !== undefined)
    drifted.instanceInitiatedShutdownBehavior = live.instanceInitiatedShutdownBehavior;
  for (const key of ['disableApiTermination', 'monitoring'] as const) {
    const value = live[key];
    if (value !== undefined && (given(key) || value !== DEFAULTS[key])) drifted[key] = value;
  }
  const profile = live.iamInstanceProfileArn;
  if (
    profile === undefined
      ? given('iamInstanceProfile')
      : !given('iamInstanceProfile') || !sameProfile(String(olds.iamInstanceProfile), profile)
  )
    drifted.iamInstanceProfile = profile;
  if (given('placementGroup') || live.placementGroup !== undefined) drifted.placementGroup = live.placementGroup;
  // Recorded whole (what EC2 chose too): the diff compares only the fields the program gives.
  if (live.rootVolume) {
    // A KMS key as the program named it (an alias, say; EC2 reports the key's ARN): a volume's key never changes.
    const namedKey = fieldsOf(olds.rootBlockDevice).kmsKeyId;
    drifted.rootBlockDevice = definedFields({
      ...live.rootVolume,
      ...(namedKey === undefined ? {} : { kmsKeyId: namedKey }),
    });
  }
  if (given('creditSpecification') && live.cpuCredits !== undefined)
    drifted.creditSpecification = { cpuCredits: live.cpuCredits };
  const metadata = live.metadataOptions && definedFields({ ...live.metadataOptions });
  if (metadata && !sameValue(effectiveMetadataOptions(olds), { ...effectiveMetadataOptions({}), ...metadata }))
    drifted.metadataOptions = metadata;
  return drifted;
}
