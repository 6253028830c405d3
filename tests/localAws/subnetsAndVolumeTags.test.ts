/**
 * The local EC2's subnets and volume tags, through the real SDK: DescribeSubnets with each subnet's
 * MapPublicIpOnLaunch (default subnets true, subnets made false, as on EC2), a launch that gets a
 * public address only as the subnet or AssociatePublicIpAddress says, and the root volume of an
 * EBS-backed launch keeping its volume tags (DescribeTags, CreateTags, DeleteTags; gone with the
 * instance when deleted on termination).
 */
import { strict as assert } from 'assert';
import * as path from 'path';
import {
  CreateTagsCommand,
  DeleteTagsCommand,
  DescribeInstancesCommand,
  DescribeSubnetsCommand,
  DescribeTagsCommand,
  DescribeVolumesCommand,
  EC2Client,
  EC2ServiceException,
  Instance,
  RunInstancesCommand,
  RunInstancesCommandInput,
  TerminateInstancesCommand,
  waitUntilInstanceRunning,
  waitUntilInstanceTerminated,
} from '@aws-sdk/client-ec2';
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

describe('fake AWS: subnets, public addresses at launch and volume tags', function () {
  this.timeout(60_000);
  let fake: LocalAws;
  let ec2: EC2Client;
  let ebsAmi: string;
  const folder = temporaryFolder('subnets-volume-tags');

  before(async () => {
    fake = await LocalAws.start({
      snapshotCompletingMs: 20,
      imagePendingMs: 20,
      instancePendingMs: 30,
      instanceShuttingDownMs: 30,
    });
    const settings = { endpoint: fake.endpoint, region: fake.region, credentials: fake.credentials, maxAttempts: 1 };
    ec2 = createEc2Client(settings);
    const ebs = createEbsClient(settings);
    const imagePath = path.join(folder.dir, 'disk.raw');
    writeImage(imagePath, [{ kind: 'random', bytes: MiB }]);
    const snapshot = await uploadSnapshot({ ebs, ec2, imagePath, wait: FAST_WAIT });
    ebs.destroy();
    ebsAmi = (
      await registerEbsImageAndWait({
        ec2,
        snapshotId: snapshot.snapshotId,
        name: 'volume-tags',
        architecture: 'x86_64',
        wait: FAST_WAIT,
      })
    ).imageId;
  });

  after(async () => {
    ec2.destroy();
    await fake.stop();
    folder.cleanup();
  });

  async function launch(input: Partial<RunInstancesCommandInput>): Promise<Instance> {
    const output = await ec2.send(
      new RunInstancesCommand({ ImageId: ebsAmi, InstanceType: 't3.micro', MinCount: 1, MaxCount: 1, ...input }),
    );
    const id = output.Instances![0].InstanceId!;
    await waitUntilInstanceRunning({ client: ec2, ...FAST_WAITER }, { InstanceIds: [id] });
    const described = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
    return described.Reservations![0].Instances![0];
  }

  async function tagsOf(resourceId: string): Promise<Record<string, string>> {
    const output = await ec2.send(
      new DescribeTagsCommand({ Filters: [{ Name: 'resource-id', Values: [resourceId] }] }),
    );
    return Object.fromEntries((output.Tags ?? []).map((tag) => [tag.Key!, tag.Value!]));
  }

  it('DescribeSubnets: a default subnet per zone maps public IPs, a subnet made does not; filters and unknown ids', async () => {
    const made = fake.createSubnetDirect();
    const all = await ec2.send(new DescribeSubnetsCommand({}));
    const defaults = all.Subnets!.filter((subnet) => subnet.DefaultForAz);
    assert.deepEqual(defaults.map((subnet) => subnet.AvailabilityZone).sort(), [
      'us-east-1a',
      'us-east-1b',
      'us-east-1c',
    ]);
    assert.ok(defaults.every((subnet) => subnet.MapPublicIpOnLaunch === true && subnet.State === 'available'));
    const own = all.Subnets!.find((subnet) => subnet.SubnetId === made)!;
    assert.equal(own.MapPublicIpOnLaunch, false, 'a subnet made with CreateSubnet does not map public IPs');
    assert.equal(own.DefaultForAz, false);
    const zoneB = await ec2.send(
      new DescribeSubnetsCommand({
        Filters: [
          { Name: 'default-for-az', Values: ['true'] },
          { Name: 'availability-zone', Values: ['us-east-1b'] },
        ],
      }),
    );
    assert.deepEqual(
      zoneB.Subnets!.map((subnet) => subnet.SubnetId),
      [fake.defaultSubnetIdDirect('us-east-1b')],
    );
    const missing = await ec2Failure(ec2.send(new DescribeSubnetsCommand({ SubnetIds: ['subnet-0123456789abcdef0'] })));
    assert.equal(missing.name, 'InvalidSubnetID.NotFound');
    const badFilter = await ec2Failure(
      ec2.send(new DescribeSubnetsCommand({ Filters: [{ Name: 'colour', Values: ['blue'] }] })),
    );
    assert.equal(badFilter.name, 'InvalidParameterValue');
  });

  it('a launch gets a public address as the subnet maps it, unless AssociatePublicIpAddress says otherwise', async () => {
    const privateSubnet = fake.createSubnetDirect();
    const publicSubnet = fake.createSubnetDirect({ mapPublicIpOnLaunch: true });
    const quiet = await launch({ SubnetId: privateSubnet });
    assert.equal(quiet.PublicIpAddress, undefined);
    assert.equal(quiet.NetworkInterfaces?.[0].Attachment?.DeviceIndex, 0, 'the primary interface is shown');
    assert.equal(quiet.NetworkInterfaces?.[0].PrivateIpAddress, quiet.PrivateIpAddress);
    assert.equal(quiet.NetworkInterfaces?.[0].Association, undefined, 'no public address: no association');
    assert.ok((await launch({ SubnetId: publicSubnet })).PublicIpAddress);
    const asked = await launch({
      NetworkInterfaces: [{ DeviceIndex: 0, SubnetId: privateSubnet, AssociatePublicIpAddress: true }],
    });
    assert.ok(asked.PublicIpAddress, 'AssociatePublicIpAddress true wins over the subnet');
    assert.equal(asked.NetworkInterfaces?.[0].Association?.PublicIp, asked.PublicIpAddress);
    assert.equal(asked.NetworkInterfaces?.[0].SubnetId, privateSubnet);
    const refused = await launch({
      NetworkInterfaces: [{ DeviceIndex: 0, SubnetId: publicSubnet, AssociatePublicIpAddress: false }],
    });
    assert.equal(refused.PublicIpAddress, undefined, 'AssociatePublicIpAddress false wins over the subnet');
    const zoneC = fake.defaultSubnetIdDirect('us-east-1c');
    fake.setSubnetMapPublicIpDirect(zoneC, false);
    try {
      const [subnet] = (await ec2.send(new DescribeSubnetsCommand({ SubnetIds: [zoneC] }))).Subnets!;
      assert.equal(subnet.MapPublicIpOnLaunch, false);
      const inZoneC = await launch({ Placement: { AvailabilityZone: 'us-east-1c' } });
      assert.equal(inZoneC.SubnetId, zoneC);
      assert.equal(inZoneC.PublicIpAddress, undefined, 'the default subnet of the zone decides');
    } finally {
      fake.setSubnetMapPublicIpDirect(zoneC, true);
    }
  });

  it("the root volume keeps the launch's volume tags, changed by CreateTags and DeleteTags, gone with the instance", async () => {
    const instance = await launch({
      TagSpecifications: [
        { ResourceType: 'instance', Tags: [{ Key: 'Name', Value: 'web' }] },
        {
          ResourceType: 'volume',
          Tags: [
            { Key: 'team', Value: 'unikernels' },
            { Key: 'cost', Value: 'demo' },
          ],
        },
      ],
    });
    const volume = instance.BlockDeviceMappings![0].Ebs!.VolumeId!;
    assert.deepEqual(await tagsOf(volume), { team: 'unikernels', cost: 'demo' });
    assert.deepEqual(await tagsOf(instance.InstanceId!), { Name: 'web' }, 'the instance has its own tags only');
    const volumes = await ec2.send(
      new DescribeTagsCommand({
        Filters: [
          { Name: 'resource-type', Values: ['volume'] },
          { Name: 'key', Values: ['team'] },
        ],
      }),
    );
    assert.ok(volumes.Tags!.some((tag) => tag.ResourceId === volume && tag.Value === 'unikernels'));
    await ec2.send(new CreateTagsCommand({ Resources: [volume], Tags: [{ Key: 'cost', Value: 'prod' }] }));
    await ec2.send(new DeleteTagsCommand({ Resources: [volume], Tags: [{ Key: 'team' }] }));
    assert.deepEqual(await tagsOf(volume), { cost: 'prod' });
    assert.deepEqual(fake.volumeTagsDirect(volume), { cost: 'prod' });
    const [described] = (await ec2.send(new DescribeVolumesCommand({ VolumeIds: [volume] }))).Volumes!;
    assert.deepEqual(described.Tags, [{ Key: 'cost', Value: 'prod' }], 'DescribeVolumes shows the same tags');
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [instance.InstanceId!] }));
    await waitUntilInstanceTerminated({ client: ec2, ...FAST_WAITER }, { InstanceIds: [instance.InstanceId!] });
    assert.deepEqual(await tagsOf(volume), {}, 'deleted on termination: no tags listed');
    const gone = await ec2Failure(
      ec2.send(new CreateTagsCommand({ Resources: [volume], Tags: [{ Key: 'cost', Value: 'x' }] })),
    );
    assert.equal(gone.name, 'InvalidVolume.NotFound');
    const unknown = await ec2Failure(
      ec2.send(new CreateTagsCommand({ Resources: ['vol-0123456789abcdef0'], Tags: [{ Key: 'a', Value: 'b' }] })),
    );
    assert.equal(unknown.name, 'InvalidVolume.NotFound');
  });
});
