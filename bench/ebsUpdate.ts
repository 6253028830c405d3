/**
 * The EBS path's updates and previews (`npm run bench -- --only ebs-update`):
 *
 * - update: a 1 GiB random image uploaded whole into a snapshot, then 1 MiB of it changed and the
 *   new image uploaded as a child of that snapshot (ParentSnapshotId, only the changed blocks),
 *   against the fake AWS with SNAPSHOT_LATENCY_MS on every PutSnapshotBlock, 32 blocks in flight:
 *   blocks uploaded and wall time of each.
 * - preview: a no-op preview's file work, RegisteredAmi's check (the content identity) and diff,
 *   each in a fresh Node process as the plugin runs it, on a 10 GiB sparse image holding 16 MiB and
 *   on the 1 GiB dense one, against hashing the whole file (SHA-256 of every byte, what check did
 *   before) in a fresh process.
 *
 * Honesty checks, the only way this part fails: the child snapshot is completed and holds exactly
 * the new image padded to 512 KiB, written with exactly the changed blocks; the preview reports
 * no change.
 */
import { spawnSync } from 'child_process';
import { createHash, randomFillSync } from 'crypto';
import { createReadStream, promises as fs } from 'fs';
import * as path from 'path';
import { createEbsClient, createEc2Client } from '../provider/aws/clients';
import { EBS_BLOCK_BYTES } from '../provider/aws/ebsBlocks';
import { uploadSnapshot } from '../provider/aws/ebsUpload';
import { FakeS3, FakeThread, startFakeS3 } from './fakeS3';
import { GiB, MiB, writeDenseImage, writeSparseImage } from './fixtures';
import { SNAPSHOT_LATENCY_MS } from './snapshot';

const CONCURRENCY = 32;
const CHANGED_BYTES = MiB;
/** Where the changed MiB starts: inside a block, so it touches three. */
const CHANGED_AT = 512 * MiB + 100 * 1024;

export interface EbsUpdateReport {
  latencyMs: number;
  concurrency: number;
  full: { blocksUploaded: number; wallSeconds: number };
  update: { blocksUploaded: number; wallSeconds: number };
  /** Full wall time / update wall time. */
  speedup: number;
  preview: {
    name: string;
    bytes: number;
    dataBytes: number;
    checkDiffSeconds: number;
    wholeFileSha256Seconds: number;
    /** Whole-file hashing / check + diff. */
    ratio: number;
  }[];
  notes: string[];
}

export interface EbsUpdateOptions {
  folder: string;
  fakeThread: FakeThread;
  signal: AbortSignal;
  progress: (line: string) => void;
  check: (name: string, ok: boolean, detail: string) => void;
}

async function paddedSha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 4 * MiB })) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return hash.update(Buffer.alloc((EBS_BLOCK_BYTES - (bytes % EBS_BLOCK_BYTES)) % EBS_BLOCK_BYTES)).digest('hex');
}

/** Runs a script in a fresh Node process; returns its wall time and its stdout. */
export function fresh(script: string): { seconds: number; stdout: string } {
  const started = process.hrtime.bigint();
  const result = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', maxBuffer: 16 * MiB });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (result.status !== 0) throw new Error(`bench script failed: ${result.stderr}`);
  return { seconds, stdout: result.stdout };
}

const OPERATIONS = path.resolve(__dirname, '..', 'provider', 'dynamic', 'registeredAmi', 'operations.js');

/** RegisteredAmi's check, then diff of the checked inputs against themselves as the state: a no-op preview. */
export function checkAndDiff(image: string): { seconds: number; changes: boolean; sourceHash: string } {
  const script = `
    const ops = require(${JSON.stringify(OPERATIONS)});
    (async () => {
      const checked = await ops.check({}, { rawImagePath: ${JSON.stringify(image)}, name: 'bench-image', region: 'us-east-1' });
      if (checked.failures.length > 0) throw new Error(JSON.stringify(checked.failures));
      const diff = ops.diff(checked.inputs, checked.inputs);
      process.stdout.write(JSON.stringify({ changes: diff.changes, sourceHash: checked.inputs.sourceHash }));
    })().catch((error) => { console.error(error); process.exit(1); });`;
  const run = fresh(script);
  const { changes, sourceHash } = JSON.parse(run.stdout) as { changes: boolean; sourceHash: string };
  return { seconds: run.seconds, changes, sourceHash };
}

export function wholeFileSha256(image: string): number {
  return fresh(`
    const hash = require('crypto').createHash('sha256');
    const stream = require('fs').createReadStream(${JSON.stringify(image)}, { highWaterMark: 1024 * 1024 });
    stream.on('data', (chunk) => hash.update(chunk));
    stream.on('end', () => process.stdout.write(hash.digest('hex')));`).seconds;
}

