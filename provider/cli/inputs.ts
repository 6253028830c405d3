/**
 * Turns CLI file options into the core's inputs, and core errors into one line naming the option
 * and wording the remedy with the CLI's options and commands.
 */
import { readFileSync } from 'fs';
import { AwsInputError } from '../aws/errors';
import { BundleSuspendedError } from '../bundle/bundle';
import { BundleIntegrityError } from '../bundle/errors';
import { InputError, isErrnoException, reworded } from '../common/errors';
import { Remedy } from '../common/remedy';

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
  }
}

export class CliInputError extends Error {}

/** Reads a PEM (or other small text) file named by an option. */
export function readOptionFile(field: string, filePath: string): string {
  try {
    return readFileSync(filePath, 'utf8');
  } catch (error) {
    const option = OPTION_NAMES[field] ?? field;
    if (isErrnoException(error) && error.code === 'ENOENT') {
      throw new CliInputError(`${option} ${filePath}: no such file; give the path of an existing file`);
    }
    if (isErrnoException(error) && error.code === 'EISDIR') {
      throw new CliInputError(`${option} ${filePath}: is a directory; give a file`);
    }
    throw new CliInputError(
      `${option} ${filePath}: cannot be read (${isErrnoException(error) ? error.code : String(error)})`,
    );
  }
}

/** The passphrase of an encrypted private key: from --passphrase-file, else the environment. */
export function readPassphrase(passphraseFile: string | undefined): string | undefined {
  if (passphraseFile) return readOptionFile('passphraseFile', passphraseFile).replace(/\r?\n$/, '');
  return process.env.UNIKERNEL_AMI_KEY_PASSPHRASE || undefined;
}

/**
 * One line for any failure: the option at fault (when known), and what to do in the CLI's words.
 * `optionNames`: the command's options by the core's field names (`BUCKET_OPTION_NAMES` for `bundle --bucket`).
 */
export function describeFailure(
  error: unknown,
  files: Record<string, string | undefined> = {},
  optionNames: Record<string, string> = OPTION_NAMES,
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
  if (error instanceof BundleSuspendedError) return reworded(error, cliRemedy);
  if (error instanceof BundleIntegrityError) return `bundle check failed (${error.check}): ${error.message}`;
  if (error instanceof Error && error.name === 'AbortError')
    return 'interrupted; every file this run had written was removed';
  if (error instanceof Error) return error.message;
  return String(error);
}
