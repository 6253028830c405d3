/** RunInstances (with ClientToken idempotency), DescribeInstances and TerminateInstances. */
import { createHash } from 'crypto';
import { bootModesOf, findInstanceType, requiresEna } from './catalog';
import { sha1Hex } from './checksums';
import { AwsError } from './errors';
import {
  checkInstanceId,
  Ec2Action,
  Ec2Context,
  imagesNotFound,
  instancesNotFound,
  lookUpImage,
  lookUpInstance,
  paginate,
} from './ec2Context';
import { readableByEc2, tagSet } from './ec2Images';
import { startBoot } from './ec2Console';
import { attachRootVolume } from './ec2Volumes';
import { mapsPublicIp, primaryInterfaceSet, vpcOf } from './ec2Subnets';
import { instanceAddresses } from './ec2Ports';
import { filters, integer, invalidValue, passesFilters, required, scalarList, tagSpecifications } from './ec2Params';
import {
  checkAddressFree,
  defaultSubnetOf,
  launchNetwork,
  launchPlacement,
  launchSettings,
  zonesOf,
} from './ec2LaunchSettings';
import { LocalAwsState, ImageRecord, InstanceRecord, Reservation, TimelineEntry } from './state';
import { InstanceStateName, StateReason } from './types';
import { el, items, opt, XmlContent } from './xml';

/** EC2's code for each instance state, as DescribeInstances and DescribeInstanceStatus show it. */
export const STATE_CODES: Record<InstanceStateName, number> = {
  pending: 0,
  running: 16,
  'shutting-down': 32,
  terminated: 48,
  stopping: 64,
  stopped: 80,
};

export const USER_SHUTDOWN: StateReason = {
  code: 'Client.UserInitiatedShutdown',
  message: 'Client.UserInitiatedShutdown: User initiated shutdown',
};
const LAUNCH_FAILURE: StateReason = {
  code: 'Server.InternalError',
  message: 'Server.InternalError: Internal error on launch',
};
const MAX_USER_DATA = 16 * 1024;

const INSTANCE_FILTERS = [
  'architecture',
  'availability-zone',
  'client-token',
  'image-id',
  'instance-id',
  'instance-state-code',
  'instance-state-name',
  'instance-type',
  'key-name',
  'reservation-id',
  'subnet-id',
];

function derivedId(prefix: string, seed: string): string {
  return `${prefix}-${createHash('sha256').update(seed).digest('hex').slice(0, 17)}`;
}

/** An instance profile's id (AIPA…), derived from its ARN. */
export function profileIdOf(arn: string): string {
  return `AIPA${derivedId('x', arn).slice(2, 19).toUpperCase()}`;
}

function defaultSecurityGroup(state: LocalAwsState): string {
  return derivedId('sg', `${state.config.accountId}/${state.config.region}/default-sg`);
}

export function stateXml(name: string, state: InstanceStateName): XmlContent {
  return el(name, el('code', STATE_CODES[state]), el('name', state));
}

function gmt(time: number): string {
  return new Date(time)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, ' GMT');
}

