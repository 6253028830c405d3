/** The destination folder of a bundle or an unbundled image: it must exist and be a folder (I/O). */
import { promises as fs } from 'fs';
import { BundleInputError, isErrnoException } from './errors';

/**
 * Runs `then` on `destination` once it is known to be a folder. A missing destination, one that is
 * not a folder, or a failure of `then` (reading the folder) is a `destination` input error: the last
 * worded by `cannot` from the error code.
 */
export async function inDestinationFolder<T>(
  destination: string,
  what: 'bundle' | 'image',
  cannot: (code: string) => string,
  then: () => Promise<T>,
): Promise<T> {
  try {
    if (!(await fs.stat(destination)).isDirectory()) {
      throw new BundleInputError(
        'destination',
        `${destination} is not a directory; give the folder to write the ${what} into`,
      );
    }
    return await then();
  } catch (error) {
    if (error instanceof BundleInputError) throw error;
    if (isErrnoException(error) && (error.code === 'ENOENT' || error.code === 'ENOTDIR')) {
      throw new BundleInputError('destination', `${destination} does not exist; create it or give another folder`);
    }
    throw new BundleInputError(
      'destination',
      `${destination} ${cannot(isErrnoException(error) ? (error.code ?? '') : String(error))}`,
    );
  }
}
