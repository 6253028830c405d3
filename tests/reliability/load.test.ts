/**
 * The load test: 16 `unikernel-ami` processes at once (`bundle --bucket`, `upload`, `delete-bundle`)
 * to 12 places in one bucket of a local AWS served over HTTP by this process, four of them to
 * places another process is writing, with faults from the catalog injected. Every process exits 0
 * or 1 with one of the documented one-line refusals (the place held, naming a run at that place;
 * the place taken by a finished bundle; parts kept after a fault, for a resume). Afterwards every
 * manifest in the bucket verifies and is the bundle of a run that exited 0 at that place, and
 * nothing is orphaned: what is not a verified bundle is the record and parts of an unfinished one
 * whose run said it kept them; `delete-bundle` then leaves exactly the verified bundles.
 *
 * The part PUTs of the shared places are held LOAD_HOLD_MS (default 1500) so that their runs overlap;
 * a longer hold (LOAD_HOLD_MS=8000) makes the races at the shared places last longer. When the test
 * fails, it prints each run's ending and the requests to the shared places' claims and manifests.
 */
import { strict as assert } from 'assert';
import { mkdirSync } from 'fs';
import * as path from 'path';
import { LocalAws } from '../../testing/localAws';
import { bundleWithTestKeys } from '../helpers/bundles';
import { bundleCliArgs } from '../helpers/pki';
import { auditBucket } from '../helpers/s3Bundles';
import { temporaryFolder, writeImage } from '../helpers/tools';
import { localAwsEnv, runCliWatched, WatchedRun } from './cliProcess';
import { FAULT_CATALOG } from './faultCatalog';

const BUCKET = 'load';
const PLACES = 12;
/** Over one 10 MiB part: the bundle has two parts. */
const TWO_PARTS_KIB = 10 * 1024 + 512;
/** How long each part PUT of a shared place is held, ms. */
const HOLD_MS = Number(process.env.LOAD_HOLD_MS ?? 1500);

type Command = 'bundle' | 'upload' | 'delete-bundle';

interface Run {
  index: number;
  command: Command;
  place: number;
  /** Size of its image (bundle, upload), KiB. */
  kib: number;
}

/** The runs, one a line: runs 0–11 one to each place, runs 12–15 to places 0–3 at the same time. */
// prettier-ignore
const RUNS: readonly Run[] = [
  { index: 0, command: 'bundle', place: 0, kib: 300 },
  { index: 1, command: 'bundle', place: 1, kib: 340 },
  { index: 2, command: 'upload', place: 2, kib: 260 },
  { index: 3, command: 'upload', place: 3, kib: 220 },
  { index: 4, command: 'bundle', place: 4, kib: 180 },
  // Part 1 of this one is reset on every try: the run ends keeping part 0 for a resume.
  { index: 5, command: 'bundle', place: 5, kib: TWO_PARTS_KIB },
  { index: 6, command: 'bundle', place: 6, kib: TWO_PARTS_KIB },
  { index: 7, command: 'upload', place: 7, kib: 200 },
  { index: 8, command: 'bundle', place: 8, kib: 160 },
  { index: 9, command: 'bundle', place: 9, kib: 240 },
  { index: 10, command: 'upload', place: 10, kib: 280 },
  { index: 11, command: 'bundle', place: 11, kib: 320 },
  { index: 12, command: 'bundle', place: 0, kib: 400 },
  { index: 13, command: 'upload', place: 1, kib: 380 },
  { index: 14, command: 'delete-bundle', place: 2, kib: 0 },
  { index: 15, command: 'bundle', place: 3, kib: 360 },
];

const prefixOf = (place: number) => (place % 2 === 0 ? 'even' : 'odd');
const nameOf = (place: number) => `app-${place}.img`;

/** What a run's exit says happened. */
type Outcome =
  | { kind: 'succeeded' }
  /** Refused: another run holds the place; `holderPid` when the line names it by pid. */
  | { kind: 'held'; holderPid?: number }
  /** Refused: a finished bundle is at the place. */
  | { kind: 'taken' }
  /** Failed on a fault, keeping the parts stored so far for a resume. */
  | { kind: 'kept' };

