/**
 * Turns CLI file options into the core's inputs, and core errors into one line naming the option
 * and wording the remedy with the CLI's options and commands.
 */
import { AwsInputError } from '../aws/errors';
import { BundleSuspendedError } from '../bundle/bundle';
import { BundleIntegrityError } from '../bundle/errors';
import { InputError, reworded } from '../common/errors';
import { Remedy } from '../common/remedy';
import { isStopError, StopCause, stoppedMessage } from './interruption';

/** Option names as ec2-bundle-image and ec2-unbundle spell them, keyed by the core's field names. */
export const OPTION_NAMES: Record<string, string> = {
  image: '-i/--image',
  privateKey: '-k/--privatekey',
  userCertificate: '-c/--cert',
  ec2Certificate: '--ec2cert',
  accountId: '-u/--user',
  architecture: '-r/--arch',
  destination: '-d/--destination',
  name: '-p/--prefix',
  kernelId: '--kernel',
  ramdiskId: '--ramdisk',
  blockDeviceMappings: '-B/--block-device-mapping',
  productCodes: '--productcodes',
  manifest: '-m/--manifest',
  bucket: '-b/--bucket',
  acl: '--acl',
  region: '--region',
  source: '-s/--source',
  passphraseFile: '--passphrase-file',
  logFile: '--log-file',
  kernel: '--kernel',
  out: '-o/--out',
  size: '--size',
  cmdline: '--cmdline',
  volumeSize: '--volume-size',
  concurrency: '--concurrency',
  description: '--description',
  timeoutMinutes: '--timeout',
};

/** The option names of `register`, `run`, `console`, `terminate` and `deregister` (the AWS CLI's). */
export const EC2_OPTION_NAMES: Record<string, string> = {
  ...OPTION_NAMES,
  name: '-n/--name',
  imageId: '--image-id',
  instanceType: '-t/--instance-type',
  instanceId: '--instance-id',
  snapshotId: '--snapshot-id',
  bootMarker: '--boot-marker',
  bootFailurePatterns: '--boot-failure-pattern',
  keyName: '-k/--key-name',
  subnetId: '-s/--subnet-id',
  securityGroupIds: '-g/--security-group-ids',
  bootPortAddress: '--boot-port-address',
  associatePublicIpAddress: '--associate-public-ip-address',
};

/** The option names of `bundle --bucket`, where the core's destination is the bucket. */
export const BUCKET_OPTION_NAMES: Record<string, string> = { ...OPTION_NAMES, destination: OPTION_NAMES.bucket };

/** A core remedy in the CLI's words: its options and its commands. */
export function cliRemedy(remedy: Remedy): string {
  switch (remedy.kind) {
    case 'passphrase':
      return `set UNIKERNEL_AMI_KEY_PASSPHRASE or pass ${OPTION_NAMES.passphraseFile}`;
    case 'createBucket':
      return 'create it, or ask for it to be created (--create-bucket)';
    case 'deleteOrRename':
      return 'delete it (unikernel-ami delete-bundle) or choose another bundle name or prefix';
    case 'deleteAndRebundle':
      return `delete the unfinished bundle (unikernel-ami delete-bundle -p ${remedy.name}) and bundle again`;
    case 'resumeOrDelete':
      return `bundle the same image with the same options to resume it, or delete it (unikernel-ami delete-bundle -p ${remedy.name})`;
    case 'resumeLater':
      return 'run the same command again to resume, or delete them with unikernel-ami delete-bundle';
    case 'bundleDiskImage':
      return 'a ready disk image is bundled as it is (unikernel-ami bundle -i)';
    case 'waitOrDelete':
      return `wait for that run to end, or, if none is running, delete it (unikernel-ami delete-bundle -p ${remedy.name})`;
    case 'removeRecord':
      return `delete the bundle there (unikernel-ami delete-bundle -p ${remedy.name}) or remove that object, then run the command again`;
    case 'portWithoutPublicIp':
      return 'use --boot-port-address private (reachable from where the command runs), or --associate-public-ip-address';
  }
}

export class CliInputError extends Error {}

/** The AWS SDK's region errors ("Region is missing", "Region not accepted: …") as the option and its remedy. */
function regionFailure(error: unknown): string | undefined {
  const message = error instanceof Error ? error.message : '';
  if (/\bRegion is missing\b/.test(message))
    return `${OPTION_NAMES.region}: no AWS region is set; pass ${OPTION_NAMES.region} (such as us-east-1) or set AWS_REGION or a region in the AWS profile`;
  const refused = /\bRegion not accepted: region="([^"]*)"/.exec(message);
  if (refused?.[1] === '')
    return `${OPTION_NAMES.region}: the AWS region is set empty; pass ${OPTION_NAMES.region} (such as us-east-1) or set AWS_REGION`;
  if (refused)
    return `${OPTION_NAMES.region} (or AWS_REGION) ${JSON.stringify(refused[1])}: not an AWS region name; give one such as us-east-1`;
  return undefined;
}

/**
 * One line for any failure: the option at fault (when known), and what to do in the CLI's words.
 * `optionNames`: the command's options by the core's field names (`BUCKET_OPTION_NAMES` for `bundle --bucket`).
 */
export function describeFailure(
  error: unknown,
  files: Record<string, string | undefined> = {},
  optionNames: Record<string, string> = OPTION_NAMES,
  stopCause: StopCause = 'signal',
): string {
  if (error instanceof CliInputError) return error.message;
  if (error instanceof AwsInputError)
    return `${optionNames[error.input] ?? `--${error.input}`}: ${reworded(error, cliRemedy)}`;
  if (error instanceof InputError) {
    const option = optionNames[error.input] ?? error.input;
    const file = files[error.input];
    const subject = file && !error.message.startsWith(file) ? `${option} ${file}` : option;
    return `${subject}: ${reworded(error, cliRemedy)}`;
  }
  if (error instanceof BundleSuspendedError) {
    const line = reworded(error, cliRemedy);
    // The cause's own words ("This operation was aborted") say less than why it stopped.
    const causeText = error.cause instanceof Error ? error.cause.message : undefined;
    return isStopError(error.cause) && causeText && line.startsWith(causeText)
      ? `${stoppedMessage('', stopCause)}${line.slice(causeText.length)}`
      : line;
  }
  if (isStopError(error)) return stoppedMessage('', stopCause);
  const region = regionFailure(error);
  if (region) return region;
  if (error instanceof BundleIntegrityError) return `bundle check failed (${error.check}): ${error.message}`;
  if (error instanceof Error) return error.message;
  return String(error);
}

/** The line a run prints when its bundle is whole but S3 would not remove its claim object. */
export function claimLeftLine(claimLeft: string): string {
  return `The bundle is whole, but its claim could not be removed: ${claimLeft}. A run on another host finds the place held until it is: remove that object (aws s3 rm)`;
}
