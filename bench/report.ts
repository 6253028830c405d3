/** The benchmark's figures (also its JSON output) and their table for the terminal. */
import { formatSnapshot, SnapshotReport } from './snapshot';
import { EbsUpdateReport, formatEbsUpdate } from './ebsUpdate';
import { ContainerPreviewReport, formatContainerPreview } from './containerPreview';

export type SeriesKey =
  | 'ours200'
  | 'oursSingle200'
  | 'pipeline200'
  | 'pipelinePigz200'
  | 'oursNoSparse200'
  | 'ours1g'
  | 'oursSingle1g'
  | 'pipeline1g'
  | 'pipelinePigz1g'
  | 'ours4g'
  | 'ours16m'
  | 'pipeline4g'
  | 'nodeBaseline'
  | 'cliStartup'
  | 'floorReuse200'
  | 'floorCipher200';

/** The parts of the benchmark `--only` chooses from. */
export type BenchPart = 'bundle' | 'upload' | 'snapshot' | 'ebs-update' | 'container-preview';
export const BENCH_PARTS: readonly BenchPart[] = ['bundle', 'upload', 'snapshot', 'ebs-update', 'container-preview'];

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

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

export interface Machine {
  nproc: string;
  cpu: string;
  memoryBytes: number;
  loadAverageAtStart: number[];
  node: string;
  tar: string;
  gzip: string;
  openssl: string;
}

/** The bundling benchmark: our CLI against ec2-bundle-image's shell pipeline. */
export interface BundleReport {
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
    /** Ours on the 4 GiB sparse image / ours on a dense image of its 16 MiB of data alone. */
    ours4gOverData16mWall: number;
    peakRss4gOver200m: number;
    peakRssOursOverPipeline: number;
    /** Peak RSS in MB that Node alone adds when a stream's calls allocate their outputs (bench/memoryFloor.ts). */
    allocatingOverReusingPeakRssMB: number;
    bundledOursOverPipeline: number;
    /** The pigz pipeline's figures are null when pigz is not installed. */
    pigzPipelineOverOursWall: number | null;
    /** Ours with --gzip single / ours (parallel gzip, the default). */
    singleOverParallelWall: number;
    /** The 1 GiB figures are null with --skip-1g. */
    pipelineOverOurs1gWall: number | null;
    pigzPipelineOverOurs1gWall: number | null;
    singleOverParallel1gWall: number | null;
    /** Same tar stream, so this is the size cost of parallel gzip against one zlib stream. */
    bundledParallelOverSingle: number;
    bundledParallelOverSingle1g: number | null;
    /** Against GNU gzip -9 (the tar streams can differ a little: ours stores zero blocks as holes). */
    bundledOursOverPipeline1g: number | null;
  };
  targets: { name: string; text: string; met: boolean }[];
}

export interface UploadRun {
  wallSeconds: number;
  /** CPU time (user + system) of this whole process during the upload: the uploader, and the fake AWS too (either thread). */
  cpuSeconds: number;
  /** PutObject requests the fake received for the upload's bucket. */
  putRequests: number;
}

export interface UploadSeries {
  /** Injected delay on every PutObject, in ms. */
  latencyMs: number;
  concurrency: number;
  runs: UploadRun[];
  wallSeconds: { median: number; min: number; max: number };
  cpuSeconds: number;
  /** Bundle bytes (parts + manifest) / median wall time, in MB/s (10^6 bytes). */
  throughputMBps: number;
  /** Median wall time at concurrency 1 / this one's, same latency. */
  speedUpOverSerial: number;
  /** What the injected latency alone costs: (ceil(parts / concurrency) waves + the manifest) × latency. */
  latencyFloorSeconds: number;
  /** Median wall time at this latency − median wall time without injected latency, same concurrency: what the latency costs. */
  latencyAddsSeconds: number;
}

