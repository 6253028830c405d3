/**
 * `npm run bench`, in two parts (`--only bundle` or `--only upload`; both by default):
 *
 * - bundle: our bundler (the CLI, as a child process; parallel gzip, its default, and --gzip single)
 *   against the shell pipeline Amazon's ec2-bundle-image runs and the same pipeline with pigz -9 in
 *   place of gzip -9 (when pigz is installed), on a generated 200 MiB image (100 MiB random + 100 MiB
 *   of written zeros) and a 1 GiB dense one (512 MiB random + 512 MiB of a tar of /usr: text and
 *   binaries; --skip-1g leaves it out), plus our bundler on a 4 GiB sparse image holding 16 MiB of
 *   data (memory stays flat) and on those 16 MiB alone as a dense file (what the holes cost); and
 *   what dead Buffers left to V8 cost on the 200 MiB image (bench/memoryFloor.ts).
 * - upload: uploadBundle against the fake AWS of the tests, parallel against serial with 100 ms
 *   injected on every PutObject, and the resume figure (bench/upload.ts).
 * - snapshot: uploadSnapshot (EBS direct APIs) against the fake AWS, blocks per second at 1/16/32/64
 *   in flight with 50 ms on every PutSnapshotBlock (bench/snapshot.ts).
 * - ebs-update: a 1 GiB image updated with 1 MiB changed (a child snapshot of the changed blocks)
 *   against its full upload, and a no-op preview of a 10 GiB sparse and a 1 GiB dense image against
 *   hashing the whole file (bench/ebsUpdate.ts).
 * - container-preview: a no-op preview of a 10 GiB qcow2 holding 16 MiB, read through qemu-nbd,
 *   against the same raw image, converting it first, and hashing the whole file
 *   (bench/containerPreview.ts; needs qemu-img and qemu-nbd, Debian qemu-utils).
 *
 *   node dist/bench/run.js [--only bundle|upload] [--runs N] [--skip-1g] [--json] [--out FILE] [--meter auto|gnu-time|python] [--upload-fake worker|main]
 *
 * Prints a table (stdout; stderr with --json, which prints the figures as JSON on stdout instead),
 * optionally writes the JSON to FILE. Everything happens in a temporary folder that is removed at the
 * end, also on failure or Ctrl-C. Speed is reported as ratios against targets, for information: the
 * bench fails only when a correctness check fails.
 *
 * The bundle part needs bash, GNU tar, gzip, openssl and coreutils, and pigz for its reference row
 * (`apt-get install pigz`; skipped with a note without it); peak RSS uses GNU time
 * (`apt-get install time`) and falls back to python3. The upload part needs openssl (for the keys).
 */
import { randomBytes } from 'crypto';
import { spawnSync } from 'child_process';
import { existsSync, promises as fs, rmSync } from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  GiB,
  ImageFile,
  KeyFiles,
  makeKeys,
  MiB,
  writeContentImage,
  writeDenseImage,
  writeSparseImage,
} from './fixtures';
import { Compressor, PART_BYTES, pipelineCommand, readPipelineOutput, roundTripCommand, tarCommand } from './pipeline';
import { BenchAborted, createMeter, hashOutput, Measurement, Meter, MeterChoice, runProcess } from './processes';
import { FakeThread } from './fakeS3';
import {
  BENCH_PARTS,
  BenchPart,
  BundleReport,
  Check,
  formatReport,
  Machine,
  Report,
  reportJson,
  Series,
  SeriesKey,
  sizeLabel,
} from './report';
import { benchUpload } from './upload';
import { benchSnapshot } from './snapshot';
import { benchEbsUpdate } from './ebsUpdate';
import { benchContainerPreview, ContainerPreviewReport, hasQemuTools } from './containerPreview';

// The AWS SDK's notice that its 2027 releases need Node 22 would otherwise interleave with the report.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const CLI = path.resolve(__dirname, '..', 'provider', 'cli', 'main.js');
const MEMORY_FLOOR = path.resolve(__dirname, 'memoryFloor.js');
const ACCOUNT_ID = '123456789012';
const SPEED_TARGET = 2;
const MEMORY_TARGET = 1.2;
/** The sparse 4 GiB image against its 16 MiB of data alone: holes should cost next to nothing. */
const SPARSE_TARGET = 3;
const PEAK_RSS_TARGET_MB = 80;

interface Options {
  json: boolean;
  meter: MeterChoice;
  runs: number;
  out?: string;
  only: BenchPart[];
  uploadFake: FakeThread;
  skip1g: boolean;
}

