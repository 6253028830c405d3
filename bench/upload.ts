/**
 * The upload benchmark (`npm run bench -- --only upload`): uploadBundle putting one real bundle
 * (10 MiB parts) into the fake AWS of the tests, serial against parallel, with 100 ms injected on
 * every PutObject (and no injected latency as a reference), reported as ratios measured in one
 * process; then the resume figure: what a second run uploads after a connection reset interrupted
 * the first.
 *
 * Honesty checks, which are the only way this part fails: every upload must leave exactly the
 * parts and the manifest in its (fresh) bucket, with the local sizes and MD5s, in exactly one
 * PutObject per object; the resumed upload must put exactly what the interrupted one had not stored.
 */
import { createHash } from 'crypto';
import { createReadStream, promises as fs } from 'fs';
import * as path from 'path';
import { S3Client } from '@aws-sdk/client-s3';
import { createS3Client } from '../provider/aws/clients';
import { BundleLocation, parseBucketArgument } from '../provider/aws/location';
import { DEFAULT_UPLOAD_CONCURRENCY, uploadBundle, UploadResult } from '../provider/aws/upload';
import { bundleImage } from '../provider/bundle/bundle';
import { PART_SIZE } from '../provider/bundle/constants';
import { KeyFiles, MiB, writeDenseImage } from './fixtures';
import { FakeS3, FakeThread, startFakeS3 } from './fakeS3';
import { UploadReport, UploadRun, UploadSeries } from './report';

/**
 * 95 MiB of random data bundles to 10 parts (9 of 10 MiB and a shorter last one): enough parts for
 * concurrencies 1 to 16 to mean different numbers of waves, few enough for the upload part to take
 * about 40 s (the CPU cost of hashing every byte, in the uploader and in the fake, grows with size).
 */
const IMAGE_BYTES = 95 * MiB;
const LATENCY_MS = 100;
const CONCURRENCIES = [1, 2, 4, 8, 16];
const LATENCIES = [LATENCY_MS, 0];

export interface UploadBenchOptions {
  folder: string;
  keys: KeyFiles;
  runs: number;
  fakeThread: FakeThread;
  signal: AbortSignal;
  progress: (line: string) => void;
  check: (name: string, ok: boolean, detail: string) => void;
}

interface Expected {
  key: string;
  path: string;
  size: number;
  md5: string;
}

function md5File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('md5');
    createReadStream(file)
      .on('data', (chunk) => hash.update(chunk as Buffer))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

/** What differs between the bucket's objects and the bundle: empty when the bucket holds exactly the bundle. */
function differences(stored: { key: string; size: number; md5: string }[], expected: Expected[]): string[] {
  const problems: string[] = [];
  const byKey = new Map(stored.map((object) => [object.key, object]));
  for (const file of expected) {
    const object = byKey.get(file.key);
    if (!object) problems.push(`${file.key} missing`);
    else if (object.size !== file.size || object.md5 !== file.md5)
      problems.push(
        `${file.key} is ${object.size} bytes with MD5 ${object.md5}, expected ${file.size} bytes with MD5 ${file.md5}`,
      );
    byKey.delete(file.key);
  }
  for (const key of byKey.keys()) problems.push(`unexpected object ${key}`);
  return problems;
}

class UploadBench {
  private bucketCounter = 0;
  /** Problems per series ("100 ms / 8"), gathered over the runs and reported as one check each. */
  readonly problems = new Map<string, string[]>();

  constructor(
    private readonly fake: FakeS3,
    private readonly s3: S3Client,
    private readonly manifestPath: string,
    private readonly expected: Expected[],
    private readonly totalBytes: number,
    private readonly signal: AbortSignal,
  ) {}

  async freshBucket(): Promise<BundleLocation> {
    const bucket = `bench-upload-${++this.bucketCounter}`;
    await this.fake.call({ op: 'createBucket', bucket });
    return parseBucketArgument(bucket);
  }

