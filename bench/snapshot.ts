/**
 * The snapshot benchmark (`npm run bench -- --only snapshot`): uploadSnapshot writing a random
 * image of 128 blocks of 512 KiB into the fake AWS of the tests, with 50 ms injected on every
 * PutSnapshotBlock, at 1, 16, 32 and 64 blocks in flight; reported as blocks per second and as
 * ratios against one in flight, measured in one process. One configuration without injected
 * latency (32 in flight) shows the ceiling the CPU sets.
 *
 * Blocks per second are timed over the block phase (from StartSnapshot's answer to the last
 * PutSnapshotBlock's); the whole upload (StartSnapshot, CompleteSnapshot, waiting for completed) is
 * reported beside it.
 *
 * Honesty checks, the only way this part fails: every snapshot must be completed and hold exactly
 * the image padded to 512 KiB (SHA-256 of the volume), written in exactly one PutSnapshotBlock per
 * block.
 */
import { createHash } from 'crypto';
import { promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { createEbsClient, createEc2Client } from '../provider/aws/clients';
import { EBS_BLOCK_BYTES } from '../provider/aws/ebsBlocks';
import { uploadSnapshot } from '../provider/aws/ebsUpload';
import { FakeS3, FakeThread, startFakeS3 } from './fakeS3';
import { MiB, writeDenseImage } from './fixtures';

const BLOCKS = 128;
/** The last block holds 312 KiB of image, so padding is part of what is checked. */
const IMAGE_BYTES = BLOCKS * EBS_BLOCK_BYTES - 200 * 1024;
export const SNAPSHOT_LATENCY_MS = 50;
const CONCURRENCIES = [1, 16, 32, 64];
/** Without injected latency: what the CPU allows (hashing, signing, the fake's own checks). */
const REFERENCE = { latencyMs: 0, concurrency: 32 };

export interface SnapshotRun {
  /** From StartSnapshot's answer to the last block's. */
  blockSeconds: number;
  /** The whole uploadSnapshot call. */
  wallSeconds: number;
  /** User + system CPU of the whole process (uploader, and the fake on either thread). */
  cpuSeconds: number;
  blocksPerSecond: number;
  putRequests: number;
}

export interface SnapshotSeries {
  latencyMs: number;
  concurrency: number;
  runs: SnapshotRun[];
  blocksPerSecond: { median: number; min: number; max: number };
  wallSeconds: number;
  cpuSeconds: number;
  /** Median blocks/s / the median at one in flight with the same latency. */
  overOneInFlight: number;
  /** What the latency alone allows: blocks / (ceil(blocks / concurrency) × latency). */
  latencyCeilingBlocksPerSecond?: number;
}

export interface SnapshotReport {
  runs: number;
  fakeThread: FakeThread;
  latencyMs: number;
  image: { bytes: number; blocks: number; description: string };
  series: SnapshotSeries[];
  /** In flight → median blocks/s there / at one in flight, with latencyMs on every PutSnapshotBlock. */
  ratios: Record<string, number>;
  notes: string[];
  snapshotBenchSeconds: number;
}

export interface SnapshotBenchOptions {
  folder: string;
  runs: number;
  fakeThread: FakeThread;
  signal: AbortSignal;
  progress: (line: string) => void;
  check: (name: string, ok: boolean, detail: string) => void;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

const seriesName = (latencyMs: number, concurrency: number) => `${latencyMs} ms, ${concurrency} in flight`;

async function paddedSha256(file: string): Promise<string> {
  const image = await fs.readFile(file);
  return createHash('sha256')
    .update(image)
    .update(Buffer.alloc(BLOCKS * EBS_BLOCK_BYTES - image.length))
    .digest('hex');
}

export async function benchSnapshot(options: SnapshotBenchOptions): Promise<SnapshotReport> {
  const { folder, runs, signal, progress, check } = options;
  const started = Date.now();
  const snapshotFolder = path.join(folder, 'snapshot');
  await fs.mkdir(snapshotFolder, { recursive: true });
  progress(
    `snapshot: writing a ${(IMAGE_BYTES / MiB).toFixed(2)} MiB random image (${BLOCKS} blocks of 512 KiB, the last partial)`,
  );
  const image = await writeDenseImage(path.join(snapshotFolder, 'disk.raw'), IMAGE_BYTES, 0, signal);
  const expected = await paddedSha256(image.path);
  const fake: FakeS3 = await startFakeS3(options.fakeThread);
  const settings = {
    endpoint: fake.endpoint,
    region: fake.region,
    credentials: fake.credentials,
    maxSockets: Math.max(...CONCURRENCIES),
  };
  const ebs = createEbsClient(settings);
  const ec2 = createEc2Client(settings);
  const problems = new Map<string, string[]>();
  const wait = { minDelaySeconds: 0.02, maxDelaySeconds: 0.05, maxWaitSeconds: 30 };
  try {
    progress(`snapshot: fake AWS at ${fake.endpoint} on the ${fake.thread} thread`);
    const once = async (name: string, concurrency: number): Promise<SnapshotRun> => {
      let blocksStarted = 0;
      let blocksEnded = 0;
      const cpuBefore = process.cpuUsage();
      const wallStarted = process.hrtime.bigint();
      const result = await uploadSnapshot({
        ebs,
        ec2,
        imagePath: image.path,
        concurrency,
        wait,
        signal,
        onProgress: (update) => {
          const now = Number(process.hrtime.bigint()) / 1e9;
          if (update.phase === 'uploading' && blocksStarted === 0) blocksStarted = now;
          if (update.phase === 'completing') blocksEnded = now;
        },
      });
      const wallSeconds = Number(process.hrtime.bigint() - wallStarted) / 1e9;
      const cpu = process.cpuUsage(cpuBefore);
      const checked = await fake.call({ op: 'snapshotCheck', snapshotId: result.snapshotId });
      const found: string[] = [];
      if (checked.state !== 'completed') found.push(`${result.snapshotId} is ${checked.state ?? 'gone'}`);
      if (checked.volumeSha256 !== expected || checked.blocksHeld !== BLOCKS)
        found.push(
          `${result.snapshotId} holds ${checked.blocksHeld} blocks (${checked.volumeBytes} bytes) with SHA-256 ${checked.volumeSha256}, not the padded image's ${expected}`,
        );
      if (checked.putRequests !== BLOCKS || checked.putsOk !== BLOCKS)
        found.push(
          `${result.snapshotId}: ${checked.putRequests} PutSnapshotBlock (${checked.putsOk} answered 201), expected ${BLOCKS}`,
        );
      problems.set(name, [...(problems.get(name) ?? []), ...found]);
      await fake.call({ op: 'deleteSnapshot', snapshotId: result.snapshotId });
      const blockSeconds = blocksEnded - blocksStarted;
      return {
        blockSeconds,
        wallSeconds,
        cpuSeconds: (cpu.user + cpu.system) / 1e6,
        blocksPerSecond: BLOCKS / blockSeconds,
        putRequests: checked.putRequests,
      };
    };

    // Warm-up, not recorded: module loading, JIT and the client's first connections.
    await fake.call({ op: 'setBlockLatency', ms: 0 });
    const warmUp = await once('warm-up', 64);
    progress(`snapshot: warm-up (no latency, 64 in flight) ${warmUp.wallSeconds.toFixed(2)} s, not recorded`);

    const configurations = [
      ...CONCURRENCIES.map((concurrency) => ({ latencyMs: SNAPSHOT_LATENCY_MS, concurrency })),
      REFERENCE,
    ];
    const measured = new Map<string, SnapshotRun[]>();
    for (let run = 0; run < runs; run++) {
      progress(`snapshot: run ${run + 1}/${runs}`);
      // Alternate the order, so that no configuration always runs first or on a warmer machine.
      const order = run % 2 === 0 ? configurations : [...configurations].reverse();
      for (const { latencyMs, concurrency } of order) {
        await fake.call({ op: 'setBlockLatency', ms: latencyMs });
        const name = seriesName(latencyMs, concurrency);
        const result = await once(name, concurrency);
        measured.set(name, [...(measured.get(name) ?? []), result]);
        progress(
          `  ${name}: ${result.blocksPerSecond.toFixed(1)} blocks/s (blocks ${result.blockSeconds.toFixed(2)} s, whole upload ${result.wallSeconds.toFixed(2)} s, CPU ${result.cpuSeconds.toFixed(2)} s)`,
        );
      }
    }

    const medianRate = (latencyMs: number, concurrency: number) =>
      median((measured.get(seriesName(latencyMs, concurrency)) ?? []).map((entry) => entry.blocksPerSecond));
    const series: SnapshotSeries[] = configurations.map(({ latencyMs, concurrency }) => {
      const runsOf = measured.get(seriesName(latencyMs, concurrency)) ?? [];
      const rates = runsOf.map((entry) => entry.blocksPerSecond);
      const rate = median(rates);
      return {
        latencyMs,
        concurrency,
        runs: runsOf,
        blocksPerSecond: { median: rate, min: Math.min(...rates), max: Math.max(...rates) },
        wallSeconds: median(runsOf.map((entry) => entry.wallSeconds)),
        cpuSeconds: median(runsOf.map((entry) => entry.cpuSeconds)),
        overOneInFlight: latencyMs === SNAPSHOT_LATENCY_MS ? rate / medianRate(latencyMs, 1) : Number.NaN,
        latencyCeilingBlocksPerSecond:
          latencyMs > 0 ? BLOCKS / ((Math.ceil(BLOCKS / concurrency) * latencyMs) / 1000) : undefined,
      };
    });
    for (const name of [
      'warm-up',
      ...configurations.map(({ latencyMs, concurrency }) => seriesName(latencyMs, concurrency)),
    ]) {
      const found = problems.get(name) ?? [];
      const count = name === 'warm-up' ? 1 : runs;
      check(
        `snapshot ${name}: each of the ${count} snapshot(s) completed, holding exactly the padded image, one PutSnapshotBlock per block`,
        found.length === 0,
        found.join('; '),
      );
    }
    const ratios = Object.fromEntries(
      series
        .filter((entry) => entry.latencyMs === SNAPSHOT_LATENCY_MS && entry.concurrency > 1)
        .map((entry) => [String(entry.concurrency), entry.overOneInFlight]),
    );
    const reference =
      series.find((entry) => entry.latencyMs === REFERENCE.latencyMs)?.blocksPerSecond.median ?? Number.NaN;
    const cpuBound = series
      .filter((entry) => entry.latencyMs > 0 && (entry.latencyCeilingBlocksPerSecond ?? 0) > reference)
      .map((entry) => entry.concurrency);
    const notes = [
      `Without injected latency the uploader and the fake reach ${reference.toFixed(0)} blocks/s here (${os.availableParallelism()} CPUs, load average ${os.loadavg()[0].toFixed(2)} at the end): ` +
        'per block the uploader hashes 512 KiB once (the signature reuses that SHA-256) and the fake hashes it twice (signature, x-amz-Checksum), over HTTP on the same machine.' +
        (cpuBound.length > 0
          ? ` At ${cpuBound.join(', ')} in flight the latency alone would allow more than that, so those rows measure the CPU, not the pipelining.`
          : ''),
    ];
    return {
      runs,
      fakeThread: fake.thread,
      latencyMs: SNAPSHOT_LATENCY_MS,
      image: {
        bytes: IMAGE_BYTES,
        blocks: BLOCKS,
        description: `${BLOCKS} blocks of random data, the last ${(EBS_BLOCK_BYTES - 200 * 1024) / 1024} KiB`,
      },
      series,
      ratios,
      notes,
      snapshotBenchSeconds: (Date.now() - started) / 1000,
    };
  } finally {
    ebs.destroy();
    ec2.destroy();
    await fake.stop();
    await fs.rm(snapshotFolder, { recursive: true, force: true });
  }
}

function table(rows: string[][]): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, index) => (widths[index] = Math.max(widths[index] ?? 0, cell.length)));
  return rows.map((row) =>
    row
      .map((cell, index) => (index === 0 ? cell.padEnd(widths[index] ?? 0) : cell.padStart(widths[index] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
}

export function formatSnapshot(report: SnapshotReport): string[] {
  const lines: string[] = [];
  lines.push('snapshot');
  lines.push(`image:   ${report.image.description}: ${report.image.bytes.toLocaleString('en-US')} bytes`);
  lines.push(
    `method:  uploadSnapshot (EBS direct APIs) against the fake AWS on 127.0.0.1, on ${report.fakeThread === 'worker' ? 'a worker thread' : 'the main thread'} of this process; ` +
      `${report.runs} runs per configuration; blocks/s = blocks / time from StartSnapshot's answer to the last block's, median (min–max); ` +
      'whole upload = StartSnapshot to completed; CPU = user+sys of the whole process; latency ceiling = blocks / (ceil(blocks / in flight) × latency)',
  );
  lines.push('');
  const header = [
    'PutSnapshotBlock latency',
    'in flight',
    'blocks/s',
    '(min–max)',
    'vs 1 in flight',
    'latency ceiling',
    'whole upload s',
    'CPU s',
  ];
  const rows = report.series.map((entry) => [
    `${entry.latencyMs} ms`,
    String(entry.concurrency),
    entry.blocksPerSecond.median.toFixed(1),
    `(${entry.blocksPerSecond.min.toFixed(1)}–${entry.blocksPerSecond.max.toFixed(1)})`,
    Number.isNaN(entry.overOneInFlight) ? '-' : `${entry.overOneInFlight.toFixed(2)}x`,
    entry.latencyCeilingBlocksPerSecond === undefined ? '-' : entry.latencyCeilingBlocksPerSecond.toFixed(1),
    entry.wallSeconds.toFixed(2),
    entry.cpuSeconds.toFixed(2),
  ]);
  lines.push(...table([header, ...rows]));
  lines.push('');
  lines.push('ratios');
  for (const [concurrency, ratio] of Object.entries(report.ratios)) {
    lines.push(
      `  blocks/s, ${concurrency} in flight / 1 in flight (${report.latencyMs} ms on every PutSnapshotBlock): ${ratio.toFixed(2)}x`,
    );
  }
  for (const note of report.notes) lines.push(`note:    ${note}`);
  lines.push(`snapshot bench took ${report.snapshotBenchSeconds.toFixed(0)} s`);
  return lines;
}
