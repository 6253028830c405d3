/**
 * The local EC2's volumes, through the real SDK: an EBS-backed instance's root volume as
 * DescribeVolumes shows it, ModifyVolume's states and refusals (shrink, IOPS or throughput on a type
 * that takes none, sizes out of range, the 2026 rate limit), DeleteOnTermination changed in place,
 * and what termination does to the volume.
 */
import { strict as assert } from 'assert';
import * as path from 'path';
import {
  DescribeInstancesCommand,
  DescribeVolumesCommand,
  DescribeVolumesModificationsCommand,
  EC2Client,
  EC2ServiceException,
  ModifyInstanceAttributeCommand,
  ModifyVolumeCommand,
  RunInstancesCommand,
  RunInstancesCommandInput,
  TerminateInstancesCommand,
  Volume,
  waitUntilInstanceRunning,
  waitUntilInstanceTerminated,
} from '@aws-sdk/client-ec2';
import { EBSClient } from '@aws-sdk/client-ebs';
import { createEbsClient, createEc2Client } from '../../provider/aws/clients';
import { registerEbsImageAndWait } from '../../provider/aws/ebsImages';
import { uploadSnapshot } from '../../provider/aws/ebsUpload';
import { LocalAws } from '../../testing/localAws';
import { MiB, temporaryFolder, writeImage } from '../helpers/tools';
import { FAST_WAITER } from './testSupport';

const FAST_WAIT = { minDelaySeconds: 0.02, maxDelaySeconds: 0.05, maxWaitSeconds: 5 };