const USAGE =
  'usage: node dist/bench/run.js [--only bundle|upload|snapshot|ebs-update|container-preview (default all)] [--runs N (default 3)] [--skip-1g] [--json] [--out FILE] ' +
  '[--meter auto|gnu-time|python] [--upload-fake worker|main (default worker)]';

function parseOnly(value: string): BenchPart[] {
  const chosen = value.split(',').map((part) => part.trim());
  const unknown = chosen.filter((part) => !(BENCH_PARTS as readonly string[]).includes(part));
  if (chosen.length === 0 || unknown.length > 0)
    throw new Error(`--only takes ${BENCH_PARTS.join(', ')} or a comma-separated list of them, not ${value}\n${USAGE}`);
  return BENCH_PARTS.filter((part) => chosen.includes(part));
}

function parseOptions(args: string[]): Options {
  const options: Options = {
    json: false,
    runs: 3,
    meter: 'auto',
    only: [...BENCH_PARTS],
    uploadFake: 'worker',
    skip1g: false,
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const value = () => {
      const next = args[++i];
      if (next === undefined) throw new Error(`${arg} needs a value\n${USAGE}`);
      return next;
    };
    if (arg === '--json') options.json = true;
    else if (arg === '--skip-1g') options.skip1g = true;
    else if (arg === '--runs') options.runs = Number(value());
    else if (arg === '--out') options.out = path.resolve(value());
    else if (arg === '--only') options.only = parseOnly(value());
    else if (arg === '--upload-fake') {
      const choice = value();
      if (choice !== 'worker' && choice !== 'main') throw new Error(`--upload-fake must be worker or main\n${USAGE}`);
      options.uploadFake = choice;
    } else if (arg === '--meter') {
      const choice = value();
      if (choice !== 'auto' && choice !== 'gnu-time' && choice !== 'python')
        throw new Error(`--meter must be auto, gnu-time or python\n${USAGE}`);
      options.meter = choice;
    } else if (arg === '--help' || arg === '-h') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else throw new Error(`unknown option ${arg}\n${USAGE}`);
  }
  if (!Number.isInteger(options.runs) || options.runs < 1 || options.runs > 10)
    throw new Error(`--runs must be an integer from 1 to 10\n${USAGE}`);
  return options;
}

const REQUIRED_TOOLS: [string, string][] = [
  ['bash', 'bash'],
  ['tar', 'tar'],
  ['gzip', 'gzip'],
  ['openssl', 'openssl'],
  ['split', 'coreutils'],
  ['sha1sum', 'coreutils'],
  ['mkfifo', 'coreutils'],
];

function firstLine(command: string, args: string[]): string {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  return `${result.stdout ?? ''}${result.stderr ?? ''}`.split('\n')[0]?.trim() ?? '';
}

