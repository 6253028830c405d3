/**
 * Instances: launch (checked against the image first, idempotent through a client token), wait
 * for running, describe, retag in place, terminate and wait for terminated.
 */
import {
  DescribeInstancesCommand,
  DescribeInstanceTypesCommand,
  EC2Client,
  Instance,
  InstanceTypeInfo,
  paginateDescribeInstanceTypes,
  RunInstancesCommand,
  RunInstancesCommandInput,
  TerminateInstancesCommand,
  waitUntilInstanceRunning,
  waitUntilInstanceTerminated,
  VolumeType,
  _InstanceType,
} from '@aws-sdk/client-ec2';
import { AwsInputError, AwsOperationError, awsCall, describeAwsError, errorCode } from './errors';
import { ImageId, instanceId, InstanceId } from './ids';
import { lookAgain, LOOK_AGAIN_SECONDS, LookAgainOptions, wasCutOff } from './cutOff';
import { cutOffCause, describeImage } from './images';
import { launchMismatch, LaunchNeeds, launchNotes, launchRefusal, typesThatCanLaunch } from './launchCompatibility';
import { hasPublicIp, refusePortWithoutPublicIp } from './publicAddress';
import { fromTagList, Tags, toTagList } from './tags';
import { waiterParameters, WaitOptions } from './waiting';

export interface LaunchOptions {
  ec2: EC2Client;
  imageId: ImageId;
  instanceType: string;
  /** Makes a retried launch return the first instance instead of starting a second one. */
  clientToken: string;
  keyName?: string;
  securityGroupIds?: string[];
  subnetId?: string;
  /** Plain text; base64-encoded on the wire. */
  userData?: string;
  tags?: Tags;
  /** IMDSv2 (`required`) unless told otherwise (`metadataOptions.httpTokens` wins). */
  httpTokens?: 'required' | 'optional';
  /** The instance profile's name, or its ARN. */
  iamInstanceProfile?: string;
  /** Given: the primary network interface is described (EC2 takes this only there), with the subnet, groups and address. */
  associatePublicIpAddress?: boolean;
  metadataOptions?: MetadataOptions;
  availabilityZone?: string;
  privateIp?: string;
  instanceInitiatedShutdownBehavior?: 'stop' | 'terminate';
  cpuCredits?: 'standard' | 'unlimited';
  /** For an EBS-backed AMI only: refused before launch for an instance-store one. */
  rootBlockDevice?: RootBlockDevice;
  monitoring?: boolean;
  placementGroup?: string;
  disableApiTermination?: boolean;
  /**
   * Tags of the volumes the launch makes (the root volume of an EBS-backed AMI), sent with
   * RunInstances; left out for an instance-store AMI, which makes none.
   */
  volumeTags?: Tags;
  /**
   * The boot check's TCP port and address: one on the public address of an instance that will have
   * no public IP (the subnet's MapPublicIpOnLaunch, AssociatePublicIpAddress) is refused before launch.
   */
  bootPort?: { port: number; address?: 'public' | 'private' };
  /** Told what may stop the boot but not the launch (an NVMe root the image needs a driver for). */
  notice?: (message: string) => void;
  wait?: WaitOptions;
  signal?: AbortSignal;
}

export interface MetadataOptions {
  httpTokens?: 'required' | 'optional';
  httpEndpoint?: 'enabled' | 'disabled';
  httpPutResponseHopLimit?: number;
  instanceMetadataTags?: 'enabled' | 'disabled';
}

export interface RootBlockDevice {
  volumeSize?: number;
  volumeType?: string;
  iops?: number;
  throughput?: number;
  encrypted?: boolean;
  kmsKeyId?: string;
  deleteOnTermination?: boolean;
}

export interface InstanceSummary {
  instanceId: InstanceId;
  state: string;
  stateReason?: string;
  instanceType?: string;
  imageId?: string;
  subnetId?: string;
  privateIpAddress?: string;
  publicIpAddress?: string;
  privateDnsName?: string;
  publicDnsName?: string;
  availabilityZone?: string;
  /** The account that owns the instance (its reservation's owner), for the ARN. */
  ownerId?: string;
  keyName?: string;
  securityGroupIds: string[];
  httpTokens?: string;
  /** All four metadata options as EC2 reports them. */
  metadataOptions?: MetadataOptions;
  rootDeviceType?: string;
  /** The device the root volume is attached at (e.g. /dev/xvda). */
  rootDeviceName?: string;
  /** Detailed monitoring enabled (or being enabled). */
  monitoring?: boolean;
  placementGroup?: string;
  /** The instance profile's ARN, as DescribeInstances gives it. */
  iamInstanceProfileArn?: string;
  tags: Tags;
  /** The root device's EBS volume, for an EBS-backed instance. */
  rootVolumeId?: string;
  /** Whether it has a public IPv4 address (its primary interface's association), as @pulumi/aws reads associatePublicIpAddress. */
  hasPublicIp: boolean;
}

