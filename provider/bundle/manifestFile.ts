/**
 * Reads a NAME.manifest.xml named by the user: only a regular file of at most MAX_MANIFEST_BYTES,
 * without blocking (a FIFO or a device is refused at once), for every command that reads one.
 */
import { readSmallFile, SmallFileError } from '../common/smallFile';
import { BundleInputError, BundleIntegrityError } from './errors';
import { MAX_MANIFEST_BYTES } from './manifestParse';

export async function readManifestFile(manifestPath: string): Promise<string> {
  try {
    return await readSmallFile(manifestPath, MAX_MANIFEST_BYTES);
  } catch (error) {
    if (!(error instanceof SmallFileError)) throw error;
    if (error.problem === 'too-large') {
      throw new BundleIntegrityError(
        'manifest-size',
        `${manifestPath} is larger than ${MAX_MANIFEST_BYTES} bytes; bundle manifests are far smaller, so this is not one`,
      );
    }
    const fault =
      error.problem === 'missing'
        ? 'does not exist'
        : error.problem === 'directory'
          ? 'is a directory'
          : error.message.replace(/; give a regular file$/, '');
    throw new BundleInputError('manifest', `${manifestPath} ${fault}; give the NAME.manifest.xml of the bundle`);
  }
}
