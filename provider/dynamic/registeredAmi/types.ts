/** RegisteredAmi: an instance-store AMI registered from a bundle manifest in S3. */
import type { InstanceStoreMapping, VirtualizationType } from '../../aws/images';

export interface RegisteredAmiInputs {
  /** bucket/prefix/NAME.manifest.xml, normally BundledImage.manifestLocation. */
  manifestLocation: string;
  /** The manifest's ETag (BundledImage.manifestEtag): a bundle made again re-registers the AMI. */
  manifestEtag?: string;
  name: string;
  description?: string;
  architecture?: 'x86_64' | 'i386';
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
  region: string;
  /** The kernel the AMI boots with (the input, or the PV-GRUB kernel found). */
  effectiveKernelId?: string;
  state: string;
  tags: Record<string, string>;
}
