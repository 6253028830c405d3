/**
 * A no-op preview of a container image (`npm run bench -- --only container-preview`): a 10 GiB
 * qcow2 holding 16 MiB, made by qemu-img from a sparse raw image, previewed by RegisteredAmi's
 * check and diff in a fresh Node process (read in place through qemu-nbd), against the same
 * preview of the raw image, against what a preview cost when containers were converted first
 * (`qemu-img convert -O raw` into a temporary file, then the preview of that file), and against
 * hashing the whole raw file (SHA-256 of every byte).
 *
 * Honesty checks, the only way this part fails: both previews find no change, and the qcow2 has
 * the raw image's identity.
 */
import { execFileSync, spawnSync } from 'child_process';
import { randomFillSync } from 'crypto';
import { promises as fs } from 'fs';
import * as path from 'path';
import { checkAndDiff, wholeFileSha256 } from './ebsUpdate';
import { GiB, MiB, writeSparseImage } from './fixtures';

export interface ContainerPreviewReport {
  virtualBytes: number;
  dataBytes: number;
  qcow2Bytes: number;
  /** check + diff of the qcow2, read through qemu-nbd. */
  qcow2Seconds: number;
  /** check + diff of the raw image. */
  rawSeconds: number;
  /** qemu-img convert of the qcow2 into a raw temporary file, then check + diff of it (the former way). */
  convertThenPreviewSeconds: number;
  wholeFileSha256Seconds: number;
  notes: string[];
}

export interface ContainerPreviewOptions {
  folder: string;
  signal: AbortSignal;
  progress: (line: string) => void;
  check: (name: string, ok: boolean, detail: string) => void;
}

export function hasQemuTools(): boolean {
  return ['qemu-img', 'qemu-nbd'].every((tool) => spawnSync(tool, ['--version']).status === 0);
}

export async function benchContainerPreview(options: ContainerPreviewOptions): Promise<ContainerPreviewReport> {
  const { signal, progress, check } = options;
  const folder = path.join(options.folder, 'container-preview');
  await fs.mkdir(folder, { recursive: true });
  try {
    progress('container-preview: a 10 GiB sparse raw image holding 16 MiB, and its qcow2');
    const data = randomFillSync(Buffer.alloc(16 * MiB));
    const raw = await writeSparseImage(path.join(folder, 'sparse.raw'), data, 10 * GiB, signal);
    const qcow2 = path.join(folder, 'sparse.qcow2');
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw.path, qcow2]);
    signal.throwIfAborted();
    const container = checkAndDiff(qcow2);
    const plain = checkAndDiff(raw.path);
    check('container-preview: a no-op preview of the qcow2 finds no change', !container.changes, 'diff found changes');
    check(
      "container-preview: the qcow2 has the raw image's identity",
      container.sourceHash === plain.sourceHash,
      `${container.sourceHash} vs ${plain.sourceHash}`,
    );
    signal.throwIfAborted();
    const converted = path.join(folder, 'converted.raw');
    const started = process.hrtime.bigint();
    execFileSync('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', qcow2, converted]);
    const convertSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    const afterConversion = checkAndDiff(converted);
    await fs.rm(converted);
    signal.throwIfAborted();
    progress('container-preview: hashing the whole raw file');
    const whole = wholeFileSha256(raw.path);
    const report: ContainerPreviewReport = {
      virtualBytes: raw.size,
      dataBytes: data.length,
      qcow2Bytes: (await fs.stat(qcow2)).size,
      qcow2Seconds: container.seconds,
      rawSeconds: plain.seconds,
      convertThenPreviewSeconds: convertSeconds + afterConversion.seconds,
      wholeFileSha256Seconds: whole,
      notes: [
        'Each preview runs in a fresh Node process (starting Node and loading the provider included), as the plugin runs it; ' +
          'the qcow2 preview includes qemu-img info and map and starting qemu-nbd. The page cache is warm for all.',
      ],
    };
    progress(
      `  qcow2 ${report.qcow2Seconds.toFixed(2)} s, raw ${report.rawSeconds.toFixed(2)} s, convert then preview ${report.convertThenPreviewSeconds.toFixed(2)} s, whole-file SHA-256 ${whole.toFixed(2)} s`,
    );
    return report;
  } finally {
    await fs.rm(folder, { recursive: true, force: true });
  }
}

export function formatContainerPreview(report: ContainerPreviewReport): string[] {
  const ratio = (seconds: number) => ` (${(seconds / report.qcow2Seconds).toFixed(1)}x the qcow2's)`;
  const row = (label: string, seconds: number, compared = true) =>
    `  ${`${label}:`.padEnd(40)}${seconds.toFixed(2)} s${compared ? ratio(seconds) : ''}`;
  return [
    'container-preview',
    `no-op preview (RegisteredAmi check + diff, fresh process) of a ${(report.virtualBytes / GiB).toFixed(0)} GiB qcow2 holding ${(report.dataBytes / MiB).toFixed(0)} MiB (${(report.qcow2Bytes / MiB).toFixed(1)} MiB file):`,
    row('qcow2 read through qemu-nbd', report.qcow2Seconds, false),
    row('the same raw image', report.rawSeconds),
    row('qemu-img convert to raw, then preview', report.convertThenPreviewSeconds),
    row('SHA-256 of the whole raw file', report.wholeFileSha256Seconds),
    ...report.notes.map((note) => `note:    ${note}`),
  ];
}
