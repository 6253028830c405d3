/**
 * Fixed AWS data the local AWS serves: instance type descriptions (values as DescribeInstanceTypes gives
 * them) and Amazon's PV-GRUB kernel images (AKIs).
 */
import { createHash } from 'crypto';

export type RootDeviceType = 'ebs' | 'instance-store';
export type VirtualizationType = 'paravirtual' | 'hvm';

export interface InstanceTypeInfo {
  instanceType: string;
  currentGeneration: boolean;
  architectures: string[];
  rootDeviceTypes: RootDeviceType[];
  virtualizationTypes: VirtualizationType[];
  hypervisor: 'xen' | 'nitro';
  vcpus: number;
  memoryMiB: number;
  burstable: boolean;
  /** Total instance store, when the type has one. */
  instanceStorageGb?: number;
}

const XEN_INSTANCE_STORE_ROOT: Pick<
  InstanceTypeInfo,
  'currentGeneration' | 'rootDeviceTypes' | 'virtualizationTypes' | 'hypervisor' | 'burstable'
> = {
  currentGeneration: false,
  rootDeviceTypes: ['ebs', 'instance-store'],
  virtualizationTypes: ['hvm', 'paravirtual'],
  hypervisor: 'xen',
  burstable: false,
};

export const INSTANCE_TYPES: readonly InstanceTypeInfo[] = [
  {
    instanceType: 'm1.small',
    ...XEN_INSTANCE_STORE_ROOT,
    architectures: ['i386', 'x86_64'],
    vcpus: 1,
    memoryMiB: 1740,
    instanceStorageGb: 160,
  },
  {
    instanceType: 'm1.medium',
    ...XEN_INSTANCE_STORE_ROOT,
    architectures: ['i386', 'x86_64'],
    vcpus: 1,
    memoryMiB: 3788,
    instanceStorageGb: 410,
  },
  {
    instanceType: 'c1.medium',
    ...XEN_INSTANCE_STORE_ROOT,
    architectures: ['i386', 'x86_64'],
    vcpus: 2,
    memoryMiB: 1740,
    instanceStorageGb: 350,
  },
  {
    instanceType: 'm3.medium',
    ...XEN_INSTANCE_STORE_ROOT,
    architectures: ['x86_64'],
    vcpus: 1,
    memoryMiB: 3840,
    instanceStorageGb: 4,
  },
  {
    instanceType: 'c3.large',
    ...XEN_INSTANCE_STORE_ROOT,
    architectures: ['i386', 'x86_64'],
    vcpus: 2,
    memoryMiB: 3840,
    instanceStorageGb: 32,
  },
  {
    instanceType: 't2.micro',
    currentGeneration: true,
    architectures: ['i386', 'x86_64'],
    rootDeviceTypes: ['ebs'],
    virtualizationTypes: ['hvm'],
    hypervisor: 'xen',
    vcpus: 1,
    memoryMiB: 1024,
    burstable: true,
  },
  {
    instanceType: 't3.micro',
    currentGeneration: true,
    architectures: ['x86_64'],
    rootDeviceTypes: ['ebs'],
    virtualizationTypes: ['hvm'],
    hypervisor: 'nitro',
    vcpus: 2,
    memoryMiB: 1024,
    burstable: true,
  },
  {
    instanceType: 'm5.large',
    currentGeneration: true,
    architectures: ['x86_64'],
    rootDeviceTypes: ['ebs'],
    virtualizationTypes: ['hvm'],
    hypervisor: 'nitro',
    vcpus: 2,
    memoryMiB: 8192,
    burstable: false,
  },
  {
    instanceType: 't4g.micro',
    currentGeneration: true,
    architectures: ['arm64'],
    rootDeviceTypes: ['ebs'],
    virtualizationTypes: ['hvm'],
    hypervisor: 'nitro',
    vcpus: 2,
    memoryMiB: 1024,
    burstable: true,
  },
];

/** Boot modes as DescribeInstanceTypes gives them: Graviton boots only UEFI, other Nitro types both, Xen types legacy BIOS. */
export function bootModesOf(info: InstanceTypeInfo): string[] {
  if (info.hypervisor !== 'nitro') return ['legacy-bios'];
  return info.architectures.includes('arm64') ? ['uefi'] : ['legacy-bios', 'uefi'];
}

