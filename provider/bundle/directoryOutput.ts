/** The classic output: part files and the manifest in a local folder, as ec2-bundle-image writes them. */
import { promises as fs } from 'fs';
import * as path from 'path';
import { writeFileAtomically } from '../common/atomicFile';
import { BundleOutput, PartSink } from './bundleOutput';
import { BundleInputError, isErrnoException } from './errors';
import { inDestinationFolder } from './destinationFolder';
import { isBundleFileOf, manifestFileName } from './parts';
import { FolderPartStore } from './folderPartStore';
import { PartCutter } from './partCutter';
import { PART_SIZE } from './constants';
import { removeDeadTemporaries } from './leftovers';

/**
 * Refuses a destination that is missing, not a folder, not writable, or holds an earlier bundle;
 * removes the hidden temporary files a killed run of this bundle left (returns their names).
 */
export async function checkDestination(destination: string, name: string): Promise<string[]> {
  const entries = await inDestinationFolder(
    destination,
    'bundle',
    (code) => `cannot be read (${code}); choose a folder you can write to`,
    () => fs.readdir(destination),
  );
  const earlier = entries.filter((entry) => isBundleFileOf(name, entry)).sort();
  if (earlier.length > 0) {
    const shown = earlier.slice(0, 3).join(', ') + (earlier.length > 3 ? `, … (${earlier.length} files)` : '');
    throw new BundleInputError(
      'destination',
      `${destination} already holds a bundle named ${name} (${shown}); delete those files or choose another bundle name`,
    );
  }
  const removed = await removeDeadTemporaries(destination, name, entries).catch(() => []);
  const probe = path.join(destination, `.${name}.${process.pid}.write-test`);
  try {
    await (await fs.open(probe, 'wx')).close();
    await fs.rm(probe, { force: true });
  } catch (error) {
    const code = isErrnoException(error) ? error.code : String(error);
    throw new BundleInputError(
      'destination',
      `${destination} is not writable (${code}); choose a folder you can write to`,
    );
  }
  return removed;
}

export class DirectoryOutput implements BundleOutput {
  readonly description: string;
  /** Hidden temporary files of a killed earlier run that prepare removed. */
  removedLeftovers: string[] = [];

  constructor(
    private readonly directory: string,
    private readonly partSize: number = PART_SIZE,
  ) {
    this.description = directory;
  }

  async prepare(name: string): Promise<void> {
    this.removedLeftovers = await checkDestination(this.directory, name);
  }

  parts(name: string): PartSink {
    return new PartCutter(new FolderPartStore(this.directory, name), this.partSize);
  }

  async writeManifest(name: string, xml: string): Promise<string> {
    const manifestPath = path.join(this.directory, manifestFileName(name));
    await writeFileAtomically(manifestPath, xml);
    return manifestPath;
  }

  async removeManifest(name: string): Promise<void> {
    await fs.rm(path.join(this.directory, manifestFileName(name)), { force: true });
  }
}
