/**
 * `NAME.resume.json` comes from S3, where anyone with write access can put anything: a record far
 * larger than this tool writes is refused by bundle --bucket and upload with one line naming the
 * object and what to do, after reading no more of it than a record can be (the CLI's peak memory
 * stays near a reference run's), and delete-bundle removes it. Real CLI processes, local AWS over HTTP.
 */
import { strict as assert } from 'assert';
import { mkdirSync, readFileSync } from 'fs';
import { hostname } from 'os';
import * as path from 'path';
import { Readable } from 'stream';
import { readCapped } from '../../provider/aws/bundleClaim';
import { MAX_RECORD_BYTES, renderClaim } from '../../provider/aws/claimRecord';
import { renderResumeRecord } from '../../provider/aws/resumeRecord';
import { PART_SIZE } from '../../provider/bundle/constants';
import { MAX_IMAGE_SIZE } from '../../provider/common/constants';
import { LocalAws } from '../../testing/localAws';
import { bundleWithTestKeys } from '../helpers/bundles';
import { bundleCliArgs } from '../helpers/pki';
import { temporaryFolder, writeImage } from '../helpers/tools';
import { localAwsEnv, runCliWatched } from './cliProcess';

const PEAK_RSS_PRELOAD = path.join(__dirname, 'peakRss.js');
/** A record of 64 MiB: read whole, it would cost well over 100 MiB (the buffer and its string). */
const HUGE = Number(process.env.HUGE_RECORD ?? 64 * 1024 * 1024);
/** The bound on a refusing run's peak memory above the reference run (which refuses a small bad record). */
const MAX_EXTRA_MIB = 32;

