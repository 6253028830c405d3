/**
 * What a stopped or failed run says must be true of what it leaves: an upload stopped by Ctrl-C or by
 * its --timeout keeps its parts for resuming (and says so), and a full destination is named as the
 * folder the user gave, not as a hidden temporary file. Real CLI, local AWS over HTTP.
 */
import { strict as assert } from 'assert';
import { spawn, spawnSync } from 'child_process';
import { mkdirSync, promises as fs, readdirSync } from 'fs';
import * as path from 'path';
import { LocalAws } from '../../testing/localAws';
import { bundleWithTestKeys } from '../helpers/bundles';
import { testPki } from '../helpers/pki';
import { CLI, MiB, runCliAsync, temporaryFolder, writeImage } from '../helpers/tools';

describe('messages of stopped runs say what is left', function () {
  this.timeout(90_000);
  let fake: LocalAws;
  let folder: ReturnType<typeof temporaryFolder>;
  let manifestPath: string;
  let partCount: number;
  let environment: NodeJS.ProcessEnv;

  before(async () => {
    fake = await LocalAws.start();
    folder = temporaryFolder('stop-messages');
    const image = path.join(folder.dir, 'app.img');
    writeImage(image, [{ kind: 'random', bytes: MiB }]);
    const out = path.join(folder.dir, 'out');
    await fs.mkdir(out);
    const bundle = await bundleWithTestKeys(image, out, {}, { partSize: 128 * 1024 });
    manifestPath = bundle.manifestPath;
    partCount = bundle.parts.length;
    environment = {
      AWS_ENDPOINT_URL: fake.endpoint,
      AWS_REGION: fake.region,
      AWS_ACCESS_KEY_ID: fake.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: fake.credentials.secretAccessKey,
      AWS_PROFILE: '',
    };
  });
  after(async () => {
    await fake.stop();
    folder.cleanup();
  });
  afterEach(() => fake.faults.clear());

  /** The bundle's parts in the bucket (not its claim or resume record). */
  const partsIn = (bucket: string) => fake.objects(bucket).filter((object) => /\.part\.\d+$/.test(object.key)).length;

  /** Starts an upload, sends SIGINT once `parts` parts are in the bucket, and waits for it to end. */
  function interruptedUpload(bucket: string, parts: number): Promise<{ status: number | null; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [CLI, 'upload', '-b', bucket, '-m', manifestPath, '--concurrency', '1'], {
        env: { ...process.env, ...environment },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (chunk) => (stderr += chunk));
      const poll = setInterval(() => {
        if (partsIn(bucket) >= parts) {
          clearInterval(poll);
          child.kill('SIGINT');
        }
      }, 20);
      child.on('error', reject);
      child.on('close', (status) => {
        clearInterval(poll);
        resolve({ status, stderr });
      });
    });
  }

  it('an upload interrupted by SIGINT says its parts were kept for resuming, and they were', async () => {
    fake.createBucket('interrupted', { objectOwnership: 'ObjectWriter' });
    fake.faults.inject({ kind: 'latency', service: 's3', operation: 'PutObject', ms: 400 });
    const run = await interruptedUpload('interrupted', 2);
    assert.equal(run.status, 130, run.stderr);
    assert.equal(
      run.stderr.trim(),
      'unikernel-ami upload: interrupted; the objects it had uploaded were kept in S3 for resuming: run the same upload again to finish (objects already there are skipped), or remove them with unikernel-ami delete-bundle',
    );
    const kept = partsIn('interrupted');
    assert.ok(kept >= 2 && kept <= partCount, `${kept} parts kept, no manifest`);
    fake.faults.clear();
    const again = await runCliAsync(['upload', '-b', 'interrupted', '-m', manifestPath, '--json'], environment);
    assert.equal(again.status, 0, again.stderr);
    assert.ok(JSON.parse(again.stdout).skipped.length >= 2, 'the kept parts were skipped: the run resumed');
  });

  it('an upload stopped by --timeout says it timed out and that its parts were kept', async () => {
    fake.createBucket('timed-out', { objectOwnership: 'ObjectWriter' });
    fake.faults.inject({ kind: 'latency', service: 's3', operation: 'PutObject', ms: 700 });
    const run = await runCliAsync(
      ['upload', '-b', 'timed-out', '-m', manifestPath, '--concurrency', '1', '--timeout', '2'],
      environment,
    );
    assert.equal(run.status, 1, run.stderr);
    assert.equal(
      run.stderr.trim(),
      'unikernel-ami upload: timed out (--timeout); the objects it had uploaded were kept in S3 for resuming: run the same upload again to finish (objects already there are skipped), or remove them with unikernel-ami delete-bundle',
    );
    assert.ok(fake.objects('timed-out').length > 0, 'parts are there, as the message says');
    assert.ok(
      fake.objects('timed-out').every((object) => !object.key.endsWith('.manifest.xml')),
      'no manifest: the bundle is not claimed complete',
    );
  });

  it('unbundle into a full folder names the folder, not its temporary file, and removes the partial image', function () {
    const mountPoint = path.join(folder.dir, 'full');
    mkdirSync(mountPoint);
    const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', mountPoint], { encoding: 'utf8' });
    if (mount.status !== 0) {
      // A small file system to fill needs mount (root); elsewhere this case cannot be set up.
      this.skip();
    }
    try {
      const run = spawnSync(
        process.execPath,
        [CLI, 'unbundle', '-m', manifestPath, '-k', testPki().user.keyPath, '-d', mountPoint],
        { encoding: 'utf8' },
      );
      assert.equal(run.status, 1, run.stderr);
      assert.equal(
        run.stderr.trim(),
        `unikernel-ami unbundle: -d/--destination: ${mountPoint} ran out of space while the image was being written (ENOSPC); the partial image was removed: free some space or choose another folder`,
      );
      assert.deepEqual(readdirSync(mountPoint), []);
    } finally {
      spawnSync('umount', [mountPoint]);
    }
  });
});