/** The documented one-line refusals and failures, for the run's place; undefined when the line is none of them. */
function outcomeOf(run: Run, result: WatchedRun): Outcome | undefined {
  if (result.status === 0 && result.stderr === '') return { kind: 'succeeded' };
  if (result.status !== 1) return undefined;
  const line = result.stderr.trimEnd();
  if (line.includes('\n')) return undefined;
  const name = nameOf(run.place).replace(/\./g, '\\.');
  const where = `s3://${BUCKET}/${prefixOf(run.place)}/`;
  const head = `^unikernel-ami ${run.command}: -b/--bucket: `;
  const waitOrDelete = `; wait for that run to end, or, if none is running, delete it \\(unikernel-ami delete-bundle -p ${name}\\)$`;
  const named = new RegExp(
    `${head}${where} is held for the bundle ${name} by (a bundle|an upload|a delete-bundle) run \\(pid (\\d+) on [^,]+, since [^)]+\\) \\(${where}${name}\\.resume\\.json\\)${waitOrDelete}`,
  ).exec(line);
  if (named) return { kind: 'held', holderPid: Number(named[2]) };
  if (
    new RegExp(
      `${head}another run claimed ${where} for the bundle ${name} at the same moment \\(${where}${name}\\.resume\\.json\\)${waitOrDelete}`,
    ).test(line) ||
    new RegExp(
      `${head}another run is writing the bundle ${name} in ${where} \\(s3://${BUCKET}/\\S+ (changed|was removed) under this run\\), so this run stops without completing it(; none of the \\d+ objects this run wrote is left|; the \\d+ objects this run wrote are left to .+, which holds the place now)?${waitOrDelete}`,
    ).test(line)
  )
    return { kind: 'held' };
  if (
    new RegExp(
      `${head}${where} already holds a bundle named ${name} \\(\\d+ object\\(s\\)\\); delete it \\(unikernel-ami delete-bundle\\) or choose another bundle name or prefix$`,
    ).test(line)
  )
    return { kind: 'taken' };
  if (
    run.command === 'bundle' &&
    new RegExp(
      `^unikernel-ami bundle: .*; the parts stored so far are kept in ${where}: run the same command again to resume, or delete them with unikernel-ami delete-bundle$`,
    ).test(line)
  )
    return { kind: 'kept' };
  return undefined;
}

/**
 * What a failed run of the test shows, to find a race: each run's ending, the claims and records left,
 * and every request to a shared place's objects (time from the start, conditions, answer).
 */
function diagnosis(
  local: LocalAws,
  started: number,
  results: readonly WatchedRun[],
  pids: ReadonlyMap<number, Run>,
  shared: ReadonlySet<number>,
): string {
  const pidOf = new Map([...pids].map(([pid, run]) => [run.index, pid]));
  const lines = ['      load diagnosis: runs'];
  for (const run of RUNS) {
    const result = results[run.index];
    let said = '';
    try {
      const summary: unknown = JSON.parse(result.stdout);
      if (typeof summary === 'object' && summary !== null && 'claimLeft' in summary)
        said = ` claimLeft=${String(summary.claimLeft)}`;
    } catch {
      said = result.stdout.trim() === '' ? '' : ' stdout not JSON';
    }
    lines.push(
      `        run ${run.index} ${run.command} place ${run.place} pid ${pidOf.get(run.index)}: exit ${result.status}` +
        `${result.signal ? ` ${result.signal}` : ''}${said} ${result.stderr.trim()}`,
    );
  }
  lines.push('      claims and records left:');
  for (const object of local.objects(BUCKET).filter((object) => object.key.endsWith('.resume.json')))
    lines.push(
      `        ${object.key} md5 ${object.md5}: ${String(local.getObject(BUCKET, object.key)).replace(/\s+/g, ' ')}`,
    );
  lines.push('      requests to the shared places (ms from start, operation, key, conditions, answer):');
  const sharedKeys = [...shared].map((place) => `${prefixOf(place)}/${nameOf(place)}.`);
  for (const request of local.requests) {
    if (request.key === undefined || !sharedKeys.some((key) => request.key?.startsWith(key))) continue;
    const conditions = ['if-match', 'if-none-match']
      .filter((header) => request.headers[header] !== undefined)
      .map((header) => ` ${header}=${request.headers[header]}`)
      .join('');
    lines.push(
      `        ${request.time.getTime() - started} ${request.method} ${request.operation} ${request.key}${conditions}` +
        ` -> ${request.status}${request.errorCode ? ` ${request.errorCode}` : ''}${request.fault ? ` (fault ${request.fault})` : ''}`,
    );
  }
  return lines.join('\n');
}

