/**
 * RegisteredAmi's two sources behind one provider, called directly against the local AWS: a state
 * with only a snapshot (the AMI never registered) is refreshed and deleted from the snapshot alone,
 * with no AMI id made up for it.
 */
import { strict as assert } from 'assert';
import * as path from 'path';
import * as ami from '../../provider/dynamic/registeredAmi/operations';
import { rememberSettings } from '../../provider/dynamic/settings';
import { LocalAws } from '../../testing/localAws';
import { MiB, temporaryFolder, writeImage } from '../helpers/tools';

describe('RegisteredAmi sources against the local AWS', function () {
  this.timeout(60_000);
  let fake: LocalAws;
  let folder: ReturnType<typeof temporaryFolder>;
  const saved = { ...process.env };

  before(async () => {
    fake = await LocalAws.start({ imagePendingMs: 20 });
    Object.assign(process.env, {
      AWS_ENDPOINT_URL: fake.endpoint,
      AWS_REGION: fake.region,
      AWS_ACCESS_KEY_ID: fake.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: fake.credentials.secretAccessKey,
    });
    rememberSettings({ get: (key) => (key === 'unikernel:pollSeconds' ? '0.02' : undefined) });
    folder = temporaryFolder('ami-sources');
  });
  after(async () => {
    process.env = saved;
    await fake.stop();
    folder.cleanup();
  });

  it('a state holding only a snapshot is read and deleted through the snapshot alone', async () => {
    const imagePath = path.join(folder.dir, 'disk.raw');
    writeImage(imagePath, [{ kind: 'random', bytes: MiB }]);
    const checked = await ami.check({}, { rawImagePath: imagePath, name: 'snapshot-only' });
    assert.deepEqual(checked.failures, []);
    const created = await ami.create(checked.inputs);
    assert.equal(created.outs.rootDeviceType, 'ebs');
    fake.deregisterImageDirect(created.id);
    const snapshotOnly = { ...created.outs, imageId: '', state: 'not registered' };

    fake.clearRequests();
    const read = await ami.read(created.outs.snapshotId ?? '', snapshotOnly);
    assert.equal(read.props?.state, 'deregistered outside Pulumi');
    assert.deepEqual(
      fake.requests.map((request) => request.operation),
      ['DescribeSnapshots'],
      'no AMI to describe',
    );

    await ami.remove(created.outs.snapshotId ?? '', snapshotOnly);
    assert.deepEqual(await ami.read(created.outs.snapshotId ?? '', snapshotOnly), { id: '' }, 'snapshot deleted: gone');
  });
});
