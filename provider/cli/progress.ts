/** A one-line progress bar (bytes, rate, ETA) for terminals; silent elsewhere. */

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${UNITS[unit]}`;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const whole = Math.round(seconds);
  const hours = Math.floor(whole / 3600);
  const minutes = Math.floor((whole % 3600) / 60);
  const rest = String(whole % 60).padStart(2, '0');
  return hours > 0 ? `${hours}:${String(minutes).padStart(2, '0')}:${rest}` : `${minutes}:${rest}`;
}

/** The text of the bar for `done` of `total` bytes after `elapsedMs`, `width` characters of bar. */
export function formatProgress(label: string, done: number, total: number, elapsedMs: number, width = 24): string {
  const fraction = total > 0 ? Math.min(1, done / total) : 1;
  const filled = Math.round(fraction * width);
  const bar = '='.repeat(filled) + ' '.repeat(width - filled);
  const rate = elapsedMs > 0 ? (done * 1000) / elapsedMs : 0;
  const eta = rate > 0 ? (total - done) / rate : Number.NaN;
  const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
  return `${label.padEnd(8)} [${bar}] ${percent} ${formatBytes(done)} / ${formatBytes(total)}  ${formatBytes(rate)}/s  ETA ${formatDuration(eta)}`;
}

export interface ProgressSink {
  update(label: string, done: number, total: number): void;
  done(): void;
}

export class TerminalProgress implements ProgressSink {
  private label = '';
  private started = Date.now();
  private lastDraw = 0;
  private drawn = false;

  constructor(private readonly stream: NodeJS.WriteStream) {}

  update(label: string, done: number, total: number): void {
    const now = Date.now();
    if (label !== this.label) {
      if (this.drawn) this.stream.write('\n');
      this.label = label;
      this.started = now;
      this.lastDraw = 0;
    }
    if (now - this.lastDraw < 100 && done < total) return;
    this.lastDraw = now;
    this.drawn = true;
    this.stream.write(`\r${formatProgress(label, done, total, now - this.started)}`);
  }

  done(): void {
    if (this.drawn) this.stream.write('\n');
    this.drawn = false;
    this.label = '';
  }
}

export const silentProgress: ProgressSink = { update: () => undefined, done: () => undefined };
