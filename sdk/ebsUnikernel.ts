import * as pulumi from '@pulumi/pulumi';
import { refuseAwsProvider } from './awsProviderOption';
import { ebsAmi, EbsAmiArgs } from './ebsAmi';
import { RegisteredAmi } from './registeredAmi';
import { componentInstance, UnikernelInstance, UnikernelInstanceArgs } from './unikernelInstance';

/** The EBS path's inputs: the raw image and what RegisteredAmi takes for it (no bundle inputs). */
export interface EbsUnikernelArgs extends EbsAmiArgs {
  /**
   * A bootable disk image with ENA and NVMe drivers, such as Nanos makes (raw; qcow2, VMDK, VHD,
   * VHDX and VDI are read as raw through qemu-nbd when qemu-utils is installed): written into an EBS snapshot, a
   * new image uploading only the blocks that changed.
   */
  rawImagePath: pulumi.Input<string>;
  /** The instance to run (a current Nitro type such as t3.micro); omit to only register. */
  instance?: Omit<UnikernelInstanceArgs, 'imageId' | 'region'>;
}

/**
 * The EBS path in one resource: a raw disk image → EBS snapshot (EBS direct APIs) → HVM AMI →
 * instance, on current (Nitro) instance types in any region.
 *
 * @deprecated `new Unikernel(name, { rawImagePath, ami: {...}, instance })` does the same. This
 * class stays, unchanged, because its component type (`unikernel:index:EbsUnikernel`) is part of
 * the URNs of the resources of stacks that use it: moving them under `Unikernel` would replace them.
 */
export class EbsUnikernel extends pulumi.ComponentResource {
  readonly ami: RegisteredAmi;
  readonly instance?: UnikernelInstance;
  readonly imageId: pulumi.Output<string>;
  readonly snapshotId: pulumi.Output<string | undefined>;
  readonly instanceId?: pulumi.Output<string>;

  constructor(name: string, args: EbsUnikernelArgs, opts?: pulumi.ComponentResourceOptions) {
    super('unikernel:index:EbsUnikernel', name, {}, refuseAwsProvider('EbsUnikernel', opts));
    const { rawImagePath, instance, ...amiArgs } = args;
    this.ami = ebsAmi(this, name, rawImagePath, amiArgs);
    this.imageId = this.ami.imageId;
    this.snapshotId = this.ami.snapshotId;
    this.instance = componentInstance(this, name, this.ami.id, instance, args.region);
    this.instanceId = this.instance?.instanceId;
    this.registerOutputs({ imageId: this.imageId, snapshotId: this.snapshotId, instanceId: this.instanceId });
  }
}