describe('load: 16 unikernel-ami processes to 12 places in one bucket, some to one place, with faults', function () {
  this.timeout(150_000);
  let local: LocalAws;
  let folder: ReturnType<typeof temporaryFolder>;

  before(async () => {
    local = await LocalAws.start();
    folder = temporaryFolder('load');
    local.createBucket(BUCKET, { objectOwnership: 'ObjectWriter' });
  });
  after(async () => {
    await local.stop();
    folder.cleanup();
  });
  // A failure prints what the runs did, to find the race.
  let diagnose: (() => string) | undefined;
  afterEach(function () {
    if (this.currentTest?.state === 'failed' && diagnose) console.log(diagnose());
  });

  it('ends with every process at 0 or a documented refusal, only verified bundles of runs that exited 0, nothing orphaned', async () => {
    // Each run's image (named for its place, its own content) and, for an upload, its bundle made beforehand.
    const files = await Promise.all(
      RUNS.map(async (run) => {
        if (run.command === 'delete-bundle') return { args: [], digest: undefined };
        const dir = path.join(folder.dir, `run-${run.index}`);
        mkdirSync(path.join(dir, 'bundle'), { recursive: true });
        const image = path.join(dir, nameOf(run.place));
        writeImage(image, [{ kind: 'random', bytes: run.kib * 1024 }]);
        const place = `${BUCKET}/${prefixOf(run.place)}`;
        if (run.command === 'bundle')
          return { args: [...bundleCliArgs(image), '-b', place, '--json'], digest: undefined };
        const made = await bundleWithTestKeys(image, path.join(dir, 'bundle'));
        return { args: ['upload', '-b', place, '-m', made.manifestPath, '--json'], digest: made.digest };
      }),
    );
    const argsOf = (run: Run) =>
      run.command === 'delete-bundle'
        ? ['delete-bundle', '-b', `${BUCKET}/${prefixOf(run.place)}`, '-p', nameOf(run.place), '-y']
        : files[run.index].args;

    // The S3 faults of the catalog that a run recovers from, once each, landing on whichever run
    // comes first; the parts of the shared places are slowed so that their runs overlap; part 1 of
    // run 5 is reset on every try.
    const recoverable = FAULT_CATALOG.filter(
      (entry) => entry.outcome.kind === 'recovers' && entry.faults.every((rule) => rule.service === 's3'),
    ).flatMap((entry) => entry.faults.map((rule) => ({ ...rule, times: rule.times ?? 1 })));
    const shared = new Set(RUNS.filter((run) => run.index >= PLACES).map((run) => run.place));
    const injected = [
      ...recoverable.map((rule) => local.faults.inject(rule)),
      local.faults.inject({
        service: 's3',
        operation: 'PutObject',
        kind: 'latency',
        ms: HOLD_MS,
        match: (request) =>
          [...shared].some((place) => request.key?.startsWith(`${prefixOf(place)}/${nameOf(place)}.part.`)),
      }),
      local.faults.inject({ service: 's3', operation: 'PutObject', kind: 'latency', ms: 5 }),
      local.faults.inject({
        service: 's3',
        operation: 'PutObject',
        kind: 'reset',
        match: (request) => request.key === `${prefixOf(5)}/${nameOf(5)}.part.1`,
      }),
    ];

    const started = Date.now();
    const pids = new Map<number, Run>();
    const results = await Promise.all(
      RUNS.map((run) =>
        runCliWatched(argsOf(run), {
          env: localAwsEnv(local),
          patienceMs: 100_000,
          onStart: (pid) => pids.set(pid, run),
        }),
      ),
    );
    const seconds = (Date.now() - started) / 1000;
    local.faults.clear();
    diagnose = () => diagnosis(local, started, results, pids, shared);

    const outcomes = RUNS.map((run) => {
      const result = results[run.index];
      const outcome = outcomeOf(run, result);
      assert.ok(
        outcome,
        `run ${run.index} (${run.command} to place ${run.place}) ended with exit ${result.status} ${result.signal ?? ''}: ${result.stderr}`,
      );
      if (outcome.kind === 'held' && outcome.holderPid !== undefined) {
        const holder = pids.get(outcome.holderPid);
        assert.ok(holder, `run ${run.index} names pid ${outcome.holderPid}, one of the runs`);
        assert.equal(holder.place, run.place, `run ${run.index} names a run at its own place`);
        assert.notEqual(holder.index, run.index);
      }
      return outcome;
    });
    assert.equal(outcomes[5].kind, 'kept', 'the run whose part failed for good kept its parts for a resume');
    for (const run of RUNS.filter((run) => !shared.has(run.place) && run.index !== 5))
      assert.equal(outcomes[run.index].kind, 'succeeded', `run ${run.index}, alone at its place, succeeded`);
    // A delete-bundle may overtake its place's writers (they then stop, as documented): a success is
    // owed only where writers race each other alone.
    const deleted = new Set(RUNS.filter((run) => run.command === 'delete-bundle').map((run) => run.place));
    for (const place of [...shared].filter((place) => !deleted.has(place))) {
      const writers = RUNS.filter((run) => run.place === place && run.command !== 'delete-bundle');
      assert.ok(
        writers.some((run) => outcomes[run.index].kind === 'succeeded'),
        `a run at the shared place ${place} succeeded`,
      );
    }

    // Every manifest verifies and is the bundle of a run that exited 0 at that place.
    const audit = await auditBucket(local, BUCKET, folder.dir);
    assert.deepEqual([...audit.broken], [], 'every manifest in the bucket verifies');
    const digestOf = (run: Run): string | undefined =>
      run.command === 'bundle' ? JSON.parse(results[run.index].stdout).digest : files[run.index].digest;
    for (const [key, digest] of audit.bundles) {
      const place = Number(/app-(\d+)\.img\.manifest\.xml$/.exec(key)?.[1]);
      const owners = RUNS.filter(
        (run) => run.place === place && outcomes[run.index].kind === 'succeeded' && run.command !== 'delete-bundle',
      );
      assert.ok(
        owners.some((run) => digestOf(run) === digest),
        `${key} is the bundle of a run at place ${place} that exited 0`,
      );
    }
    // Where writers raced each other alone, the bundle of a run that exited 0 is there: none was
    // undone by a run that lost the place.
    for (const place of [...shared].filter((place) => !deleted.has(place)))
      assert.ok(
        audit.bundles.has(`${prefixOf(place)}/${nameOf(place)}.manifest.xml`),
        `the shared place ${place} holds the bundle of a run that exited 0`,
      );
    for (const run of RUNS.filter((run) => !shared.has(run.place) && run.index !== 5))
      assert.equal(
        audit.bundles.get(`${prefixOf(run.place)}/${nameOf(run.place)}.manifest.xml`),
        digestOf(run),
        `run ${run.index} owns an intact bundle at its place`,
      );
    // Nothing orphaned: outside the verified bundles, only the records and parts that a run said it kept.
    assert.deepEqual(audit.orphans, [], 'no object outside a verified bundle or a kept record');
    const keptPlaces = RUNS.filter((run) => outcomes[run.index].kind === 'kept').map((run) => run.place);
    assert.deepEqual(
      audit.records.sort(),
      keptPlaces.map((place) => `${prefixOf(place)}/${nameOf(place)}.resume.json`).sort(),
      'a record is left exactly where a run said it kept parts',
    );

    // What the kept messages say to do: delete-bundle removes the unfinished bundle.
    for (const place of keptPlaces) {
      const removed = await runCliWatched(
        ['delete-bundle', '-b', `${BUCKET}/${prefixOf(place)}`, '-p', nameOf(place), '-y'],
        { env: localAwsEnv(local) },
      );
      assert.equal(removed.status, 0, removed.stderr);
    }
    const cleared = await auditBucket(local, BUCKET, folder.dir);
    assert.deepEqual([...cleared.bundles.keys()].sort(), [...audit.bundles.keys()].sort());
    assert.deepEqual(cleared.orphans, []);
    assert.deepEqual(cleared.records, []);
    assert.ok(seconds < 90, `the 16 processes took ${seconds.toFixed(1)} s`);

    const count = (kind: Outcome['kind']) => outcomes.filter((outcome) => outcome.kind === kind).length;
    const latencyHits = injected.filter((fault) => fault.rule.kind === 'latency').reduce((sum, f) => sum + f.hits, 0);
    const faultsHit = injected.reduce((sum, fault) => sum + fault.hits, 0) - latencyHits;
    console.log(
      `      load: ${RUNS.length} processes to ${PLACES} places in ${seconds.toFixed(1)} s: ${count('succeeded')} exited 0, ` +
        `${count('held')} refused (place held), ${count('taken')} refused (place taken), ${count('kept')} kept parts; ` +
        `${faultsHit} error faults hit and ${latencyHits} delayed requests (${injected.length} rules); ` +
        `${local.requests.length} requests; ${audit.bundles.size} bundles verified, ${audit.records.length} unfinished, 0 orphans`,
    );
  });
});
