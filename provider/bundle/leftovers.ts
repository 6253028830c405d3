/**
 * Hidden temporary files that a killed run left in a local bundle folder: the parts it had not yet
 * renamed and a manifest it had not yet moved into place. A later run of the same bundle name
 * removes those whose process no longer runs, and leaves a running one's alone.
 */
import { promises as fs } from 'fs';
import * as path from 'path';

function escaped(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The process id that made `entry`, when it is a hidden temporary file of the bundle `name` (pure). */
export function temporaryOwner(name: string, entry: string): number | undefined {
  const n = escaped(name);
  const patterns = [
    // FolderPartStore: .NAME.PID-HEX.part.I.tmp
    new RegExp(`^\\.${n}\\.(\\d+)-[0-9a-f]+\\.part\\.\\d+\\.tmp$`),
    // writeFileAtomically of the manifest: .NAME.manifest.xml.PID-HEX.tmp
    new RegExp(`^\\.${n}\\.manifest\\.xml\\.(\\d+)-[0-9a-f]+\\.tmp$`),
    // checkDestination's probe: .NAME.PID.write-test
    new RegExp(`^\\.${n}\\.(\\d+)\\.write-test$`),
  ];
  for (const pattern of patterns) {
    const match = pattern.exec(entry);
    if (match) return Number(match[1]);
  }
  return undefined;
}

export function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes the temporaries of `name` in `directory` whose process is gone; returns the names removed. */
export async function removeDeadTemporaries(
  directory: string,
  name: string,
  entries: readonly string[],
  running: (pid: number) => boolean = processRuns,
): Promise<string[]> {
  const dead = entries.filter((entry) => {
    const pid = temporaryOwner(name, entry);
    return pid !== undefined && pid !== process.pid && !running(pid);
  });
  await Promise.all(dead.map((entry) => fs.rm(path.join(directory, entry), { force: true })));
  return dead;
}
