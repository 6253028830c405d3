/**
 * The root volume of a UnikernelInstance through the engine model over the real dynamic-provider
 * plugin, against the local AWS: a grow and a type change previewed as updates and made live by
 * ModifyVolume (same instance, boot not verified again), a shrink or encryption previewed as a
 * replacement with the reason, a change EC2 would refuse (a modification still in progress, four
 * in 24 hours) refused with nothing changed, deleteOnTermination set in place, and drift.
 */
import { strict as assert } from 'assert';
import * as path from 'path';
import {
  DescribeVolumesCommand,
  DescribeVolumesModificationsCommand,
  EC2Client,
  ModifyVolumeCommand,
  Volume,
} from '@aws-sdk/client-ec2';
import { createEbsClient, createEc2Client } from '../../provider/aws/clients';
import { registerEbsImageAndWait } from '../../provider/aws/ebsImages';
import { uploadSnapshot } from '../../provider/aws/ebsUpload';
import { unikernelInstanceProvider } from '../../provider/dynamic/unikernelInstance/provider';
import { LocalAws, RecordedRequest } from '../../testing/localAws';
import { Declaration, EngineModel, Plan } from '../../testing/engineModel';
import { PluginClient, serializeProvider, startPlugin } from '../../testing/pluginHarness';
import { checkoutProject, MiB, temporaryFolder, writeImage } from '../helpers/tools';

const FAST_WAIT = { minDelaySeconds: 0.02, maxDelaySeconds: 0.05, maxWaitSeconds: 5 };

const CHANGING = new Set([
  'RunInstances',
  'TerminateInstances',
  'StopInstances',
  'StartInstances',
  'ModifyInstanceAttribute',
  'ModifyInstanceMetadataOptions',
  'ModifyInstanceCreditSpecification',
  'MonitorInstances',
  'UnmonitorInstances',
  'CreateTags',
  'DeleteTags',
  'AssociateIamInstanceProfile',
  'ReplaceIamInstanceProfileAssociation',
  'DisassociateIamInstanceProfile',
  'ModifyVolume',
]);

function changingCalls(requests: RecordedRequest[]): string[] {
  return requests
    .filter((request) => CHANGING.has(request.operation) && request.status < 300 && request.status !== 0)
    .map((request) => request.operation);
}

function planText(plan: Plan): string[] {
  return plan.steps.map((step) =>
    step.op === 'replace'
      ? `${step.name}: replace ${step.replaceKind} (${(step.replaces ?? []).join(', ')})`
      : `${step.name}: ${step.op}`,
  );
}