/** The upload benchmark: uploadBundle against the fake AWS, serial against parallel under injected latency. */
export interface UploadReport {
  runs: number;
  /** Where the fake AWS ran: a worker thread of the benchmark's process, or its main thread. */
  fakeThread: 'worker' | 'main';
  latencyMs: number;
  bundle: {
    imageBytes: number;
    description: string;
    parts: number;
    partBytes: number;
    lastPartBytes: number;
    manifestBytes: number;
    /** Parts + manifest: what one full upload puts. */
    totalBytes: number;
    bundleSeconds: number;
  };
  series: UploadSeries[];
  ratios: {
    /** Concurrency → median wall time at concurrency 1 / at that concurrency, with `latencyMs` on every PutObject. */
    serialOverParallelWithLatency: Record<string, number>;
    /** The same without injected latency. */
    serialOverParallelWithoutLatency: Record<string, number>;
  };
  resume: {
    concurrency: number;
    latencyMs: number;
    /** The part whose PutObject had its connection reset (once, with one attempt per request). */
    resetKey: string;
    partsStoredAfterFailure: number;
    interruptedSeconds: number;
    resumedSeconds: number;
    resumedUploadedBytes: number;
    resumedPutRequests: number;
    totalBytes: number;
    /** resumedUploadedBytes / totalBytes. */
    resumedBytesFraction: number;
    /** Median full upload at the same concurrency and latency. */
    fullUploadSeconds: number;
    resumedOverFullWall: number;
  };
  uploadBenchSeconds: number;
}

export interface Report {
  /** The parts of the benchmark that ran (`--only`). */
  ran: BenchPart[];
  machine: Machine;
  bundle?: BundleReport;
  upload?: UploadReport;
  snapshot?: SnapshotReport;
  ebsUpdate?: EbsUpdateReport;
  containerPreview?: ContainerPreviewReport;
  checks: Check[];
  notes: string[];
  benchSeconds: number;
}

/**
 * The JSON output: the bundling figures stay at the top level, where they were before the upload
 * benchmark existed; the upload figures are under `upload`.
 */
export function reportJson(report: Report): string {
  const { ran, machine, bundle, upload, snapshot, ebsUpdate, containerPreview, checks, notes, benchSeconds } = report;
  return `${JSON.stringify({ ran, machine, ...bundle, upload, snapshot, ebsUpdate, containerPreview, checks, notes, benchSeconds }, null, 2)}\n`;
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
      .map((cell, index) =>
        rightAligned.has(index) ? cell.padStart(widths[index] ?? 0) : cell.padEnd(widths[index] ?? 0),
      )
      .join('  ')
      .trimEnd(),
  );
}

function optionalRatio(ratio: number | null, digits: number, why: string): string {
  return ratio === null ? `n/a (${why})` : `${ratio.toFixed(digits)}x`;
}

