/** Turns CLI file options into the core's inputs, and core errors into one line naming the option. */
import { readFileSync } from 'fs';
import { AwsInputError } from '../aws/errors';
import { BundleInputError, BundleIntegrityError, isErrnoException } from '../bundle/errors';

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

/** One line for any failure: the option at fault (when known), and what to do. */
export function describeFailure(error: unknown, files: Record<string, string | undefined> = {}): string {
  if (error instanceof CliInputError) return error.message;
  if (error instanceof BundleInputError) {
    const option = OPTION_NAMES[error.input] ?? error.input;
    const file = files[error.input];
    const subject = file && !error.message.startsWith(file) ? `${option} ${file}` : option;
    return `${subject}: ${error.message}`;
  }
  if (error instanceof AwsInputError) return `${OPTION_NAMES[error.input] ?? `--${error.input}`}: ${error.message}`;
  if (error instanceof BundleIntegrityError) return `bundle check failed (${error.check}): ${error.message}`;
  if (error instanceof Error && error.name === 'AbortError')
    return 'interrupted; every file this run had written was removed';
  if (error instanceof Error) return error.message;
  return String(error);
}