async function ec2Failure(promise: Promise<unknown>): Promise<EC2ServiceException> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof EC2ServiceException) return error;
    throw error;
  }
  assert.fail('expected the request to fail');
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('fake AWS: root volumes, ModifyVolume and its states and limits, as EC2 has them', function () {
  this.timeout(60_000);
  let fake: LocalAws;
  let ec2: EC2Client;
  let ebs: EBSClient;
  let folder: { dir: string; cleanup: () => void };
  let ami: string;

  before(async () => {
    fake = await LocalAws.start({
      snapshotCompletingMs: 20,
      imagePendingMs: 20,
      instancePendingMs: 30,
      instanceShuttingDownMs: 30,
      volumeModifyingMs: 400,
      volumeOptimizingMs: 200,
    });
    const settings = { endpoint: fake.endpoint, region: fake.region, credentials: fake.credentials, maxAttempts: 1 };
    ec2 = createEc2Client(settings);
    ebs = createEbsClient(settings);
    folder = temporaryFolder('volumes');
    const imagePath = path.join(folder.dir, 'disk.raw');
    writeImage(imagePath, [{ kind: 'random', bytes: MiB }]);
    const snapshot = await uploadSnapshot({ ebs, ec2, imagePath, wait: FAST_WAIT });
    ami = (
      await registerEbsImageAndWait({
        ec2,
        snapshotId: snapshot.snapshotId,
        name: 'volumes-ebs',
        architecture: 'x86_64',
        wait: FAST_WAIT,
      })
    ).imageId;
  });

  after(async () => {
    ec2.destroy();
    ebs.destroy();
    await fake.stop();
    folder.cleanup();
  });

  async function launch(input: Partial<RunInstancesCommandInput> = {}): Promise<string> {
    const output = await ec2.send(
      new RunInstancesCommand({ ImageId: ami, InstanceType: 't3.micro', MinCount: 1, MaxCount: 1, ...input }),
    );
    const id = output.Instances![0].InstanceId!;
    await waitUntilInstanceRunning({ client: ec2, ...FAST_WAITER }, { InstanceIds: [id] });
    return id;
  }

  async function rootVolume(instanceId: string): Promise<Volume> {
    const output = await ec2.send(
      new DescribeVolumesCommand({ Filters: [{ Name: 'attachment.instance-id', Values: [instanceId] }] }),
    );
    assert.equal(output.Volumes?.length, 1, 'one volume is attached');
    return output.Volumes![0];
  }

  async function modificationState(volumeId: string): Promise<string | undefined> {
    const output = await ec2.send(new DescribeVolumesModificationsCommand({ VolumeIds: [volumeId] }));
    return output.VolumesModifications?.[0]?.ModificationState;
  }

  async function untilCompleted(volumeId: string): Promise<string[]> {
    const seen: string[] = [];
    for (let i = 0; i < 200; i++) {
      const current = (await modificationState(volumeId)) ?? 'none';
      if (seen.at(-1) !== current) seen.push(current);
      if (current === 'completed') return seen;
      await sleep(10);
    }
    assert.fail(`the modification of ${volumeId} never completed (${seen.join(' → ')})`);
  }

  async function terminate(id: string): Promise<void> {
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    await waitUntilInstanceTerminated({ client: ec2, ...FAST_WAITER }, { InstanceIds: [id] });
  }

  it('makes the root volume at launch, attached at the root device, and shows it in DescribeVolumes and DescribeInstances', async () => {
    const id = await launch({
      BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { VolumeSize: 4, VolumeType: 'gp3', Throughput: 250 } }],
    });
    const volume = await rootVolume(id);
    assert.match(volume.VolumeId ?? '', /^vol-[0-9a-f]{17}$/);
    assert.deepEqual(
      {
        size: volume.Size,
        type: volume.VolumeType,
        iops: volume.Iops,
        throughput: volume.Throughput,
        encrypted: volume.Encrypted,
        state: volume.State,
        attachments: volume.Attachments?.map((each) => [
          each.InstanceId,
          each.Device,
          each.State,
          each.DeleteOnTermination,
        ]),
      },
      {
        size: 4,
        type: 'gp3',
        iops: 3000,
        throughput: 250,
        encrypted: false,
        state: 'in-use',
        attachments: [[id, '/dev/xvda', 'attached', true]],
      },
    );
    const instance = (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations![0]
      .Instances![0];
    assert.equal(instance.BlockDeviceMappings?.[0].Ebs?.VolumeId, volume.VolumeId);
    const byId = await ec2.send(new DescribeVolumesCommand({ VolumeIds: [volume.VolumeId!] }));
    assert.equal(byId.Volumes?.[0].VolumeId, volume.VolumeId);
    const unknown = await ec2Failure(ec2.send(new DescribeVolumesCommand({ VolumeIds: ['vol-0123456789abcdef0'] })));
    assert.equal(unknown.name, 'InvalidVolume.NotFound');
    const none = await ec2.send(new DescribeVolumesModificationsCommand({ VolumeIds: [volume.VolumeId!] }));
    assert.equal(none.VolumesModifications?.[0]?.ModificationState, undefined, 'never modified');
    await terminate(id);
  });

  it('modifies a volume live: modifying → optimizing → completed, one at a time, four in 24 hours', async () => {
    const id = await launch();
    const volumeId = (await rootVolume(id)).VolumeId!;
    const modified = await ec2.send(
      new ModifyVolumeCommand({ VolumeId: volumeId, Size: 4, VolumeType: 'io2', Iops: 5000 }),
    );
    assert.deepEqual(
      [
        modified.VolumeModification?.ModificationState,
        modified.VolumeModification?.OriginalSize,
        modified.VolumeModification?.TargetSize,
        modified.VolumeModification?.OriginalVolumeType,
        modified.VolumeModification?.TargetVolumeType,
        modified.VolumeModification?.TargetIops,
      ],
      ['modifying', 1, 4, 'gp3', 'io2', 5000],
    );
    const busy = await ec2Failure(ec2.send(new ModifyVolumeCommand({ VolumeId: volumeId, Size: 5 })));
    assert.equal(busy.name, 'VolumeModificationRateExceeded');
    assert.match(busy.message, /(modifying|optimizing); wait until it is completed/);
    assert.deepEqual(await untilCompleted(volumeId), ['modifying', 'optimizing', 'completed']);
    const volume = await rootVolume(id);
    assert.deepEqual([volume.Size, volume.VolumeType, volume.Iops, volume.Throughput], [4, 'io2', 5000, undefined]);
    assert.equal(
      (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations?.[0].Instances?.[0].State
        ?.Name,
      'running',
      'modified live',
    );

    // EC2's refusals, each leaving the volume as it was and starting no modification.
    const refusals: Array<[Record<string, unknown>, string, RegExp]> = [
      [{ Size: 2 }, 'InvalidParameterValue', /^New size cannot be smaller than existing size\.$/],
      [{ VolumeType: 'gp2', Iops: 4000 }, 'InvalidParameterCombination', /iops is not supported for gp2 volumes/],
      [{ VolumeType: 'gp2', Throughput: 200 }, 'InvalidParameterCombination', /throughput is not supported for gp2/],
      [{ VolumeType: 'io1' }, 'InvalidParameterCombination', /iops must be specified for io1 volumes/],
      [
        { VolumeType: 'standard', Size: 2000 },
        'InvalidParameterValue',
        /standard volume \(GiB\) must be from 1 to 1024/,
      ],
      [{ Iops: 300_000 }, 'InvalidParameterValue', /IOPS of a io2 volume must be from 100 to 256000/],
      [
        { VolumeType: 'gp3', Throughput: 3000 },
        'InvalidParameterValue',
        /throughput of a gp3 volume \(MiB\/s\) must be from 125 to 2000/,
      ],
      [{ Size: 4 }, 'InvalidParameterCombination', /nothing would change/],
      [{}, 'MissingParameter', /at least one of the parameters Size, VolumeType, Iops and Throughput/],
    ];
    for (const [input, code, message] of refusals) {
      const refused = await ec2Failure(ec2.send(new ModifyVolumeCommand({ VolumeId: volumeId, ...input })));
      assert.equal(refused.name, code, JSON.stringify(input));
      assert.match(refused.message, message);
    }
    assert.deepEqual([(await rootVolume(id)).Size, (await rootVolume(id)).VolumeType], [4, 'io2']);

    // Three more complete; the fifth within 24 hours is refused, saying when it may be made.
    for (const size of [5, 6, 7]) {
      await ec2.send(new ModifyVolumeCommand({ VolumeId: volumeId, Size: size }));
      await untilCompleted(volumeId);
    }
    const limited = await ec2Failure(ec2.send(new ModifyVolumeCommand({ VolumeId: volumeId, Size: 8 })));
    assert.equal(limited.name, 'VolumeModificationRateExceeded');
    assert.match(limited.message, /4 modifications in a rolling 24-hour period.*modified again at \d{4}-\d\d-\d\dT/);
    assert.equal((await rootVolume(id)).Size, 7);
    await terminate(id);
  });

  it('changes DeleteOnTermination in place; termination deletes the volume with it, keeps the other available', async () => {
    const kept = await launch();
    const deleted = await launch();
    const keptVolume = (await rootVolume(kept)).VolumeId!;
    const deletedVolume = (await rootVolume(deleted)).VolumeId!;
    await ec2.send(
      new ModifyInstanceAttributeCommand({
        InstanceId: kept,
        BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { DeleteOnTermination: false } }],
      }),
    );
    assert.equal((await rootVolume(kept)).Attachments?.[0].DeleteOnTermination, false);
    const instance = (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [kept] }))).Reservations![0]
      .Instances![0];
    assert.equal(instance.BlockDeviceMappings?.[0].Ebs?.DeleteOnTermination, false);
    const wrongDevice = await ec2Failure(
      ec2.send(
        new ModifyInstanceAttributeCommand({
          InstanceId: kept,
          BlockDeviceMappings: [{ DeviceName: '/dev/sdf', Ebs: { DeleteOnTermination: true } }],
        }),
      ),
    );
    assert.equal(wrongDevice.name, 'InvalidParameterValue');
    assert.match(wrongDevice.message, /has no EBS volume mapped at \/dev\/sdf/);

    await terminate(kept);
    await terminate(deleted);
    const left = (await ec2.send(new DescribeVolumesCommand({ VolumeIds: [keptVolume] }))).Volumes![0];
    assert.deepEqual([left.State, left.Attachments], ['available', []]);
    const gone = await ec2Failure(ec2.send(new DescribeVolumesCommand({ VolumeIds: [deletedVolume] })));
    assert.equal(gone.name, 'InvalidVolume.NotFound');
    const attached = await ec2.send(
      new DescribeVolumesCommand({ Filters: [{ Name: 'attachment.instance-id', Values: [kept, deleted] }] }),
    );
    assert.deepEqual(attached.Volumes, []);
  });
});