/** The instance was launched but did not reach running: it exists, and has this id. */
export class InstanceNotRunningError extends AwsOperationError {
  constructor(
    readonly instanceId: InstanceId,
    readonly state: string,
    reason: string,
  ) {
    super(
      'RunInstances',
      instanceId,
      'InstanceNotRunning',
      `instance ${instanceId} was launched but is ${state}, not running: ${reason}`,
      false,
    );
    this.name = 'InstanceNotRunningError';
  }
}

/** EC2 refused to terminate the instance: its termination protection (disableApiTermination) is on. */
export class TerminationProtectedError extends AwsOperationError {
  constructor(readonly instanceId: InstanceId) {
    super(
      'TerminateInstances',
      instanceId,
      'OperationNotPermitted',
      `instance ${instanceId} has termination protection (its disableApiTermination attribute is true), so EC2 refuses to terminate it; it is still there: turn the protection off, then terminate it`,
      false,
    );
    this.name = 'TerminationProtectedError';
  }
}

/** RunInstances cut off by its signal after EC2 started the instance (found by its client token): it exists, and has this id. */
export class LaunchCutOffError extends InstanceNotRunningError {
  constructor(instanceId: InstanceId, state: string, cause: string) {
    super(instanceId, state, 'its launch was cut off');
    this.message = `RunInstances was cut off in flight (${cause}) after EC2 started ${instanceId} (${state}), found by its client token`;
    this.name = 'LaunchCutOffError';
  }
}

function summarize(instance: Instance, ownerId?: string): InstanceSummary {
  return {
    instanceId: instance.InstanceId as InstanceId,
    state: instance.State?.Name ?? 'unknown',
    stateReason: instance.StateReason?.Message,
    instanceType: instance.InstanceType,
    imageId: instance.ImageId,
    subnetId: instance.SubnetId,
    privateIpAddress: instance.PrivateIpAddress,
    publicIpAddress: instance.PublicIpAddress,
    privateDnsName: instance.PrivateDnsName || undefined,
    publicDnsName: instance.PublicDnsName || undefined,
    availabilityZone: instance.Placement?.AvailabilityZone,
    ownerId,
    keyName: instance.KeyName,
    securityGroupIds: (instance.SecurityGroups ?? []).map((group) => group.GroupId ?? '').filter(Boolean),
    httpTokens: instance.MetadataOptions?.HttpTokens,
    metadataOptions: instance.MetadataOptions && {
      httpTokens: instance.MetadataOptions.HttpTokens,
      httpEndpoint: instance.MetadataOptions.HttpEndpoint,
      httpPutResponseHopLimit: instance.MetadataOptions.HttpPutResponseHopLimit,
      instanceMetadataTags: instance.MetadataOptions.InstanceMetadataTags,
    },
    rootDeviceType: instance.RootDeviceType,
    rootDeviceName: instance.RootDeviceName,
    monitoring:
      instance.Monitoring?.State === undefined ? undefined : ['enabled', 'pending'].includes(instance.Monitoring.State),
    placementGroup: instance.Placement?.GroupName || undefined,
    iamInstanceProfileArn: instance.IamInstanceProfile?.Arn,
    tags: fromTagList(instance.Tags),
    rootVolumeId: instance.BlockDeviceMappings?.find((mapping) => mapping.DeviceName === instance.RootDeviceName)?.Ebs
      ?.VolumeId,
    hasPublicIp: hasPublicIp(instance),
  };
}

/** The instance's ARN, as EC2 forms it (the partition from the region). */
export function instanceArn(region: string, ownerId: string, id: string): string {
  const partition = region.startsWith('cn-') ? 'aws-cn' : region.startsWith('us-gov-') ? 'aws-us-gov' : 'aws';
  return `arn:${partition}:ec2:${region}:${ownerId}:instance/${id}`;
}

async function instanceTypeInfo(ec2: EC2Client, type: string, signal?: AbortSignal): Promise<InstanceTypeInfo> {
  try {
    const output = await ec2.send(new DescribeInstanceTypesCommand({ InstanceTypes: [type as _InstanceType] }), {
      abortSignal: signal,
    });
    const info = output.InstanceTypes?.[0];
    if (info) return info;
  } catch (error) {
    if (errorCode(error) !== 'InvalidInstanceType') throw describeAwsError(error, 'DescribeInstanceTypes', type);
  }
  throw new AwsInputError('instanceType', `"${type}" is not an instance type offered in this region`);
}

