/**
 * Launch-time compatibility (pure): ENA, boot mode and NVMe of an AMI against instance types, as
 * DescribeInstanceTypes describes them, and the types named when one cannot launch it.
 */
import { strict as assert } from 'assert';
import { InstanceTypeInfo } from '@aws-sdk/client-ec2';
import {
  launchMismatch,
  LaunchNeeds,
  launchNotes,
  launchRefusal,
  typesThatCanLaunch,
} from '../../provider/aws/launchCompatibility';

function type(
  name: string,
  hypervisor: 'xen' | 'nitro',
  options: { arch?: string; modes: string[]; current?: boolean; pv?: boolean; instanceStore?: boolean },
): InstanceTypeInfo {
  return {
    InstanceType: name as InstanceTypeInfo['InstanceType'],
    CurrentGeneration: options.current ?? true,
    Hypervisor: hypervisor,
    SupportedRootDeviceTypes: options.instanceStore ? ['ebs', 'instance-store'] : ['ebs'],
    SupportedVirtualizationTypes: options.pv ? ['hvm', 'paravirtual'] : ['hvm'],
    ProcessorInfo: { SupportedArchitectures: [(options.arch ?? 'x86_64') as 'x86_64'] },
    SupportedBootModes: options.modes as InstanceTypeInfo['SupportedBootModes'],
    NetworkInfo: { EnaSupport: hypervisor === 'nitro' ? 'required' : 'unsupported' },
    EbsInfo: { NvmeSupport: hypervisor === 'nitro' ? 'required' : 'unsupported' },
  };
}

const t2 = type('t2.micro', 'xen', { modes: ['legacy-bios'] });
const t3 = type('t3.micro', 'nitro', { modes: ['legacy-bios', 'uefi'] });
const m5 = type('m5.large', 'nitro', { modes: ['legacy-bios', 'uefi'] });
const c5 = type('c5.large', 'nitro', { modes: ['legacy-bios', 'uefi'] });
const t4g = type('t4g.micro', 'nitro', { arch: 'arm64', modes: ['uefi'] });
const m3 = type('m3.medium', 'xen', { modes: ['legacy-bios'], current: false, pv: true, instanceStore: true });
const m1 = type('m1.small', 'xen', { modes: ['legacy-bios'], current: false, pv: true, instanceStore: true });
const CATALOG = [m1, m3, t2, t3, t4g, m5, c5];

const ebs = (extra: Partial<LaunchNeeds>): LaunchNeeds => ({
  rootDeviceType: 'ebs',
  virtualizationType: 'hvm',
  architecture: 'x86_64',
  enaSupport: true,
  ...extra,
});

describe('launch compatibility (pure)', () => {
  const cases: Array<[string, InstanceTypeInfo, LaunchNeeds, RegExp | undefined]> = [
    ['ENA AMI, no boot mode, on t3', t3, ebs({}), undefined],
    ['ENA AMI on t2 (ENA unsupported there: EC2 launches it)', t2, ebs({}), undefined],
    ['AMI without ENA on t3', t3, ebs({ enaSupport: false }), /not enabled for ENA.*requires ENA/],
    ['AMI without ENA on m5', m5, ebs({ enaSupport: false }), /requires ENA/],
    ['AMI without ENA on t2', t2, ebs({ enaSupport: false }), undefined],
    ['AMI without ENA on m3', m3, ebs({ enaSupport: false }), undefined],
    ['uefi AMI on t2', t2, ebs({ bootMode: 'uefi' }), /boots with uefi.*boots only with legacy-bios/],
    ['uefi AMI on t3', t3, ebs({ bootMode: 'uefi' }), undefined],
    ['legacy-bios AMI on t3', t3, ebs({ bootMode: 'legacy-bios' }), undefined],
    ['uefi-preferred AMI on t2 (falls back to legacy-bios)', t2, ebs({ bootMode: 'uefi-preferred' }), undefined],
    ['uefi-preferred AMI on t4g', t4g, ebs({ architecture: 'arm64', bootMode: 'uefi-preferred' }), undefined],
    [
      'legacy-bios arm64 AMI on t4g',
      t4g,
      ebs({ architecture: 'arm64', bootMode: 'legacy-bios' }),
      /boots with legacy-bios.*boots only with uefi/,
    ],
    ['x86_64 AMI on t4g', t4g, ebs({}), /ebs-backed hvm x86_64.*runs arm64, not x86_64/],
    [
      'instance-store PV AMI on t3',
      t3,
      {
        rootDeviceType: 'instance-store',
        virtualizationType: 'paravirtual',
        architecture: 'x86_64',
        enaSupport: false,
      },
      /instance-store-backed paravirtual.*supports ebs root devices, not instance-store/,
    ],
  ];
  for (const [name, instanceType, image, expected] of cases) {
    it(name, () => {
      const mismatch = launchMismatch(instanceType, image);
      if (expected === undefined) assert.equal(mismatch, undefined);
      else assert.match(`${mismatch?.need}, but ${mismatch?.lack}`, expected);
    });
  }

  it('notes an NVMe root on a type that requires NVMe, for EBS roots only', () => {
    assert.match(launchNotes(t3, ebs({}))[0] ?? '', /t3\.micro .*NVMe device.*NVMe driver/);
    assert.deepEqual(launchNotes(t2, ebs({})), []);
    assert.deepEqual(launchNotes(m3, ebs({ rootDeviceType: 'instance-store' })), []);
  });

  it('names up to five types that can launch the image, current generation first', () => {
    assert.deepEqual(typesThatCanLaunch(CATALOG, ebs({ enaSupport: false })), ['t2.micro', 'm1.small', 'm3.medium']);
    assert.deepEqual(typesThatCanLaunch(CATALOG, ebs({ bootMode: 'uefi' })), ['c5.large', 'm5.large', 't3.micro']);
    assert.deepEqual(typesThatCanLaunch(CATALOG, ebs({ bootMode: 'uefi' }), 2), ['c5.large', 'm5.large']);
    assert.deepEqual(typesThatCanLaunch(CATALOG, ebs({})), [
      'c5.large',
      'm5.large',
      't2.micro',
      't3.micro',
      'm1.small',
    ]);
    assert.deepEqual(typesThatCanLaunch(CATALOG, ebs({ architecture: 'arm64', bootMode: 'uefi' })), ['t4g.micro']);
    assert.deepEqual(typesThatCanLaunch([t2, m3], ebs({ bootMode: 'uefi' })), []);
  });

  it('refuses in one line naming the need, the lack and the candidates', () => {
    const mismatch = launchMismatch(t3, ebs({ enaSupport: false }));
    assert.ok(mismatch);
    assert.equal(
      launchRefusal('ami-0123456789abcdef0', 't3.micro', mismatch, ['t2.micro', 'm1.small']),
      't3.micro cannot boot ami-0123456789abcdef0: the AMI is not enabled for ENA, but t3.micro requires ENA; types that can: t2.micro, m1.small',
    );
    assert.match(launchRefusal('ami-1', 't2.micro', mismatch, []), /no instance type in this region can$/);
  });
});