function renderInstance(state: LocalAwsState, instance: InstanceRecord): XmlContent {
  const current = state.instanceState(instance);
  const { settings } = instance;
  const { privateIp, publicIp } = instanceAddresses(state, instance);
  const region = state.config.region;
  const internalDomain = region === 'us-east-1' ? 'ec2.internal' : `${region}.compute.internal`;
  const publicDomain = region === 'us-east-1' ? 'compute-1.amazonaws.com' : `${region}.compute.amazonaws.com`;
  // A stopped instance keeps its private address; only a running one has a public address.
  const live = current.state !== 'shutting-down' && current.state !== 'terminated';
  const running = current.state === 'running' && settings.publicIp;
  return [
    el('instanceId', instance.instanceId),
    el('imageId', instance.imageId),
    stateXml('instanceState', current.state),
    el('privateDnsName', live ? `ip-${privateIp.replace(/\./g, '-')}.${internalDomain}` : ''),
    el('dnsName', running ? `ec2-${publicIp.replace(/\./g, '-')}.${publicDomain}` : ''),
    el('reason', current.reason?.code === USER_SHUTDOWN.code ? `User initiated (${gmt(current.at)})` : ''),
    opt('keyName', instance.keyName),
    el('amiLaunchIndex', instance.amiLaunchIndex),
    el('productCodes'),
    el('instanceType', instance.instanceType),
    el('launchTime', instance.launchTime.toISOString()),
    el(
      'placement',
      el('availabilityZone', settings.availabilityZone),
      el('groupName', settings.placementGroup ?? ''),
      el('tenancy', 'default'),
    ),
    opt('kernelId', instance.kernelId),
    opt('ramdiskId', instance.ramdiskId),
    el('monitoring', el('state', settings.monitoring)),
    el('subnetId', instance.subnetId),
    el('vpcId', vpcOf(state, instance.subnetId)),
    live ? el('privateIpAddress', privateIp) : undefined,
    running ? el('ipAddress', publicIp) : undefined,
    el('sourceDestCheck', true),
    items('groupSet', instance.securityGroupIds, (groupId) => [
      el('groupId', groupId),
      el('groupName', groupId === defaultSecurityGroup(state) ? 'default' : groupId),
    ]),
    current.reason
      ? el('stateReason', el('code', current.reason.code), el('message', current.reason.message))
      : undefined,
    el('architecture', instance.architecture),
    el('rootDeviceType', instance.rootDeviceType),
    el('rootDeviceName', instance.rootDeviceName),
    settings.rootVolume
      ? items('blockDeviceMapping', [settings.rootVolume], (volume) => [
          el('deviceName', instance.rootDeviceName),
          el(
            'ebs',
            el('volumeId', volume.volumeId),
            el('status', live ? 'attached' : 'detached'),
            el('attachTime', instance.launchTime.toISOString()),
            el('deleteOnTermination', volume.deleteOnTermination),
          ),
        ])
      : el('blockDeviceMapping'),
    settings.iamInstanceProfileArn
      ? el(
          'iamInstanceProfile',
          el('arn', settings.iamInstanceProfileArn),
          el('id', profileIdOf(settings.iamInstanceProfileArn)),
        )
      : undefined,
    el('virtualizationType', instance.virtualizationType),
    el('clientToken', instance.clientToken),
    tagSet(instance.tags),
    el('hypervisor', 'xen'),
    primaryInterfaceSet(state, instance, {
      privateIp: live ? privateIp : undefined,
      privateDnsName: `ip-${privateIp.replace(/\./g, '-')}.${internalDomain}`,
      publicIp: running ? publicIp : undefined,
      publicDnsName: `ec2-${publicIp.replace(/\./g, '-')}.${publicDomain}`,
    }),
    el('ebsOptimized', false),
    el(
      'metadataOptions',
      el('state', current.state === 'pending' ? 'pending' : 'applied'),
      el('httpTokens', instance.httpTokens),
      el('httpPutResponseHopLimit', settings.httpPutResponseHopLimit),
      el('httpEndpoint', settings.httpEndpoint),
      el('httpProtocolIpv6', 'disabled'),
      el('instanceMetadataTags', settings.instanceMetadataTags),
    ),
    el('platformDetails', 'Linux/UNIX'),
    el('usageOperation', 'RunInstances'),
    el('currentInstanceBootMode', instance.bootMode),
  ];
}

function renderReservation(
  state: LocalAwsState,
  reservation: Reservation,
  instances: readonly InstanceRecord[],
): XmlContent {
  return [
    el('reservationId', reservation.reservationId),
    el('ownerId', reservation.ownerId),
    el('groupSet'),
    items('instancesSet', instances, (instance) => renderInstance(state, instance)),
  ];
}

/** The image a launch uses, or the error EC2 gives for it. */
function launchableImage(state: LocalAwsState, imageId: string): ImageRecord {
  const image = lookUpImage(state, imageId);
  if (!image) throw imagesNotFound([imageId]);
  const current = state.imageState(image).state;
  if (current === 'deregistered')
    throw new AwsError(
      400,
      'InvalidAMIID.Unavailable',
      `AMI '${imageId}' has been deregistered and is no longer available`,
    );
  if (current !== 'available')
    throw new AwsError(400, 'InvalidAMIID.Unavailable', `AMI '${imageId}' is ${current}, and cannot be run`);
  if (image.imageType !== 'machine')
    throw invalidValue('ImageId', imageId, `The image '${imageId}' is a ${image.imageType} image and cannot be run`);
  return image;
}

