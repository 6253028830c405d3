import * as pulumi from '@pulumi/pulumi';
import { registeredAmiProvider } from '../provider/dynamic/registeredAmi/provider';
import type { InstanceStoreMapping } from '../provider/aws/images';

export interface RegisteredAmiArgs {
  /**
   * bucket/prefix/NAME.manifest.xml: BundledImage.manifestLocation (an instance-store AMI). Paravirtual
   * by default, which boots on C1, C3, M1, M2 and M3 only, and only in the regions that still have
   * PV: us-east-1, us-west-1, us-west-2, eu-west-1, eu-central-1, ap-northeast-1, ap-southeast-1,
   * ap-southeast-2, sa-east-1, cn-north-1 and us-gov-west-1.
   */
  manifestLocation?: pulumi.Input<string>;
  /**
   * Or a raw bootable disk image, written into an EBS snapshot through the EBS direct APIs: an
   * EBS-backed HVM AMI for current (Nitro) instance types.
   */
  imagePath?: pulumi.Input<string>;
  /** EBS-backed: ENA networking (default true; Nitro types need it). */
  enaSupport?: pulumi.Input<boolean>;
  /** EBS-backed: legacy-bios, uefi or uefi-preferred (arm64 boots uefi only). */
  bootMode?: pulumi.Input<'legacy-bios' | 'uefi' | 'uefi-preferred'>;
  /** EBS-backed: "v2.0" (default) makes instances require IMDSv2. */
  imdsSupport?: pulumi.Input<'v2.0' | 'optional'>;
  /** EBS-backed: root volume size in GiB (default: the image rounded up). */
  volumeSize?: pulumi.Input<number>;
  /** EBS-backed: root volume type (default gp3). */
  volumeType?: pulumi.Input<'gp3' | 'gp2' | 'io1' | 'io2' | 'standard'>;
  /** EBS-backed: skip all-zero blocks (not for encrypted launches). */
  skipZeroBlocks?: pulumi.Input<boolean>;
  /** BundledImage.manifestEtag, so that a bundle made again registers a new AMI. */
  manifestEtag?: pulumi.Input<string>;
  name: pulumi.Input<string>;
  description?: pulumi.Input<string>;
  architecture?: pulumi.Input<'x86_64' | 'i386' | 'arm64'>;
  /**
   * Instance-store: paravirtual (the default) for a PV-GRUB image; hvm for a disk image that boots
   * by itself, which can also run on D2, I2, R3 and X1. EBS-backed AMIs are always hvm.
   */
  virtualizationType?: pulumi.Input<'paravirtual' | 'hvm'>;
  /**
   * Default for paravirtual AMIs: Amazon's PV-GRUB hd0 kernel for the region (looked up). Regions
   * newer than those listed under manifestLocation have none, so a paravirtual AMI cannot be made there.
   */
  kernelId?: pulumi.Input<string>;
  ramdiskId?: pulumi.Input<string>;
  blockDeviceMappings?: pulumi.Input<pulumi.Input<InstanceStoreMapping>[]>;
  tags?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  region?: pulumi.Input<string>;
  timeoutSeconds?: pulumi.Input<number>;
}

/**
 * An AMI: instance-store from a bundle manifest, or EBS-backed from a raw image. Description and
 * tags change in place; anything else registers a new one.
 */
export class RegisteredAmi extends pulumi.dynamic.Resource {
  declare readonly imageId: pulumi.Output<string>;
  declare readonly name: pulumi.Output<string>;
  declare readonly region: pulumi.Output<string>;
  declare readonly state: pulumi.Output<string>;
  declare readonly rootDeviceType: pulumi.Output<'instance-store' | 'ebs'>;
  declare readonly snapshotId: pulumi.Output<string | undefined>;
  declare readonly effectiveKernelId: pulumi.Output<string | undefined>;
  declare readonly tags: pulumi.Output<Record<string, string>>;

  constructor(name: string, args: RegisteredAmiArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      registeredAmiProvider,
      name,
      { ...args, imageId: undefined, region: args.region, state: undefined, rootDeviceType: undefined, snapshotId: undefined, effectiveKernelId: undefined, tags: args.tags },
      opts,
      'unikernel',
      'RegisteredAmi',
    );
  }
}
