import { promises as fs } from 'fs';
import { CliInputError } from './inputs';
import { isErrnoException } from '../common/errors';

/** Creates a file that must not exist yet (never overwrites a key), with the given mode. */
export async function writeNewFile(option: string, filePath: string, content: string, mode: number): Promise<void> {
  try {
    await fs.writeFile(filePath, content, { flag: 'wx', mode });
  } catch (error) {
    if (isErrnoException(error) && error.code === 'EEXIST') {
      throw new CliInputError(
        `${option} ${filePath}: already exists; it was left untouched: choose another path or remove it`,
      );
    }
    if (isErrnoException(error) && error.code === 'ENOENT') {
      throw new CliInputError(`${option} ${filePath}: its folder does not exist; create it first`);
    }
    if (isErrnoException(error) && error.code === 'ENOTDIR') {
      throw new CliInputError(
        `${option} ${filePath}: a part of its folder path is a file, not a folder; give a path in an existing folder`,
      );
    }
    if (isErrnoException(error) && ['EACCES', 'EPERM', 'EROFS', 'ENOSPC', 'EISDIR'].includes(error.code ?? '')) {
      throw new CliInputError(`${option} ${filePath}: cannot be written (${error.code}); give a path you can write to`);
    }
    throw error;
  }
}