function checkPrerequisites(parts: BenchPart[]): void {
  const needed = parts.includes('bundle')
    ? REQUIRED_TOOLS
    : REQUIRED_TOOLS.filter(([tool]) => tool === 'bash' || tool === 'openssl');
  const missing = needed.filter(([tool]) => spawnSync('bash', ['-c', `command -v ${tool}`]).status !== 0);
  if (missing.length > 0) {
    const packages = [...new Set(missing.map(([, pkg]) => pkg))].join(' ');
    throw new Error(
      `missing ${missing.map(([tool]) => tool).join(', ')}: install them (Debian: apt-get install ${packages})`,
    );
  }
  if (!parts.includes('bundle')) return;
  if (!/GNU tar/.test(firstLine('tar', ['--version'])))
    throw new Error('tar is not GNU tar, which the reference pipeline needs (Debian: apt-get install tar)');
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first (npm run bench does)`);
}

function machine(): Machine {
  return {
    nproc: firstLine('nproc', []),
    cpu: os.cpus()[0]?.model ?? 'unknown',
    memoryBytes: os.totalmem(),
    loadAverageAtStart: os.loadavg().map((load) => Number(load.toFixed(2))),
    node: process.version,
    tar: firstLine('tar', ['--version']),
    gzip: firstLine('gzip', ['--version']),
    openssl: firstLine('openssl', ['version']),
  };
}

/** The parts of `bundle --json` and `verify --json` the bench reads, checked at run time. */
interface BundleSummary {
  manifest: string;
  digest: string;
  tarSize: number;
  bundledSize: number;
  parts: { file: string; size: number }[];
}

function parseJsonObject(text: string, what: string): Record<string, unknown> {
  const parsed: unknown = JSON.parse(text);
  if (typeof parsed !== 'object' || parsed === null) throw new Error(`${what}: expected a JSON object, got ${text}`);
  return parsed as Record<string, unknown>;
}

function field<T>(
  record: Record<string, unknown>,
  key: string,
  check: (value: unknown) => value is T,
  what: string,
): T {
  const value = record[key];
  if (!check(value)) throw new Error(`${what}: unexpected ${key} ${JSON.stringify(value)}`);
  return value;
}
const isString = (value: unknown): value is string => typeof value === 'string';
const isNumber = (value: unknown): value is number => typeof value === 'number';
const isArray = (value: unknown): value is unknown[] => Array.isArray(value);

function parseBundleSummary(stdout: string): BundleSummary {
  const what = 'bundle --json';
  const record = parseJsonObject(stdout, what);
  return {
    manifest: field(record, 'manifest', isString, what),
    digest: field(record, 'digest', isString, what),
    tarSize: field(record, 'tarSize', isNumber, what),
    bundledSize: field(record, 'bundledSize', isNumber, what),
    parts: field(record, 'parts', isArray, what).map((part) => {
      const partRecord = parseJsonObject(JSON.stringify(part), what);
      return { file: field(partRecord, 'file', isString, what), size: field(partRecord, 'size', isNumber, what) };
    }),
  };
}

class Bench {
  readonly series = new Map<SeriesKey, Series>();
  private outputCounter = 0;

  constructor(
    private readonly folder: string,
    private readonly keys: KeyFiles,
    private readonly meter: Meter,
    private readonly signal: AbortSignal,
    readonly check: (name: string, ok: boolean, detail: string) => void,
  ) {}

  private record(
    key: SeriesKey,
    label: string,
    image: ImageFile,
    measurement: Measurement,
    output: Omit<Series, 'key' | 'label' | 'image' | 'runs'>,
  ) {
    const existing = this.series.get(key);
    const run = {
      wallSeconds: measurement.wallSeconds,
      userSeconds: measurement.userSeconds,
      systemSeconds: measurement.systemSeconds,
      peakRssKiB: measurement.peakRssKiB,
    };
    if (existing) existing.runs.push(run);
    else
      this.series.set(key, {
        key,
        label,
        image: { name: image.name, size: image.size, allocated: image.allocated },
        runs: [run],
        ...output,
      });
    progress(
      `  ${label}${image.size > 0 ? ` (${sizeLabel(image.size)})` : ''}: ${measurement.wallSeconds.toFixed(2)} s (user ${measurement.userSeconds.toFixed(2)}, sys ${measurement.systemSeconds.toFixed(2)}), peak RSS ${(measurement.peakRssKiB / 1024).toFixed(1)} MiB`,
    );
  }

  private async freshFolder(label: string): Promise<string> {
    const folder = path.join(this.folder, `out-${this.outputCounter++}-${label}`);
    await fs.mkdir(folder);
    return folder;
  }

  /** Node alone, and our CLI loading its modules without bundling anything. */
  async baselines(): Promise<void> {
    const none: ImageFile = { path: '', name: '-', size: 0, allocated: 0 };
    const empty = { bundledBytes: 0, parts: 0, tarBytes: 0, digest: '' };
    this.record(
      'nodeBaseline',
      'node -e 0 (runtime alone)',
      none,
      await this.meter.measure([process.execPath, '-e', '0'], { signal: this.signal }),
      empty,
    );
    this.record(
      'cliStartup',
      'ours --version (CLI load alone)',
      none,
      await this.meter.measure([process.execPath, CLI, '--version'], { signal: this.signal }),
      empty,
    );
  }

  /**
   * What dead Buffers left to V8 cost on the 200 MiB image: reading into one reused buffer, against
   * the same loop with cipher.update, which allocates every output as zlib does (bench/memoryFloor.ts).
   */
  async memoryFloor(image: ImageFile): Promise<void> {
    const empty = { bundledBytes: 0, parts: 0, tarBytes: 0, digest: '' };
    for (const [key, mode, label] of [
      ['floorReuse200', 'reuse', 'node: read + SHA-1 into one reused buffer'],
      ['floorCipher200', 'cipher', 'node: the same + cipher.update (a new Buffer per call)'],
    ] as const) {
      const measurement = await this.meter.measure([process.execPath, MEMORY_FLOOR, image.path, mode], {
        signal: this.signal,
      });
      this.record(key, label, image, measurement, empty);
    }
  }

  async ours(
    key: SeriesKey,
    label: string,
    image: ImageFile,
    extraArgs: string[],
    firstRun: boolean,
    reference?: { sha1: string; what: string },
  ): Promise<void> {
    const named = `${label} (${sizeLabel(image.size)})`;
    const out = await this.freshFolder(key);
    const measurement = await this.meter.measure(
      [
        process.execPath,
        CLI,
        'bundle',
        '-i',
        image.path,
        '-k',
        this.keys.privateKey,
        '-c',
        this.keys.certificate,
        '-u',
        ACCOUNT_ID,
        '--ec2cert',
        this.keys.ec2Certificate,
        '-d',
        out,
        '--json',
        ...extraArgs,
      ],
      { signal: this.signal },
    );
    const summary = parseBundleSummary(measurement.stdout);
    const onDisk = (await Promise.all(summary.parts.map(async (part) => (await fs.stat(part.file)).size))).reduce(
      (sum, size) => sum + size,
      0,
    );
    this.record(key, label, image, measurement, {
      bundledBytes: onDisk,
      parts: summary.parts.length,
      tarBytes: summary.tarSize,
      digest: summary.digest,
    });
    if (firstRun) {
      this.check(
        `${named}: bundledSize of the summary equals the part files on disk`,
        onDisk === summary.bundledSize,
        `${summary.bundledSize} reported, ${onDisk} on disk`,
      );
      const verify = await runProcess(
        [process.execPath, CLI, 'verify', '-m', summary.manifest, '-k', this.keys.privateKey, '--json'],
        { signal: this.signal },
      );
      const verified =
        verify.status === 0
          ? field(parseJsonObject(verify.stdout, 'verify --json'), 'digest', isString, 'verify --json')
          : undefined;
      this.check(
        `${named}: unikernel-ami verify passes with the bundle's digest`,
        verified === summary.digest,
        verify.status === 0
          ? `verify digest ${verified}, bundle digest ${summary.digest}`
          : `verify failed: ${verify.stderr.trim()}`,
      );
      if (reference) {
        this.check(
          `${named}: tar stream identical to ${reference.what}`,
          summary.digest === reference.sha1,
          `ours ${summary.digest}, ${reference.what} ${reference.sha1}`,
        );
      }
    }
    await fs.rm(out, { recursive: true, force: true });
  }

  async pipeline(
    key: SeriesKey,
    image: ImageFile,
    tar: { sha1: string; bytes: number },
    run: number,
    compressor: Compressor = 'gzip',
  ): Promise<void> {
    const out = await this.freshFolder(key);
    const keyHex = randomBytes(16).toString('hex');
    const ivHex = randomBytes(16).toString('hex');
    const label = compressor === 'gzip' ? 'ec2-bundle-image pipeline' : `the pipeline with ${compressor} -9`;
    const measurement = await this.meter.measure(pipelineCommand(image.path, keyHex, ivHex, out, compressor), {
      signal: this.signal,
    });
    const output = await readPipelineOutput(out);
    const bundledBytes = output.parts.reduce((sum, part) => sum + part.size, 0);
    const size = sizeLabel(image.size);
    this.record(key, label, image, measurement, {
      bundledBytes,
      parts: output.parts.length,
      tarBytes: tar.bytes,
      digest: output.digest,
    });
    this.check(
      `${label} (${size}, run ${run + 1}): digest equals the SHA-1 of its tar stream`,
      output.digest === tar.sha1,
      `digest file ${output.digest}, tar | sha1 ${tar.sha1}`,
    );
    if (run === 0) {
      const sizesOk = output.parts.every((part, index) =>
        index < output.parts.length - 1 ? part.size === PART_BYTES : part.size > 0 && part.size <= PART_BYTES,
      );
      this.check(
        `${label} (${size}): ${output.parts.length} parts of 10 MiB (the last shorter)`,
        sizesOk,
        output.parts.map((part) => part.size).join(', '),
      );
      const roundTrip = await hashOutput(
        roundTripCommand(
          output.parts.map((part) => part.path),
          keyHex,
          ivHex,
        ),
        { signal: this.signal },
      );
      this.check(
        `${label} (${size}): parts decrypt and gunzip back to the tar stream`,
        roundTrip.sha1 === tar.sha1,
        `round trip ${roundTrip.sha1}, tar ${tar.sha1}`,
      );
    }
    await fs.rm(out, { recursive: true, force: true });
  }
}

