/**
 * RegisteredAmi, declared once: an AMI registered either from an instance-store bundle manifest in
 * S3, or from a raw disk image written straight into an EBS snapshot (an EBS-backed HVM AMI for
 * Nitro types). The doc comments are the sdk's (RegisteredAmiArgs and the resource's outputs).
 * Declaration order is the order of the diff's `replaces`.
 */
import type { InstanceStoreMapping } from '../../aws/images';
import { kinds, shared, InputsOf, OutputsOf, PlannedOf, property } from '../schema';

const { strings, numbers, flags, oneOf, listOf, record } = kinds;

/** Which source a property belongs to: a bundle manifest, a raw image, or both. */
export type AmiSource = 'bundle' | 'image';

export const registeredAmiSchema = {
  /**
   * bucket/prefix/NAME.manifest.xml: BundledImage.manifestLocation (an instance-store AMI). Paravirtual
   * by default, which boots on C1, C3, M1, M2 and M3 only, and only in the regions that still have
   * PV: us-east-1, us-west-1, us-west-2, eu-west-1, eu-central-1, ap-northeast-1, ap-southeast-1,
   * ap-southeast-2, sa-east-1, cn-north-1 and us-gov-west-1.
   */
  manifestLocation: property(strings, { input: 'optional', output: 'maybe', change: 'replace', source: 'bundle' }),
  /** BundledImage.manifestEtag, so that a bundle made again registers a new AMI. */
  manifestEtag: property(strings, { input: 'optional', output: 'maybe', change: 'replace', source: 'bundle' }),
  /**
   * Set by check for rawImagePath: the image's content identity (SHA-256 over its 512 KiB blocks' hashes,
   * holes and zero blocks alike). A change registers a new AMI on a new snapshot (a replacement).
   */
  sourceHash: property(strings, { checked: true, output: 'maybe', change: 'replace', source: 'image' }),
  /**
   * The AMI's name. The AMI is registered as NAME-xxxxxxxx (8 hex digits, new for each AMI
   * registered), so that a replacement is registered before the AMI it replaces is deregistered:
   * AMI names are unique in an account and region. See exactName.
   */
  name: property(strings, { input: 'required', output: 'always', change: 'replace', resource: 'declared' }),
  /**
   * Register the AMI as exactly `name` (default false). A replacement that keeps the name must then
   * deregister the old AMI first (delete-before-replace), and Pulumi first deletes the instances
   * that run it.
   */
  exactName: property(flags, { input: 'optional', output: 'maybe', change: 'replace', default: false }),
  architecture: property(oneOf(['x86_64', 'i386', 'arm64']), {
    input: 'optional',
    output: 'maybe',
    change: 'replace',
    default: 'x86_64',
  }),
  /**
   * Instance-store: paravirtual (the default) for a PV-GRUB image; hvm for a disk image that boots
   * by itself, which can also run on D2, I2, R3 and X1. EBS-backed AMIs are always hvm.
   */
  virtualizationType: property(oneOf(['paravirtual', 'hvm']), {
    input: 'optional',
    output: 'maybe',
    change: 'replace',
    defaultFor: { bundle: 'paravirtual', image: 'hvm' },
  }),
  /**
   * Default for paravirtual AMIs: Amazon's PV-GRUB hd0 kernel for the region (looked up). Regions
   * newer than those listed under manifestLocation have none, so a paravirtual AMI cannot be made there.
   */
  kernelId: property(strings, { input: 'optional', output: 'maybe', change: 'replace', source: 'bundle' }),
  ramdiskId: property(strings, { input: 'optional', output: 'maybe', change: 'replace', source: 'bundle' }),
  blockDeviceMappings: property(listOf(record<InstanceStoreMapping>()(['deviceName', 'virtualName'])), {
    input: 'optional',
    output: 'maybe',
    change: 'replace',
    source: 'bundle',
  }),
  /** EBS-backed: ENA networking (default true; Nitro types need it). */
  enaSupport: property(flags, {
    input: 'optional',
    output: 'maybe',
    change: 'replace',
    source: 'image',
    default: true,
  }),
  /** EBS-backed: legacy-bios, uefi or uefi-preferred (arm64 boots uefi only). */
  bootMode: property(oneOf(['legacy-bios', 'uefi', 'uefi-preferred']), {
    input: 'optional',
    output: 'maybe',
    change: 'replace',
    source: 'image',
  }),
  /** EBS-backed: "v2.0" (default) makes instances require IMDSv2. */
  imdsSupport: property(oneOf(['v2.0', 'optional']), {
    input: 'optional',
    output: 'maybe',
    change: 'replace',
    source: 'image',
    default: 'v2.0',
  }),
  /** EBS-backed: root volume size in GiB (default: the image rounded up). */
  volumeSize: property(numbers, { input: 'optional', output: 'maybe', change: 'replace', source: 'image' }),
  /** EBS-backed: root volume type (default gp3). */
  volumeType: property(oneOf(['gp3', 'gp2', 'io1', 'io2', 'standard']), {
    input: 'optional',
    output: 'maybe',
    change: 'replace',
    source: 'image',
    default: 'gp3',
  }),
  /** EBS-backed: skip all-zero blocks (not for encrypted launches). */
  skipZeroBlocks: property(flags, {
    input: 'optional',
    output: 'maybe',
    change: 'replace',
    source: 'image',
    default: false,
  }),
  /** EBS-backed: encrypt the snapshot (and so the AMI's root volume); a child of an encrypted snapshot stays encrypted. */
  encrypted: property(flags, {
    input: 'optional',
    output: 'maybe',
    change: 'replace',
    source: 'image',
    default: false,
  }),
  /** EBS-backed: the KMS key to encrypt with (needs `encrypted`; default: the account's EBS key). */
  kmsKeyArn: property(strings, { input: 'optional', output: 'maybe', change: 'replace', source: 'image' }),
  /**
   * Or a bootable disk image, written into an EBS snapshot through the EBS direct APIs: an
   * EBS-backed HVM AMI for current (Nitro) instance types. Raw, or qcow2, VMDK, VHD, VHDX or VDI
   * read as raw through qemu-nbd (Debian qemu-utils) when it is installed (refused with the
   * command to run when it is not); its identity is the raw content's.
   */
  rawImagePath: property(strings, { input: 'optional', output: 'maybe', change: 'update', source: 'image' }),
  /**
   * @deprecated The former name of rawImagePath, accepted for one release with a warning: rename it
   * to rawImagePath (a stack whose state holds imagePath sees no change).
   */
  imagePath: property(strings, { input: 'optional', output: 'maybe', change: 'none', source: 'image' }),
  description: property(strings, { input: 'optional', output: 'maybe', change: 'update' }),
  tags: shared.tags,
  tagsAll: shared.tagsAll,
  /** Deadline for registering and waiting until available, in seconds (default 1800). */
  timeoutSeconds: property(numbers, { input: 'optional', output: 'maybe', change: 'update' }),
  /** Compared with the effective region (the input, else the provider's): a move replaces. */
  region: shared.region,
  /**
   * Take over an existing AMI (ami-…) instead of registering one: create checks it is available and
   * makes its description and tags the program's; refresh reads it; destroy deregisters it (an
   * EBS-backed AMI's snapshot stays). Give no manifestLocation or rawImagePath with it.
   */
  adoptImageId: property(strings, { input: 'optional', output: 'maybe', change: 'replace' }),
  /** The name the AMI is registered under: name plus its suffix, or name with exactName. */
  imageName: property(strings, { output: 'maybe', change: 'none', resource: 'declared' }),
  /** The AMI's id. */
  imageId: property(strings, { output: 'always', change: 'none', resource: 'declared' }),
  /** available; or what refresh found instead (a replacement follows). */
  state: property(strings, { output: 'always', change: 'none', resource: 'declared' }),
  rootDeviceType: property(oneOf(['instance-store', 'ebs']), {
    output: 'always',
    change: 'none',
    resource: 'declared',
  }),
  /** EBS-backed: the root snapshot, deleted with the AMI. */
  snapshotId: property(strings, { output: 'maybe', change: 'none', resource: 'declared' }),
  /**
   * Set by check for rawImagePath: the image's blocks (compact hashes). The next check hands them to the
   * replacement as parentBlockList, so that it uploads only what changed.
   */
  blockList: property(strings, {
    checked: true,
    output: 'maybe',
    change: 'none',
    source: 'image',
    resource: 'reserved',
  }),
  /**
   * Set by check when rawImagePath's content changed: the previous image's identity and blocks. The
   * replacement writes its snapshot as a child of a completed snapshot of that image (found by its
   * identity tag), with only the blocks that differ. Never a reason to change anything.
   */
  parentSourceHash: property(strings, { checked: true, change: 'none', source: 'image' }),
  parentBlockList: property(strings, { checked: true, change: 'none', source: 'image' }),
  /** The kernel the AMI boots with (the input, or the PV-GRUB kernel found). */
  effectiveKernelId: property(strings, { output: 'maybe', change: 'none', resource: 'declared' }),
};

export type RegisteredAmiSchema = typeof registeredAmiSchema;
export type RegisteredAmiInputs = InputsOf<RegisteredAmiSchema>;
export type RegisteredAmiOutputs = OutputsOf<RegisteredAmiSchema>;
export type PlannedAmi = PlannedOf<RegisteredAmiSchema>;
