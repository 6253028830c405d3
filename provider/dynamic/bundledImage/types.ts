/**
 * BundledImage, declared once: what the program gives (inputs) and what the state holds (outputs).
 * The doc comments are the sdk's (BundledImageArgs and the resource's outputs). Declaration order
 * is the order of the diff's `replaces`.
 */
import type { BlockDeviceMapping } from '../../bundle/manifest';
import { BUNDLE_ACLS } from '../../aws/acl';
import { kinds, shared, InputsOf, OutputsOf, PlannedOf, property, publicInputs, StateOf } from '../schema';

const { strings, numbers, flags, oneOf, matching, listOf, record } = kinds;

/**
 * "intact"; "unfinished" (an upload that stopped partway: its parts stay in S3 with NAME.resume.json
 * and the next update resumes it); "incomplete upload" (a failed upload whose objects could not all
 * be removed); or "damaged: …", what refresh found wrong with the objects in S3.
 */
export type BundleStatus = 'intact' | 'unfinished' | 'incomplete upload' | `damaged: ${string}`;

export const UNFINISHED: BundleStatus = 'unfinished';

const bundleStatuses = matching<BundleStatus>(
  (value) =>
    value === 'intact' || value === UNFINISHED || value === 'incomplete upload' || value.startsWith('damaged: '),
);

