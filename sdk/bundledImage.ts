import * as pulumi from '@pulumi/pulumi';
import { bundledImageProvider } from '../provider/dynamic/bundledImage/provider';
import type { BlockDeviceMapping } from '../provider/bundle/manifest';
import type { BundleAcl } from '../provider/aws/acl';

export interface BundledImageArgs {
  /** A ready disk image to bundle; or give kernelPath. */
  imagePath?: pulumi.Input<string>;
  /**
   * A Xen PV kernel (e.g. mir-app.xen from MirageOS ≤ 3.8 `-t xen`, or a Mini-OS-based or Unikraft
   * Xen PV kernel), built into a PV-GRUB-bootable ext2 image first. A PVH kernel (what MirageOS 3.9
   * and later build with `-t xen`) is refused: PV-GRUB cannot boot it.
   */
  kernelPath?: pulumi.Input<string>;
  /** Size of the image built from kernelPath, e.g. "32M". */
  imageSize?: pulumi.Input<string>;
  /** Kernel command line for the image built from kernelPath. */
  kernelCommandLine?: pulumi.Input<string>;
  /** NAME of NAME.manifest.xml; default: the image's file name (or the kernel's + ".img"). */
  bundleName?: pulumi.Input<string>;
  bucket: pulumi.Input<string>;
  keyPrefix?: pulumi.Input<string>;
  /** The AWS account id that will register the AMI (12 digits). */
  accountId: pulumi.Input<string>;
  architecture?: pulumi.Input<'x86_64' | 'i386'>;
  /** PEM RSA private key that signs the manifest. Always kept secret. */
  privateKey: pulumi.Input<string>;
  privateKeyPassphrase?: pulumi.Input<string>;
  /** PEM certificate of privateKey (self-signed is fine: `unikernel-ami keygen`). */
  certificate: pulumi.Input<string>;
  /**
   * PEM EC2 bundling certificate for the region, from Amazon's ec2-ami-tools: cert-ec2.pem for the
   * commercial regions that existed before 2019; opt-in regions (af-south-1, ap-east-1, me-south-1,
   * il-central-1, …) have their own in newer ec2-ami-tools; cert-ec2-cn*.pem for China,
   * cert-ec2-gov.pem for GovCloud.
   */
  ec2Certificate: pulumi.Input<string>;
  kernelId?: pulumi.Input<string>;
  ramdiskId?: pulumi.Input<string>;
  blockDeviceMappings?: pulumi.Input<pulumi.Input<BlockDeviceMapping>[]>;
  productCodes?: pulumi.Input<pulumi.Input<string>[]>;
  acl?: pulumi.Input<BundleAcl>;
  region?: pulumi.Input<string>;
  createBucket?: pulumi.Input<boolean>;
  sparse?: pulumi.Input<boolean>;
  timeoutSeconds?: pulumi.Input<number>;
}

/**
 * An EC2 instance-store bundle in S3: the image (or a kernel built into one) bundled exactly as
 * ec2-bundle-image does, and uploaded. Replaced when the image's content or any bundle parameter
 * changes; refresh reports a manifest or part missing or altered in S3. Registered as a paravirtual
 * AMI (the usual case), it boots on C1, C3, M1, M2 and M3 only, in the regions that still have PV.
 */
export class BundledImage extends pulumi.dynamic.Resource {
  declare readonly manifestLocation: pulumi.Output<string>;
  declare readonly manifestKey: pulumi.Output<string>;
  declare readonly manifestEtag: pulumi.Output<string>;
  declare readonly bundleName: pulumi.Output<string>;
  declare readonly bundleKey: pulumi.Output<string>;
  declare readonly bucket: pulumi.Output<string>;
  declare readonly keyPrefix: pulumi.Output<string>;
  declare readonly region: pulumi.Output<string>;
  declare readonly architecture: pulumi.Output<string>;
  declare readonly imageDigest: pulumi.Output<string>;
  declare readonly imageSha256: pulumi.Output<string>;
  declare readonly imageBytes: pulumi.Output<number>;
  declare readonly bundledSize: pulumi.Output<number>;
  declare readonly partCount: pulumi.Output<number>;
  declare readonly sourceHash: pulumi.Output<string>;
  declare readonly bundleStatus: pulumi.Output<string>;

  constructor(name: string, args: BundledImageArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      bundledImageProvider,
      name,
      {
        ...args,
        privateKey: pulumi.secret(args.privateKey),
        privateKeyPassphrase: args.privateKeyPassphrase === undefined ? undefined : pulumi.secret(args.privateKeyPassphrase),
        manifestLocation: undefined,
        manifestKey: undefined,
        manifestEtag: undefined,
        bundleName: args.bundleName,
        bundleKey: undefined,
        keyPrefix: args.keyPrefix,
        region: args.region,
        architecture: args.architecture,
        imageDigest: undefined,
        imageSha256: undefined,
        imageBytes: undefined,
        bundledSize: undefined,
        partCount: undefined,
        sourceHash: undefined,
        bundleStatus: undefined,
      },
      opts,
      'unikernel',
      'BundledImage',
    );
  }
}