/** Nitro types launch only ENA-enabled images. */
export function requiresEna(info: InstanceTypeInfo): boolean {
  return info.hypervisor === 'nitro';
}

/** EBS volumes are NVMe devices on Nitro types (EbsInfo.NvmeSupport `required`); Xen types have no NVMe. */
export function nvmeSupportOf(info: InstanceTypeInfo): 'required' | 'unsupported' {
  return info.hypervisor === 'nitro' ? 'required' : 'unsupported';
}

export function findInstanceType(name: string): InstanceTypeInfo | undefined {
  return INSTANCE_TYPES.find((info) => info.instanceType === name);
}

/** The account that owns Amazon's public kernel images. */
export const AMAZON_AKI_OWNER = '137112412989';

export interface KernelImageSeed {
  imageId: string;
  name: string;
  architecture: 'x86_64' | 'i386';
  creationDate: string;
}

/** Published ids of pv-grub-hd0_1.05 (x86_64, i386) per region. Other ids are derived. */
const HD0_105: Record<string, [string, string]> = {
  'us-east-1': ['aki-919dcaf8', 'aki-8f9dcae6'],
  'us-west-1': ['aki-880531cd', 'aki-8e0531cb'],
  'us-west-2': ['aki-fc8f11cc', 'aki-f08f11c0'],
  'eu-west-1': ['aki-52a34525', 'aki-68a3451f'],
  'eu-central-1': ['aki-184c7a05', 'aki-3e4c7a23'],
  'ap-northeast-1': ['aki-176bf516', 'aki-136bf512'],
  'ap-southeast-1': ['aki-503e7402', 'aki-ae3973fc'],
  'ap-southeast-2': ['aki-c362fff9', 'aki-cd62fff7'],
  'sa-east-1': ['aki-5553f448', 'aki-5b53f446'],
  'us-gov-west-1': ['aki-1de98d3e', 'aki-1fe98d3c'],
};

function derivedAki(region: string, name: string): string {
  return `aki-${createHash('sha256').update(`${region}/${name}`).digest('hex').slice(0, 8)}`;
}

/**
 * The regions that still have paravirtual instances, and so PV-GRUB AKIs (AWS Config's
 * ec2-paravirtual-instance-check list, plus us-gov-west-1). Regions opened later have none.
 */
const PV_REGIONS = new Set([
  'us-east-1',
  'us-west-1',
  'us-west-2',
  'eu-west-1',
  'eu-central-1',
  'ap-northeast-1',
  'ap-southeast-1',
  'ap-southeast-2',
  'sa-east-1',
  'cn-north-1',
  'us-gov-west-1',
]);

/** Amazon's PV-GRUB AKIs for a region: hd0 and hd00 at 1.05, plus the older hd0 1.04 pair; none outside the PV regions. */
export function pvGrubKernels(region: string): KernelImageSeed[] {
  const seeds: KernelImageSeed[] = [];
  if (!PV_REGIONS.has(region)) return seeds;
  const add = (
    disk: 'hd0' | 'hd00',
    version: '1.04' | '1.05',
    architecture: 'x86_64' | 'i386',
    creationDate: string,
  ) => {
    const name = `pv-grub-${disk}_${version}-${architecture}.gz`;
    const published =
      disk === 'hd0' && version === '1.05' ? HD0_105[region]?.[architecture === 'x86_64' ? 0 : 1] : undefined;
    seeds.push({ imageId: published ?? derivedAki(region, name), name, architecture, creationDate });
  };
  add('hd0', '1.04', 'x86_64', '2013-07-11T17:40:13.000Z');
  add('hd0', '1.04', 'i386', '2013-07-11T17:41:02.000Z');
  add('hd0', '1.05', 'x86_64', '2014-11-14T18:56:46.000Z');
  add('hd0', '1.05', 'i386', '2014-11-14T18:57:19.000Z');
  add('hd00', '1.05', 'x86_64', '2014-11-14T18:58:02.000Z');
  add('hd00', '1.05', 'i386', '2014-11-14T18:58:40.000Z');
  return seeds;
}
