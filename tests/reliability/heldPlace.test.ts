/**
 * A place held by a live run, through the real CLI: a `bundle --bucket` or an `upload` into a place
 * another `unikernel-ami` process is writing exits 1 with one line naming the holder (its action,
 * pid, host and since), the claim object and what to do; it writes nothing, and the holder then
 * completes a bundle that verifies, with nothing of the loser in the bucket.
 */
import { strict as assert } from 'assert';
import { mkdirSync } from 'fs';
import { hostname } from 'os';
import * as path from 'path';
import { parseClaim } from '../../provider/aws/claimRecord';
import { LocalAws } from '../../testing/localAws';
import { bundleWithTestKeys } from '../helpers/bundles';
import { bundleCliArgs, testPki } from '../helpers/pki';
import { verifyBundle } from '../../provider/bundle/unbundle';
import { auditBucket } from '../helpers/s3Bundles';
import { temporaryFolder, writeImage } from '../helpers/tools';
import { localAwsEnv, runCliWatched, WatchedRun } from './cliProcess';

type Action = 'bundle' | 'upload';

/** Every pair of a holder and a loser: each command holding, each refused. */
const CASES: { holder: Action; loser: Action }[] = [
  { holder: 'bundle', loser: 'bundle' },
  { holder: 'bundle', loser: 'upload' },
  { holder: 'upload', loser: 'bundle' },
  { holder: 'upload', loser: 'upload' },
];

/** How long the holder's part PUT is held up: the loser runs meanwhile. */
const HOLD_MS = 6000;

describe('a place held by a live run, through the real CLI', function () {
  this.timeout(90_000);
  let local: LocalAws;
  let folder: ReturnType<typeof temporaryFolder>;
  let count = 0;

  before(async () => {
    local = await LocalAws.start();
    folder = temporaryFolder('held-place');
  });
  after(async () => {
    await local.stop();
    folder.cleanup();
  });

  /** An image named app.img of its own content, and its bundle made locally (for upload). */
  async function imageAndBundle(label: string, kib: number) {
    const dir = path.join(folder.dir, `${++count}-${label}`);
    mkdirSync(path.join(dir, 'out'), { recursive: true });
    const image = path.join(dir, 'app.img');
    writeImage(image, [{ kind: 'random', bytes: kib * 1024 }]);
    const { manifestPath } = await bundleWithTestKeys(image, path.join(dir, 'out'));
    return { image, manifestPath };
  }

  const argsOf = (action: Action, files: { image: string; manifestPath: string }, place: string) =>
    action === 'bundle'
      ? [...bundleCliArgs(files.image), '-b', place, '--json']
      : ['upload', '-b', place, '-m', files.manifestPath, '--json'];

  for (const { holder, loser } of CASES) {
    it(`${loser} into a place ${holder === 'upload' ? 'an' : 'a'} ${holder} run holds: exit 1, one line naming the holder; nothing of it left`, async () => {
      const bucket = `held-${holder}-${loser}`;
      local.createBucket(bucket, { objectOwnership: 'ObjectWriter' });
      const place = `${bucket}/v1`;
      const recordKey = 'v1/app.img.resume.json';
      const holderFiles = await imageAndBundle('holder', 300);
      const loserFiles = await imageAndBundle('loser', 200);
      local.faults.inject({
        service: 's3',
        operation: 'PutObject',
        kind: 'latency',
        ms: HOLD_MS,
        times: 1,
        match: (request) => request.key === 'v1/app.img.part.0',
      });

      let holderPid = 0;
      const holding = runCliWatched(argsOf(holder, holderFiles, place), {
        env: localAwsEnv(local),
        onStart: (pid) => (holderPid = pid),
      });
      // The loser starts once the holder's claim is stored.
      const started = Date.now();
      let claim: ReturnType<typeof parseClaim>;
      while (!(claim = parseClaim(local.getObject(bucket, recordKey)?.toString('utf8') ?? ''))) {
        assert.ok(Date.now() - started < HOLD_MS, 'the holder stored its claim');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.equal(claim.pid, holderPid);
      const before = local.objects(bucket).map((object) => `${object.key} ${object.md5}`);

      const lost: WatchedRun = await runCliWatched(argsOf(loser, loserFiles, place), { env: localAwsEnv(local) });
      assert.deepEqual(
        local.objects(bucket).map((object) => `${object.key} ${object.md5}`),
        before,
        'the refused run wrote nothing',
      );
      assert.ok(!lost.neededSigterm, 'the loser did not wait for the holder');
      assert.equal(lost.status, 1, lost.stderr);
      assert.equal(lost.stdout, '', 'nothing on stdout, --json included');
      const line = lost.stderr.trimEnd();
      assert.equal(line.split('\n').length, 1, lost.stderr);
      const holderWords = holder === 'upload' ? 'an upload run' : 'a bundle run';
      assert.equal(
        line,
        `unikernel-ami ${loser}: -b/--bucket: s3://${place}/ is held for the bundle app.img by ${holderWords} ` +
          `(pid ${holderPid} on ${hostname()}, since ${claim.since}) (s3://${bucket}/${recordKey}); ` +
          'wait for that run to end, or, if none is running, delete it (unikernel-ami delete-bundle -p app.img)',
      );

      const held = await holding;
      assert.equal(held.status, 0, held.stderr);
      const audit = await auditBucket(local, bucket, folder.dir);
      assert.deepEqual([...audit.broken], [], 'the manifest verifies');
      assert.deepEqual(audit.orphans, [], 'no object of the loser');
      assert.deepEqual(audit.records, [], 'the claim is gone');
      // The holder's image digest: from its --json summary (bundle), or its local bundle verified (upload).
      const pki = testPki();
      const expected: string =
        holder === 'bundle'
          ? JSON.parse(held.stdout).digest
          : (await verifyBundle({ manifestPath: holderFiles.manifestPath, privateKey: pki.user.key })).digest;
      assert.deepEqual([...audit.bundles], [['v1/app.img.manifest.xml', expected]], "the holder's bundle, intact");
    });
  }
});
