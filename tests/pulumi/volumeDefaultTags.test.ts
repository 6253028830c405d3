/**
 * aws:defaultTags reach the root EBS volume of an EBS-backed UnikernelInstance, as @pulumi/aws gives
 * them to a root volume with no tags of its own: sent with RunInstances (a `volume` tag
 * specification; none for an instance-store AMI, which makes no volume), kept in step in place when
 * the defaults change (CreateTags and DeleteTags on the volume), and a change made outside shows on
 * refresh and is undone by the next update. Through the real plugin against the local AWS.
 */
import { strict as assert } from 'assert';
import * as path from 'path';
import { CreateTagsCommand, DescribeInstancesCommand, DescribeSnapshotsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { createEbsClient, createEc2Client } from '../../provider/aws/clients';
import { registerEbsImageAndWait } from '../../provider/aws/ebsImages';
import { uploadSnapshot } from '../../provider/aws/ebsUpload';
import { registeredAmiProvider } from '../../provider/dynamic/registeredAmi/provider';
import { unikernelInstanceProvider } from '../../provider/dynamic/unikernelInstance/provider';
import { LocalAws } from '../../testing/localAws';
import { buildXenKernel } from '../../testing/xenKernel';
import { PluginClient, serializeProvider, startPlugin } from '../../testing/pluginHarness';
import { kernelImage, registerBootable } from '../helpers/bootImages';
import { checkoutProject, MiB, temporaryFolder, writeImage } from '../helpers/tools';

const INSTANCE = 'unikernel:UnikernelInstance';
const FAST_WAIT = { minDelaySeconds: 0.02, maxDelaySeconds: 0.05, maxWaitSeconds: 5 };

describe('aws:defaultTags on the root volume of a UnikernelInstance, through the real plugin', function () {
  this.timeout(90_000);
  let local: LocalAws;
  let ec2: EC2Client;
  const plugins: PluginClient[] = [];
  const folder = temporaryFolder('volume-default-tags');
  let ebsAmi: string;

  before(async function () {
    local = await LocalAws.start({
      snapshotCompletingMs: 20,
      imagePendingMs: 20,
      instancePendingMs: 30,
      statusCheckMs: 30,
    });
    const settings = { endpoint: local.endpoint, region: local.region, credentials: local.credentials };
    ec2 = createEc2Client(settings);
    const ebs = createEbsClient(settings);
    const imagePath = path.join(folder.dir, 'disk.raw');
    writeImage(imagePath, [{ kind: 'random', bytes: MiB, bootSignature: true }]);
    const snapshot = await uploadSnapshot({ ebs, ec2, imagePath, wait: FAST_WAIT });
    ebs.destroy();
    ebsAmi = (
      await registerEbsImageAndWait({
        ec2,
        snapshotId: snapshot.snapshotId,
        name: 'tagged-root',
        architecture: 'x86_64',
        wait: FAST_WAIT,
      })
    ).imageId;
  });

  after(async function () {
    for (const plugin of plugins) await plugin.stop();
    ec2.destroy();
    await local.stop();
    folder.cleanup();
  });

  async function instancesWith(defaults: Record<string, string>): Promise<PluginClient> {
    return pluginWith(defaults, unikernelInstanceProvider);
  }

  async function pluginWith(
    defaults: Record<string, string>,
    provider: Parameters<typeof serializeProvider>[0],
  ): Promise<PluginClient> {
    const plugin = await startPlugin({
      cwd: checkoutProject(),
      project: 'unikernel-volume-tags',
      env: {
        AWS_ENDPOINT_URL: local.endpoint,
        AWS_REGION: local.region,
        AWS_ACCESS_KEY_ID: local.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: local.credentials.secretAccessKey,
        AWS_SESSION_TOKEN: undefined,
        AWS_PROFILE: '',
      },
      deadlineMs: 60_000,
    });
    plugins.push(plugin);
    await plugin.configure({ 'aws:defaultTags': JSON.stringify({ tags: defaults }), 'unikernel:pollSeconds': '0.05' });
    return plugin.withProvider(await serializeProvider(provider));
  }

  async function rootVolumeOf(instanceId: string): Promise<string> {
    const output = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
    const instance = output.Reservations![0].Instances![0];
    return instance.BlockDeviceMappings!.find((mapping) => mapping.DeviceName === instance.RootDeviceName)!.Ebs!
      .VolumeId!;
  }

  it('tags the root volume at launch, keeps it in step when the defaults change, and undoes a change made outside', async function () {
    const first = await instancesWith({ team: 'platform', env: 'dev' });
    const urn = first.urn(INSTANCE, 'ebs');
    const program = { imageId: ebsAmi, instanceType: 't3.micro', verifyBoot: false, tags: { env: 'prod' } };
    const checked = await first.check(urn, {}, program);
    assert.deepEqual(checked.failures, []);
    const created = await first.create(urn, checked.inputs);
    const volume = await rootVolumeOf(created.id);
    assert.deepEqual(
      local.volumeTagsDirect(volume),
      { team: 'platform', env: 'dev' },
      "the defaults, not the instance's own tags",
    );
    assert.deepEqual(created.properties.rootVolumeTags, { team: 'platform', env: 'dev' });
    const launch = local.requests.find((request) => request.operation === 'RunInstances')!;
    assert.equal(launch.params['TagSpecification.2.ResourceType'], 'volume', 'tagged on creation, in RunInstances');
    const same = await first.diff(created.id, urn, created.properties, checked.inputs, checked.inputs);
    assert.equal(same.changes, 'DIFF_NONE');

    const second = await instancesWith({ team: 'infra' });
    const diff = await second.diff(created.id, urn, created.properties, checked.inputs, checked.inputs);
    assert.deepEqual([diff.changes, diff.replaces], ['DIFF_SOME', []], 'new defaults: an update in place');
    const updated = await second.update(created.id, urn, created.properties, checked.inputs, checked.inputs);
    assert.deepEqual(local.volumeTagsDirect(volume), { team: 'infra' }, 'env removed, team changed on the volume');
    assert.deepEqual(updated.properties.rootVolumeTags, { team: 'infra' });

    await ec2.send(new CreateTagsCommand({ Resources: [volume], Tags: [{ Key: 'owner', Value: 'someone' }] }));
    const before = local.requests.length;
    const read = await second.read(created.id, urn, updated.properties, checked.inputs);
    assert.deepEqual(read.properties.rootVolumeTags, { team: 'infra', owner: 'someone' }, 'refresh reads the volume');
    assert.deepEqual(
      local.requests
        .slice(before)
        .map((request) => request.operation)
        .filter((operation) => operation === 'DescribeVolumes' || operation === 'DescribeTags'),
      ['DescribeVolumes'],
      "refresh reads the volume's settings and tags in one DescribeVolumes",
    );
    const drift = await second.diff(created.id, urn, read.properties, checked.inputs, read.inputs);
    assert.deepEqual([drift.changes, drift.replaces], ['DIFF_SOME', []]);
    const healed = await second.update(created.id, urn, read.properties, checked.inputs, read.inputs);
    assert.deepEqual(local.volumeTagsDirect(volume), { team: 'infra' });
    assert.deepEqual(healed.properties.rootVolumeTags, { team: 'infra' });
    await second.delete(created.id, urn, healed.properties, checked.inputs);
  });

  it('an instance-store AMI makes no volume: no volume tag specification is sent', async function () {
    const kernel = buildXenKernel(folder.dir, { fileName: 'store.xen' });
    const storeAmi = await registerBootable(local, folder.dir, await kernelImage(folder.dir, kernel, 'store'), 'store');
    const instances = await instancesWith({ team: 'platform' });
    const urn = instances.urn(INSTANCE, 'store');
    const checked = await instances.check(urn, {}, { imageId: storeAmi, instanceType: 'm3.medium', verifyBoot: false });
    const created = await instances.create(urn, checked.inputs);
    const launch = local.requests.filter((request) => request.operation === 'RunInstances').at(-1)!;
    const types = Object.entries(launch.params)
      .filter(([key]) => /^TagSpecification\.\d+\.ResourceType$/.test(key))
      .map(([, value]) => value);
    assert.deepEqual(types, ['instance']);
    assert.equal(created.properties.rootVolumeTags, undefined);
    assert.deepEqual(local.instances().find((each) => each.instanceId === created.id)?.tags, { team: 'platform' });
    await instances.delete(created.id, urn, created.properties, checked.inputs);
  });

  it("the EBS snapshot a RegisteredAmi writes keeps the AMI's tags in step when the defaults change", async function () {
    const imagePath = path.join(folder.dir, 'app.raw');
    writeImage(imagePath, [{ kind: 'random', bytes: MiB }]);
    const first = await pluginWith({ team: 'platform', env: 'dev' }, registeredAmiProvider);
    const urn = first.urn('unikernel:RegisteredAmi', 'raw');
    const checked = await first.check(urn, {}, { rawImagePath: imagePath, name: 'raw', tags: { app: 'web' } });
    assert.deepEqual(checked.failures, []);
    const created = await first.create(urn, checked.inputs);
    const snapshot = String(created.properties.snapshotId);
    const snapshotTags = async () => {
      const output = await ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshot] }));
      const tags = Object.fromEntries((output.Snapshots![0].Tags ?? []).map((tag) => [tag.Key!, tag.Value!]));
      return Object.fromEntries(Object.entries(tags).filter(([key]) => !key.startsWith('unikernel:')));
    };
    assert.deepEqual(await snapshotTags(), { team: 'platform', env: 'dev', app: 'web' });
    const second = await pluginWith({ team: 'infra' }, registeredAmiProvider);
    const updated = await second.update(created.id, urn, created.properties, checked.inputs, checked.inputs);
    assert.deepEqual(updated.properties.tagsAll, { team: 'infra', app: 'web' });
    assert.deepEqual(await snapshotTags(), { team: 'infra', app: 'web' }, 'the snapshot follows the AMI');
    await second.delete(created.id, urn, updated.properties, checked.inputs);
  });
});
