/**
 * Can an instance type boot an image? (pure) The answer comes from the region's own
 * DescribeInstanceTypes data (root device types, virtualization types, architectures), never from a
 * list held here. For reference, as AWS documents them: instance-store roots boot only on C1, C3,
 * D2, I2, M1, M2, M3, R3 and X1; of these, paravirtual (PV) runs only on C1, C3, M1, M2 and M3 (D2,
 * I2, R3 and X1 are HVM-only), and only in the regions that still have PV.
 */
import { InstanceTypeInfo } from '@aws-sdk/client-ec2';

export interface BootRequirements {
  rootDeviceType: string;
  virtualizationType: string;
  architecture: string;
}

/** What AWS documents for instance-store images, appended to a refusal so the user knows where to look. */
function instanceStoreHint(image: BootRequirements): string {
  if (image.rootDeviceType !== 'instance-store') return '';
  return image.virtualizationType === 'paravirtual'
    ? ' (a paravirtual instance-store image boots only on C1, C3, M1, M2 and M3 types, in the regions that still have PV)'
    : ' (an instance-store image boots only on C1, C3, D2, I2, M1, M2, M3, R3 and X1 types)';
}

/** Why the type cannot boot the image, or undefined when it can. */
export function bootProblem(type: InstanceTypeInfo, image: BootRequirements): string | undefined {
  const roots = (type.SupportedRootDeviceTypes ?? []) as string[];
  const virtualizations = (type.SupportedVirtualizationTypes ?? []) as string[];
  const architectures = (type.ProcessorInfo?.SupportedArchitectures ?? []) as string[];
  if (!roots.includes(image.rootDeviceType)) {
    return `it supports ${roots.join(' and ') || 'no'} root devices, not ${image.rootDeviceType}${instanceStoreHint(image)}`;
  }
  if (!virtualizations.includes(image.virtualizationType)) {
    return `it supports ${virtualizations.join(' and ') || 'no'} virtualization, not ${image.virtualizationType}${instanceStoreHint(image)}`;
  }
  if (architectures.length > 0 && !architectures.includes(image.architecture)) {
    return `it runs ${architectures.join(' and ')}, not ${image.architecture}`;
  }
  return undefined;
}