/** Up to five instance types of the region that can launch and boot the image (current generation first). */
export async function typesThatCanBoot(ec2: EC2Client, image: LaunchNeeds, signal?: AbortSignal): Promise<string[]> {
  const types: InstanceTypeInfo[] = [];
  const pages = paginateDescribeInstanceTypes(
    { client: ec2 },
    {
      Filters: [
        { Name: 'supported-root-device-type', Values: [image.rootDeviceType] },
        { Name: 'supported-virtualization-type', Values: [image.virtualizationType] },
      ],
    },
  );
  for await (const page of pages) {
    signal?.throwIfAborted();
    types.push(...(page.InstanceTypes ?? []));
  }
  return typesThatCanLaunch(types, image);
}

/**
 * Refuses, before launching, an instance type that cannot launch or boot the image (root device,
 * virtualization, architecture, ENA, boot mode), naming types that can. Returns notes that do not
 * stop the launch (an NVMe root the image needs a driver for).
 */
export async function checkInstanceTypeCanBoot(
  ec2: EC2Client,
  id: ImageId,
  type: string,
  signal?: AbortSignal,
): Promise<string[]> {
  return (await checkLaunch(ec2, id, type, signal)).notes;
}

/** The launch check, with what the launch needs of the image (its root device). */
async function checkLaunch(
  ec2: EC2Client,
  id: ImageId,
  type: string,
  signal?: AbortSignal,
): Promise<{ notes: string[]; rootDeviceType: string; rootDeviceName?: string }> {
  const image = await describeImage(ec2, id, signal);
  if (!image)
    throw new AwsInputError('imageId', `AMI ${id} does not exist in this region; register it first or check the id`);
  if (image.state !== 'available') throw new AwsInputError('imageId', `AMI ${id} is ${image.state}, not available`);
  const needs: LaunchNeeds = {
    rootDeviceType: image.rootDeviceType ?? 'ebs',
    virtualizationType: image.virtualizationType ?? 'hvm',
    architecture: image.architecture ?? 'x86_64',
    enaSupport: image.enaSupport === true,
    bootMode: image.bootMode,
  };
  const info = await instanceTypeInfo(ec2, type, signal);
  const mismatch = launchMismatch(info, needs);
  if (!mismatch)
    return {
      notes: launchNotes(info, needs),
      rootDeviceType: needs.rootDeviceType,
      rootDeviceName: image.rootDeviceName,
    };
  const candidates = await awsCall('DescribeInstanceTypes', 'instance types', () =>
    typesThatCanBoot(ec2, needs, signal),
  );
  throw new AwsInputError('instanceType', launchRefusal(id, type, mismatch, candidates));
}

export async function describeInstance(
  ec2: EC2Client,
  id: InstanceId,
  signal?: AbortSignal,
): Promise<InstanceSummary | undefined> {
  try {
    const output = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }), { abortSignal: signal });
    const reservation = output.Reservations?.find((each) => (each.Instances ?? []).length > 0);
    const instance = reservation?.Instances?.[0];
    return instance ? summarize(instance, reservation?.OwnerId) : undefined;
  } catch (error) {
    if (errorCode(error) === 'InvalidInstanceID.NotFound') return undefined;
    throw describeAwsError(error, 'DescribeInstances', id);
  }
}

export async function waitForInstanceRunning(
  ec2: EC2Client,
  id: InstanceId,
  wait?: WaitOptions,
  signal?: AbortSignal,
): Promise<InstanceSummary> {
  try {
    await waitUntilInstanceRunning(
      waiterParameters(ec2, wait, { maxWaitSeconds: 900, minDelaySeconds: 5, maxDelaySeconds: 15 }, signal),
      { InstanceIds: [id] },
    );
  } catch (error) {
    if (signal?.aborted) throw error;
    const instance = await describeInstance(ec2, id, signal).catch(() => undefined);
    throw new InstanceNotRunningError(
      id,
      instance?.state ?? 'unknown',
      instance?.stateReason ?? 'it did not reach running in time',
    );
  }
  const instance = await describeInstance(ec2, id, signal);
  if (!instance) throw new InstanceNotRunningError(id, 'unknown', 'it vanished after reaching running');
  return instance;
}

