/** Resuming an unfinished bundle, decided without I/O: start, plan, keep or upload, what to record and remove. */
import { cliRemedy } from '../../provider/cli/inputs';
import { strict as assert } from 'assert';
import { bundleAddress } from '../../provider/aws/bundleAddress';
import { parseBucketArgument } from '../../provider/aws/location';
import { RecordedPart, parseResumeRecord, renderResumeRecord, ResumeRecord } from '../../provider/aws/resumeRecord';
import {
  earlierKeys,
  keptPart,
  partsToRecord,
  planResume,
  restartReason,
  resumeStart,
  takesUp,
} from '../../provider/aws/resumePlan';
import { BundleInputError, DestinationTakenError, ResumeMismatchError } from '../../provider/bundle/errors';

const address = bundleAddress(parseBucketArgument('b-1/v1'), 'app.img');
const object = (key: string, etag = 'e', size = 10) => ({ key, etag, size });
const sha = (digit: string) => digit.repeat(40);
const part = (index: number, etag: string, sha1 = sha(String(index))): RecordedPart => ({
  index,
  key: `v1/app.img.part.${index}`,
  size: 10,
  etag,
  sha1,
});
const point = { attempt: 'ab', userEncryptedKey: 'cd', userEncryptedIv: 'ef', signature: '01' };
const record = (parts: RecordedPart[], partSize = 10): ResumeRecord => ({
  version: 1,
  name: 'app.img',
  ...point,
  partSize,
  parts,
});

