/** BundledImage: what the program gives (inputs) and what the state holds (outputs). */
import type { BlockDeviceMapping } from '../../bundle/manifest';
import type { BundleAcl } from '../../aws/acl';

export interface BundledImageInputs {
  /** A ready disk image; or give kernelPath. */
  imagePath?: string;
  /** A Xen PV kernel, built into a PV-GRUB ext2 image first. */
  kernelPath?: string;
  /** Size of the image built from kernelPath, e.g. "32M" (default: the kernel plus headroom). */
  imageSize?: string;
  /** Kernel command line written into menu.lst (kernelPath only). */
  kernelCommandLine?: string;
  /** NAME of NAME.manifest.xml (default: the image's file name, or the kernel's + ".img"). */
  bundleName?: string;
  bucket: string;
  /** Key prefix in the bucket, e.g. "images/" (bundles go under PREFIX/<bundle key>/). */
  keyPrefix?: string;
  accountId: string;
  architecture?: 'x86_64' | 'i386';
  /** PEM RSA private key (a secret): signs the manifest. Never written to outputs. */
  privateKey: string;
  privateKeyPassphrase?: string;
  /** PEM certificate of the private key. */
  certificate: string;
  /** PEM EC2 bundling certificate for the region (cert-ec2.pem for the commercial regions older than 2019; opt-in regions, China and GovCloud have their own). */
  ec2Certificate: string;
  kernelId?: string;
  ramdiskId?: string;
  blockDeviceMappings?: BlockDeviceMapping[];
  productCodes?: string[];
  acl?: BundleAcl;
  region?: string;
  createBucket?: boolean;
  /** Store zero blocks as holes (default true). */
  sparse?: boolean;
  /** Deadline for bundling and uploading, in seconds (default 1800). */
  timeoutSeconds?: number;
  /** Set by check: SHA-256 of what the bundle is made from (image content, or kernel + options). */
  sourceHash?: string;
}

/**
 * "intact"; "unfinished" (an upload that stopped partway: its parts stay in S3 with NAME.resume.json
 * and the next update resumes it); "incomplete upload" (a failed upload whose objects could not all
 * be removed); or "damaged: …", what refresh found wrong with the objects in S3.
 */
export type BundleStatus = 'intact' | 'unfinished' | 'incomplete upload' | `damaged: ${string}`;

export const UNFINISHED: BundleStatus = 'unfinished';

export interface BundledImageOutputs extends Omit<BundledImageInputs, 'privateKey' | 'privateKeyPassphrase'> {
  sourceHash: string;
  region: string;
  bundleName: string;
  keyPrefix: string;
  /** Content-derived folder under keyPrefix: a changed bundle never overwrites one an AMI uses. */
  bundleKey: string;
  /** RegisterImage's ImageLocation: bucket/keyPrefix/bundleKey/NAME.manifest.xml. */
  manifestLocation: string;
  manifestKey: string;
  /** S3 ETag (MD5) of the manifest: changes whenever the bundle is made again. */
  manifestEtag: string;
  partKeys: string[];
  partEtags: string[];
  /** SHA-1 of the tar stream, as in the manifest. */
  imageDigest: string;
  /** SHA-256 of the disk image that was bundled. */
  imageSha256: string;
  imageBytes: number;
  bundledSize: number;
  partCount: number;
  certificateFingerprint: string;
  ec2CertificateFingerprint: string;
  bundleStatus: BundleStatus;
}

/** Inputs that may be stored in outputs (everything but the secrets). */
export const PUBLIC_INPUTS = [
  'imagePath', 'kernelPath', 'imageSize', 'kernelCommandLine', 'bundleName', 'bucket', 'keyPrefix', 'accountId',
  'architecture', 'certificate', 'ec2Certificate', 'kernelId', 'ramdiskId', 'blockDeviceMappings', 'productCodes',
  'acl', 'region', 'createBucket', 'sparse', 'timeoutSeconds', 'sourceHash',
] as const satisfies readonly (keyof BundledImageInputs)[];