/**
 * RunInstances only (after the boot check); `launchAndWait` also waits for running. `sending` is
 * called just before RunInstances is sent (what `launchOrFind` needs to know).
 */
export async function launchInstance(options: LaunchOptions, sending?: () => void): Promise<InstanceId> {
  const { ec2, signal } = options;
  const launch = await checkLaunch(ec2, options.imageId, options.instanceType, signal);
  for (const note of launch.notes) options.notice?.(note);
  if (launch.rootDeviceType !== 'ebs') {
    if (options.rootBlockDevice !== undefined)
      throw new AwsInputError(
        'rootBlockDevice',
        `AMI ${options.imageId} is instance-store-backed and has no EBS root volume: remove rootBlockDevice`,
      );
    if (options.instanceInitiatedShutdownBehavior !== undefined)
      throw new AwsInputError(
        'instanceInitiatedShutdownBehavior',
        `AMI ${options.imageId} is instance-store-backed, and EC2 takes a shutdown behaviour for EBS-backed images only (an instance-store instance always terminates): remove it`,
      );
  }
  if (options.bootPort?.address === 'public')
    await refusePortWithoutPublicIp(ec2, options, options.bootPort.port, signal);
  sending?.();
  const input = runInstancesInput(options, launch.rootDeviceName, launch.rootDeviceType);
  const output = await awsCall('RunInstances', options.imageId, () =>
    ec2.send(new RunInstancesCommand(input), { abortSignal: signal }),
  );
  const launched = output.Instances?.[0]?.InstanceId;
  if (!launched)
    throw new AwsOperationError(
      'RunInstances',
      options.imageId,
      'NoInstanceId',
      'RunInstances returned no instance id',
      true,
    );
  return instanceId(launched);
}

/** RunInstances' parameters from the launch options (pure). */
export function runInstancesInput(
  options: LaunchOptions,
  rootDeviceName: string | undefined,
  rootDeviceType?: string,
): RunInstancesCommandInput {
  const instanceTags = toTagList(options.tags);
  const volumeTags = rootDeviceType === 'ebs' ? toTagList(options.volumeTags) : [];
  const tagSpecifications = [
    ...(instanceTags.length > 0 ? [{ ResourceType: 'instance' as const, Tags: instanceTags }] : []),
    ...(volumeTags.length > 0 ? [{ ResourceType: 'volume' as const, Tags: volumeTags }] : []),
  ];
  const metadata = options.metadataOptions ?? {};
  const root = options.rootBlockDevice;
  // EC2 takes a public address only on a network interface described in the request, and then
  // the subnet, groups and private address must be given there, not on the instance.
  const onInterface = options.associatePublicIpAddress !== undefined;
  return {
    ImageId: options.imageId,
    InstanceType: options.instanceType as _InstanceType,
    MinCount: 1,
    MaxCount: 1,
    ClientToken: options.clientToken,
    KeyName: options.keyName,
    SecurityGroupIds: onInterface ? undefined : options.securityGroupIds,
    SubnetId: onInterface ? undefined : options.subnetId,
    PrivateIpAddress: onInterface ? undefined : options.privateIp,
    NetworkInterfaces: onInterface
      ? [
          {
            DeviceIndex: 0,
            AssociatePublicIpAddress: options.associatePublicIpAddress,
            SubnetId: options.subnetId,
            Groups: options.securityGroupIds,
            PrivateIpAddress: options.privateIp,
          },
        ]
      : undefined,
    UserData: options.userData === undefined ? undefined : Buffer.from(options.userData, 'utf8').toString('base64'),
    MetadataOptions: {
      HttpTokens: metadata.httpTokens ?? options.httpTokens ?? 'required',
      HttpEndpoint: metadata.httpEndpoint ?? 'enabled',
      HttpPutResponseHopLimit: metadata.httpPutResponseHopLimit,
      InstanceMetadataTags: metadata.instanceMetadataTags,
    },
    IamInstanceProfile:
      options.iamInstanceProfile === undefined
        ? undefined
        : options.iamInstanceProfile.startsWith('arn:')
          ? { Arn: options.iamInstanceProfile }
          : { Name: options.iamInstanceProfile },
    Placement:
      options.availabilityZone === undefined && options.placementGroup === undefined
        ? undefined
        : { AvailabilityZone: options.availabilityZone, GroupName: options.placementGroup },
    InstanceInitiatedShutdownBehavior: options.instanceInitiatedShutdownBehavior,
    CreditSpecification: options.cpuCredits === undefined ? undefined : { CpuCredits: options.cpuCredits },
    BlockDeviceMappings:
      root === undefined
        ? undefined
        : [
            {
              DeviceName: rootDeviceName ?? '/dev/xvda',
              Ebs: {
                VolumeSize: root.volumeSize,
                VolumeType: root.volumeType as VolumeType | undefined,
                Iops: root.iops,
                Throughput: root.throughput,
                Encrypted: root.encrypted,
                KmsKeyId: root.kmsKeyId,
                DeleteOnTermination: root.deleteOnTermination,
              },
            },
          ],
    Monitoring: options.monitoring === undefined ? undefined : { Enabled: options.monitoring },
    DisableApiTermination: options.disableApiTermination,
    TagSpecifications: tagSpecifications.length > 0 ? tagSpecifications : undefined,
  };
}