  /** One timed upload into a fresh bucket, checked, then the bucket emptied (the fake holds objects in memory). */
  async upload(seriesName: string, concurrency: number): Promise<UploadRun> {
    const location = await this.freshBucket();
    const cpuBefore = process.cpuUsage();
    const started = process.hrtime.bigint();
    const result = await uploadBundle({
      s3: this.s3,
      manifestPath: this.manifestPath,
      location,
      concurrency,
      signal: this.signal,
    });
    const wallSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    const cpu = process.cpuUsage(cpuBefore);
    const puts = await this.fake.call({ op: 'putRequests', bucket: location.bucket });
    const problems = differences(await this.fake.call({ op: 'objects', bucket: location.bucket }), this.expected);
    if (puts.total !== this.expected.length || puts.ok !== this.expected.length) {
      problems.push(`${puts.total} PutObject requests (${puts.ok} answered 200), expected ${this.expected.length}`);
    }
    if (result.bytesUploaded !== this.totalBytes || result.skipped.length > 0) {
      problems.push(
        `uploadBundle reported ${result.bytesUploaded} bytes uploaded and ${result.skipped.length} skipped, expected ${this.totalBytes} and none`,
      );
    }
    const list = this.problems.get(seriesName) ?? [];
    list.push(...problems.map((problem) => `${location.bucket}: ${problem}`));
    this.problems.set(seriesName, list);
    await this.fake.call({ op: 'emptyBucket', bucket: location.bucket });
    return { wallSeconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, putRequests: puts.total };
  }
}

const seriesName = (latencyMs: number, concurrency: number) => `${latencyMs} ms, concurrency ${concurrency}`;