/** The boot mode an instance of this type starts the image in, or the error EC2 gives. */
export function checkCompatibility(image: ImageRecord, instanceType: string): string {
  const info = findInstanceType(instanceType);
  if (!info) throw invalidValue('InstanceType', instanceType);
  if (!info.rootDeviceTypes.includes(image.rootDeviceType)) {
    throw new AwsError(
      400,
      'UnsupportedOperation',
      `AMI '${image.imageId}' with an ${image.rootDeviceType} root device is not supported for the instance type '${instanceType}'.`,
    );
  }
  if (!info.virtualizationTypes.includes(image.virtualizationType)) {
    throw new AwsError(
      400,
      'InvalidParameterCombination',
      `Virtualization type '${info.virtualizationTypes[0]}' is required for instances of type '${instanceType}'.`,
    );
  }
  if (!info.architectures.includes(image.architecture)) {
    throw new AwsError(
      400,
      'InvalidParameterValue',
      `The architecture '${info.architectures.join(', ')}' of the specified instance type does not match the architecture '${image.architecture}' of the specified AMI. Specify an instance type and an AMI that have matching architectures, and try again.`,
    );
  }
  if (requiresEna(info) && !image.enaSupport) {
    throw new AwsError(
      400,
      'InvalidParameterCombination',
      `Enhanced networking with the Elastic Network Adapter (ENA) is required for the '${instanceType}' instance type. Ensure that you are using an AMI that is enabled for ENA.`,
    );
  }
  const modes = bootModesOf(info);
  if (image.bootMode === undefined) return modes[0];
  if (image.bootMode === 'uefi-preferred') return modes.includes('uefi') ? 'uefi' : 'legacy-bios';
  if (!modes.includes(image.bootMode)) {
    throw new AwsError(
      400,
      'InvalidParameterCombination',
      `The instance type '${instanceType}' does not support the boot mode '${image.bootMode}' of AMI '${image.imageId}'.`,
    );
  }
  return image.bootMode;
}

/**
 * Whether what the image boots from is still there: the bundle it was registered from, in S3,
 * unchanged and readable; or the root snapshot of an EBS-backed image.
 */
function bundleIntact(state: LocalAwsState, image: ImageRecord): boolean {
  if (image.rootSnapshotId !== undefined) {
    const snapshot = state.snapshots.get(image.rootSnapshotId);
    return snapshot !== undefined && state.snapshotState(snapshot).state === 'completed';
  }
  const bundle = image.bundle;
  if (!bundle) return true;
  const bucket = state.buckets.get(bundle.bucket);
  const manifest = bucket?.objects.get(bundle.manifestKey);
  if (!bucket || !manifest || manifest.md5 !== bundle.manifestMd5) return false;
  return bundle.parts.every((part) => {
    const object = bucket.objects.get(part.key);
    return object !== undefined && readableByEc2(bucket, object) && sha1Hex(object.body) === part.sha1;
  });
}

/**
 * What RunInstances names must exist, as on EC2: the subnet, the security groups (the region's
 * default subnet and group always do), the key pair and the instance profile.
 */
export function checkExistence(
  state: LocalAwsState,
  params: Readonly<Record<string, string>>,
  groupIds: readonly string[],
  subnetId: string,
): void {
  const isDefault = zonesOf(state).some((zone) => defaultSubnetOf(state, zone) === subnetId);
  if (!isDefault && !state.subnets.has(subnetId))
    throw new AwsError(400, 'InvalidSubnetID.NotFound', `The subnet ID '${subnetId}' does not exist`);
  const missingGroup = groupIds.find((id) => id !== defaultSecurityGroup(state) && !state.securityGroups.has(id));
  if (missingGroup !== undefined)
    throw new AwsError(400, 'InvalidGroup.NotFound', `The security group '${missingGroup}' does not exist`);
  const keyName = params.KeyName;
  if (keyName !== undefined && !state.keyPairs.has(keyName))
    throw new AwsError(400, 'InvalidKeyPair.NotFound', `The key pair '${keyName}' does not exist`);
  checkInstanceProfile(state, params);
}