function formatBundle(report: BundleReport): string[] {
  const lines: string[] = [];
  lines.push('bundle');
  lines.push(
    `runs:    ${report.runs} per configuration; wall, user and sys time = median (min–max of wall); user/sys = CPU time of the whole process tree; peak RSS = highest over the runs, 1 MB = 10^6 bytes`,
  );
  lines.push(`peak RSS: ${report.peakRssMethod}; floor of the method ${report.peakRssFloorMB.toFixed(1)} MB`);
  lines.push('');

  const header = [
    'image',
    'bundler',
    'wall s',
    '(min–max)',
    'user s',
    'sys s',
    'peak RSS MB',
    'tar stream bytes',
    'bundled bytes',
    'parts',
  ];
  const rows = report.series.map((series) => [
    series.image.size === 0 ? '-' : `${sizeLabel(series.image.size)} (${sizeLabel(series.image.allocated)} on disk)`,
    series.label,
    series.wallSeconds.median.toFixed(2),
    `(${series.wallSeconds.min.toFixed(2)}–${series.wallSeconds.max.toFixed(2)})`,
    series.userSeconds.toFixed(2),
    series.systemSeconds.toFixed(2),
    series.peakRssMB.toFixed(1),
    series.parts === 0 ? '' : grouped(series.tarBytes),
    series.parts === 0 ? '' : grouped(series.bundledBytes),
    series.parts === 0 ? '' : String(series.parts),
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
        [
          '  wall time, ours --no-sparse / ours (what zero-block detection saves)',
          `${ratios.noSparseOverOursWall.toFixed(2)}x`,
        ],
        ['  wall time, pipeline / ours (4 GiB sparse)', `${ratios.pipelineOverOurs4gWall.toFixed(2)}x`],
        [
          '  wall time, ours 4 GiB sparse / ours on its 16 MiB of data alone',
          `${ratios.ours4gOverData16mWall.toFixed(2)}x`,
        ],
        ['  peak RSS, ours 4 GiB / ours 200 MiB', `${ratios.peakRss4gOver200m.toFixed(2)}x`],
        [
          "  peak RSS, ours / the pipeline's largest process (200 MiB)",
          `${ratios.peakRssOursOverPipeline.toFixed(2)}x`,
        ],
        [
          '  peak RSS, node reading + cipher.update − node reading into one buffer (200 MiB)',
          `+${ratios.allocatingOverReusingPeakRssMB.toFixed(1)} MB`,
        ],
        ['  bundled bytes, ours / pipeline (200 MiB)', `${ratios.bundledOursOverPipeline.toFixed(4)}x`],
        [
          '  wall time, ours --gzip single / ours (parallel gzip) (200 MiB)',
          `${ratios.singleOverParallelWall.toFixed(2)}x`,
        ],
        [
          '  wall time, pipeline with pigz -9 / ours (200 MiB)',
          optionalRatio(ratios.pigzPipelineOverOursWall, 2, 'pigz not installed'),
        ],
        ['  wall time, pipeline / ours (1 GiB dense)', optionalRatio(ratios.pipelineOverOurs1gWall, 2, 'skipped')],
        [
          '  wall time, pipeline with pigz -9 / ours (1 GiB dense)',
          optionalRatio(ratios.pigzPipelineOverOurs1gWall, 2, 'skipped or pigz not installed'),
        ],
        [
          '  wall time, ours --gzip single / ours (parallel gzip) (1 GiB dense)',
          optionalRatio(ratios.singleOverParallel1gWall, 2, 'skipped'),
        ],
        [
          '  bundled bytes, parallel gzip / --gzip single, same tar stream (200 MiB)',
          `${ratios.bundledParallelOverSingle.toFixed(6)}x`,
        ],
        [
          '  bundled bytes, parallel gzip / --gzip single, same tar stream (1 GiB dense)',
          optionalRatio(ratios.bundledParallelOverSingle1g, 6, 'skipped'),
        ],
        [
          '  bundled bytes, ours / pipeline (gzip -9) (1 GiB dense)',
          optionalRatio(ratios.bundledOursOverPipeline1g, 4, 'skipped'),
        ],
      ],
      new Set([1]),
    ),
  );
  lines.push('');
  lines.push('targets (information only: the bench does not fail on speed or memory)');
  for (const target of report.targets) lines.push(`  [${target.met ? 'met    ' : 'not yet'}] ${target.text}`);
  return lines;
}

function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

