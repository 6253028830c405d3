import * as pulumi from '@pulumi/pulumi';
import { refuseAwsProvider } from './awsProviderOption';
import { BundledImage, BundledImageArgs } from './bundledImage';
import { ebsAmi, EbsAmiArgs } from './ebsAmi';
import { RegisteredAmi, RegisteredAmiArgs } from './registeredAmi';
import { componentInstance, UnikernelInstance, UnikernelInstanceArgs } from './unikernelInstance';

/**
 * The instance-store path: a Xen PV kernel (`kernelPath`, built into a PV-GRUB image) or a ready
 * PV-GRUB disk image (`imagePath`), bundled into S3 and registered from its manifest.
 */
export interface BundlePathArgs extends BundledImageArgs {
  /** The EBS path's input: not with kernelPath or imagePath. */
  rawImagePath?: undefined;
  /** The AMI's name, description and tags (name defaults to the component's name). */
  ami?: Partial<
    Omit<
      RegisteredAmiArgs,
      'manifestLocation' | 'manifestEtag' | 'architecture' | 'region' | 'rawImagePath' | 'imagePath'
    >
  >;
  /** The instance to run; omit to only bundle and register. */
  instance?: Omit<UnikernelInstanceArgs, 'imageId' | 'region'>;
}

/**
 * The EBS path: a raw disk image (`rawImagePath`; qcow2, VMDK, VHD, VHDX and VDI are read as raw
 * through qemu-nbd when qemu-utils is installed) written into an EBS snapshot and registered as an HVM AMI.
 */
export interface RawImagePathArgs {
  /**
   * A bootable disk image with ENA and NVMe drivers, such as Nanos makes: written into an EBS
   * snapshot, a new image uploading only the 512 KiB blocks that changed.
   */
  rawImagePath: pulumi.Input<string>;
  /** The instance-store path's inputs: not with rawImagePath. */
  kernelPath?: undefined;
  imagePath?: undefined;
  architecture?: RegisteredAmiArgs['architecture'];
  region?: RegisteredAmiArgs['region'];
  /** The AMI's name (default: the component's name), boot mode, encryption, description and tags. */
  ami?: Partial<Omit<EbsAmiArgs, 'architecture' | 'region'>>;
  /** The instance to run (a current Nitro type such as t3.micro); omit to only register. */
  instance?: Omit<UnikernelInstanceArgs, 'imageId' | 'region'>;
}

/** Either path: kernelPath or imagePath (instance-store), or rawImagePath (EBS), exactly one. */
export type UnikernelArgs = BundlePathArgs | RawImagePathArgs;

/** The bundle a Unikernel makes: none on the EBS path. */
export type BundleOf<A extends UnikernelArgs> = A extends { rawImagePath: pulumi.Input<string> }
  ? undefined
  : BundledImage;

/** Which path the args take, or the one-line refusal (for programs that are not type-checked). */
function pathOf(name: string, args: UnikernelArgs): 'bundle' | 'ebs' {
  const given = (['kernelPath', 'imagePath', 'rawImagePath'] as const).filter((key) => args[key] !== undefined);
  if (given.includes('rawImagePath') && given.length > 1)
    throw new Error(
      `Unikernel ${name}: give rawImagePath (a raw disk image: the EBS path) or ${given.filter((key) => key !== 'rawImagePath').join(' and ')} (the instance-store path), not both`,
    );
  if (given.length === 0)
    throw new Error(
      `Unikernel ${name}: give kernelPath (a Xen PV kernel) or imagePath (a PV-GRUB disk image) for the instance-store path, or rawImagePath (a raw disk image) for the EBS path`,
    );
  return given.includes('rawImagePath') ? 'ebs' : 'bundle';
}

/**
 * A unikernel in one resource, by either path:
 * - `kernelPath` or `imagePath`: the instance-store path, kernel or image → bundle in S3 → AMI →
 *   instance. The AMI is paravirtual unless `ami.virtualizationType` is hvm, so by default the
 *   instance type must be C1, C3, M1, M2 or M3, in a region that still has PV (see
 *   RegisteredAmiArgs.manifestLocation).
 * - `rawImagePath`: the EBS path, a raw disk image → EBS snapshot (EBS direct APIs) → HVM AMI →
 *   instance, on current (Nitro) instance types in any region. `bundle` is then undefined.
 */
export class Unikernel<A extends UnikernelArgs = BundlePathArgs> extends pulumi.ComponentResource {
  readonly bundle: BundleOf<A>;
  readonly ami: RegisteredAmi;
  readonly instance?: UnikernelInstance;
  readonly imageId: pulumi.Output<string>;
  /** The EBS path's root snapshot (undefined on the instance-store path). */
  readonly snapshotId: pulumi.Output<string | undefined>;
  readonly instanceId?: pulumi.Output<string>;

  constructor(name: string, args: A, opts?: pulumi.ComponentResourceOptions) {
    super('unikernel:index:Unikernel', name, {}, refuseAwsProvider('Unikernel', opts));
    const path = pathOf(name, args);
    let bundle: BundledImage | undefined;
    if (path === 'ebs') {
      const { rawImagePath, ami, architecture, region } = args as RawImagePathArgs; // pathOf: rawImagePath given
      this.ami = ebsAmi(this, name, rawImagePath, { ...ami, architecture, region });
    } else {
      const { ami, instance: _instance, ...bundleArgs } = args as BundlePathArgs; // pathOf: no rawImagePath
      bundle = new BundledImage(`${name}-bundle`, bundleArgs, { parent: this });
      this.ami = new RegisteredAmi(
        `${name}-ami`,
        {
          name,
          ...ami,
          // The ids stay known in a preview when a resource changes only in place (outputs do not):
          // the bundle's id is its manifest location (a bundle made again gets a new one).
          manifestLocation: bundle.id,
          architecture: bundleArgs.architecture,
          kernelId: ami?.kernelId ?? bundleArgs.kernelId,
          region: bundleArgs.region,
        },
        { parent: this },
      );
    }
    // BundleOf<A> is BundledImage exactly when the args take the bundle path (pathOf above).
    this.bundle = bundle as BundleOf<A>;
    this.imageId = this.ami.imageId;
    this.snapshotId = this.ami.snapshotId;
    this.instance = componentInstance(this, name, this.ami.id, args.instance, args.region);
    this.instanceId = this.instance?.instanceId;
    this.registerOutputs(
      bundle
        ? { imageId: this.imageId, instanceId: this.instanceId, manifestLocation: bundle.manifestLocation }
        : { imageId: this.imageId, instanceId: this.instanceId, snapshotId: this.snapshotId },
    );
  }
}
