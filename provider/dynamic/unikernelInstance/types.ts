/**
 * UnikernelInstance, declared once: one EC2 instance running an AMI. The doc comments are the
 * sdk's (UnikernelInstanceArgs and the resource's outputs). Declaration order is the order of the
 * diff's `replaces`.
 */
import { kinds, shared, InputsOf, OutputsOf, property } from '../schema';

const { strings, numbers, flags, oneOf, listOf, stringMap, shape } = kinds;

/** As @pulumi/aws's `metadataOptions` (ModifyInstanceMetadataOptions changes them in place). */
export const metadataOptionsKind = shape({
  /** "required" (IMDSv2, the default here) or "optional". */
  httpTokens: oneOf(['required', 'optional']),
  /** "enabled" (default) or "disabled". */
  httpEndpoint: oneOf(['enabled', 'disabled']),
  /** 1 to 64 (default 1). */
  httpPutResponseHopLimit: numbers,
  /** "enabled" or "disabled" (default). */
  instanceMetadataTags: oneOf(['enabled', 'disabled']),
});

/** As @pulumi/aws's `rootBlockDevice`, for an EBS-backed AMI only. */
export const rootBlockDeviceKind = shape({
  /** GiB, at least the AMI's snapshot size. */
  volumeSize: numbers,
  volumeType: oneOf(['gp2', 'gp3', 'io1', 'io2', 'st1', 'sc1', 'standard']),
  /** For gp3, io1 and io2. */
  iops: numbers,
  /** MiB/s, for gp3 only. */
  throughput: numbers,
  encrypted: flags,
  /** Needs `encrypted: true`. */
  kmsKeyId: strings,
  /** Default true. */
  deleteOnTermination: flags,
});

/** As @pulumi/aws's `creditSpecification`, for burstable (T) types. */
export const creditSpecificationKind = shape({ cpuCredits: oneOf(['standard', 'unlimited']) });

