/**
 * The leftovers of a BundledImage create killed mid-upload (SIGKILL: nothing recorded): the folder of
 * its own it was writing holds a claim of a dead fresh run. A later create of the same bundle removes
 * exactly those folders, against the local AWS with the real SDK client; a live run's folder, another
 * host's, a resume record a state names, a finished bundle and another bundle's folders stay.
 */
import { strict as assert } from 'assert';
import { hostname } from 'os';
import { siblingOf } from '../../provider/aws/bundleAddress';
import { createClients, AwsClients } from '../../provider/aws/clients';
import { ClaimHolder, renderClaim } from '../../provider/aws/claimRecord';
import { describeRemovedSibling, orphanClaim, removeDeadSiblings } from '../../provider/aws/deadSiblings';
import { bucketName } from '../../provider/aws/ids';
import { LocalAws } from '../../testing/localAws';

/** pid 2^22 + 1 is above Linux's pid_max: no process has it. */
const DEAD_PID = 4_194_305;
const STEM = '0123456789abcdef';
const NAME = 'app.img';

function holder(extra: Partial<ClaimHolder> = {}): ClaimHolder {
  return {
    action: 'bundle',
    token: 'ab',
    host: hostname(),
    pid: DEAD_PID,
    since: '2026-12-06T00:00:00.000Z',
    fresh: true,
    ...extra,
  };
}

describe('leftovers of killed creates: dead fresh claims in sibling folders', function () {
  this.timeout(60_000);

  describe('which claim marks an orphan (pure)', () => {
    const running = (pid: number) => pid === process.pid;
    const text = (extra: Partial<ClaimHolder>) => renderClaim(NAME, holder(extra));

    it('only a fresh claim of a dead process on this host', () => {
      assert.deepEqual(orphanClaim(text({}), hostname(), running), holder());
      assert.equal(orphanClaim(text({ pid: process.pid }), hostname(), running), undefined, 'alive');
      assert.equal(orphanClaim(text({ host: 'elsewhere' }), hostname(), running), undefined, 'another host');
      assert.equal(orphanClaim(text({ fresh: undefined }), hostname(), running), undefined, 'not a create');
      assert.equal(orphanClaim('{"version":1,"name":"app.img","parts":[]}', hostname(), running), undefined);
      assert.equal(orphanClaim(text({}).replace('"fresh": true', '"fresh": "yes"'), hostname(), running), undefined);
    });

    it('a sibling folder is STEM-xxxxxxxx/ holding the bundle record, nothing else', () => {
      const parent = { bucket: bucketName('bundles'), keyPrefix: 'images/' };
      assert.equal(
        siblingOf(parent, STEM, NAME, `images/${STEM}-0a1b2c3d/app.img.resume.json`)?.location.keyPrefix,
        `images/${STEM}-0a1b2c3d/`,
      );
      for (const key of [
        `images/${STEM}-0a1b2c3d/app.img.part.0`,
        `images/${STEM}-0a1b2c3d/other.img.resume.json`,
        `images/${STEM}-0A1B2C3D/app.img.resume.json`,
        `images/${STEM}-0a1b2c3d/deeper/app.img.resume.json`,
        `images/${STEM}x-0a1b2c3d/app.img.resume.json`,
        `other/${STEM}-0a1b2c3d/app.img.resume.json`,
      ])
        assert.equal(siblingOf(parent, STEM, NAME, key), undefined, key);
    });
  });

  describe('against the local AWS', () => {
    let fake: LocalAws;
    let aws: AwsClients;
    before(async () => {
      fake = await LocalAws.start();
      aws = createClients({ endpoint: fake.endpoint, region: fake.region, credentials: fake.credentials });
      fake.createBucket('leftovers', { objectOwnership: 'ObjectWriter' });
    });
    after(async () => {
      aws.s3.destroy();
      await fake?.stop();
    });

    it('removes the folders of dead fresh runs and leaves every other folder as it is', async () => {
      const put = (key: string, body: string) => fake.putObjectDirect('leftovers', `images/${key}`, Buffer.from(body));
      const claimed = (folder: string, extra: Partial<ClaimHolder>) => {
        put(`${folder}/app.img.resume.json`, renderClaim(NAME, holder(extra)));
        put(`${folder}/app.img.part.0`, 'part');
        put(`${folder}/app.img.part.1`, 'part');
      };
      claimed(`${STEM}-00000001`, {});
      claimed(`${STEM}-00000002`, {});
      claimed(`${STEM}-00000003`, { pid: process.pid });
      claimed(`${STEM}-00000004`, { host: 'another-host' });
      claimed(`${STEM}-00000005`, { fresh: undefined });
      put(`${STEM}-00000006/app.img.resume.json`, '{"version":1,"name":"app.img","parts":[]}');
      put(`${STEM}-00000006/app.img.part.0`, 'part');
      put(`${STEM}-00000007/app.img.part.0`, 'part');
      put(`${STEM}-00000007/app.img.manifest.xml`, '<manifest/>');
      claimed(`fedcba9876543210-00000008`, {});
      const before = fake.objects('leftovers').map((object) => object.key);

      const removed = await removeDeadSiblings({
        s3: aws.s3,
        parent: { bucket: bucketName('leftovers'), keyPrefix: 'images/' },
        stem: STEM,
        name: NAME,
      });
      assert.deepEqual(
        removed.map((each) => [each.address.location.keyPrefix, each.deleted]),
        [
          [`images/${STEM}-00000001/`, 3],
          [`images/${STEM}-00000002/`, 3],
        ],
      );
      assert.match(
        describeRemovedSibling(removed[0]),
        new RegExp(
          `^removed 3 object\\(s\\) left in s3://leftovers/images/${STEM}-00000001/ by a bundle run \\(pid ${DEAD_PID} on .*\\), a create of this bundle that was killed before it finished \\(no state names that folder\\)$`,
        ),
      );
      const after = fake.objects('leftovers').map((object) => object.key);
      assert.deepEqual(
        after,
        before.filter((key) => !/-0000000[12]\//.test(key)),
        'every other folder is as it was',
      );
    });
  });
});
