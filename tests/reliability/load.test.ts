/**
 * The load test: 16 bundles into one bucket from concurrent runs, four of them to places another run
 * is writing at the same time, with faults from the catalog injected. Afterwards every manifest in
 * the bucket verifies, every run that succeeded owns an intact bundle (its own digest), no place has
 * two winners, and nothing is orphaned: what is not a verified bundle is an unfinished one with its
 * record, for the next run to resume or delete.
 */
import { strict as assert } from 'assert';
import { mkdirSync } from 'fs';
import * as path from 'path';
import { bundleToS3, S3BundleResult } from '../../provider/aws/bundleToS3';
import { LocationHeldError } from '../../provider/aws/bundleClaim';
import { createClients, AwsClients } from '../../provider/aws/clients';
import { deleteBundle } from '../../provider/aws/deleteBundle';
import { parseBucketArgument } from '../../provider/aws/location';
import { BundleSuspendedError } from '../../provider/bundle/bundle';
import { LocalAws } from '../../testing/localAws';
import { testPki } from '../helpers/pki';
import { auditBucket } from '../helpers/s3Bundles';
import { temporaryFolder, writeImage } from '../helpers/tools';
import { FAULT_CATALOG } from './faultCatalog';

const RUNS = 16;
/** Runs 12–15 write to the places of runs 0–3, with other images. */
const SHARED = 4;
const BUCKET = 'load';

interface Run {
  index: number;
  prefix: string;
  name: string;
  policy: 'resume' | 'refuse';
  outcome?: { ok: true; result: S3BundleResult } | { ok: false; error: unknown };
}

