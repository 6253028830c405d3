/**
 * RunInstances' settings beyond the image and type, checked as EC2 checks them: the network
 * (instance-level, or the primary network interface), placement (zone and group), the instance
 * profile, shutdown behaviour, CPU credits, the root EBS volume, monitoring, termination
 * protection and the metadata options.
 */
import { createHash } from 'crypto';
import { findInstanceType } from './catalog';
import { AwsError } from './errors';
import { integer, invalidValue, QueryParams, scalarList, structList } from './ec2Params';
import { ImageRecord, InstanceSettings, LocalAwsState, RootVolume } from './state';

/** The zones of the local region: `REGIONa`, `REGIONb` and `REGIONc`. */
export function zonesOf(state: LocalAwsState): string[] {
  return ['a', 'b', 'c'].map((letter) => `${state.config.region}${letter}`);
}

function derivedId(prefix: string, seed: string): string {
  return `${prefix}-${createHash('sha256').update(seed).digest('hex').slice(0, 17)}`;
}

/** The default subnet of a zone (zone a's is the region's default subnet). */
export function defaultSubnetOf(state: LocalAwsState, zone: string): string {
  const { accountId, region } = state.config;
  return zone === `${region}a`
    ? derivedId('subnet', `${accountId}/${region}/default-subnet`)
    : derivedId('subnet', `${accountId}/${region}/default-subnet/${zone}`);
}

/** The zone a subnet is in: each default subnet in its own, every subnet made by a test in zone a. */
export function zoneOfSubnet(state: LocalAwsState, subnetId: string): string {
  return zonesOf(state).find((zone) => defaultSubnetOf(state, zone) === subnetId) ?? `${state.config.region}a`;
}

function flag(params: QueryParams, name: string): boolean | undefined {
  const value = params[name];
  if (value === undefined) return undefined;
  if (value !== 'true' && value !== 'false') throw invalidValue(name, value);
  return value === 'true';
}

function oneOf<V extends string>(params: QueryParams, name: string, choices: readonly V[]): V | undefined {
  const value = params[name];
  if (value === undefined) return undefined;
  const found = choices.find((choice) => choice === value);
  if (found === undefined) throw invalidValue(name, value);
  return found;
}

/** Whether an address is one EC2 can give in the local subnets' range, 172.31.0.0/16 (not the first four nor the last). */
function checkPrivateIp(value: string): void {
  const parts = value.split('.');
  if (parts.length !== 4 || !parts.every((part) => /^\d{1,3}$/.test(part) && Number(part) <= 255))
    throw invalidValue('PrivateIpAddress', value, `Invalid value '${value}' for IP address.`);
  const [a, b, c, d] = parts.map(Number);
  const offset = c * 256 + d;
  if (a !== 172 || b !== 31)
    throw invalidValue('PrivateIpAddress', value, `Address ${value} does not fall within the subnet's address range`);
  if (offset < 4 || offset === 65535)
    throw invalidValue('PrivateIpAddress', value, `Address ${value} is reserved and cannot be assigned`);
}

export interface LaunchNetwork {
  subnetId?: string;
  groupIds: string[];
  privateIp?: string;
  associatePublicIp?: boolean;
}

/**
 * The network of a launch: instance-level (SubnetId, SecurityGroupId.N, PrivateIpAddress), or the
 * primary network interface (`NetworkInterface.1.*`), where EC2 requires them when a public
 * address is asked for; both at once are refused, as EC2 does.
 */
export function launchNetwork(params: QueryParams): LaunchNetwork {
  const interfaces = structList(params, 'NetworkInterface');
  const instanceLevel: LaunchNetwork = {
    subnetId: params.SubnetId,
    groupIds: scalarList(params, 'SecurityGroupId'),
    privateIp: params.PrivateIpAddress,
  };
  if (interfaces.length === 0) return instanceLevel;
  if (instanceLevel.groupIds.length > 0)
    throw new AwsError(
      400,
      'InvalidParameterCombination',
      'Network interfaces and an instance-level security groups may not be specified on the same request',
    );
  if (instanceLevel.subnetId !== undefined)
    throw new AwsError(
      400,
      'InvalidParameterCombination',
      'Network interfaces and an instance-level subnet ID may not be specified on the same request',
    );
  if (instanceLevel.privateIp !== undefined)
    throw new AwsError(
      400,
      'InvalidParameterCombination',
      'Network interfaces and an instance-level private IP addresses may not be specified on the same request',
    );
  if (interfaces.length > 1)
    throw new AwsError(400, 'InvalidParameterValue', 'The local AWS models one network interface per instance');
  const primary = interfaces[0];
  if (primary.DeviceIndex !== '0')
    throw new AwsError(
      400,
      'InvalidParameterValue',
      'Each network interface requires a device index; the primary is 0',
    );
  const publicIp = primary.AssociatePublicIpAddress;
  if (publicIp !== undefined && publicIp !== 'true' && publicIp !== 'false')
    throw invalidValue('NetworkInterface.1.AssociatePublicIpAddress', publicIp);
  return {
    subnetId: primary.SubnetId,
    groupIds: scalarList(primary, 'SecurityGroupId'),
    privateIp: primary.PrivateIpAddress,
    associatePublicIp: publicIp === undefined ? undefined : publicIp === 'true',
  };
}