/** The instance profile a request names (IamInstanceProfile.Name or .Arn) exists, as EC2 checks it. */
export function checkInstanceProfile(state: LocalAwsState, params: Readonly<Record<string, string>>): void {
  const profileName = params['IamInstanceProfile.Name'];
  if (profileName !== undefined && !state.instanceProfiles.has(profileName))
    throw invalidValue(
      'iamInstanceProfile.name',
      profileName,
      `Value (${profileName}) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name`,
    );
  const profileArn = params['IamInstanceProfile.Arn'];
  if (profileArn !== undefined) {
    const match = /^arn:aws[a-z-]*:iam::(\d{12}):instance-profile\/(?:.*\/)?([^/]+)$/.exec(profileArn);
    if (!match || match[1] !== state.config.accountId || !state.instanceProfiles.has(match[2]))
      throw invalidValue(
        'iamInstanceProfile.arn',
        profileArn,
        `Value (${profileArn}) for parameter iamInstanceProfile.arn is invalid. Invalid IAM Instance Profile ARN`,
      );
  }
}

export function checkGroupIds(groupIds: readonly string[]): void {
  for (const groupId of groupIds) {
    if (!/^sg-([0-9a-f]{8}|[0-9a-f]{17})$/.test(groupId))
      throw new AwsError(400, 'InvalidGroupId.Malformed', `Invalid id: "${groupId}" (expecting "sg-...")`);
  }
}

/** The private addresses held by instances that are not terminated. */
function heldAddresses(state: LocalAwsState): string[] {
  return [...state.instances.values()]
    .filter((instance) => state.instanceState(instance).state !== 'terminated')
    .map((instance) => instanceAddresses(state, instance).privateIp);
}

function decodeUserData(value: string | undefined): Buffer | undefined {
  if (value === undefined) return undefined;
  const decoded = Buffer.from(value, 'base64');
  if (
    !/^[A-Za-z0-9+/]*={0,2}$/.test(value) ||
    decoded.toString('base64').replace(/=+$/, '') !== value.replace(/=+$/, '')
  ) {
    throw new AwsError(400, 'InvalidParameterValue', 'Invalid BASE64 encoding of user data.');
  }
  if (decoded.length > MAX_USER_DATA)
    throw new AwsError(400, 'InvalidParameterValue', `User data is limited to ${MAX_USER_DATA} bytes`);
  return decoded;
}

/** Everything that defines a launch, to recognise a retried request by its ClientToken. */
function fingerprint(params: Readonly<Record<string, string>>): string {
  const relevant = Object.entries(params)
    .filter(([name]) => !['Action', 'Version', 'ClientToken', 'DryRun'].includes(name))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify(relevant);
}

function launchTimeline(context: Ec2Context, intact: boolean, now: number): TimelineEntry<InstanceStateName>[] {
  const { state, faults, request } = context;
  const timeline: TimelineEntry<InstanceStateName>[] = [
    { at: now, state: 'pending', reason: { code: 'pending', message: 'pending' } },
  ];
  if (faults.takeResourceFault(request, 'stuckPending')) return timeline;
  const ready = now + state.config.instancePendingMs;
  if (intact) return [...timeline, { at: ready, state: 'running' }];
  return [
    ...timeline,
    { at: ready, state: 'shutting-down', reason: LAUNCH_FAILURE },
    { at: ready + state.config.instanceShuttingDownMs, state: 'terminated', reason: LAUNCH_FAILURE },
  ];
}