describe('load: 16 concurrent bundles into one bucket, some to one place, with faults', function () {
  this.timeout(120_000);
  let local: LocalAws;
  let aws: AwsClients;
  let folder: ReturnType<typeof temporaryFolder>;

  before(async () => {
    local = await LocalAws.start();
    aws = createClients({
      endpoint: local.endpoint,
      region: local.region,
      credentials: local.credentials,
      maxAttempts: 3,
    });
    folder = temporaryFolder('load');
    local.createBucket(BUCKET, { objectOwnership: 'ObjectWriter' });
  });
  after(async () => {
    await local.stop();
    folder.cleanup();
  });

  it('leaves only verified bundles owned by the runs that succeeded, and unfinished ones with their record', async () => {
    const started = Date.now();
    const runs: Run[] = Array.from({ length: RUNS }, (_, index) => {
      const place = index >= RUNS - SHARED ? index - (RUNS - SHARED) : index;
      return {
        index,
        prefix: place % 2 === 0 ? 'even' : 'odd',
        name: `app-${place}.img`,
        policy: index % 2 === 0 ? 'resume' : 'refuse',
      };
    });
    // The S3 faults of the catalog that a run recovers from, once each, landing on whichever run
    // comes first; latency on every PUT interleaves the runs; one part of one run fails for good.
    const recoverable = FAULT_CATALOG.filter(
      (entry) => entry.outcome.kind === 'recovers' && entry.faults.every((rule) => rule.service === 's3'),
    ).flatMap((entry) => entry.faults.map((rule) => ({ ...rule, times: rule.times ?? 1 })));
    const injected = [
      ...recoverable.map((rule) => local.faults.inject(rule)),
      local.faults.inject({ service: 's3', operation: 'PutObject', kind: 'latency', ms: 5 }),
      local.faults.inject({
        service: 's3',
        operation: 'PutObject',
        kind: 'reset',
        match: (request) => request.key === 'odd/app-5.img.part.2',
      }),
    ];
    const pki = testPki();
    await Promise.all(
      runs.map(async (run) => {
        const imagePath = path.join(folder.dir, `run-${run.index}`, run.name);
        mkdirSync(path.dirname(imagePath));
        writeImage(imagePath, [{ kind: 'random', bytes: (150 + 40 * (run.index % 8)) * 1024 }]);
        await new Promise((resolve) => setTimeout(resolve, run.index * 3));
        run.outcome = await bundleToS3(
          {
            imagePath,
            s3: aws.s3,
            location: parseBucketArgument(`${BUCKET}/${run.prefix}`),
            privateKey: pki.user.key,
            userCertificate: pki.user.cert,
            ec2Certificate: pki.ec2.cert,
            accountId: '123456789012',
            architecture: 'x86_64',
            unfinished: run.policy,
            concurrency: 2,
          },
          { partSize: 64 * 1024 },
        ).then(
          (result) => ({ ok: true as const, result }),
          (error: unknown) => ({ ok: false as const, error }),
        );
      }),
    );
    local.faults.clear();
    const seconds = (Date.now() - started) / 1000;

    const audit = await auditBucket(local, BUCKET, folder.dir);
    assert.deepEqual([...audit.broken], [], 'every manifest in the bucket verifies');
    assert.deepEqual(audit.orphans, [], 'nothing orphaned');

    const succeeded = runs.filter((run) => run.outcome?.ok);
    for (const run of succeeded) {
      if (!run.outcome?.ok) continue;
      assert.equal(
        audit.bundles.get(`${run.prefix}/${run.name}.manifest.xml`),
        run.outcome.result.digest,
        `run ${run.index} owns an intact bundle at ${run.prefix}/${run.name}`,
      );
    }
    const places = new Set(runs.map((run) => `${run.prefix}/${run.name}`));
    for (const place of places) {
      const winners = succeeded.filter((run) => `${run.prefix}/${run.name}` === place);
      assert.ok(winners.length <= 1, `one winner at most at ${place}: ${winners.map((run) => run.index).join(', ')}`);
    }
    const failed = runs.filter((run) => run.outcome && !run.outcome.ok);
    const held = failed.filter(
      (run) => run.outcome && !run.outcome.ok && run.outcome.error instanceof LocationHeldError,
    );
    const suspended = failed.filter(
      (run) => run.outcome && !run.outcome.ok && run.outcome.error instanceof BundleSuspendedError,
    );
    for (const run of failed) {
      const error = run.outcome && !run.outcome.ok ? run.outcome.error : undefined;
      assert.ok(
        error instanceof Error && !error.message.includes('\n'),
        `run ${run.index}: one line (${String(error)})`,
      );
    }
    assert.equal(
      held.length + suspended.length,
      failed.length,
      'a run fails only because the place is held, or a fault it keeps parts for',
    );
    assert.ok(
      succeeded.length >= places.size - suspended.length - SHARED,
      'every place but those faulted ends with a bundle',
    );
    for (const record of audit.records) {
      assert.ok(
        !audit.bundles.has(record.replace(/\.resume\.json$/, '.manifest.xml')),
        `${record} is of an unfinished bundle`,
      );
    }

    // What is left unfinished, its owner can delete; then the bucket holds exactly the bundles that succeeded.
    for (const record of audit.records) {
      const [prefix, file] = record.split('/');
      await deleteBundle({
        s3: aws.s3,
        location: parseBucketArgument(`${BUCKET}/${prefix}`),
        name: file.replace(/\.resume\.json$/, ''),
      });
    }
    const cleared = await auditBucket(local, BUCKET, folder.dir);
    assert.deepEqual(
      [...cleared.bundles.keys()].sort(),
      succeeded.map((run) => `${run.prefix}/${run.name}.manifest.xml`).sort(),
    );
    assert.deepEqual(cleared.orphans, []);
    assert.deepEqual(cleared.records, []);

    const latencyHits = injected.filter((fault) => fault.rule.kind === 'latency').reduce((sum, f) => sum + f.hits, 0);
    const faultsHit = injected.reduce((sum, fault) => sum + fault.hits, 0) - latencyHits;
    console.log(
      `      load: ${RUNS} runs to ${places.size} places in ${seconds.toFixed(1)} s: ${succeeded.length} succeeded, ` +
        `${held.length} refused (place held), ${suspended.length} suspended; ${faultsHit} error faults hit ` +
        `and ${latencyHits} delayed requests (${injected.length} rules); ${local.requests.length} requests; ${audit.bundles.size} bundles verified, ` +
        `${audit.records.length} unfinished, 0 orphans`,
    );
  });
});
