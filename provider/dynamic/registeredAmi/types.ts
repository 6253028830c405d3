/**
 * RegisteredAmi: an AMI registered either from an instance-store bundle manifest in S3, or from a
 * raw disk image written straight into an EBS snapshot (an EBS-backed HVM AMI for Nitro types).
 */
import type { BootMode, RootVolumeType } from '../../aws/ebsImages';
import type { InstanceStoreMapping, VirtualizationType } from '../../aws/images';

export interface RegisteredAmiInputs {
  /** bucket/prefix/NAME.manifest.xml, normally BundledImage.manifestLocation; or give imagePath. */
  manifestLocation?: string;
  /** A raw bootable disk image, uploaded into an EBS snapshot through the EBS direct APIs. */
  imagePath?: string;
  /** EBS source: ENA networking, needed by Nitro types (default true). */
  enaSupport?: boolean;
  /** EBS source: legacy-bios, uefi or uefi-preferred (default uefi for arm64). */
  bootMode?: BootMode;
  /** EBS source: "v2.0" makes instances require IMDSv2 (default), or "optional". */
  imdsSupport?: 'v2.0' | 'optional';
  /** EBS source: root volume size in GiB (default: the image's size rounded up). */
  volumeSize?: number;
  /** EBS source: root volume type (default gp3). */
  volumeType?: RootVolumeType;
  /** EBS source: skip all-zero blocks (faster; do not use for encrypted launches). Default false. */
  skipZeroBlocks?: boolean;
  /** Set by check for imagePath: SHA-256 of the image. */
  sourceHash?: string;
  /** The manifest's ETag (BundledImage.manifestEtag): a bundle made again re-registers the AMI. */
  manifestEtag?: string;
  name: string;
  description?: string;
  /** x86_64 or i386 for bundles; x86_64 or arm64 for EBS images. */
  architecture?: 'x86_64' | 'i386' | 'arm64';
  virtualizationType?: VirtualizationType;
  /** Default for paravirtual AMIs: Amazon's PV-GRUB hd0 kernel for the region, looked up. */
  kernelId?: string;
  ramdiskId?: string;
  blockDeviceMappings?: InstanceStoreMapping[];
  tags?: Record<string, string>;
  region?: string;
  /** Deadline for registering and waiting until available, in seconds (default 1800). */
  timeoutSeconds?: number;
}

export interface RegisteredAmiOutputs extends RegisteredAmiInputs {
  imageId: string;
  rootDeviceType: 'instance-store' | 'ebs';
  /** EBS source: the root snapshot, deleted with the AMI. */
  snapshotId?: string;
  region: string;
  /** The kernel the AMI boots with (the input, or the PV-GRUB kernel found). */
  effectiveKernelId?: string;
  state: string;
  tags: Record<string, string>;
}
