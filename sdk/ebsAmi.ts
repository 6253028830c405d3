import * as pulumi from '@pulumi/pulumi';
import { RegisteredAmi, RegisteredAmiArgs } from './registeredAmi';

/** What RegisteredAmi takes for a raw image besides the image itself (no bundle inputs). */
export type EbsAmiArgs = Omit<
  RegisteredAmiArgs,
  | 'rawImagePath'
  | 'imagePath'
  | 'name'
  | 'manifestLocation'
  | 'manifestEtag'
  | 'kernelId'
  | 'ramdiskId'
  | 'blockDeviceMappings'
  | 'virtualizationType'
> & {
  /** The AMI's name (default: the component's name). */
  name?: pulumi.Input<string>;
};

/** The EBS path's AMI of a component (Unikernel, EbsUnikernel): `${name}-ami`, a child of it. */
export function ebsAmi(
  parent: pulumi.ComponentResource,
  name: string,
  rawImagePath: pulumi.Input<string>,
  args: EbsAmiArgs,
): RegisteredAmi {
  const { name: amiName, ...amiArgs } = args;
  return new RegisteredAmi(`${name}-ami`, { ...amiArgs, name: amiName ?? name, rawImagePath }, { parent });
}
