/** The benchmark's figures (also its JSON output) and their table for the terminal. */

export type SeriesKey = 'ours200' | 'pipeline200' | 'oursNoSparse200' | 'ours4g' | 'pipeline4g' | 'nodeBaseline' | 'cliStartup';

export interface RunFigures {
  wallSeconds: number;
  /** CPU time of the whole process tree. */
  userSeconds: number;
  systemSeconds: number;
  peakRssKiB: number;
}

export interface Series {
  key: SeriesKey;
  label: string;
  image: { name: string; size: number; allocated: number };
  runs: RunFigures[];
  /** Sum of the part files' sizes. */
  bundledBytes: number;
  parts: number;
  tarBytes: number;
  /** SHA-1 of the tar stream. */
  digest: string;
}

export interface SeriesSummary extends Series {
  wallSeconds: { median: number; min: number; max: number };
  /** Medians over the runs. */
  userSeconds: number;
  systemSeconds: number;
  /** Highest peak RSS over the runs, in MB (10^6 bytes). */
  peakRssMB: number;
}

export interface Report {
  machine: {
    nproc: string;
    cpu: string;
    memoryBytes: number;
    loadAverageAtStart: number[];
    node: string;
    tar: string;
    gzip: string;
    openssl: string;
  };
  runs: number;
  peakRssMethod: string;
  peakRssFloorMB: number;
  images: Record<string, { name: string; size: number; allocated: number; description: string }>;
  series: SeriesSummary[];
  ratios: {
    pipelineOverOursWall: number;
    pipelineOverOursNoSparseWall: number;
    noSparseOverOursWall: number;
    pipelineOverOursCpu: number;
    pipelineOverOurs4gWall: number;
    peakRss4gOver200m: number;
    peakRssOursOverPipeline: number;
    bundledOursOverPipeline: number;
  };
  targets: { name: string; text: string; met: boolean }[];
  checks: { name: string; ok: boolean; detail: string }[];
  notes: string[];
  benchSeconds: number;
}

const MiB = 1024 * 1024;

export function sizeLabel(bytes: number): string {
  if (bytes >= 1024 * MiB) return `${(bytes / (1024 * MiB)).toFixed(bytes % (1024 * MiB) === 0 ? 0 : 1)} GiB`;
  return `${(bytes / MiB).toFixed(bytes % MiB === 0 ? 0 : 1)} MiB`;
}

function grouped(value: number): string {
  return value.toLocaleString('en-US');
}

function table(rows: string[][], rightAligned: Set<number>): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, index) => (widths[index] = Math.max(widths[index] ?? 0, cell.length)));
  return rows.map((row) =>
    row
      .map((cell, index) => (rightAligned.has(index) ? cell.padStart(widths[index] ?? 0) : cell.padEnd(widths[index] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
}

export function formatReport(report: Report): string {
  const { machine } = report;
  const lines: string[] = [];
  lines.push('unikernel-ami bundle benchmark');
  lines.push(
    `machine: nproc ${machine.nproc}, ${machine.cpu}, ${(machine.memoryBytes / (1024 * MiB)).toFixed(1)} GiB RAM, ` +
      `load average ${machine.loadAverageAtStart.join(' ')} at start`,
  );
  lines.push(`tools:   node ${machine.node}; ${machine.tar}; ${machine.gzip}; ${machine.openssl}`);
  lines.push(`runs:    ${report.runs} per configuration; wall, user and sys time = median (min–max of wall); user/sys = CPU time of the whole process tree; peak RSS = highest over the runs, 1 MB = 10^6 bytes`);
  lines.push(`peak RSS: ${report.peakRssMethod}; floor of the method ${report.peakRssFloorMB.toFixed(1)} MB`);
  lines.push('');

  const header = ['image', 'bundler', 'wall s', '(min–max)', 'user s', 'sys s', 'peak RSS MB', 'tar stream bytes', 'bundled bytes', 'parts'];
  const rows = report.series.map((series) => [
    series.image.size === 0 ? '-' : `${sizeLabel(series.image.size)} (${sizeLabel(series.image.allocated)} on disk)`,
    series.label,
    series.wallSeconds.median.toFixed(2),
    `(${series.wallSeconds.min.toFixed(2)}–${series.wallSeconds.max.toFixed(2)})`,
    series.userSeconds.toFixed(2),
    series.systemSeconds.toFixed(2),
    series.peakRssMB.toFixed(1),
    series.image.size === 0 ? '' : grouped(series.tarBytes),
    series.image.size === 0 ? '' : grouped(series.bundledBytes),
    series.image.size === 0 ? '' : String(series.parts),
  ]);
  lines.push(...table([header, ...rows], new Set([2, 4, 5, 6, 7, 8, 9])));
  lines.push('');

  const { ratios } = report;
  lines.push('ratios');
  lines.push(
    ...table(
      [
        ['  wall time, pipeline / ours (200 MiB)', `${ratios.pipelineOverOursWall.toFixed(2)}x`],
        ['  wall time, pipeline / ours --no-sparse (200 MiB)', `${ratios.pipelineOverOursNoSparseWall.toFixed(2)}x`],
        ['  CPU time (user+sys), pipeline / ours (200 MiB)', `${ratios.pipelineOverOursCpu.toFixed(2)}x`],
        ['  wall time, ours --no-sparse / ours (what zero-block detection saves)', `${ratios.noSparseOverOursWall.toFixed(2)}x`],
        ['  wall time, pipeline / ours (4 GiB sparse)', `${ratios.pipelineOverOurs4gWall.toFixed(2)}x`],
        ['  peak RSS, ours 4 GiB / ours 200 MiB', `${ratios.peakRss4gOver200m.toFixed(2)}x`],
        ["  peak RSS, ours / the pipeline's largest process (200 MiB)", `${ratios.peakRssOursOverPipeline.toFixed(2)}x`],
        ['  bundled bytes, ours / pipeline (200 MiB)', `${ratios.bundledOursOverPipeline.toFixed(4)}x`],
      ],
      new Set([1]),
    ),
  );
  lines.push('');
  lines.push('targets (information only: the bench does not fail on speed or memory)');
  for (const target of report.targets) lines.push(`  [${target.met ? 'met    ' : 'not yet'}] ${target.text}`);
  lines.push('');
  lines.push('checks');
  for (const check of report.checks) lines.push(`  ${check.ok ? 'ok  ' : 'FAIL'} ${check.name}${check.ok ? '' : ` (${check.detail})`}`);
  if (report.notes.length > 0) {
    lines.push('');
    lines.push('notes');
    for (const note of report.notes) lines.push(`  ${note}`);
  }
  lines.push('');
  lines.push(`bench took ${report.benchSeconds.toFixed(0)} s; ${report.checks.every((check) => check.ok) ? 'all checks passed' : 'SOME CHECKS FAILED'}`);
  return `${lines.join('\n')}\n`;
}
