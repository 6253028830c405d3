import * as pulumi from '@pulumi/pulumi';
import { refuseAwsProvider } from './awsProviderOption';
import { RegisteredAmi, RegisteredAmiArgs } from './registeredAmi';
import { componentInstance, UnikernelInstance, UnikernelInstanceArgs } from './unikernelInstance';

/** The EBS path's inputs: the raw image and what RegisteredAmi takes for it (no bundle inputs). */
export interface EbsUnikernelArgs extends Omit<
  RegisteredAmiArgs,
  | 'imagePath'
  | 'name'
  | 'manifestLocation'
  | 'manifestEtag'
  | 'kernelId'
  | 'ramdiskId'
  | 'blockDeviceMappings'
  | 'virtualizationType'
> {
  /**
   * A raw bootable disk image (not qcow2, VMDK, VHD or VDI) with ENA and NVMe drivers, such as
   * Nanos makes: written into an EBS snapshot, a new image uploading only the blocks that changed.
   */
  rawImagePath: pulumi.Input<string>;
  /** The AMI's name (default: the component's name). */
  name?: pulumi.Input<string>;
  /** The instance to run (a current Nitro type such as t3.micro); omit to only register. */
  instance?: Omit<UnikernelInstanceArgs, 'imageId' | 'region'>;
}

/**
 * The EBS path in one resource: a raw disk image → EBS snapshot (EBS direct APIs) → HVM AMI →
 * instance, on current (Nitro) instance types in any region. For Xen PV kernels, use `Unikernel`
 * (the instance-store path).
 */
export class EbsUnikernel extends pulumi.ComponentResource {
  readonly ami: RegisteredAmi;
  readonly instance?: UnikernelInstance;
  readonly imageId: pulumi.Output<string>;
  readonly snapshotId: pulumi.Output<string | undefined>;
  readonly instanceId?: pulumi.Output<string>;

  constructor(name: string, args: EbsUnikernelArgs, opts?: pulumi.ComponentResourceOptions) {
    super('unikernel:index:EbsUnikernel', name, {}, refuseAwsProvider('EbsUnikernel', opts));
    const { rawImagePath, instance, name: amiName, ...amiArgs } = args;
    this.ami = new RegisteredAmi(
      `${name}-ami`,
      { ...amiArgs, name: amiName ?? name, imagePath: rawImagePath },
      { parent: this },
    );
    this.imageId = this.ami.imageId;
    this.snapshotId = this.ami.snapshotId;
    this.instance = componentInstance(this, name, this.ami.id, instance, args.region);
    this.instanceId = this.instance?.instanceId;
    this.registerOutputs({ imageId: this.imageId, snapshotId: this.snapshotId, instanceId: this.instanceId });
  }
}