function formatUpload(report: UploadReport): string[] {
  const lines: string[] = [];
  const { bundle } = report;
  lines.push('upload');
  lines.push(
    `bundle:  ${bundle.description}: ${bundle.parts} parts of ${sizeLabel(bundle.partBytes)} (the last ${sizeLabel(bundle.lastPartBytes)}) + a ${grouped(bundle.manifestBytes)}-byte manifest = ` +
      `${grouped(bundle.totalBytes)} bytes per upload (bundled in ${bundle.bundleSeconds.toFixed(1)} s, not timed)`,
  );
  lines.push(
    `method:  uploadBundle against the fake AWS on 127.0.0.1, on a ${report.fakeThread === 'worker' ? 'worker thread' : 'the main thread'} of this process; ` +
      `a fresh bucket per upload; ${report.runs} runs per configuration, wall = median (min–max); MB/s = bundle bytes / median wall, 1 MB = 10^6 bytes; ` +
      'CPU s = user+sys of the whole process (uploader and fake) during the upload; latency floor = (ceil(parts / concurrency) + 1 for the manifest) × latency; ' +
      'latency adds = median wall with the latency − median wall without it, same concurrency',
  );
  lines.push('');
  const header = [
    'PutObject latency',
    'concurrency',
    'wall s',
    '(min–max)',
    'MB/s',
    'speed-up vs 1',
    'latency floor s',
    'latency adds s',
    'CPU s',
    'PUTs',
  ];
  const rows = report.series.map((series) => [
    `${series.latencyMs} ms`,
    String(series.concurrency),
    series.wallSeconds.median.toFixed(2),
    `(${series.wallSeconds.min.toFixed(2)}–${series.wallSeconds.max.toFixed(2)})`,
    series.throughputMBps.toFixed(1),
    `${series.speedUpOverSerial.toFixed(2)}x`,
    series.latencyFloorSeconds > 0 ? series.latencyFloorSeconds.toFixed(2) : '-',
    series.latencyMs > 0 ? series.latencyAddsSeconds.toFixed(2) : '-',
    series.cpuSeconds.toFixed(2),
    [...new Set(series.runs.map((run) => run.putRequests))].join('/'),
  ]);
  lines.push(...table([header, ...rows], new Set([1, 2, 4, 5, 6, 7, 8, 9])));
  lines.push('');
  lines.push('ratios');
  const ratioRows: string[][] = [];
  for (const [concurrency, ratio] of Object.entries(report.ratios.serialOverParallelWithLatency)) {
    ratioRows.push([
      `  wall time, serial / concurrency ${concurrency} (${report.latencyMs} ms on every PutObject)`,
      `${ratio.toFixed(2)}x`,
    ]);
  }
  for (const [concurrency, ratio] of Object.entries(report.ratios.serialOverParallelWithoutLatency)) {
    ratioRows.push([
      `  wall time, serial / concurrency ${concurrency} (no injected latency, reference)`,
      `${ratio.toFixed(2)}x`,
    ]);
  }
  const { resume } = report;
  ratioRows.push([
    `  resume: bytes the second run uploaded / bundle bytes (${megabytes(resume.resumedUploadedBytes)} of ${megabytes(resume.totalBytes)})`,
    `${resume.resumedBytesFraction.toFixed(4)}x`,
  ]);
  ratioRows.push([
    `  resume: wall time of the second run / a full upload (${resume.resumedSeconds.toFixed(2)} s vs ${resume.fullUploadSeconds.toFixed(2)} s)`,
    `${resume.resumedOverFullWall.toFixed(2)}x`,
  ]);
  lines.push(...table(ratioRows, new Set([1])));
  lines.push('');
  lines.push(
    `resume:  concurrency ${resume.concurrency}, ${resume.latencyMs} ms per PutObject, one connection reset on ${resume.resetKey} (one attempt per request): ` +
      `the first run failed after ${resume.interruptedSeconds.toFixed(2)} s leaving ${resume.partsStoredAfterFailure} of ${bundle.parts} parts stored; ` +
      `the second run made ${resume.resumedPutRequests} PutObject requests`,
  );
  lines.push(`upload bench took ${report.uploadBenchSeconds.toFixed(0)} s`);
  return lines;
}

export function formatReport(report: Report): string {
  const { machine } = report;
  const lines: string[] = [];
  lines.push(`unikernel-ami benchmark (${report.ran.join(', ')})`);
  lines.push(
    `machine: nproc ${machine.nproc}, ${machine.cpu}, ${(machine.memoryBytes / (1024 * MiB)).toFixed(1)} GiB RAM, ` +
      `load average ${machine.loadAverageAtStart.join(' ')} at start`,
  );
  lines.push(`tools:   node ${machine.node}; ${machine.tar}; ${machine.gzip}; ${machine.openssl}`);
  lines.push('');
  if (report.bundle) {
    lines.push(...formatBundle(report.bundle));
    lines.push('');
  }
  if (report.upload) {
    lines.push(...formatUpload(report.upload));
    lines.push('');
  }
  if (report.snapshot) {
    lines.push(...formatSnapshot(report.snapshot));
    lines.push('');
  }
  if (report.ebsUpdate) {
    lines.push(...formatEbsUpdate(report.ebsUpdate));
    lines.push('');
  }
  if (report.containerPreview) {
    lines.push(...formatContainerPreview(report.containerPreview));
    lines.push('');
  }
  lines.push('checks');
  for (const check of report.checks)
    lines.push(`  ${check.ok ? 'ok  ' : 'FAIL'} ${check.name}${check.ok ? '' : ` (${check.detail})`}`);
  if (report.notes.length > 0) {
    lines.push('');
    lines.push('notes');
    for (const note of report.notes) lines.push(`  ${note}`);
  }
  lines.push('');
  lines.push(
    `bench took ${report.benchSeconds.toFixed(0)} s; ${report.checks.every((check) => check.ok) ? 'all checks passed' : 'SOME CHECKS FAILED'}`,
  );
  return `${lines.join('\n')}\n`;
}