export async function benchUpload(options: UploadBenchOptions): Promise<UploadReport> {
  const { folder, keys, runs, signal, progress, check } = options;
  const started = Date.now();
  const uploadFolder = path.join(folder, 'upload');
  const bundleFolder = path.join(uploadFolder, 'bundle');
  await fs.mkdir(bundleFolder, { recursive: true });
  progress(`upload: writing a ${IMAGE_BYTES / MiB} MiB random image and bundling it (not timed)`);
  const image = await writeDenseImage(path.join(uploadFolder, 'upload.img'), IMAGE_BYTES, 0, signal);
  const bundleStarted = Date.now();
  const bundle = await bundleImage({
    imagePath: image.path,
    destination: bundleFolder,
    privateKey: await fs.readFile(keys.privateKey, 'utf8'),
    userCertificate: await fs.readFile(keys.certificate, 'utf8'),
    ec2Certificate: await fs.readFile(keys.ec2Certificate, 'utf8'),
    accountId: '123456789012',
    architecture: 'x86_64',
    signal,
  });
  const bundleSeconds = (Date.now() - bundleStarted) / 1000;
  await fs.rm(image.path);
  const files = [
    ...bundle.parts.map((part) => ({ key: part.filename, path: path.join(bundleFolder, part.filename) })),
    { key: path.basename(bundle.manifestPath), path: bundle.manifestPath },
  ];
  const expected: Expected[] = await Promise.all(
    files.map(async (file) => ({ ...file, size: (await fs.stat(file.path)).size, md5: await md5File(file.path) })),
  );
  const totalBytes = expected.reduce((sum, file) => sum + file.size, 0);
  const partCount = bundle.parts.length;
  const manifestBytes = expected[expected.length - 1]?.size ?? 0;
  const sizesOk = bundle.parts.every((part, index) =>
    index < partCount - 1 ? part.size === PART_SIZE : part.size > 0 && part.size <= PART_SIZE,
  );
  check(
    `upload bundle: ${partCount} parts of 10 MiB (the last shorter) and a manifest`,
    sizesOk && partCount >= 2,
    bundle.parts.map((part) => part.size).join(', '),
  );

  const fake = await startFakeS3(options.fakeThread);
  progress(
    `upload: fake AWS at ${fake.endpoint} on the ${fake.thread} thread; ${partCount} parts + manifest = ${totalBytes} bytes per upload`,
  );
  const clientSettings = { endpoint: fake.endpoint, region: fake.region, credentials: fake.credentials };
  const s3 = createS3Client(clientSettings);
  // For the interrupted run only: one attempt per request, so that a single reset fails the upload.
  const s3OneAttempt = createS3Client({ ...clientSettings, maxAttempts: 1 });
  try {
    const runner = new UploadBench(fake, s3, bundle.manifestPath, expected, totalBytes, signal);

    // Warm-up, not recorded: module loading, JIT and the client's first connections.
    await fake.call({ op: 'setPutLatency', ms: 0 });
    const warmUp = await runner.upload('warm-up', DEFAULT_UPLOAD_CONCURRENCY);
    progress(
      `upload: warm-up (no latency, concurrency ${DEFAULT_UPLOAD_CONCURRENCY}) ${warmUp.wallSeconds.toFixed(2)} s, not recorded`,
    );

    const measured = new Map<string, UploadRun[]>();
    for (let run = 0; run < runs; run++) {
      progress(`upload: run ${run + 1}/${runs}`);
      // Alternate the order, so that no configuration always runs first or on a warmer machine.
      const latencies = run % 2 === 0 ? LATENCIES : [...LATENCIES].reverse();
      const concurrencies = run % 2 === 0 ? CONCURRENCIES : [...CONCURRENCIES].reverse();
      for (const latencyMs of latencies) {
        await fake.call({ op: 'setPutLatency', ms: latencyMs });
        for (const concurrency of concurrencies) {
          const name = seriesName(latencyMs, concurrency);
          const result = await runner.upload(name, concurrency);
          measured.set(name, [...(measured.get(name) ?? []), result]);
          progress(
            `  ${name}: ${result.wallSeconds.toFixed(2)} s, CPU ${result.cpuSeconds.toFixed(2)} s, ${result.putRequests} PutObject`,
          );
        }
      }
    }

    const medianWall = (latencyMs: number, concurrency: number) =>
      median((measured.get(seriesName(latencyMs, concurrency)) ?? []).map((run) => run.wallSeconds));
    const series: UploadSeries[] = [];
    for (const latencyMs of LATENCIES) {
      const serial = medianWall(latencyMs, 1);
      for (const concurrency of CONCURRENCIES) {
        const runsOf = measured.get(seriesName(latencyMs, concurrency)) ?? [];
        const walls = runsOf.map((run) => run.wallSeconds);
        const wall = median(walls);
        series.push({
          latencyMs,
          concurrency,
          runs: runsOf,
          wallSeconds: { median: wall, min: Math.min(...walls), max: Math.max(...walls) },
          cpuSeconds: median(runsOf.map((run) => run.cpuSeconds)),
          throughputMBps: totalBytes / 1e6 / wall,
          speedUpOverSerial: serial / wall,
          latencyFloorSeconds: ((Math.ceil(partCount / concurrency) + 1) * latencyMs) / 1000,
          latencyAddsSeconds: wall - medianWall(0, concurrency),
        });
      }
    }
    check(
      `upload warm-up: the bucket holds exactly the ${partCount} parts + manifest, local sizes and MD5s, one PutObject each`,
      (runner.problems.get('warm-up') ?? []).length === 0,
      (runner.problems.get('warm-up') ?? []).join('; '),
    );
    for (const entry of series) {
      const problems = runner.problems.get(seriesName(entry.latencyMs, entry.concurrency)) ?? [];
      check(
        `upload ${seriesName(entry.latencyMs, entry.concurrency)}: each of the ${entry.runs.length} buckets holds exactly the ${partCount} parts + manifest, local sizes and MD5s, ${expected.length} PutObject requests`,
        problems.length === 0,
        problems.join('; '),
      );
    }
    const ratioAt = (latencyMs: number) =>
      Object.fromEntries(
        series
          .filter((entry) => entry.latencyMs === latencyMs && entry.concurrency > 1)
          .map((entry) => [String(entry.concurrency), entry.speedUpOverSerial]),
      );

    // Resume: one connection reset on the middle part interrupts an upload at the default concurrency;
    // a second run (normal retries) must put only what the first did not store.
    progress('upload: resume after an interrupted upload');
    await fake.call({ op: 'setPutLatency', ms: LATENCY_MS });
    const location = await runner.freshBucket();
    const resetKey = bundle.parts[Math.floor(partCount / 2)]?.filename ?? '';
    await fake.call({ op: 'resetPutOnce', key: resetKey });
    const interruptedStarted = process.hrtime.bigint();
    let interruption: unknown;
    try {
      await uploadBundle({
        s3: s3OneAttempt,
        manifestPath: bundle.manifestPath,
        location,
        concurrency: DEFAULT_UPLOAD_CONCURRENCY,
        signal,
      });
    } catch (error) {
      interruption = error;
    }
    signal.throwIfAborted();
    const interruptedSeconds = Number(process.hrtime.bigint() - interruptedStarted) / 1e9;
    const afterFailure = await fake.call({ op: 'objects', bucket: location.bucket });
    const putsAfterFailure = await fake.call({ op: 'putRequests', bucket: location.bucket });
    const manifestKey = path.basename(bundle.manifestPath);
    check(
      'upload resume: the first run fails on the reset connection and stores no manifest',
      interruption !== undefined &&
        putsAfterFailure.reset === 1 &&
        !afterFailure.some((object) => object.key === manifestKey),
      interruption === undefined
        ? 'the upload succeeded'
        : `${putsAfterFailure.reset} resets; stored ${afterFailure.map((object) => object.key).join(', ')}`,
    );
    const storedAfterFailure = new Set(afterFailure.map((object) => object.key));
    const partialProblems = differences(
      afterFailure,
      expected.filter((file) => storedAfterFailure.has(file.key)),
    );
    check(
      'upload resume: every object stored by the interrupted run is a complete part',
      partialProblems.length === 0,
      partialProblems.join('; '),
    );

    const resumedStarted = process.hrtime.bigint();
    const resumed: UploadResult = await uploadBundle({
      s3,
      manifestPath: bundle.manifestPath,
      location,
      concurrency: DEFAULT_UPLOAD_CONCURRENCY,
      signal,
    });
    const resumedSeconds = Number(process.hrtime.bigint() - resumedStarted) / 1e9;
    const putsAfterResume = await fake.call({ op: 'putRequests', bucket: location.bucket });
    const resumedPutRequests = putsAfterResume.total - putsAfterFailure.total;
    const missing = expected.filter((file) => !storedAfterFailure.has(file.key));
    const missingBytes = missing.reduce((sum, file) => sum + file.size, 0);
    check(
      `upload resume: the second run puts exactly the ${missing.length} missing objects (${missingBytes} bytes) and skips the ${storedAfterFailure.size} stored parts`,
      resumed.bytesUploaded === missingBytes &&
        resumedPutRequests === missing.length &&
        resumed.skipped.length === storedAfterFailure.size &&
        [...resumed.uploaded].sort().join() ===
          missing
            .map((file) => file.key)
            .sort()
            .join(),
      `uploaded ${resumed.uploaded.join(', ')} (${resumed.bytesUploaded} bytes, ${resumedPutRequests} PutObject), skipped ${resumed.skipped.length}`,
    );
    const finalProblems = differences(await fake.call({ op: 'objects', bucket: location.bucket }), expected);
    check(
      `upload resume: the bucket then holds exactly the ${partCount} parts + manifest`,
      finalProblems.length === 0,
      finalProblems.join('; '),
    );
    await fake.call({ op: 'emptyBucket', bucket: location.bucket });
    const fullUploadSeconds =
      series.find((entry) => entry.latencyMs === LATENCY_MS && entry.concurrency === DEFAULT_UPLOAD_CONCURRENCY)
        ?.wallSeconds.median ?? Number.NaN;
    progress(
      `  interrupted after ${interruptedSeconds.toFixed(2)} s with ${storedAfterFailure.size} parts stored; resumed in ${resumedSeconds.toFixed(2)} s, ` +
        `${resumed.bytesUploaded} of ${totalBytes} bytes`,
    );

    return {
      runs,
      fakeThread: fake.thread,
      latencyMs: LATENCY_MS,
      bundle: {
        imageBytes: IMAGE_BYTES,
        description: `${IMAGE_BYTES / MiB} MiB random image (incompressible)`,
        parts: partCount,
        partBytes: PART_SIZE,
        lastPartBytes: bundle.parts[partCount - 1]?.size ?? 0,
        manifestBytes,
        totalBytes,
        bundleSeconds,
      },
      series,
      ratios: { serialOverParallelWithLatency: ratioAt(LATENCY_MS), serialOverParallelWithoutLatency: ratioAt(0) },
      resume: {
        concurrency: DEFAULT_UPLOAD_CONCURRENCY,
        latencyMs: LATENCY_MS,
        resetKey,
        partsStoredAfterFailure: storedAfterFailure.size,
        interruptedSeconds,
        resumedSeconds,
        resumedUploadedBytes: resumed.bytesUploaded,
        resumedPutRequests,
        totalBytes,
        resumedBytesFraction: resumed.bytesUploaded / totalBytes,
        fullUploadSeconds,
        resumedOverFullWall: resumedSeconds / fullUploadSeconds,
      },
      uploadBenchSeconds: (Date.now() - started) / 1000,
    };
  } finally {
    s3.destroy();
    s3OneAttempt.destroy();
    await fake.stop();
    await fs.rm(uploadFolder, { recursive: true, force: true });
  }
}
