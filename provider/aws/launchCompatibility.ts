/**
 * Can an instance type launch and boot an AMI? (pure) Beyond root device, virtualization and
 * architecture (instanceTypes.ts), EC2 refuses to launch an AMI without ENA support on a type whose
 * NetworkInfo.EnaSupport is `required` (the Nitro types), and an AMI whose boot mode (legacy-bios,
 * uefi) the type's SupportedBootModes lacks; `uefi-preferred` boots in uefi where the type has it,
 * else legacy-bios. NVMe is not an AMI attribute, so EC2 checks nothing: on a type whose
 * EbsInfo.NvmeSupport is `required` an EBS root is an NVMe device and the image must carry an NVMe
 * driver; that is a note, never a refusal. All answers come from DescribeImages and
 * DescribeInstanceTypes data, never from a list held here.
 */
import { InstanceTypeInfo } from '@aws-sdk/client-ec2';
import { bootProblem, BootRequirements } from './instanceTypes';

/** What an AMI needs of an instance type, as DescribeImages says. */
export interface LaunchNeeds extends BootRequirements {
  enaSupport: boolean;
  /** legacy-bios, uefi or uefi-preferred; unset: the type's default. */
  bootMode?: string;
}

/** Why the type cannot launch the image: what the AMI needs, and what the type lacks (a verb phrase, after its name). */
export interface LaunchMismatch {
  need: string;
  lack: string;
}

/** Why the type cannot launch or boot the image, or undefined when it can. */
export function launchMismatch(type: InstanceTypeInfo, image: LaunchNeeds): LaunchMismatch | undefined {
  const boot = bootProblem(type, image);
  if (boot) {
    const need = `the AMI is ${image.rootDeviceType}-backed ${image.virtualizationType} ${image.architecture}`;
    return { need, lack: boot.replace(/^it /, '') };
  }
  if (!image.enaSupport && type.NetworkInfo?.EnaSupport === 'required')
    return { need: 'the AMI is not enabled for ENA', lack: 'requires ENA' };
  const modes = (type.SupportedBootModes ?? []) as string[];
  if (image.bootMode === undefined || modes.length === 0) return undefined;
  const wanted = image.bootMode === 'uefi-preferred' ? ['uefi', 'legacy-bios'] : [image.bootMode];
  if (wanted.some((mode) => modes.includes(mode))) return undefined;
  return {
    need: `the AMI boots with ${image.bootMode}`,
    lack: `boots only with ${modes.join(' or ')}`,
  };
}

/** Notes that do not stop a launch but may stop the boot (NVMe, which EC2 does not check). */
export function launchNotes(type: InstanceTypeInfo, image: LaunchNeeds): string[] {
  if (image.rootDeviceType !== 'ebs' || type.EbsInfo?.NvmeSupport !== 'required') return [];
  return [
    `on ${type.InstanceType ?? 'this type'} the EBS root volume is an NVMe device: the image needs an NVMe driver (EC2 does not check this)`,
  ];
}

/** Up to `limit` types that can launch the image: current generation first, then by name. */
export function typesThatCanLaunch(types: readonly InstanceTypeInfo[], image: LaunchNeeds, limit = 5): string[] {
  return types
    .filter((type) => type.InstanceType !== undefined && !launchMismatch(type, image))
    .sort(
      (a, b) =>
        Number(b.CurrentGeneration === true) - Number(a.CurrentGeneration === true) ||
        String(a.InstanceType).localeCompare(String(b.InstanceType)),
    )
    .slice(0, limit)
    .map((type) => String(type.InstanceType));
}

/** The one-line refusal: the AMI's need, the type's lack, and types that can launch it. */
export function launchRefusal(imageId: string, type: string, mismatch: LaunchMismatch, candidates: string[]): string {
  return (
    `${type} cannot boot ${imageId}: ${mismatch.need}, but ${type} ${mismatch.lack}; ` +
    (candidates.length > 0 ? `types that can: ${candidates.join(', ')}` : 'no instance type in this region can')
  );
}