describe('engine model: the root volume of a UnikernelInstance changed in place, replaced, refused and refreshed as EC2 allows', function () {
  this.timeout(120_000);

  let fake: LocalAws;
  let plugin: PluginClient;
  let folder: { dir: string; cleanup: () => void };
  let provider: string;
  let ami: string;
  let subnets: { first: string; second: string };
  let client: EC2Client;

  before(async function () {
    fake = await LocalAws.start({
      snapshotCompletingMs: 20,
      imagePendingMs: 20,
      instancePendingMs: 30,
      instanceShuttingDownMs: 30,
      volumeModifyingMs: 50,
      volumeOptimizingMs: 800,
    });
    const settings = { endpoint: fake.endpoint, region: fake.region, credentials: fake.credentials, maxAttempts: 1 };
    const ec2 = createEc2Client(settings);
    const ebs = createEbsClient(settings);
    folder = temporaryFolder('root-volume');
    const imagePath = path.join(folder.dir, 'disk.raw');
    writeImage(imagePath, [{ kind: 'random', bytes: MiB }]);
    const snapshot = await uploadSnapshot({ ebs, ec2, imagePath, wait: FAST_WAIT });
    ami = (
      await registerEbsImageAndWait({
        ec2,
        snapshotId: snapshot.snapshotId,
        name: 'root-volume-ebs',
        architecture: 'x86_64',
        wait: FAST_WAIT,
      })
    ).imageId;
    ebs.destroy();
    client = ec2;
    fake.scriptConsole({ imageId: ami }, { lines: ['Solo5: hvt', 'app: listening on :8080'] });
    subnets = { first: fake.createSubnetDirect(), second: fake.createSubnetDirect() };
    provider = await serializeProvider(unikernelInstanceProvider);
    plugin = await startPlugin({
      cwd: checkoutProject(),
      project: 'root-volume',
      config: { 'unikernel:pollSeconds': '0.02' },
      env: {
        AWS_ENDPOINT_URL: fake.endpoint,
        AWS_ENDPOINT_URL_S3: undefined,
        AWS_ENDPOINT_URL_EC2: undefined,
        AWS_REGION: fake.region,
        AWS_DEFAULT_REGION: undefined,
        AWS_ACCESS_KEY_ID: fake.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: fake.credentials.secretAccessKey,
        AWS_SESSION_TOKEN: undefined,
        AWS_PROFILE: '',
      },
      deadlineMs: 60_000,
    });
  });

  afterEach(function () {
    for (const instance of fake.instances().filter((each) => each.state !== 'terminated'))
      fake.setInstanceStateDirect(instance.instanceId, 'terminated');
    fake.clearRequests();
  });

  after(async function () {
    client?.destroy();
    await plugin?.stop();
    await fake?.stop();
    folder?.cleanup();
  });

  function program(inputs: Record<string, unknown> = {}): Declaration[] {
    return [
      {
        name: 'app',
        type: 'unikernel:UnikernelInstance',
        provider,
        inputs: {
          imageId: ami,
          instanceType: 't3.micro',
          subnetId: subnets.first,
          bootMarker: 'listening on',
          tags: { Name: 'app' },
          ...inputs,
        },
      },
    ];
  }

  const liveOnes = () => fake.instances().filter((each) => each.state !== 'terminated');
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  async function upFirst(inputs: Record<string, unknown> = {}): Promise<EngineModel> {
    const engine = new EngineModel(plugin);
    assert.deepEqual(planText(await engine.up(program(inputs))), ['app: create']);
    fake.clearRequests();
    return engine;
  }

  async function volumeOf(instanceId: string): Promise<Volume> {
    const output = await client.send(
      new DescribeVolumesCommand({ Filters: [{ Name: 'attachment.instance-id', Values: [instanceId] }] }),
    );
    assert.equal(output.Volumes?.length, 1);
    return output.Volumes![0];
  }

  async function untilCompleted(volumeId: string): Promise<void> {
    for (let i = 0; i < 300; i++) {
      const output = await client.send(new DescribeVolumesModificationsCommand({ VolumeIds: [volumeId] }));
      if (output.VolumesModifications?.[0]?.ModificationState === 'completed') return;
      await sleep(20);
    }
    assert.fail(`the modification of ${volumeId} never completed`);
  }

  it('a grow and a type change preview as an update; up modifies the volume live, same instance, boot not verified again', async function () {
    const engine = await upFirst({ rootBlockDevice: { volumeSize: 2, volumeType: 'gp3' } });
    const first = engine.entry('app')!;
    assert.deepEqual(first.outputs.rootBlockDevice, {
      volumeSize: 2,
      volumeType: 'gp3',
      iops: 3000,
      throughput: 125,
      encrypted: false,
      deleteOnTermination: true,
    });
    const bootedAt = (first.outputs.bootStatus as Record<string, string>).at;
    const grown = program({ rootBlockDevice: { volumeSize: 4, volumeType: 'io2', iops: 4000 } });

    assert.deepEqual(planText(await engine.preview(grown)), ['app: update']);
    assert.deepEqual(changingCalls(fake.requests), [], 'a preview changes nothing');
    const note = await plugin.waitForOutput(/rootBlockDevice\.volumeSize 2 → 4: changed in place/);
    assert.match(note, /ModifyVolume, while the instance runs; the unikernel's file system is not grown/);
    await plugin.waitForOutput(/rootBlockDevice\.volumeType "gp3" → "io2": changed in place/);

    assert.deepEqual(planText(await engine.up(grown)), ['app: update']);
    assert.deepEqual(changingCalls(fake.requests), ['ModifyVolume'], 'no stop, no start, nothing else');
    const modify = fake.requests.find((request) => request.operation === 'ModifyVolume')!;
    assert.deepEqual([modify.params.Size, modify.params.VolumeType, modify.params.Iops], ['4', 'io2', '4000']);
    const after = engine.entry('app')!;
    assert.equal(after.id, first.id, 'the same instance');
    assert.equal((after.outputs.bootStatus as Record<string, string>).at, bootedAt, 'its boot is not verified again');
    assert.deepEqual(after.outputs.rootBlockDevice, {
      volumeSize: 4,
      volumeType: 'io2',
      iops: 4000,
      encrypted: false,
      deleteOnTermination: true,
    });
    const volume = await volumeOf(first.id);
    assert.deepEqual([volume.Size, volume.VolumeType, volume.Iops], [4, 'io2', 4000]);
    assert.deepEqual(planText(await engine.preview(grown)), ['app: same']);

    // A second change while the first is still optimizing: refused before anything (tags too) is changed.
    fake.clearRequests();
    const again = program({ rootBlockDevice: { volumeSize: 5, volumeType: 'io2', iops: 4000 }, tags: { Name: 'v2' } });
    await assert.rejects(
      engine.up(again),
      /rootBlockDevice: the last modification of the root volume vol-[0-9a-f]+ \(started [^)]+\) is still (modifying|optimizing), and EC2 takes another only once it is completed; nothing was changed/,
    );
    assert.deepEqual(changingCalls(fake.requests), [], 'nothing changed');
    assert.equal((await volumeOf(first.id)).Size, 4);
    assert.deepEqual(fake.instances().find((each) => each.instanceId === first.id)?.tags, { Name: 'app' });
    await engine.destroy();
    assert.deepEqual(liveOnes(), []);
  });

  it('a shrink or encryption previews as a replacement, the note saying why', async function () {
    const engine = await upFirst({ rootBlockDevice: { volumeSize: 3 } });
    for (const [rootBlockDevice, why] of [
      [{ volumeSize: 2 }, /rootBlockDevice\.volumeSize 3 → 2: the instance is replaced \(EBS volumes cannot shrink/],
      [
        { volumeSize: 3, encrypted: true },
        /rootBlockDevice\.encrypted false → true: the instance is replaced \(EC2 cannot encrypt or decrypt an existing volume/,
      ],
    ] as const) {
      assert.deepEqual(planText(await engine.preview(program({ rootBlockDevice }))), [
        'app: replace create-before-delete (rootBlockDevice)',
        'app: delete-replaced',
      ]);
      await plugin.waitForOutput(why);
    }
    assert.deepEqual(changingCalls(fake.requests), [], 'a preview changes nothing');
    const plan = await engine.up(program({ rootBlockDevice: { volumeSize: 2 } }));
    assert.deepEqual(planText(plan), ['app: replace create-before-delete (rootBlockDevice)', 'app: delete-replaced']);
    assert.deepEqual(changingCalls(fake.requests), ['RunInstances', 'TerminateInstances']);
    assert.equal((await volumeOf(engine.entry('app')!.id)).Size, 2);
    await engine.destroy();
  });

  it('deleteOnTermination changes in place; destroy then leaves the volume available', async function () {
    const engine = await upFirst();
    const id = engine.entry('app')!.id;
    const volumeId = (await volumeOf(id)).VolumeId!;
    const kept = program({ rootBlockDevice: { deleteOnTermination: false } });
    assert.deepEqual(planText(await engine.preview(kept)), ['app: update']);
    await plugin.waitForOutput(/rootBlockDevice\.deleteOnTermination true → false: changed in place/);
    assert.deepEqual(planText(await engine.up(kept)), ['app: update']);
    assert.deepEqual(changingCalls(fake.requests), ['ModifyInstanceAttribute']);
    const modify = fake.requests.find((request) => request.operation === 'ModifyInstanceAttribute')!;
    assert.equal(modify.params['BlockDeviceMapping.1.Ebs.DeleteOnTermination'], 'false');
    assert.equal(engine.entry('app')!.id, id);
    await engine.destroy();
    const left = await client.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] }));
    assert.deepEqual([left.Volumes?.[0].State, left.Volumes?.[0].Attachments], ['available', []]);
  });

  it('refresh shows a volume changed outside the program as drift; up puts it back in place; EC2 rate limit refuses with nothing changed', async function () {
    const given = { rootBlockDevice: { volumeType: 'gp3' } };
    const engine = await upFirst(given);
    const id = engine.entry('app')!.id;
    const volumeId = (await volumeOf(id)).VolumeId!;
    await client.send(new ModifyVolumeCommand({ VolumeId: volumeId, VolumeType: 'gp2', Size: 2 }));
    await untilCompleted(volumeId);
    await engine.refresh();
    const recorded = engine.entry('app')!.inputs.rootBlockDevice as Record<string, unknown>;
    assert.deepEqual([recorded.volumeType, recorded.volumeSize], ['gp2', 2], 'refresh recorded the drift');
    assert.deepEqual(planText(await engine.preview(program(given))), ['app: update']);
    await plugin.waitForOutput(/rootBlockDevice\.volumeType "gp2" → "gp3": changed in place/);
    fake.clearRequests();
    await engine.up(program(given));
    assert.deepEqual(changingCalls(fake.requests), ['ModifyVolume']);
    assert.equal((await volumeOf(id)).VolumeType, 'gp3');
    assert.deepEqual(planText(await engine.preview(program(given))), ['app: same']);

    // Two more modifications outside make four in 24 hours: EC2 refuses a fifth, and the update says nothing changed.
    await untilCompleted(volumeId);
    for (const size of [3, 4]) {
      await client.send(new ModifyVolumeCommand({ VolumeId: volumeId, Size: size }));
      await untilCompleted(volumeId);
    }
    await engine.refresh();
    fake.clearRequests();
    const grown = program({ rootBlockDevice: { volumeType: 'gp3', volumeSize: 5 }, tags: { Name: 'v2' } });
    await assert.rejects(
      engine.up(grown),
      /rootBlockDevice: EC2 refused to modify the root volume vol-[0-9a-f]+ \(.*VolumeModificationRateExceeded.*can be modified again at .*\); nothing was changed/,
    );
    assert.deepEqual(changingCalls(fake.requests), [], 'nothing changed');
    assert.equal((await volumeOf(id)).Size, 4);
    await engine.destroy();
    assert.deepEqual(liveOnes(), []);
  });
});