/** The placement's zone, checked against the subnet's, and the placement group, which must exist. */
export function launchPlacement(
  state: LocalAwsState,
  params: QueryParams,
  subnetId: string | undefined,
): { zone: string; subnetId: string; placementGroup?: string } {
  const asked = params['Placement.AvailabilityZone'];
  if (asked !== undefined && !zonesOf(state).includes(asked))
    throw invalidValue('Placement.AvailabilityZone', asked, `Invalid availability zone: [${asked}]`);
  const group = params['Placement.GroupName'];
  if (group !== undefined && group !== '' && !state.placementGroups.has(group))
    throw new AwsError(400, 'InvalidPlacementGroup.Unknown', `The Placement Group '${group}' is unknown.`);
  const placementGroup = group === '' ? undefined : group;
  if (subnetId === undefined) {
    const zone = asked ?? `${state.config.region}a`;
    return { zone, subnetId: defaultSubnetOf(state, zone), placementGroup };
  }
  const zone = zoneOfSubnet(state, subnetId);
  if (asked !== undefined && asked !== zone)
    throw invalidValue(
      'Placement.AvailabilityZone',
      asked,
      `Value (${asked}) for parameter availabilityZone is invalid. Subnet '${subnetId}' is in the availability zone ${zone}`,
    );
  return { zone, subnetId, placementGroup };
}

/** A private address asked for: in range and not held by another instance that is not terminated. */
export function checkAddressFree(privateIp: string, holders: Iterable<string>): void {
  checkPrivateIp(privateIp);
  for (const holder of holders)
    if (holder === privateIp) throw new AwsError(400, 'InvalidIPAddress.InUse', `Address ${privateIp} is in use.`);
}

const VOLUME_TYPES = ['gp2', 'gp3', 'io1', 'io2', 'st1', 'sc1', 'standard'];

/** The root EBS volume of an EBS-backed image, from `BlockDeviceMapping.N` (only the root device's is modelled). */
function rootVolume(
  state: LocalAwsState,
  params: QueryParams,
  image: ImageRecord,
  volumeId: string,
): RootVolume | undefined {
  const mappings = structList(params, 'BlockDeviceMapping');
  const snapshot = image.rootSnapshotId === undefined ? undefined : state.snapshots.get(image.rootSnapshotId);
  // The AMI's own root mapping gives the defaults, as on EC2.
  const amiRoot = image.blockDeviceMappings.find((each) => each.deviceName === image.rootDeviceName)?.ebs ?? {};
  const base: RootVolume = {
    volumeId,
    sizeGiB: Number(amiRoot.VolumeSize ?? snapshot?.volumeSizeGiB ?? 8),
    volumeType: amiRoot.VolumeType ?? 'gp2',
    iops: amiRoot.Iops === undefined ? undefined : Number(amiRoot.Iops),
    throughput: amiRoot.Throughput === undefined ? undefined : Number(amiRoot.Throughput),
    encrypted: snapshot?.encrypted ?? false,
    kmsKeyId: snapshot?.kmsKeyArn,
    deleteOnTermination: amiRoot.DeleteOnTermination !== 'false',
  };
  if (mappings.length === 0) return image.rootDeviceType === 'ebs' ? base : undefined;
  const mapping = mappings[0];
  if (mappings.length > 1 || mapping.DeviceName !== image.rootDeviceName)
    throw new AwsError(
      400,
      'InvalidBlockDeviceMapping',
      `The local AWS models the root device mapping only (${image.rootDeviceName}); got ${mappings.map((each) => each.DeviceName ?? '(no name)').join(', ')}`,
    );
  if (image.rootDeviceType !== 'ebs' || !snapshot)
    throw new AwsError(
      400,
      'InvalidBlockDeviceMapping',
      `The root device of the instance-store AMI '${image.imageId}' cannot be mapped to an EBS volume`,
    );
  const size = integer(mapping, 'Ebs.VolumeSize') ?? base.sizeGiB;
  if (size < snapshot.volumeSizeGiB)
    throw new AwsError(
      400,
      'InvalidBlockDeviceMapping',
      `Volume of size ${size}GB is smaller than snapshot '${snapshot.snapshotId}', expect size >= ${snapshot.volumeSizeGiB}GB`,
    );
  const type = mapping['Ebs.VolumeType'] ?? base.volumeType;
  if (!VOLUME_TYPES.includes(type)) throw invalidValue('Ebs.VolumeType', type);
  const iops = integer(mapping, 'Ebs.Iops');
  const throughput = integer(mapping, 'Ebs.Throughput');
  if (iops !== undefined && !['gp3', 'io1', 'io2'].includes(type))
    throw new AwsError(400, 'InvalidParameterCombination', `The parameter iops is not supported for ${type} volumes.`);
  if (iops === undefined && (type === 'io1' || type === 'io2'))
    throw new AwsError(400, 'InvalidParameterCombination', `The parameter iops must be specified for ${type} volumes.`);
  if (throughput !== undefined && type !== 'gp3')
    throw new AwsError(
      400,
      'InvalidParameterCombination',
      `The parameter throughput is not supported for ${type} volumes.`,
    );
  const encrypted = flag(mapping, 'Ebs.Encrypted');
  const kmsKeyId = mapping['Ebs.KmsKeyId'];
  if (kmsKeyId !== undefined && encrypted !== true)
    throw new AwsError(
      400,
      'InvalidParameterDependency',
      'The parameter KmsKeyId requires the parameter Encrypted to be set.',
    );
  if (encrypted === false && snapshot.encrypted)
    throw new AwsError(
      400,
      'InvalidBlockDeviceMapping',
      `The snapshot '${snapshot.snapshotId}' is encrypted, so its volume must be encrypted`,
    );
  return {
    volumeId,
    sizeGiB: size,
    volumeType: type,
    iops,
    throughput,
    encrypted: encrypted ?? base.encrypted,
    kmsKeyId: kmsKeyId ?? base.kmsKeyId,
    deleteOnTermination: flag(mapping, 'Ebs.DeleteOnTermination') ?? true,
  };
}

