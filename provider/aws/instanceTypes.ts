/** Can an instance type boot an image? (pure) Instance-store roots only boot on older families. */
import { InstanceTypeInfo } from '@aws-sdk/client-ec2';

export interface BootRequirements {
  rootDeviceType: string;
  virtualizationType: string;
  architecture: string;
}

/** Why the type cannot boot the image, or undefined when it can. */
export function bootProblem(type: InstanceTypeInfo, image: BootRequirements): string | undefined {
  const roots = (type.SupportedRootDeviceTypes ?? []) as string[];
  const virtualizations = (type.SupportedVirtualizationTypes ?? []) as string[];
  const architectures = (type.ProcessorInfo?.SupportedArchitectures ?? []) as string[];
  if (!roots.includes(image.rootDeviceType)) {
    return `it supports ${roots.join(' and ') || 'no'} root devices, not ${image.rootDeviceType}`;
  }
  if (!virtualizations.includes(image.virtualizationType)) {
    return `it supports ${virtualizations.join(' and ') || 'no'} virtualization, not ${image.virtualizationType}`;
  }
  if (architectures.length > 0 && !architectures.includes(image.architecture)) {
    return `it runs ${architectures.join(' and ')}, not ${image.architecture}`;
  }
  return undefined;
}