function progress(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** Runs the tasks one after the other, starting with a different one each run. */
async function rotated(run: number, tasks: Array<() => Promise<void>>): Promise<void> {
  for (let i = 0; i < tasks.length; i++) await (tasks[(run + i) % tasks.length] as () => Promise<void>)();
}

async function inOrder(run: number, first: () => Promise<void>, second: () => Promise<void>): Promise<void> {
  if (run % 2 === 0) {
    await first();
    await second();
  } else {
    await second();
    await first();
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

/** The bundle part: its figures, and notes for the report. */
async function benchBundle(
  folder: string,
  keys: KeyFiles,
  options: Options,
  signal: AbortSignal,
  check: (name: string, ok: boolean, detail: string) => void,
): Promise<{ report: BundleReport; notes: string[] }> {
  const imageFolder = path.join(folder, 'images');
  await fs.mkdir(imageFolder);
  progress(
    'bench: writing the 200 MiB image (100 MiB random + 100 MiB zeros, all written) and the 4 GiB sparse image (16 MiB random)',
  );
  const image200 = await writeDenseImage(path.join(imageFolder, 'image-200m.img'), 100 * MiB, 100 * MiB, signal);
  let image1g: ImageFile | undefined;
  if (!options.skip1g) {
    progress(
      'bench: writing the 1 GiB dense image (512 MiB random + 512 MiB of a tar of /usr/share, /usr/lib, /usr/bin)',
    );
    image1g = await writeContentImage(path.join(imageFolder, 'image-1g.img'), 512 * MiB, 512 * MiB, signal);
  }
  const pigz = spawnSync('bash', ['-c', 'command -v pigz']).status === 0;
  if (!pigz)
    progress(
      'bench: pigz is not installed (Debian: apt-get install pigz): the rows of the pipeline with pigz -9 are skipped',
    );
  const image4gPath = path.join(imageFolder, 'image-4g.img');
  const image4gData = randomBytes(16 * MiB);
  const data16mPath = path.join(imageFolder, 'data-16m.img');
  const meter = await createMeter(folder, signal, options.meter);
  progress(`bench: peak RSS by ${meter.description}; floor ${(meter.floorKiB / 1024).toFixed(1)} MiB`);

  const tar200 = await hashOutput(tarCommand(image200.path), { signal });
  const tar1g = image1g ? await hashOutput(tarCommand(image1g.path), { signal }) : undefined;
  let tar4g: { sha1: string; bytes: number } | undefined;
  const runner = new Bench(folder, keys, meter, signal, check);
  await runner.baselines();
  await runner.memoryFloor(image200);
  for (let run = 0; run < options.runs; run++) {
    const first = run === 0;
    progress(`bench: run ${run + 1}/${options.runs}`);
    // Rotate the order so that no configuration always runs on a warmer machine.
    await rotated(run, [
      () => runner.ours('ours200', 'ours (CLI, parallel gzip)', image200, [], first),
      () => runner.pipeline('pipeline200', image200, tar200, run),
      () => runner.ours('oursSingle200', 'ours --gzip single', image200, ['--gzip', 'single'], first),
      ...(pigz ? [() => runner.pipeline('pipelinePigz200', image200, tar200, run, 'pigz')] : []),
    ]);
    await runner.ours('oursNoSparse200', 'ours --no-sparse', image200, ['--no-sparse'], first, {
      sha1: tar200.sha1,
      what: "GNU tar's (the pipeline's)",
    });

    if (image1g && tar1g) {
      const [image, tar] = [image1g, tar1g];
      await rotated(run, [
        () => runner.ours('ours1g', 'ours (CLI, parallel gzip)', image, [], first),
        () => runner.pipeline('pipeline1g', image, tar, run),
        () => runner.ours('oursSingle1g', 'ours --gzip single', image, ['--gzip', 'single'], first),
        ...(pigz ? [() => runner.pipeline('pipelinePigz1g', image, tar, run, 'pigz')] : []),
      ]);
    }

    // A fresh 4 GiB image each run (same content and name), so that its holes were never read and
    // cached before: as for an image just built. GNU tar -S skips holes with SEEK_HOLE; we read them.
    const image4g = await writeSparseImage(image4gPath, image4gData, 4 * GiB, signal);
    tar4g ??= await hashOutput(tarCommand(image4g.path), { signal });
    const reference4g = tar4g;
    const ours4g = () =>
      runner.ours('ours4g', 'ours (CLI, parallel gzip)', image4g, [], first, {
        sha1: reference4g.sha1,
        what: "GNU tar -S's",
      });
    const pipeline4g = () => runner.pipeline('pipeline4g', image4g, reference4g, run);
    await inOrder(run, ours4g, pipeline4g);
    await fs.rm(image4g.path);
    // The same 16 MiB as a dense file of its own: what the sparse image costs above its data.
    const data16m = await writeSparseImage(data16mPath, image4gData, image4gData.length, signal);
    await runner.ours('ours16m', 'ours (CLI, parallel gzip)', data16m, [], first);
    await fs.rm(data16m.path);
  }

  const order: SeriesKey[] = [
    'ours200',
    'oursSingle200',
    'pipeline200',
    'pipelinePigz200',
    'oursNoSparse200',
    'ours1g',
    'oursSingle1g',
    'pipeline1g',
    'pipelinePigz1g',
    'ours4g',
    'ours16m',
    'pipeline4g',
    'nodeBaseline',
    'cliStartup',
    'floorReuse200',
    'floorCipher200',
  ];
  const measured = [...runner.series.values()].sort((a, b) => order.indexOf(a.key) - order.indexOf(b.key));
  const series = measured.map((entry) => {
    const walls = entry.runs.map((run) => run.wallSeconds);
    return {
      ...entry,
      wallSeconds: { median: median(walls), min: Math.min(...walls), max: Math.max(...walls) },
      userSeconds: median(entry.runs.map((run) => run.userSeconds)),
      systemSeconds: median(entry.runs.map((run) => run.systemSeconds)),
      peakRssMB: (Math.max(...entry.runs.map((run) => run.peakRssKiB)) * 1024) / 1e6,
    };
  });
  const find = (key: SeriesKey) => series.find((candidate) => candidate.key === key);
  const get = (key: SeriesKey) => {
    const entry = find(key);
    if (!entry) throw new Error(`no figures for ${key}`);
    return entry;
  };
  const wallRatio = (numerator: SeriesKey, denominator: SeriesKey) => {
    const [top, bottom] = [find(numerator), find(denominator)];
    return top && bottom ? top.wallSeconds.median / bottom.wallSeconds.median : null;
  };
  const bytesRatio = (numerator: SeriesKey, denominator: SeriesKey) => {
    const [top, bottom] = [find(numerator), find(denominator)];
    return top && bottom ? top.bundledBytes / bottom.bundledBytes : null;
  };
  const ours200 = get('ours200');
  const pipeline200 = get('pipeline200');
  const noSparse200 = get('oursNoSparse200');
  const oursSingle200 = get('oursSingle200');
  const ours4g = get('ours4g');
  const ours16m = get('ours16m');
  const pipeline4g = get('pipeline4g');
  const ratios = {
    pipelineOverOursWall: pipeline200.wallSeconds.median / ours200.wallSeconds.median,
    pipelineOverOursNoSparseWall: pipeline200.wallSeconds.median / noSparse200.wallSeconds.median,
    noSparseOverOursWall: noSparse200.wallSeconds.median / ours200.wallSeconds.median,
    pipelineOverOursCpu:
      (pipeline200.userSeconds + pipeline200.systemSeconds) / (ours200.userSeconds + ours200.systemSeconds),
    pipelineOverOurs4gWall: pipeline4g.wallSeconds.median / ours4g.wallSeconds.median,
    ours4gOverData16mWall: ours4g.wallSeconds.median / ours16m.wallSeconds.median,
    peakRss4gOver200m: ours4g.peakRssMB / ours200.peakRssMB,
    peakRssOursOverPipeline: ours200.peakRssMB / pipeline200.peakRssMB,
    allocatingOverReusingPeakRssMB: get('floorCipher200').peakRssMB - get('floorReuse200').peakRssMB,
    bundledOursOverPipeline: ours200.bundledBytes / pipeline200.bundledBytes,
    pigzPipelineOverOursWall: wallRatio('pipelinePigz200', 'ours200'),
    singleOverParallelWall: oursSingle200.wallSeconds.median / ours200.wallSeconds.median,
    pipelineOverOurs1gWall: wallRatio('pipeline1g', 'ours1g'),
    pigzPipelineOverOurs1gWall: wallRatio('pipelinePigz1g', 'ours1g'),
    singleOverParallel1gWall: wallRatio('oursSingle1g', 'ours1g'),
    bundledParallelOverSingle: ours200.bundledBytes / oursSingle200.bundledBytes,
    bundledParallelOverSingle1g: bytesRatio('ours1g', 'oursSingle1g'),
    bundledOursOverPipeline1g: bytesRatio('ours1g', 'pipeline1g'),
  };
  const speedWord = (ratio: number) =>
    ratio >= 1 ? `${ratio.toFixed(2)}x faster` : `${(1 / ratio).toFixed(2)}x slower`;
  const targets = [
    {
      name: 'speed',
      text: `ours vs gzip pipeline (200 MiB): ${speedWord(ratios.pipelineOverOursWall)}; target for later work ≥${SPEED_TARGET}x`,
      met: ratios.pipelineOverOursWall >= SPEED_TARGET,
    },
    {
      name: 'pigz',
      text:
        ratios.pigzPipelineOverOursWall === null
          ? 'ours vs pigz pipeline (200 MiB): not measured, pigz is not installed'
          : `ours vs pigz pipeline (200 MiB): ${speedWord(ratios.pigzPipelineOverOursWall)}; target at least as fast`,
      met: ratios.pigzPipelineOverOursWall !== null && ratios.pigzPipelineOverOursWall >= 1,
    },
    {
      name: 'peak RSS',
      text:
        `ours peak RSS (200 MiB): ${ours200.peakRssMB.toFixed(1)} MB; target <${PEAK_RSS_TARGET_MB} MB ` +
        `(node reading it through cipher.update, its Buffers left to the collector: ${get('floorCipher200').peakRssMB.toFixed(1)} MB)`,
      met: ours200.peakRssMB < PEAK_RSS_TARGET_MB,
    },
    {
      name: 'sparse',
      text: `ours 4 GiB sparse / its 16 MiB of data alone: ${ratios.ours4gOverData16mWall.toFixed(2)}x the wall time; target <${SPARSE_TARGET}x`,
      met: ratios.ours4gOverData16mWall < SPARSE_TARGET,
    },
    {
      name: 'flat memory',
      text: `peak RSS 4 GiB / 200 MiB: ${ratios.peakRss4gOver200m.toFixed(2)}x; target ≤${MEMORY_TARGET}x`,
      met: ratios.peakRss4gOver200m <= MEMORY_TARGET,
    },
  ];
  const notes = [];
  if (ours200.digest !== pipeline200.digest) {
    notes.push(
      `ours stores the 100 MiB of written zeros as holes of a GNU sparse member (tar stream ${ours200.tarBytes} bytes), while GNU tar -S only ` +
        `looks for holes in files that have holes on disk and stores them as data (${pipeline200.tarBytes} bytes); so the digests differ. ` +
        '--no-sparse gives the byte-identical tar stream.',
    );
  }
  if (!pigz)
    notes.push(
      'pigz is not installed, so the pipeline with pigz -9 was not measured: apt-get install pigz (Debian) to add it.',
    );
  const ours1g = find('ours1g');
  const pipeline1g = find('pipeline1g');
  if (ours1g && pipeline1g && ours1g.digest !== pipeline1g.digest) {
    notes.push(
      `On the 1 GiB image ours found zero blocks in the tar of /usr and stored them as holes (tar stream ${ours1g.tarBytes} bytes against ` +
        `GNU tar's ${pipeline1g.tarBytes}); bundled bytes against the pipeline compare slightly different inputs. Parallel against single gzip compare the same stream.`,
    );
  }
  notes.push(
    'On the 4 GiB image GNU tar -S asks the file system where the holes are (SEEK_DATA/SEEK_HOLE) and reads only the 16 MiB of data; ' +
      "ours asks it too, through filefrag's FIEMAP (Node has no lseek), and reads only the data; without filefrag it would read all 4 GiB.",
  );
  const report: BundleReport = {
    runs: options.runs,
    peakRssMethod: meter.description,
    peakRssFloorMB: (meter.floorKiB * 1024) / 1e6,
    images: {
      image200m: {
        name: image200.name,
        size: image200.size,
        allocated: image200.allocated,
        description: '100 MiB random + 100 MiB zeros, all written',
      },
      ...(image1g
        ? {
            image1g: {
              name: image1g.name,
              size: image1g.size,
              allocated: image1g.allocated,
              description:
                '512 MiB random + the first 512 MiB of a GNU tar of /usr/share, /usr/lib and /usr/bin, all written',
            },
          }
        : {}),
      image4g: {
        name: ours4g.image.name,
        size: ours4g.image.size,
        allocated: ours4g.image.allocated,
        description: '16 MiB random then a hole to 4 GiB (written afresh for each run)',
      },
    },
    series,
    ratios,
    targets,
  };
  return { report, notes };
}

async function bench(folder: string, options: Options, signal: AbortSignal): Promise<Report> {
  const started = Date.now();
  const host = machine();
  const checks: Check[] = [];
  const check = (name: string, ok: boolean, detail: string) => {
    checks.push({ name, ok, detail });
    progress(`  check ${ok ? 'ok  ' : 'FAIL'} ${name}${ok ? '' : `: ${detail}`}`);
  };
  progress(`bench: ${options.only.join(' and ')}; temporary folder ${folder}`);
  const keys = await makeKeys(folder, signal);
  const notes: string[] = [];
  let bundle: BundleReport | undefined;
  if (options.only.includes('bundle')) {
    const part = await benchBundle(folder, keys, options, signal, check);
    bundle = part.report;
    notes.push(...part.notes);
  }
  const upload = options.only.includes('upload')
    ? await benchUpload({ folder, keys, runs: options.runs, fakeThread: options.uploadFake, signal, progress, check })
    : undefined;
  if (upload) {
    const worker = upload.fakeThread === 'worker';
    notes.push(
      `Upload: the fake AWS ran on ${worker ? 'a worker thread' : 'the main thread'} of the bench's process. Its own work per part (reading the body, ` +
        `checking its SHA-256 and MD5) ${worker ? 'runs beside the uploader, as a remote S3 would, but on the same CPUs' : "runs on the uploader's event loop, so it is serialized with the uploader and caps every speed-up"}; ` +
        `${worker ? '--upload-fake main' : '--upload-fake worker (the default)'} shows the other case. The uploader itself hashes every part (MD5 and SHA-1) before the first PUT and ` +
        'the SDK hashes each body (SHA-256) for the signature, so CPU time also limits how close a high concurrency gets to the latency floor.',
    );
  }
  const cores = Number(host.nproc) || os.availableParallelism();
  const busiest = Math.max(...host.loadAverageAtStart, ...os.loadavg());
  if (busiest > cores / 2) {
    notes.push(
      `The machine was busy (load average up to ${busiest.toFixed(2)} on ${cores} CPUs during the bench): wall times and their ratios are noisy; ` +
        'user/sys CPU times are steadier. Run it again on an idle machine for figures to compare.',
    );
  }
  const snapshot = options.only.includes('snapshot')
    ? await benchSnapshot({ folder, runs: options.runs, fakeThread: options.uploadFake, signal, progress, check })
    : undefined;
  const ebsUpdate = options.only.includes('ebs-update')
    ? await benchEbsUpdate({ folder, fakeThread: options.uploadFake, signal, progress, check })
    : undefined;
  let containerPreview: ContainerPreviewReport | undefined;
  if (options.only.includes('container-preview')) {
    if (hasQemuTools()) containerPreview = await benchContainerPreview({ folder, signal, progress, check });
    else
      notes.push(
        'qemu-img or qemu-nbd is not installed (Debian: apt-get install qemu-utils): container-preview was skipped',
      );
  }
  return {
    ran: options.only,
    machine: host,
    bundle,
    upload,
    snapshot,
    ebsUpdate,
    containerPreview,
    checks,
    notes,
    benchSeconds: (Date.now() - started) / 1000,
  };
}

async function main(): Promise<void> {
  let options: Options;
  try {
    options = parseOptions(process.argv.slice(2));
    checkPrerequisites(options.only);
  } catch (error) {
    process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 2;
    return;
  }
  const folder = await fs.mkdtemp(path.join(os.tmpdir(), 'unikernel-bench-'));
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) {
      // A second Ctrl-C: stop waiting for the children to wind down.
      rmSync(folder, { recursive: true, force: true });
      process.exit(130);
    }
    process.stderr.write(`bench: ${signal}, stopping and removing ${folder}\n`);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const report = await bench(folder, options, controller.signal);
    const table = formatReport(report);
    const json = reportJson(report);
    if (options.json) {
      process.stderr.write(table);
      process.stdout.write(json);
    } else {
      process.stdout.write(table);
    }
    if (options.out) {
      await fs.writeFile(options.out, json);
      progress(`bench: figures written to ${options.out}`);
    }
    if (report.checks.some((check) => !check.ok)) process.exitCode = 1;
  } catch (error) {
    if (error instanceof BenchAborted || controller.signal.aborted) {
      process.exitCode = 130;
    } else {
      process.stderr.write(
        `bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
      );
      process.exitCode = 1;
    }
  } finally {
    await fs.rm(folder, { recursive: true, force: true });
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

void main();