export const runInstances: Ec2Action = (context) => {
  const { state, params } = context;
  const imageId = required(params, 'ImageId');
  const minCount = integer(params, 'MinCount');
  const maxCount = integer(params, 'MaxCount');
  if (minCount === undefined) required(params, 'MinCount');
  if (maxCount === undefined) required(params, 'MaxCount');
  const clientToken = params.ClientToken ?? '';
  if (clientToken.length > 64)
    throw invalidValue('ClientToken', clientToken, 'The client token must be at most 64 ASCII characters long');
  const earlier = clientToken === '' ? undefined : state.clientTokens.get(clientToken);
  if (earlier) {
    if (earlier.fingerprint !== fingerprint(params)) {
      throw new AwsError(
        400,
        'IdempotentParameterMismatch',
        'Arguments on this idempotent request are inconsistent with arguments used in previous request(s).',
      );
    }
    const reservation = state.reservations.get(earlier.reservationId);
    if (reservation) {
      const instances = reservation.instanceIds
        .map((id) => state.instances.get(id))
        .filter((instance): instance is InstanceRecord => instance !== undefined);
      return renderReservation(state, reservation, instances);
    }
  }
  if (minCount === undefined || maxCount === undefined)
    throw new AwsError(400, 'MissingParameter', 'The request must contain the parameters MinCount and MaxCount');
  if (minCount < 1)
    throw invalidValue(
      'MinCount',
      String(minCount),
      `Value (${minCount}) for parameter minCount is invalid. Expected a positive integer.`,
    );
  if (maxCount < minCount)
    throw invalidValue('MaxCount', String(maxCount), 'MaxCount must be greater than or equal to MinCount');
  if (minCount > 20) {
    throw new AwsError(
      400,
      'InstanceLimitExceeded',
      `You have requested more instances (${minCount}) than your current instance limit of 20 allows for the specified instance type.`,
    );
  }
  const count = Math.min(maxCount, 20);

  const image = launchableImage(state, imageId);
  const instanceType = params.InstanceType ?? 'm1.small';
  const bootMode = checkCompatibility(image, instanceType);
  const kernelId = params.KernelId ?? image.kernelId;
  if (kernelId !== undefined) {
    const kernel = lookUpImage(state, kernelId);
    if (!kernel || kernel.imageType !== 'kernel') throw imagesNotFound([kernelId]);
  }
  const userData = decodeUserData(params.UserData);
  const httpTokens = params['MetadataOptions.HttpTokens'] ?? 'optional';
  if (httpTokens !== 'optional' && httpTokens !== 'required')
    throw invalidValue('MetadataOptions.HttpTokens', httpTokens);
  const network = launchNetwork(params);
  const groupIds = network.groupIds;
  checkGroupIds(groupIds);
  if (network.subnetId !== undefined && !/^subnet-([0-9a-f]{8}|[0-9a-f]{17})$/.test(network.subnetId))
    throw new AwsError(400, 'InvalidSubnetID.Malformed', `Invalid id: "${network.subnetId}"`);
  const placement = launchPlacement(state, params, network.subnetId);
  const subnetId = placement.subnetId;
  checkExistence(state, params, groupIds, subnetId);
  if (network.privateIp !== undefined) {
    if (count > 1)
      throw new AwsError(400, 'InvalidParameterCombination', 'A private IP address can be given for one instance only');
    checkAddressFree(network.privateIp, heldAddresses(state));
  }
  const tags = tagSpecifications(params, 'instance', ['volume', 'network-interface']);
  const volumeTags = tagSpecifications(params, 'volume', ['instance', 'network-interface']);

  const now = state.now();
  const timeline = launchTimeline(context, bundleIntact(state, image), now);
  const hiding = context.faults.takeResourceFault(context.request, 'notFoundAfterCreate');
  const reservation: Reservation = {
    reservationId: state.newId('r'),
    ownerId: state.config.accountId,
    instanceIds: [],
  };
  const instances: InstanceRecord[] = [];
  const settings = launchSettings(state, params, image, instanceType, '');
  for (let index = 0; index < count; index++) {
    const instanceId = state.newId('i');
    const addressIndex = state.nextAddressIndex();
    const instance: InstanceRecord = {
      instanceId,
      reservationId: reservation.reservationId,
      imageId,
      instanceType,
      architecture: image.architecture,
      virtualizationType: image.virtualizationType,
      kernelId,
      ramdiskId: params.RamdiskId ?? image.ramdiskId,
      rootDeviceName: image.rootDeviceName,
      rootDeviceType: image.rootDeviceType,
      bootMode,
      keyName: params.KeyName,
      securityGroupIds: groupIds.length > 0 ? groupIds : [defaultSecurityGroup(state)],
      subnetId,
      userData,
      httpTokens,
      tags: new Map(tags),
      clientToken,
      launchTime: new Date(Math.floor(now / 1000) * 1000),
      amiLaunchIndex: index,
      addressIndex,
      timeline: timeline.map((entry) => ({ ...entry })),
      settings: {
        ...settings,
        rootVolume: settings.rootVolume && { ...settings.rootVolume, volumeId: derivedId('vol', instanceId) },
        iamInstanceProfileAssociationId:
          settings.iamInstanceProfileArn && derivedId('iip-assoc', `${instanceId}/${settings.iamInstanceProfileArn}`),
        availabilityZone: placement.zone,
        placementGroup: placement.placementGroup,
        privateIp: network.privateIp,
        publicIp: network.associatePublicIp ?? mapsPublicIp(state, subnetId),
        publicAddressIndex: addressIndex,
      },
    };
    state.instances.set(instance.instanceId, instance);
    attachRootVolume(state, instance, image.rootSnapshotId);
    // The volumes made at launch (here the root volume of an EBS-backed image) take the volume tags.
    const volumeId = instance.settings.rootVolume?.volumeId;
    if (volumeId !== undefined) state.volumeTags.set(volumeId, new Map(volumeTags));
    startBoot(state, instance, image);
    state.ports.schedule(instance);
    reservation.instanceIds.push(instance.instanceId);
    instances.push(instance);
    if (hiding) state.hide(instance.instanceId, hiding.forMs, hiding.forCalls);
  }
  state.reservations.set(reservation.reservationId, reservation);
  if (clientToken !== '')
    state.clientTokens.set(clientToken, { reservationId: reservation.reservationId, fingerprint: fingerprint(params) });
  return renderReservation(state, reservation, instances);
};

