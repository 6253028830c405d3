/**
 * Subnets as a launch sees them: the region's default subnet of each zone and the subnets a test
 * made, each with its MapPublicIpOnLaunch (true for a default subnet, false for one made, as on EC2,
 * unless a test set it), and DescribeSubnets.
 */
import { createHash } from 'crypto';
import { AwsError } from './errors';
import { Ec2Action, paginate } from './ec2Context';
import { defaultSubnetOf, zoneOfSubnet, zonesOf } from './ec2LaunchSettings';
import { filters, passesFilters, scalarList } from './ec2Params';
import type { InstanceRecord, LocalAwsState } from './state';
import { el, items, opt, XmlContent } from './xml';

const SUBNET_FILTERS = [
  'availability-zone',
  'default-for-az',
  'map-public-ip-on-launch',
  'owner-id',
  'state',
  'subnet-id',
  'vpc-id',
];

/** A subnet's VPC id, derived from the subnet. */
export function vpcOf(state: LocalAwsState, subnetId: string): string {
  const seed = `${state.config.accountId}/${state.config.region}/${subnetId}`;
  return `vpc-${createHash('sha256').update(seed).digest('hex').slice(0, 17)}`;
}

export function isDefaultSubnet(state: LocalAwsState, subnetId: string): boolean {
  return zonesOf(state).some((zone) => defaultSubnetOf(state, zone) === subnetId);
}

/** Whether an instance launched into the subnet without AssociatePublicIpAddress gets a public address. */
export function mapsPublicIp(state: LocalAwsState, subnetId: string): boolean {
  return state.subnetPublicIp.get(subnetId) ?? isDefaultSubnet(state, subnetId);
}

/** Every subnet: the default ones, zone by zone, then those made by a test. */
function allSubnets(state: LocalAwsState): string[] {
  return [...zonesOf(state).map((zone) => defaultSubnetOf(state, zone)), ...state.subnets];
}

function renderSubnet(state: LocalAwsState, subnetId: string): XmlContent {
  const { accountId, region } = state.config;
  return [
    el('subnetId', subnetId),
    el('subnetArn', `arn:aws:ec2:${region}:${accountId}:subnet/${subnetId}`),
    el('state', 'available'),
    el('vpcId', vpcOf(state, subnetId)),
    el('ownerId', accountId),
    el('cidrBlock', '172.31.0.0/16'),
    el('availabilityZone', zoneOfSubnet(state, subnetId)),
    el('defaultForAz', isDefaultSubnet(state, subnetId)),
    el('mapPublicIpOnLaunch', mapsPublicIp(state, subnetId)),
  ];
}

export const describeSubnets: Ec2Action = (context) => {
  const { state } = context;
  const ids = scalarList(context.params, 'SubnetId');
  const known = allSubnets(state);
  const unknown = ids.find((id) => !known.includes(id));
  if (unknown !== undefined)
    throw new AwsError(400, 'InvalidSubnetID.NotFound', `The subnet ID '${unknown}' does not exist`);
  const filterList = filters(context.params);
  const selected = known.filter((subnetId) => {
    if (ids.length > 0 && !ids.includes(subnetId)) return false;
    const fields: Record<string, string[]> = {
      'availability-zone': [zoneOfSubnet(state, subnetId)],
      'default-for-az': [String(isDefaultSubnet(state, subnetId))],
      'map-public-ip-on-launch': [String(mapsPublicIp(state, subnetId))],
      'owner-id': [state.config.accountId],
      state: ['available'],
      'subnet-id': [subnetId],
      'vpc-id': [vpcOf(state, subnetId)],
    };
    return passesFilters(filterList, fields, new Map(), SUBNET_FILTERS);
  });
  const { page, nextToken } = paginate(context, selected, ids.length > 0);
  return [items('subnetSet', page, (subnetId) => renderSubnet(state, subnetId)), opt('nextToken', nextToken)];
};

/**
 * The instance's primary network interface as DescribeInstances shows it (none once the instance is
 * gone): its private address and, while it has one, the association of its public address, which
 * is where @pulumi/aws reads associatePublicIpAddress from.
 */
export function primaryInterfaceSet(
  state: LocalAwsState,
  instance: InstanceRecord,
  addresses: { privateIp?: string; privateDnsName: string; publicIp?: string; publicDnsName: string },
): XmlContent {
  if (addresses.privateIp === undefined) return el('networkInterfaceSet');
  const seed = createHash('sha256').update(instance.instanceId).digest('hex');
  const association =
    addresses.publicIp === undefined
      ? undefined
      : el(
          'association',
          el('publicIp', addresses.publicIp),
          el('publicDnsName', addresses.publicDnsName),
          el('ipOwnerId', 'amazon'),
        );
  return items('networkInterfaceSet', [instance], () => [
    el('networkInterfaceId', `eni-${seed.slice(0, 17)}`),
    el('subnetId', instance.subnetId),
    el('vpcId', vpcOf(state, instance.subnetId)),
    el('description', ''),
    el('ownerId', state.config.accountId),
    el('status', 'in-use'),
    el('privateIpAddress', addresses.privateIp),
    el('privateDnsName', addresses.privateDnsName),
    el('sourceDestCheck', true),
    items('groupSet', instance.securityGroupIds, (groupId) => [el('groupId', groupId)]),
    el(
      'attachment',
      el('attachmentId', `eni-attach-${seed.slice(17, 34)}`),
      el('deviceIndex', 0),
      el('status', 'attached'),
      el('attachTime', instance.launchTime.toISOString()),
      el('deleteOnTermination', true),
      el('networkCardIndex', 0),
    ),
    association,
    items('privateIpAddressesSet', [addresses.privateIp], (address) => [
      el('privateIpAddress', address),
      el('privateDnsName', addresses.privateDnsName),
      el('primary', true),
      association,
    ]),
    el('interfaceType', 'interface'),
  ]);
}
