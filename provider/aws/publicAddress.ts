/**
 * Whether an instance will have a public IPv4 address, known before it is launched: the launch's
 * AssociatePublicIpAddress when given, else the subnet's MapPublicIpOnLaunch (the subnet given, or
 * the default subnet of the default VPC that EC2 launches into without one). A TCP boot check on
 * the public address of an instance that will have none is refused before anything is launched.
 */
import { DescribeSubnetsCommand, EC2Client, Filter, Instance } from '@aws-sdk/client-ec2';
import { AwsInputError, awsCall } from './errors';

export interface PublicAddressSettings {
  associatePublicIpAddress?: boolean;
  subnetId?: string;
  availabilityZone?: string;
}

/** What decides the public address, for the message: the input, or the subnet(s) it falls to. */
export type PublicAddressPlan =
  | { publicIp: boolean; decidedBy: 'associatePublicIpAddress' }
  | { publicIp: boolean; decidedBy: 'subnet'; subnets: string[] }
  | { publicIp: undefined };

/**
 * The plan from the subnets a launch may land in (pure): the input when given; else the subnets'
 * MapPublicIpOnLaunch when they all agree; else unknown (none found, or default subnets that differ
 * and no zone to choose between them).
 */
export function publicAddressPlan(
  settings: PublicAddressSettings,
  subnets: readonly { subnetId: string; mapPublicIpOnLaunch: boolean }[],
): PublicAddressPlan {
  if (settings.associatePublicIpAddress !== undefined)
    return { publicIp: settings.associatePublicIpAddress, decidedBy: 'associatePublicIpAddress' };
  if (subnets.length === 0) return { publicIp: undefined };
  const first = subnets[0].mapPublicIpOnLaunch;
  if (subnets.some((subnet) => subnet.mapPublicIpOnLaunch !== first)) return { publicIp: undefined };
  return { publicIp: first, decidedBy: 'subnet', subnets: subnets.map((subnet) => subnet.subnetId) };
}

/** The subnets a launch may land in: the one given, else the default subnets (of the zone, when one is given). */
async function candidateSubnets(
  ec2: EC2Client,
  settings: PublicAddressSettings,
  signal?: AbortSignal,
): Promise<{ subnetId: string; mapPublicIpOnLaunch: boolean }[]> {
  const filters: Filter[] =
    settings.subnetId !== undefined
      ? []
      : [
          { Name: 'default-for-az', Values: ['true'] },
          ...(settings.availabilityZone !== undefined
            ? [{ Name: 'availability-zone', Values: [settings.availabilityZone] }]
            : []),
        ];
  const output = await awsCall('DescribeSubnets', settings.subnetId ?? 'the default subnets', () =>
    ec2.send(
      new DescribeSubnetsCommand(
        settings.subnetId !== undefined ? { SubnetIds: [settings.subnetId] } : { Filters: filters },
      ),
      { abortSignal: signal },
    ),
  );
  return (output.Subnets ?? []).map((subnet) => ({
    subnetId: subnet.SubnetId ?? '',
    mapPublicIpOnLaunch: subnet.MapPublicIpOnLaunch === true,
  }));
}

/**
 * Refuses, before launch, a TCP boot check on the public address of an instance that will have
 * none (`port` on `bootPortAddress` "public"). Nothing is refused when it cannot be known.
 */
export async function refusePortWithoutPublicIp(
  ec2: EC2Client,
  settings: PublicAddressSettings,
  port: number,
  signal?: AbortSignal,
): Promise<void> {
  const plan =
    settings.associatePublicIpAddress !== undefined
      ? publicAddressPlan(settings, [])
      : publicAddressPlan(settings, await candidateSubnets(ec2, settings, signal));
  if (plan.publicIp !== false) return;
  const why =
    plan.decidedBy === 'associatePublicIpAddress'
      ? 'the launch asks for no public IP (AssociatePublicIpAddress false)'
      : plan.subnets.length === 1
        ? `subnet ${plan.subnets[0]} does not map public IPs on launch (MapPublicIpOnLaunch false)`
        : `the default subnets (${plan.subnets.join(', ')}) do not map public IPs on launch (MapPublicIpOnLaunch false)`;
  throw new AwsInputError(
    'bootPortAddress',
    `port ${port} is to be checked on the instance's public address, but it would have none: ${why}; nothing was launched`,
    { kind: 'portWithoutPublicIp' },
  );
}

/**
 * Whether a described instance has a public IPv4 address, as @pulumi/aws reads
 * associatePublicIpAddress: the primary network interface's association, else the instance's address.
 */
export function hasPublicIp(instance: Instance): boolean {
  const primary = instance.NetworkInterfaces?.find((each) => each.Attachment?.DeviceIndex === 0);
  if (primary) return primary.Association !== undefined;
  return instance.PublicIpAddress !== undefined;
}