export async function benchEbsUpdate(options: EbsUpdateOptions): Promise<EbsUpdateReport> {
  const { signal, progress, check } = options;
  const folder = path.join(options.folder, 'ebs-update');
  await fs.mkdir(folder, { recursive: true });
  const fake: FakeS3 = await startFakeS3(options.fakeThread);
  const settings = { endpoint: fake.endpoint, region: fake.region, credentials: fake.credentials, maxSockets: 64 };
  const ebs = createEbsClient(settings);
  const ec2 = createEc2Client(settings);
  const wait = { minDelaySeconds: 0.02, maxDelaySeconds: 0.05, maxWaitSeconds: 60 };
  try {
    progress('ebs-update: writing a 1 GiB random image');
    const dense = await writeDenseImage(path.join(folder, 'dense.raw'), GiB, 0, signal);
    await fake.call({ op: 'setBlockLatency', ms: SNAPSHOT_LATENCY_MS });
    const timed = async <T>(work: () => Promise<T>) => {
      const started = process.hrtime.bigint();
      const value = await work();
      return { value, seconds: Number(process.hrtime.bigint() - started) / 1e9 };
    };
    const upload = (parent?: { snapshotId: string; blockList?: string }) =>
      uploadSnapshot({ ebs, ec2, imagePath: dense.path, concurrency: CONCURRENCY, wait, signal, parent });
    progress(`ebs-update: full upload, ${SNAPSHOT_LATENCY_MS} ms on every PutSnapshotBlock, ${CONCURRENCY} in flight`);
    const full = await timed(() => upload());
    progress(`  ${full.value.blocksUploaded} blocks in ${full.seconds.toFixed(2)} s`);
    const handle = await fs.open(dense.path, 'r+');
    try {
      await handle.write(randomFillSync(Buffer.alloc(CHANGED_BYTES)), 0, CHANGED_BYTES, CHANGED_AT);
    } finally {
      await handle.close();
    }
    const changed =
      Math.floor((CHANGED_AT + CHANGED_BYTES - 1) / EBS_BLOCK_BYTES) - Math.floor(CHANGED_AT / EBS_BLOCK_BYTES) + 1;
    progress(`ebs-update: 1 MiB changed (${changed} blocks); update as a child of ${full.value.snapshotId}`);
    const update = await timed(() => upload({ snapshotId: full.value.snapshotId, blockList: full.value.blockList }));
    progress(`  ${update.value.blocksUploaded} blocks in ${update.seconds.toFixed(2)} s`);
    const expected = await paddedSha256(dense.path);
    const checked = await fake.call({ op: 'snapshotCheck', snapshotId: update.value.snapshotId });
    check(
      `ebs-update: the child snapshot is completed, holds exactly the new image and was written with the ${changed} changed blocks only`,
      checked.state === 'completed' &&
        checked.volumeSha256 === expected &&
        checked.putsOk === changed &&
        update.value.parentSnapshotId === full.value.snapshotId,
      `${checked.state}, SHA-256 ${checked.volumeSha256} vs ${expected}, ${checked.putsOk} blocks written, parent ${update.value.parentSnapshotId ?? 'none'}`,
    );
    await fake.call({ op: 'deleteSnapshot', snapshotId: update.value.snapshotId });
    await fake.call({ op: 'deleteSnapshot', snapshotId: full.value.snapshotId });

    progress('ebs-update: a 10 GiB sparse image holding 16 MiB');
    const data = randomFillSync(Buffer.alloc(16 * MiB));
    const sparse = await writeSparseImage(path.join(folder, 'sparse.raw'), data, 10 * GiB, signal);
    const preview = [];
    for (const [name, image, dataBytes] of [
      ['10 GiB sparse, 16 MiB of data', sparse, 16 * MiB],
      ['1 GiB dense', dense, GiB],
    ] as const) {
      signal.throwIfAborted();
      const ours = checkAndDiff(image.path);
      const whole = wholeFileSha256(image.path);
      check(`ebs-update: a no-op preview of the ${name} image finds no change`, !ours.changes, 'diff found changes');
      progress(`  ${name}: check + diff ${ours.seconds.toFixed(2)} s, whole-file SHA-256 ${whole.toFixed(2)} s`);
      preview.push({
        name,
        bytes: image.size,
        dataBytes,
        checkDiffSeconds: ours.seconds,
        wholeFileSha256Seconds: whole,
        ratio: whole / ours.seconds,
      });
    }
    return {
      latencyMs: SNAPSHOT_LATENCY_MS,
      concurrency: CONCURRENCY,
      full: { blocksUploaded: full.value.blocksUploaded, wallSeconds: full.seconds },
      update: { blocksUploaded: update.value.blocksUploaded, wallSeconds: update.seconds },
      speedup: full.seconds / update.seconds,
      preview,
      notes: [
        'Both uploads hash the image first (its data blocks); the update then reads and sends only the changed blocks. ' +
          'Preview times include starting Node and loading the provider (as each preview does); the page cache is warm for both methods.',
      ],
    };
  } finally {
    ebs.destroy();
    ec2.destroy();
    await fake.stop();
    await fs.rm(folder, { recursive: true, force: true });
  }
}

export function formatEbsUpdate(report: EbsUpdateReport): string[] {
  const lines = ['ebs-update'];
  lines.push(
    `update of a 1 GiB image with 1 MiB changed (${report.latencyMs} ms on every PutSnapshotBlock, ${report.concurrency} in flight):`,
  );
  lines.push(`  full upload:        ${report.full.blocksUploaded} blocks, ${report.full.wallSeconds.toFixed(2)} s`);
  lines.push(`  incremental update: ${report.update.blocksUploaded} blocks, ${report.update.wallSeconds.toFixed(2)} s`);
  lines.push(`  full / update wall time: ${report.speedup.toFixed(1)}x`);
  lines.push(
    'no-op preview (RegisteredAmi check + diff, fresh process) against hashing the whole file (fresh process):',
  );
  for (const row of report.preview)
    lines.push(
      `  ${row.name}: ${row.checkDiffSeconds.toFixed(2)} s against ${row.wholeFileSha256Seconds.toFixed(2)} s (${row.ratio.toFixed(1)}x)`,
    );
  for (const note of report.notes) lines.push(`note:    ${note}`);
  return lines;
}