describe('a resume record larger than this tool writes', function () {
  this.timeout(120_000);
  let local: LocalAws;
  let folder: ReturnType<typeof temporaryFolder>;
  let image: string;
  let manifestPath: string;

  before(async () => {
    local = await LocalAws.start();
    folder = temporaryFolder('record-size');
    image = path.join(folder.dir, 'app.img');
    writeImage(image, [{ kind: 'random', bytes: 96 * 1024 }]);
    const out = path.join(folder.dir, 'out');
    mkdirSync(out);
    manifestPath = (await bundleWithTestKeys(image, out)).manifestPath;
  });
  after(async () => {
    await local.stop();
    folder.cleanup();
  });

  const keys = (bucket: string) =>
    local
      .objects(bucket)
      .map((object) => object.key)
      .sort();

  /** Runs the CLI with its peak resident memory recorded; returns the run and the peak in MiB. */
  async function measured(args: string[], label: string) {
    const peakFile = path.join(folder.dir, `peak-${label}`);
    const run = await runCliWatched(args, {
      env: { ...localAwsEnv(local), PEAK_RSS_FILE: peakFile, NODE_OPTIONS: `--require ${PEAK_RSS_PRELOAD}` },
    });
    return { run, peakMiB: Number(readFileSync(peakFile, 'utf8')) / 1024 };
  }

  const commands: { command: string; args: (place: string) => string[] }[] = [
    { command: 'bundle', args: (place) => [...bundleCliArgs(image), '-b', place] },
    { command: 'upload', args: (place) => ['upload', '-b', place, '-m', manifestPath] },
  ];
  for (const { command, args } of commands) {
    it(`${command}: refused with one line naming the object and what to do, its memory bounded, nothing written`, async () => {
      const bucket = `huge-${command}`;
      local.createBucket(bucket, { objectOwnership: 'ObjectWriter' });
      const recordKey = 'v1/app.img.resume.json';
      // The huge record is stored first: a child process's peak memory counts this process's at the
      // moment it was started (fork), so both runs must start with the same objects held here.
      local.putObjectDirect(bucket, recordKey, Buffer.alloc(HUGE, ' '));

      // The reference: the same command at another place, refused at once by a live claim of this
      // test process (node and the CLI loaded, a record read, nothing else).
      const liveClaim = renderClaim('app.img', {
        action: 'bundle',
        token: 'reference',
        host: hostname(),
        pid: process.pid,
        since: new Date().toISOString(),
      });
      local.putObjectDirect(bucket, 'reference/app.img.resume.json', Buffer.from(liveClaim));
      const reference = await measured(args(`${bucket}/reference`), `${command}-reference`);
      assert.equal(reference.run.status, 1, reference.run.stderr);
      assert.match(reference.run.stderr, /is held for the bundle app\.img by a bundle run \(pid /);
      local.deleteObjectDirect(bucket, 'reference/app.img.resume.json');

      local.clearRequests();
      const { run, peakMiB } = await measured(args(`${bucket}/v1`), command);
      if (process.env.SHOW_PEAK_RSS)
        console.log(`      ${command} peaked at ${peakMiB.toFixed(1)} MiB, reference ${reference.peakMiB.toFixed(1)}`);
      assert.ok(!run.neededSigterm, `${command} hung`);
      assert.equal(run.status, 1, run.stderr);
      assert.equal(run.stdout, '');
      const line = run.stderr.trimEnd();
      assert.equal(line.split('\n').length, 1, run.stderr);
      assert.equal(
        line,
        `unikernel-ami ${command}: -b/--bucket: s3://${bucket}/${recordKey} is ${HUGE} bytes, more than a claim or ` +
          `resume record this tool writes can be (${MAX_RECORD_BYTES} bytes), so it is not one; it was not read; ` +
          'delete the bundle there (unikernel-ami delete-bundle -p app.img) or remove that object, then run the command again',
      );
      assert.ok(
        peakMiB <= reference.peakMiB + MAX_EXTRA_MIB,
        `${command} peaked at ${peakMiB.toFixed(0)} MiB, the reference run at ${reference.peakMiB.toFixed(0)} MiB`,
      );
      assert.deepEqual(keys(bucket), [recordKey], 'nothing written: no claim, no part, no manifest');
      assert.equal(local.getObject(bucket, recordKey)?.length, HUGE, 'the record is left as it was');
      assert.deepEqual(
        local.requests.filter((request) => request.method !== 'GET' && request.method !== 'HEAD'),
        [],
        'no write was even tried',
      );

      // What the line says to do works: delete-bundle removes the record without reading it.
      const removed = await runCliWatched(['delete-bundle', '-b', `${bucket}/v1`, '-p', 'app.img', '-y'], {
        env: localAwsEnv(local),
      });
      assert.equal(removed.status, 0, removed.stderr);
      assert.deepEqual(keys(bucket), []);
      const again = await runCliWatched(args(`${bucket}/v1`), { env: localAwsEnv(local) });
      assert.equal(again.status, 0, again.stderr);
      assert.ok(keys(bucket).includes('v1/app.img.manifest.xml'));
    });
  }

  it('leaves room for the largest record this tool writes (10 GiB in 10 MiB parts, keys of 1,024 bytes)', () => {
    const partCount = Math.ceil((MAX_IMAGE_SIZE * 1.001 + 10240) / PART_SIZE);
    const prefix = 'p'.repeat(1000);
    const parts = Array.from({ length: partCount }, (_, index) => ({
      index,
      key: `${prefix}/app.img.part.${index}`.padEnd(1024, 'x'),
      size: PART_SIZE,
      etag: `"${'f'.repeat(32)}"`,
      sha1: 'a'.repeat(40),
    }));
    const point = {
      attempt: 'ab'.repeat(20),
      userEncryptedKey: 'cd'.repeat(256),
      userEncryptedIv: 'ef'.repeat(256),
      signature: '01'.repeat(256),
    };
    const size = Buffer.byteLength(renderResumeRecord('app.img', point, PART_SIZE, parts));
    assert.ok(size < MAX_RECORD_BYTES * 0.75, `the largest record is ${size} bytes, the cap ${MAX_RECORD_BYTES}`);
  });

  it('reads a body of unknown length no further than the cap, and closes it', async () => {
    let produced = 0;
    const endless = new Readable({
      read() {
        produced += 64 * 1024;
        this.push(Buffer.alloc(64 * 1024, 'x'));
      },
    });
    assert.equal(await readCapped(endless, MAX_RECORD_BYTES), undefined);
    assert.ok(endless.destroyed, 'the stream is closed');
    assert.ok(produced <= MAX_RECORD_BYTES + 256 * 1024, `${produced} bytes were produced`);
    assert.deepEqual(
      await readCapped(Readable.from([Buffer.from('{"a":'), Buffer.from('1}')]), 16),
      Buffer.from('{"a":1}'),
    );
  });
});