describe('resume plan', () => {
  describe('what an attempt finds at the address', () => {
    const recordObject = object('v1/app.img.resume.json');
    it('starts afresh on an empty place, and resumes an unfinished bundle only when it takes one up', () => {
      assert.deepEqual(resumeStart(address, [], true), { kind: 'fresh' });
      assert.deepEqual(resumeStart(address, [], false), { kind: 'fresh' });
      assert.deepEqual(resumeStart(address, [object('v1/app.img.part.0'), recordObject], true), {
        kind: 'resume',
        recordKey: 'v1/app.img.resume.json',
      });
      assert.deepEqual(resumeStart(address, [object('v1/app.img.part.0'), recordObject], false), {
        kind: 'taken',
        problem: 'this run does not take up its resume record',
      });
    });
    it('refuses a place holding a whole bundle or parts without a record', () => {
      assert.deepEqual(resumeStart(address, [recordObject, object('v1/app.img.manifest.xml')], true), {
        kind: 'taken',
        problem: 'a manifest is already there',
      });
      assert.deepEqual(resumeStart(address, [object('v1/app.img.part.0')], true), {
        kind: 'taken',
        problem: 'its resume record is missing',
      });
    });
  });

  it('keeps only the recorded parts still in S3 as recorded (size and ETag, any case)', () => {
    const plan = planResume(
      record([part(0, 'aa'), part(1, 'bb'), part(2, 'cc'), part(3, 'dd')]),
      [object('v1/app.img.part.0', 'AA'), object('v1/app.img.part.1', 'xx'), object('v1/app.img.part.3', 'dd', 9)],
      10,
      'v1/app.img.resume.json',
      'here',
    );
    assert.deepEqual(plan.point, point);
    assert.deepEqual(
      plan.stored.map((stored) => stored.index),
      [0],
    );
    assert.equal(plan.recordKey, 'v1/app.img.resume.json');
  });

  it('refuses a record made with another part size', () => {
    assert.throws(
      () => planResume(record([], 20), [], 10, 'k', 's3://b-1/k'),
      (error: unknown) =>
        error instanceof ResumeMismatchError &&
        error.message === 's3://b-1/k was written with 20-byte parts; delete the unfinished bundle and bundle again' &&
        error.remedy !== undefined &&
        cliRemedy(error.remedy) ===
          'delete the unfinished bundle (unikernel-ami delete-bundle -p app.img) and bundle again',
    );
  });

  it("keeps a part made again only when its key, size and SHA-1 are the stored one's; otherwise uploads it", () => {
    const plan = planResume(
      record([part(0, 'aa'), part(1, 'bb')]),
      [object('v1/app.img.part.0', 'aa'), object('v1/app.img.part.1', 'bb')],
      10,
      'r',
      'w',
    );
    assert.deepEqual(keptPart(plan, { index: 0, key: 'v1/app.img.part.0', size: 10, sha1: sha('0') }), part(0, 'aa'));
    assert.equal(
      keptPart(plan, { index: 0, key: 'v1/app.img.part.00', size: 10, sha1: sha('0') }),
      undefined,
      'another name (another part count)',
    );
    assert.equal(
      keptPart(plan, { index: 1, key: 'v1/app.img.part.1', size: 9, sha1: sha('1') }),
      undefined,
      'another size',
    );
    assert.equal(
      keptPart(plan, { index: 1, key: 'v1/app.img.part.1', size: 10, sha1: sha('9') }),
      undefined,
      'other bytes',
    );
    assert.equal(
      keptPart(plan, { index: 2, key: 'v1/app.img.part.2', size: 10, sha1: sha('2') }),
      undefined,
      'not stored',
    );
    assert.equal(
      keptPart(undefined, { index: 0, key: 'v1/app.img.part.0', size: 10, sha1: sha('0') }),
      undefined,
      'nothing to resume',
    );
  });

  it("records the earlier parts overlaid with this run's, and gives up both with the record", () => {
    const plan = planResume(
      record([part(0, 'aa'), part(2, 'cc')]),
      [object('v1/app.img.part.0', 'aa'), object('v1/app.img.part.2', 'cc')],
      10,
      'v1/app.img.resume.json',
      'w',
    );
    assert.deepEqual(partsToRecord(plan, [part(2, 'new'), part(1, 'bb')]), [
      part(0, 'aa'),
      part(1, 'bb'),
      part(2, 'new'),
    ]);
    assert.deepEqual(partsToRecord(undefined, [part(1, 'bb')]), [part(1, 'bb')]);
    assert.deepEqual(earlierKeys(plan), ['v1/app.img.part.0', 'v1/app.img.part.2', 'v1/app.img.resume.json']);
    assert.deepEqual(earlierKeys(undefined), []);
  });

  it('resumes, refuses or restarts as the policy says', () => {
    assert.deepEqual((['resume', 'refuse', 'restart'] as const).map(takesUp), [true, false, true]);
    const mismatch = new ResumeMismatchError('image', 'another image', 'message');
    const taken = new DestinationTakenError('a manifest is already there', 'message');
    assert.equal(restartReason('restart', mismatch), 'another image');
    assert.equal(restartReason('restart', taken), 'a manifest is already there');
    assert.equal(
      restartReason('restart', new BundleInputError('image', 'missing')),
      undefined,
      'only an unfinished bundle is restarted',
    );
    assert.equal(restartReason('restart', new Error('network')), undefined);
    assert.equal(restartReason('resume', mismatch), undefined);
    assert.equal(restartReason('refuse', taken), undefined);
  });

  describe('the record', () => {
    it('reads back what it writes, parts in index order', () => {
      const text = renderResumeRecord('app.img', point, 10, [part(1, 'bb'), part(0, 'aa')]);
      assert.deepEqual(parseResumeRecord(text, 'app.img', 'w'), record([part(0, 'aa'), part(1, 'bb')]));
      assert.deepEqual(Object.keys(JSON.parse(text)), [
        'version',
        'name',
        'attempt',
        'userEncryptedKey',
        'userEncryptedIv',
        'signature',
        'partSize',
        'parts',
      ]);
    });
    it('refuses anything it did not write, saying what and where', () => {
      const good = JSON.parse(renderResumeRecord('app.img', point, 10, [part(0, 'aa')]));
      const cases: [string, string][] = [
        ['{', 'not JSON'],
        [JSON.stringify({ ...good, version: 2 }), 'version or name'],
        [JSON.stringify({ ...good, name: 'other.img' }), 'version or name'],
        [JSON.stringify({ ...good, signature: 'not hex' }), 'attempt, key, IV or signature'],
        [JSON.stringify({ ...good, partSize: 1.5 }), 'parts'],
        [JSON.stringify({ ...good, parts: [{ ...part(0, 'aa'), sha1: 'short' }] }), 'a part'],
        [JSON.stringify({ ...good, parts: [{ ...part(0, 'aa'), index: -1 }] }), 'a part'],
      ];
      for (const [text, what] of cases) {
        assert.throws(
          () => parseResumeRecord(text, 'app.img', 's3://b-1/v1/app.img.resume.json'),
          (error: unknown) =>
            error instanceof ResumeMismatchError &&
            error.message.includes(`s3://b-1/v1/app.img.resume.json is not a resume record this tool wrote (${what})`),
          what,
        );
      }
    });
  });
});