export const bundledImageSchema = {
  /** Set by check: SHA-256 of what the bundle is made from (image content, or kernel + options). */
  sourceHash: property(strings, { checked: true, output: 'always', change: 'replace', resource: 'declared' }),
  /** The AWS account id that will register the AMI (12 digits). */
  accountId: property(strings, { input: 'required', output: 'always', change: 'replace' }),
  architecture: property(oneOf(['x86_64', 'i386']), {
    input: 'optional',
    output: 'maybe',
    change: 'replace',
    default: 'x86_64',
    resource: 'declared',
    shownAs: strings,
  }),
  kernelId: property(strings, { input: 'optional', output: 'maybe', change: 'replace' }),
  ramdiskId: property(strings, { input: 'optional', output: 'maybe', change: 'replace' }),
  blockDeviceMappings: property(listOf(record<BlockDeviceMapping>()(['virtual', 'device'])), {
    input: 'optional',
    output: 'maybe',
    change: 'replace',
  }),
  productCodes: property(listOf(strings), { input: 'optional', output: 'maybe', change: 'replace' }),
  /** Store zero blocks as holes (default true). */
  sparse: property(flags, { input: 'optional', output: 'maybe', change: 'replace', default: true }),
  bucket: property(strings, { input: 'required', output: 'always', change: 'replace', resource: 'declared' }),
  acl: property(oneOf(BUNDLE_ACLS), {
    input: 'optional',
    output: 'maybe',
    change: 'replace',
    default: 'aws-exec-read',
  }),
  /** NAME of NAME.manifest.xml; default: the image's file name (or the kernel's + ".img"). */
  bundleName: property(strings, { input: 'optional', output: 'always', change: 'replace', resource: 'declared' }),
  /** Key prefix in the bucket, e.g. "images/" (bundles go under PREFIX/<bundle key>/). */
  keyPrefix: property(strings, { input: 'optional', output: 'always', change: 'replace', resource: 'declared' }),
  /** Compared with the effective region (the input, else the provider's): a move replaces. */
  region: shared.region,
  /** PEM certificate of privateKey (self-signed is fine: `unikernel-ami keygen`). */
  certificate: property(strings, { input: 'required', output: 'always', change: 'replace' }),
  /**
   * PEM EC2 bundling certificate for the region, from Amazon's ec2-ami-tools: cert-ec2.pem for the
   * commercial regions that existed before 2019; opt-in regions (af-south-1, ap-east-1, me-south-1,
   * il-central-1, …) have their own in newer ec2-ami-tools; cert-ec2-cn*.pem for China,
   * cert-ec2-gov.pem for GovCloud.
   */
  ec2Certificate: property(strings, { input: 'required', output: 'always', change: 'replace' }),
  /** A ready disk image to bundle; or give kernelPath. */
  imagePath: property(strings, { input: 'optional', output: 'maybe', change: 'update' }),
  /**
   * A Xen PV kernel (e.g. mir-app.xen from MirageOS ≤ 3.8 `-t xen`, or a Mini-OS-based or Unikraft
   * Xen PV kernel), built into a PV-GRUB-bootable ext2 image first. A PVH kernel (what MirageOS 3.9
   * and later build with `-t xen`) is refused: PV-GRUB cannot boot it.
   */
  kernelPath: property(strings, { input: 'optional', output: 'maybe', change: 'update' }),
  createBucket: property(flags, { input: 'optional', output: 'maybe', change: 'update' }),
  /** Deadline for bundling and uploading, in seconds (default 1800). */
  timeoutSeconds: property(numbers, { input: 'optional', output: 'maybe', change: 'update' }),
  /** Size of the image built from kernelPath, e.g. "32M". */
  imageSize: property(strings, { input: 'optional', output: 'maybe', change: 'update' }),
  /** Kernel command line for the image built from kernelPath. */
  kernelCommandLine: property(strings, { input: 'optional', output: 'maybe', change: 'update' }),
  /** PEM RSA private key that signs the manifest. Always kept secret, never written to outputs. */
  privateKey: property(strings, { input: 'required', secret: true, change: 'none' }),
  privateKeyPassphrase: property(strings, { input: 'optional', secret: true, change: 'none' }),
  /**
   * The bundle's folder under keyPrefix: a content-derived key plus a suffix per bundle made, so a
   * changed or remade bundle never overwrites one an AMI uses.
   */
  bundleKey: property(strings, { output: 'always', change: 'none', resource: 'declared' }),
  /** RegisterImage's ImageLocation: bucket/keyPrefix/bundleKey/NAME.manifest.xml. */
  manifestLocation: property(strings, { output: 'always', change: 'none', resource: 'declared' }),
  manifestKey: property(strings, { output: 'always', change: 'none', resource: 'declared' }),
  /** S3 ETag (MD5) of the manifest: changes whenever the bundle is made again. */
  manifestEtag: property(strings, { output: 'always', change: 'none', resource: 'declared' }),
  partKeys: property(listOf(strings), { output: 'always', change: 'none' }),
  partEtags: property(listOf(strings), { output: 'always', change: 'none' }),
  /** SHA-1 of the tar stream, as in the manifest. */
  imageDigest: property(strings, {
    output: 'always',
    onceMade: true,
    change: 'none',
    resource: 'declared',
  }),
  /** SHA-256 of the disk image that was bundled. */
  imageSha256: property(strings, {
    output: 'always',
    onceMade: true,
    change: 'none',
    resource: 'declared',
  }),
  imageBytes: property(numbers, {
    output: 'always',
    onceMade: true,
    change: 'none',
    resource: 'declared',
  }),
  bundledSize: property(numbers, {
    output: 'always',
    onceMade: true,
    change: 'none',
    resource: 'declared',
  }),
  partCount: property(numbers, {
    output: 'always',
    onceMade: true,
    change: 'none',
    resource: 'declared',
  }),
  certificateFingerprint: property(strings, { output: 'always', change: 'none' }),
  ec2CertificateFingerprint: property(strings, { output: 'always', change: 'none' }),
  /** Intact, unfinished (the update resumes it), an incomplete upload, or damaged (replaced). */
  bundleStatus: property(bundleStatuses, { output: 'always', change: 'none', resource: 'declared', shownAs: strings }),
};

export type BundledImageSchema = typeof bundledImageSchema;
export type BundledImageInputs = InputsOf<BundledImageSchema>;
export type BundledImageOutputs = OutputsOf<BundledImageSchema>;
/** What read, update and delete receive: an unfinished upload's state has no image facts yet. */
export type BundledImageState = StateOf<BundledImageSchema>;
/** What check and diff judge. */
export type PlannedBundledImage = PlannedOf<BundledImageSchema>;

/** Inputs that may be stored in outputs (everything but the secrets). */
export const PUBLIC_INPUTS = publicInputs(bundledImageSchema);
