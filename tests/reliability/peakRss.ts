/**
 * Preloaded into a child process (NODE_OPTIONS=--require …): writes the process's peak resident set
 * size in KiB to the file named by PEAK_RSS_FILE when it exits, so a test can bound a real run's memory.
 */
import { writeFileSync } from 'fs';

const target = process.env.PEAK_RSS_FILE;
if (target) process.on('exit', () => writeFileSync(target, String(process.resourceUsage().maxRSS)));
