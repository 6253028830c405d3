/**
 * Preloaded into a child process (NODE_OPTIONS=--require …): writes the process's peak resident set
 * size in KiB to the file named by PEAK_RSS_FILE when it exits, so a test can bound a real run's memory.
 *
 * The peak is Linux's VmHWM, the high-water mark of this program's own memory. getrusage's maxRSS is
 * not used where VmHWM is there: it keeps the peak of the process image before exec, so a child
 * started (forked) by a test process holding 160 MiB reports at least 160 MiB, whatever it uses.
 */
import { readFileSync, writeFileSync } from 'fs';

function peakKiB(): number {
  try {
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (match) return Number(match[1]);
  } catch {
    // Not Linux: fall back to getrusage.
  }
  return process.resourceUsage().maxRSS;
}

const target = process.env.PEAK_RSS_FILE;
if (target) process.on('exit', () => writeFileSync(target, String(peakKiB())));