/** The instances an explicit id list names, all of them or an error naming the unknown ones. */
export function namedInstances(state: LocalAwsState, ids: readonly string[]): InstanceRecord[] {
  ids.forEach(checkInstanceId);
  const missing: string[] = [];
  const found: InstanceRecord[] = [];
  for (const id of ids) {
    const instance = lookUpInstance(state, id);
    if (instance) found.push(instance);
    else missing.push(id);
  }
  if (missing.length > 0) throw instancesNotFound(missing);
  return found;
}

export const describeInstances: Ec2Action = (context) => {
  const { state, params } = context;
  const ids = scalarList(params, 'InstanceId');
  const filterList = filters(params);
  const candidates =
    ids.length > 0
      ? namedInstances(state, ids)
      : [...state.instances.values()].filter(
          (instance) => !state.instanceGone(instance) && !state.isHidden(instance.instanceId, false),
        );
  const selected = new Set(
    candidates.filter((instance) => {
      const current = state.instanceState(instance).state;
      const fields: Record<string, string[]> = {
        architecture: [instance.architecture],
        'availability-zone': [instance.settings.availabilityZone],
        'client-token': [instance.clientToken],
        'image-id': [instance.imageId],
        'instance-id': [instance.instanceId],
        'instance-state-code': [String(STATE_CODES[current])],
        'instance-state-name': [current],
        'instance-type': [instance.instanceType],
        'key-name': instance.keyName === undefined ? [] : [instance.keyName],
        'reservation-id': [instance.reservationId],
        'subnet-id': [instance.subnetId],
      };
      return passesFilters(filterList, fields, instance.tags, INSTANCE_FILTERS);
    }),
  );
  const reservations = [...state.reservations.values()]
    .map((reservation) => ({
      reservation,
      instances: reservation.instanceIds
        .map((id) => state.instances.get(id))
        .filter((instance): instance is InstanceRecord => instance !== undefined && selected.has(instance)),
    }))
    .filter((entry) => entry.instances.length > 0);
  const { page, nextToken } = paginate(context, reservations, ids.length > 0);
  return [
    items('reservationSet', page, (entry) => renderReservation(state, entry.reservation, entry.instances)),
    opt('nextToken', nextToken),
  ];
};

export const terminateInstances: Ec2Action = (context) => {
  const { state, params } = context;
  const ids = scalarList(params, 'InstanceId');
  if (ids.length === 0)
    throw new AwsError(400, 'MissingParameter', 'The request must contain the parameter InstanceId');
  const instances = namedInstances(state, ids);
  const protectedOne = instances.find((instance) => instance.settings.disableApiTermination);
  if (protectedOne)
    throw new AwsError(
      400,
      'OperationNotPermitted',
      `The instance '${protectedOne.instanceId}' may not be terminated. Modify its 'disableApiTermination' instance attribute and try again.`,
    );
  const now = state.now();
  const changes = instances.map((instance) => {
    const previous = state.instanceState(instance).state;
    if (previous !== 'shutting-down' && previous !== 'terminated') {
      instance.timeline = [
        ...instance.timeline.filter((entry) => entry.at <= now),
        { at: now, state: 'shutting-down', reason: USER_SHUTDOWN },
        { at: now + state.config.instanceShuttingDownMs, state: 'terminated', reason: USER_SHUTDOWN },
      ];
      state.ports.close(instance.instanceId);
    }
    return { instance, previous, current: state.instanceState(instance).state };
  });
  return items('instancesSet', changes, (change) => [
    el('instanceId', change.instance.instanceId),
    stateXml('currentState', change.current),
    stateXml('previousState', change.previous),
  ]);
};