export const unikernelInstanceSchema = {
  imageId: property(strings, { input: 'required', output: 'always', change: 'replace' }),
  subnetId: property(strings, { input: 'optional', output: 'maybe', change: 'replace' }),
  userData: property(strings, { input: 'optional', output: 'maybe', change: 'replace' }),
  keyName: property(strings, { input: 'optional', output: 'maybe', change: 'replace' }),
  /** Changed in place (ModifyInstanceAttribute); the VPC's default group when not given. */
  securityGroupIds: property(listOf(strings), { input: 'optional', output: 'maybe', change: 'update' }),
  /**
   * Deprecated: use `metadataOptions.httpTokens` (this one still works, changed in place; giving
   * both with different values is refused). IMDSv2 is required unless this is "optional".
   */
  httpTokens: property(oneOf(['required', 'optional']), {
    input: 'optional',
    output: 'maybe',
    change: 'update',
    default: 'required',
  }),
  /** The instance profile's name or ARN (as @pulumi/aws's `iamInstanceProfile`). */
  iamInstanceProfile: property(strings, { input: 'optional', output: 'maybe', change: 'update' }),
  /** Whether the instance gets a public address (the subnet's setting when not given). */
  associatePublicIpAddress: property(flags, { input: 'optional', output: 'maybe', change: 'replace' }),
  /** The instance metadata service's options, changed in place. */
  metadataOptions: property(metadataOptionsKind, { input: 'optional', output: 'maybe', change: 'update' }),
  /** The primary private IPv4 address, in the subnet's range (EC2 picks one when not given). */
  privateIp: property(strings, { input: 'optional', output: 'maybe', change: 'replace' }),
  /** "stop" or "terminate", for an EBS-backed AMI only: what a shutdown from inside the instance does; changed in place. */
  instanceInitiatedShutdownBehavior: property(oneOf(['stop', 'terminate']), {
    input: 'optional',
    output: 'maybe',
    change: 'update',
  }),
  /** For burstable (T) types: "standard" or "unlimited" CPU credits; changed in place. */
  creditSpecification: property(creditSpecificationKind, { input: 'optional', output: 'maybe', change: 'update' }),
  /**
   * The root EBS volume of an EBS-backed AMI (refused for an instance-store one). A larger
   * volumeSize, volumeType, iops and throughput are changed in place, live (ModifyVolume: EC2 takes
   * one modification at a time, at most four a day, per volume), as is deleteOnTermination; a
   * smaller size, encrypted or kmsKeyId replace the instance. Growing the volume does not grow the
   * unikernel's file system. Fields not given are what EC2 chose, read back by refresh.
   */
  rootBlockDevice: property(rootBlockDeviceKind, { input: 'optional', output: 'maybe', change: 'update' }),
  /** Detailed (one-minute) CloudWatch monitoring; changed in place (default false). */
  monitoring: property(flags, { input: 'optional', output: 'maybe', change: 'update', default: false }),
  /** The placement group to launch in (it must exist). */
  placementGroup: property(strings, { input: 'optional', output: 'maybe', change: 'replace' }),
  /**
   * Termination protection; changed in place (default false). While true, destroy and replacement
   * are refused, as EC2 refuses TerminateInstances: set it false and run up first.
   */
  disableApiTermination: property(flags, { input: 'optional', output: 'maybe', change: 'update', default: false }),
  /**
   * A type that can boot the AMI, checked against the region's DescribeInstanceTypes before launch.
   * A paravirtual instance-store AMI boots on C1, C3, M1, M2 and M3 only (e.g. m3.medium); an
   * instance-store HVM AMI also on D2, I2, R3 and X1; an EBS-backed HVM AMI on current (Nitro)
   * types such as t3.micro. Changed in place on an EBS-backed instance (stop, modify, start, and
   * the boot verified again); an instance-store instance cannot be stopped, so it is replaced.
   */
  instanceType: property(strings, { input: 'required', output: 'always', change: 'update' }),
  tags: shared.tags,
  tagsAll: shared.tagsAll,
  /** Deadline for launching (and for terminating), in seconds (default 900). */
  timeoutSeconds: property(numbers, { input: 'optional', output: 'maybe', change: 'update' }),
  /**
   * Verify that the unikernel booted, after EC2 says running (default true): by `bootMarker` on the
   * serial console, else by the reachability status checks. A boot that is not verified fails the
   * update, keeping the instance (its id in state) and showing the last console lines; false skips it.
   */
  verifyBoot: property(flags, { input: 'optional', output: 'maybe', change: 'update', default: true }),
  /**
   * A regular expression the console prints once the unikernel is up (e.g. "listening on"). Without
   * it, the system and instance reachability checks passing confirms the boot.
   */
  bootMarker: property(strings, { input: 'optional', output: 'maybe', change: 'update' }),
  /**
   * Regular expressions of console lines that mean the boot failed, besides the built-in ones (Linux
   * panic, PV-GRUB `Error NN:`, Xen builder and crash lines, Solo5 abort/panic, Nanos panic, OCaml
   * uncaught exceptions, Mini-OS and Unikraft crashes, the firmware finding no bootable device).
   */
  bootFailurePatterns: property(listOf(strings), { input: 'optional', output: 'maybe', change: 'update' }),
  /**
   * Seconds to wait for the boot to be verified after running (default 600: without `Latest`, which
   * only Nitro types offer, EC2 posts the console minutes late).
   */
  bootTimeoutSeconds: property(numbers, { input: 'optional', output: 'maybe', change: 'update' }),
  /**
   * A TCP port the unikernel listens on once up (e.g. 80): the boot is verified only when a
   * connection to it on the instance's address succeeds too (tried at every poll until
   * `bootTimeoutSeconds`), besides the marker or the status checks.
   */
  bootPort: property(numbers, { input: 'optional', output: 'maybe', change: 'update' }),
  /**
   * Which address `bootPort` is checked on: "public" or "private" (default: the public IP when the
   * instance has one, else the private one). It must be reachable from where `pulumi up` runs.
   */
  bootPortAddress: property(oneOf(['public', 'private']), { input: 'optional', output: 'maybe', change: 'update' }),
  /** Compared with the effective region (the input, else the provider's): a move replaces. */
  region: shared.region,
  /**
   * Take over a running instance (i-…) instead of launching one: create checks it runs imageId as
   * instanceType and makes its tags the program's; refresh reads it; destroy terminates it.
   */
  adoptInstanceId: property(strings, { input: 'optional', output: 'maybe', change: 'replace' }),
  /** The instance's id. */
  instanceId: property(strings, { output: 'always', change: 'none', resource: 'declared' }),
  /** running; or what refresh found instead (a replacement follows). */
  state: property(strings, { output: 'always', change: 'none', resource: 'declared' }),
  privateIpAddress: property(strings, { output: 'maybe', change: 'none', resource: 'declared' }),
  publicIpAddress: property(strings, { output: 'maybe', change: 'none', resource: 'declared' }),
  /**
   * What boot verification found: `result` (verified, not verified, not checked), `method` (console
   * marker or status checks, "and TCP port" with `bootPort`), `at` (ISO time), `summary`, and `port`
   * (the address and port checked). Never the console's text.
   */
  bootStatus: property(stringMap, { output: 'maybe', change: 'none', resource: 'declared' }),
  /** "impaired" when refresh last found the instance reachability check failing (the next up replaces it); absent otherwise. */
  statusCheck: property(strings, { output: 'maybe', change: 'none', resource: 'declared' }),
  /** The instance's ARN (as @pulumi/aws's Instance.arn). */
  arn: property(strings, { output: 'maybe', change: 'none', resource: 'declared' }),
  /** Private and public DNS names (as @pulumi/aws's Instance names them). */
  privateDns: property(strings, { output: 'maybe', change: 'none', resource: 'declared' }),
  publicDns: property(strings, { output: 'maybe', change: 'none', resource: 'declared' }),
  /** The availability zone to launch in (given: a move replaces), else the one EC2 chose. */
  availabilityZone: property(strings, { input: 'optional', output: 'maybe', change: 'replace', resource: 'declared' }),
  /** "ebs" or "instance-store": whether a type change can be made in place. */
  rootDeviceType: property(strings, { output: 'maybe', change: 'none', resource: 'declared' }),
  /**
   * The tags of the root EBS volume of an EBS-backed instance: the stack's aws:defaultTags, given at
   * launch and kept in step in place (as @pulumi/aws's rootBlockDevice.tagsAll).
   */
  rootVolumeTags: property(stringMap, { output: 'maybe', change: 'none', resource: 'declared' }),
  /** Set by create (one per launch): a retried RunInstances returns the same instance. */
  clientToken: property(strings, { output: 'always', change: 'none', resource: 'reserved' }),
};

export type UnikernelInstanceSchema = typeof unikernelInstanceSchema;
export type UnikernelInstanceInputs = InputsOf<UnikernelInstanceSchema>;
export type UnikernelInstanceOutputs = OutputsOf<UnikernelInstanceSchema>;
