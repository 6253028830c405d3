import * as pulumi from '@pulumi/pulumi';
import { registeredAmiProvider } from '../provider/dynamic/registeredAmi/provider';
import type { InstanceStoreMapping } from '../provider/aws/images';

export interface RegisteredAmiArgs {
  /** bucket/prefix/NAME.manifest.xml: BundledImage.manifestLocation. */
  manifestLocation: pulumi.Input<string>;
  /** BundledImage.manifestEtag, so that a bundle made again registers a new AMI. */
  manifestEtag?: pulumi.Input<string>;
  name: pulumi.Input<string>;
  description?: pulumi.Input<string>;
  architecture?: pulumi.Input<'x86_64' | 'i386'>;
  virtualizationType?: pulumi.Input<'paravirtual' | 'hvm'>;
  /** Default for paravirtual AMIs: Amazon's PV-GRUB hd0 kernel for the region (looked up). */
  kernelId?: pulumi.Input<string>;
  ramdiskId?: pulumi.Input<string>;
  blockDeviceMappings?: pulumi.Input<pulumi.Input<InstanceStoreMapping>[]>;
  tags?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  region?: pulumi.Input<string>;
  timeoutSeconds?: pulumi.Input<number>;
}

/** An instance-store AMI registered from a bundle; description and tags change in place. */
export class RegisteredAmi extends pulumi.dynamic.Resource {
  declare readonly imageId: pulumi.Output<string>;
  declare readonly name: pulumi.Output<string>;
  declare readonly region: pulumi.Output<string>;
  declare readonly state: pulumi.Output<string>;
  declare readonly effectiveKernelId: pulumi.Output<string | undefined>;
  declare readonly tags: pulumi.Output<Record<string, string>>;

  constructor(name: string, args: RegisteredAmiArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      registeredAmiProvider,
      name,
      { ...args, imageId: undefined, region: args.region, state: undefined, effectiveKernelId: undefined, tags: args.tags },
      opts,
      'unikernel',
      'RegisteredAmi',
    );
  }
}
