/** The qemu-nbd processes serving a file, as /proc shows them (Linux): what a test checks is gone. */
import { readdirSync, readFileSync } from 'fs';
import * as path from 'path';

export function qemuNbdServing(file: string): number[] {
  const wanted = path.resolve(file);
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let args: string[];
    try {
      args = readFileSync(`/proc/${name}/cmdline`, 'latin1').split('\0');
    } catch {
      continue; // gone meanwhile
    }
    if (path.basename(args[0] ?? '') === 'qemu-nbd' && args.some((arg) => arg && path.resolve(arg) === wanted))
      pids.push(Number(name));
  }
  return pids;
}

/** Waits up to `ms` for no qemu-nbd to serve the file; returns those still there. */
export async function qemuNbdGone(file: string, ms = 5000): Promise<number[]> {
  const end = Date.now() + ms;
  for (;;) {
    const left = qemuNbdServing(file);
    if (left.length === 0 || Date.now() > end) return left;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