/** The instance profile's ARN, from its name or ARN (their existence is checked with the network). */
function profileArn(state: LocalAwsState, params: QueryParams): string | undefined {
  const arn = params['IamInstanceProfile.Arn'];
  if (arn !== undefined) return arn;
  const name = params['IamInstanceProfile.Name'];
  return name === undefined ? undefined : `arn:aws:iam::${state.config.accountId}:instance-profile/${name}`;
}

/** Everything of an instance's settings but its zone, placement group and network, checked. */
export function launchSettings(
  state: LocalAwsState,
  params: QueryParams,
  image: ImageRecord,
  instanceType: string,
  volumeId: string,
): Omit<InstanceSettings, 'availabilityZone' | 'placementGroup' | 'privateIp' | 'publicIp' | 'publicAddressIndex'> {
  const behaviour = oneOf(params, 'InstanceInitiatedShutdownBehavior', ['stop', 'terminate'] as const);
  if (behaviour !== undefined && image.rootDeviceType !== 'ebs')
    throw new AwsError(
      400,
      'InvalidParameterCombination',
      'The attribute instanceInitiatedShutdownBehavior can only be used for elastic images.',
    );
  const credits = oneOf(params, 'CreditSpecification.CpuCredits', ['standard', 'unlimited'] as const);
  const burstable = findInstanceType(instanceType)?.burstable === true;
  if (credits !== undefined && !burstable)
    throw new AwsError(
      400,
      'InvalidParameterCombination',
      `The instance type '${instanceType}' does not support CPU credits; CreditSpecification applies to burstable performance instances only.`,
    );
  const hopLimit = integer(params, 'MetadataOptions.HttpPutResponseHopLimit');
  if (hopLimit !== undefined && (hopLimit < 1 || hopLimit > 64))
    throw invalidValue('MetadataOptions.HttpPutResponseHopLimit', String(hopLimit));
  return {
    disableApiTermination: flag(params, 'DisableApiTermination') ?? false,
    shutdownBehavior: behaviour ?? (image.rootDeviceType === 'ebs' ? 'stop' : 'terminate'),
    monitoring: flag(params, 'Monitoring.Enabled') === true ? 'enabled' : 'disabled',
    cpuCredits: burstable ? (credits ?? (instanceType.startsWith('t2.') ? 'standard' : 'unlimited')) : undefined,
    httpEndpoint: oneOf(params, 'MetadataOptions.HttpEndpoint', ['enabled', 'disabled'] as const) ?? 'enabled',
    httpPutResponseHopLimit: hopLimit ?? 1,
    instanceMetadataTags:
      oneOf(params, 'MetadataOptions.InstanceMetadataTags', ['enabled', 'disabled'] as const) ?? 'disabled',
    iamInstanceProfileArn: profileArn(state, params),
    rootVolume: rootVolume(state, params, image, volumeId),
  };
}