export async function launchAndWait(options: LaunchOptions): Promise<InstanceSummary> {
  const id = await launchInstance(options);
  return waitForInstanceRunning(options.ec2, id, options.wait, options.signal);
}

/** Terminates and waits for terminated; an instance already gone counts as terminated. */
export async function terminateInstance(
  ec2: EC2Client,
  id: InstanceId,
  wait?: WaitOptions,
  signal?: AbortSignal,
): Promise<void> {
  try {
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }), { abortSignal: signal });
  } catch (error) {
    if (errorCode(error) === 'InvalidInstanceID.NotFound') return;
    if (errorCode(error) === 'OperationNotPermitted') throw new TerminationProtectedError(id);
    throw describeAwsError(error, 'TerminateInstances', id);
  }
  try {
    await waitUntilInstanceTerminated(
      waiterParameters(ec2, wait, { maxWaitSeconds: 900, minDelaySeconds: 5, maxDelaySeconds: 15 }, signal),
      { InstanceIds: [id] },
    );
  } catch (error) {
    if (signal?.aborted) throw error;
    const instance = await describeInstance(ec2, id, signal).catch(() => undefined);
    if (!instance || instance.state === 'terminated') return;
    throw new AwsOperationError(
      'TerminateInstances',
      id,
      'NotTerminated',
      `instance ${id} is ${instance.state}, not terminated, after waiting; terminate it again later`,
      true,
    );
  }
}

/** The instance a RunInstances with this client token started (tokens are unique per account and region), or undefined. */
export async function findInstanceByClientToken(
  ec2: EC2Client,
  clientToken: string,
  signal?: AbortSignal,
): Promise<InstanceSummary | undefined> {
  const output = await awsCall('DescribeInstances', `client token ${clientToken}`, () =>
    ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'client-token', Values: [clientToken] }] }), {
      abortSignal: signal,
    }),
  );
  for (const reservation of output.Reservations ?? []) {
    const instance = reservation.Instances?.find((each) => each.ClientToken === clientToken);
    if (instance) return summarize(instance, reservation.OwnerId);
  }
  return undefined;
}

/**
 * `launchInstance`, and when its RunInstances was cut off (the connection failed after every retry,
 * or the signal aborted it in flight), the instance it may have started, looked for by the client
 * token for a bounded time: when only the answer was lost, its id is the result; when the signal
 * ended the call, an InstanceNotRunningError carrying the id (it exists: the caller records or
 * removes it); when nothing is found, the error says so.
 */
export async function launchOrFind(
  options: LaunchOptions,
  look?: LookAgainOptions,
): Promise<{ instanceId: InstanceId; foundByToken?: string }> {
  let sent = false;
  try {
    return { instanceId: await launchInstance(options, () => (sent = true)) };
  } catch (error) {
    if (!sent || !wasCutOff(error, options.signal)) throw error;
    const cause = cutOffCause(error, options.signal);
    const found = await lookAgain(
      (signal) => findInstanceByClientToken(options.ec2, options.clientToken, signal),
      look,
    );
    if (!found) {
      throw new AwsOperationError(
        'RunInstances',
        options.imageId,
        'LaunchCutOff',
        `RunInstances of ${options.imageId} was cut off (${cause}) and no instance with its client token ${options.clientToken} was found in ${look?.seconds ?? LOOK_AGAIN_SECONDS} s: nothing was recorded; if one appears (describe-instances --filters Name=client-token,Values=${options.clientToken}), terminate it`,
        false,
      );
    }
    if (options.signal?.aborted) {
      throw new LaunchCutOffError(found.instanceId, found.state, cause);
    }
    return {
      instanceId: found.instanceId,
      foundByToken: `RunInstances was cut off (${cause}); the instance it started, ${found.instanceId}, was found by its client token`,
    };
  }
}
