import { randomBytes } from 'crypto';
import { promises as fs } from 'fs';
import * as path from 'path';

/** Hidden temporary name in the same folder, so that a rename onto the final name is atomic. */
export function temporarySibling(finalPath: string): string {
  return path.join(
    path.dirname(finalPath),
    `.${path.basename(finalPath)}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`,
  );
}

/** Writes the file under a temporary name, then renames it: readers see all of it or nothing. */
export async function writeFileAtomically(finalPath: string, content: string | Buffer): Promise<void> {
  const temporary = temporarySibling(finalPath);
  try {
    await fs.writeFile(temporary, content, { flag: 'wx', mode: 0o644 });
    await fs.rename(temporary, finalPath);
  } catch (error) {
    await fs.rm(temporary, { force: true });
    throw error;
  }
}
