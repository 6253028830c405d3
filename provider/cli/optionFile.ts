/**
 * The CLI's one reader of files named by options (-k, -c, --ec2cert, --passphrase-file, …): a regular
 * file of bounded size, read without blocking, with one line naming the option on any refusal.
 */
import { readSmallFile, SmallFileError } from '../common/smallFile';
import { CliInputError, OPTION_NAMES } from './inputs';

/** PEM keys and certificates are a few KiB; a certificate chain stays far below this. */
export const OPTION_FILE_MAX_BYTES = 1024 * 1024;
/** A passphrase is a line of text. */
export const PASSPHRASE_FILE_MAX_BYTES = 64 * 1024;

/** Reads a PEM (or other small text) file named by an option; `field` is the core's name of the input. */
export async function readOptionFile(
  field: string,
  filePath: string,
  maxBytes = OPTION_FILE_MAX_BYTES,
): Promise<string> {
  try {
    return await readSmallFile(filePath, maxBytes);
  } catch (error) {
    if (!(error instanceof SmallFileError)) throw error;
    const option = OPTION_NAMES[field] ?? field;
    const remedy = error.problem === 'missing' ? '; give the path of an existing file' : '';
    throw new CliInputError(`${option} ${filePath}: ${error.message}${remedy}`);
  }
}

/** The passphrase in --passphrase-file (its one line, without the line end). */
async function readPassphraseFile(passphraseFile: string): Promise<string> {
  const passphrase = (await readOptionFile('passphraseFile', passphraseFile, PASSPHRASE_FILE_MAX_BYTES)).replace(
    /\r?\n$/,
    '',
  );
  if (!passphrase)
    throw new CliInputError(`${OPTION_NAMES.passphraseFile} ${passphraseFile}: is empty; write the passphrase in it`);
  return passphrase;
}

/** The passphrase of an encrypted private key: from --passphrase-file, else the environment. */
export async function readPassphrase(passphraseFile: string | undefined): Promise<string | undefined> {
  if (passphraseFile) return readPassphraseFile(passphraseFile);
  return process.env.UNIKERNEL_AMI_KEY_PASSPHRASE || undefined;
}
