/**
 * Two stacks creating the same bundle at one place: one create wins, the other is refused naming
 * what holds the place, and a destroy never deletes a bundle that is not its own.
 */
import { strict as assert } from 'assert';
import { mkdirSync } from 'fs';
import * as path from 'path';
import * as bundled from '../../provider/dynamic/bundledImage/operations';
import { rememberSettings } from '../../provider/dynamic/settings';
import { LocalAws } from '../../testing/localAws';
import { testPki } from '../helpers/pki';
import { temporaryFolder, writeImage } from '../helpers/tools';

describe('BundledImage: two stacks, one bundle place', function () {
  this.timeout(60_000);
  let fake: LocalAws;
  let folder: ReturnType<typeof temporaryFolder>;
  const saved = { ...process.env };

  before(async () => {
    fake = await LocalAws.start();
    Object.assign(process.env, {
      AWS_ENDPOINT_URL: fake.endpoint,
      AWS_REGION: fake.region,
      AWS_ACCESS_KEY_ID: fake.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: fake.credentials.secretAccessKey,
    });
    rememberSettings({ get: (key) => (key === 'unikernel:pollSeconds' ? '0.02' : undefined) });
    fake.createBucket('shared', { objectOwnership: 'ObjectWriter' });
    folder = temporaryFolder('ownership');
  });
  after(async () => {
    process.env = saved;
    await fake.stop();
    folder.cleanup();
  });

  /** The same image for both stacks: the same bundle, so the same place (the prefix holds its hash). */
  function imageFile(): string {
    const imagePath = path.join(folder.dir, 'image', 'app.img');
    mkdirSync(path.dirname(imagePath), { recursive: true });
    writeImage(imagePath, [{ kind: 'random', bytes: 300 * 1024 }]);
    return imagePath;
  }

  async function inputsFor(imagePath: string) {
    const pki = testPki();
    const raw = {
      bucket: 'shared',
      keyPrefix: 'images',
      bundleName: 'app.img',
      accountId: fake.accountId,
      privateKey: pki.user.key,
      certificate: pki.user.cert,
      ec2Certificate: pki.ec2.cert,
      imagePath,
    };
    return (await bundled.check({}, raw)).inputs;
  }

  it('two stacks with the same arguments each make a bundle of their own; a destroy, even replayed, removes only its own', async () => {
    const imagePath = imageFile();
    const [a, b] = [await inputsFor(imagePath), await inputsFor(imagePath)];
    assert.equal(a.keyPrefix, b.keyPrefix, 'both stacks aim at one prefix');
    fake.faults.inject({ service: 's3', operation: 'PutObject', kind: 'latency', ms: 20, times: 30 });
    const [first, second] = await Promise.all([
      bundled.create({ ...a, __provider: 'serialized' }),
      bundled.create({ ...b, __provider: 'serialized' }),
    ]);
    fake.faults.clear();
    assert.notEqual(first.outs.manifestLocation, second.outs.manifestLocation, 'a folder each');
    assert.equal(first.outs.bundleStatus, 'intact');
    assert.equal(second.outs.bundleStatus, 'intact');
    const secondKeys = () =>
      fake
        .objects('shared')
        .map((object) => object.key)
        .filter((key) => `shared/${key}`.startsWith(String(second.outs.manifestLocation).replace(/[^/]+$/, '')));
    const kept = secondKeys();
    assert.ok(kept.length >= 2, 'the second bundle has its parts and manifest');

    await bundled.remove(first.id, first.outs);
    assert.deepEqual(secondKeys(), kept, 'the second stack’s bundle is untouched');
    // The first stack's destroy, replayed from its old state, still leaves the second's bundle alone.
    await bundled.remove(first.id, first.outs);
    assert.deepEqual(
      fake.objects('shared').map((object) => object.key),
      kept,
    );
    await bundled.remove(second.id, second.outs);
    assert.deepEqual(fake.objects('shared'), []);
  });
});
