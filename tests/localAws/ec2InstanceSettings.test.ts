/**
 * The local EC2 keeps an instance's settings as EC2 does (RunInstances' placement, network
 * interface, instance profile, shutdown behaviour, credits, root volume, monitoring, termination
 * protection, metadata options) and changes them only as EC2 allows, through the real SDK.
 */
import { strict as assert } from 'assert';
import * as path from 'path';
import {
  AssociateIamInstanceProfileCommand,
  DescribeIamInstanceProfileAssociationsCommand,
  DescribeInstanceAttributeCommand,
  DescribeInstanceCreditSpecificationsCommand,
  DescribeInstancesCommand,
  DisassociateIamInstanceProfileCommand,
  EC2Client,
  EC2ServiceException,
  Instance,
  ModifyInstanceAttributeCommand,
  ModifyInstanceCreditSpecificationCommand,
  ModifyInstanceMetadataOptionsCommand,
  MonitorInstancesCommand,
  RegisterImageCommand,
  ReplaceIamInstanceProfileAssociationCommand,
  RunInstancesCommand,
  RunInstancesCommandInput,
  StartInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
  UnmonitorInstancesCommand,
  waitUntilImageAvailable,
  waitUntilInstanceRunning,
  waitUntilInstanceStopped,
  waitUntilInstanceTerminated,
} from '@aws-sdk/client-ec2';
import { EBSClient } from '@aws-sdk/client-ebs';
import { createEbsClient, createEc2Client } from '../../provider/aws/clients';
import { registerEbsImageAndWait } from '../../provider/aws/ebsImages';
import { uploadSnapshot } from '../../provider/aws/ebsUpload';
import { LocalAws } from '../../testing/localAws';
import { MiB, temporaryFolder, writeImage } from '../helpers/tools';
import { FAST_WAITER, s3For, uploadTestBundle } from './testSupport';

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

describe('fake AWS: an instance settings and their changes, as EC2 keeps and allows them', function () {
  this.timeout(60_000);
  let fake: LocalAws;
  let ec2: EC2Client;
  let ebs: EBSClient;
  let folder: { dir: string; cleanup: () => void };
  let ebsAmi: string;
  let storeAmi: string;
  let cleanupBundle: () => void;

  before(async () => {
    fake = await LocalAws.start({
      snapshotCompletingMs: 20,
      imagePendingMs: 20,
      instancePendingMs: 30,
      instanceShuttingDownMs: 30,
    });
    const settings = { endpoint: fake.endpoint, region: fake.region, credentials: fake.credentials, maxAttempts: 1 };
    ec2 = createEc2Client(settings);
    ebs = createEbsClient(settings);
    folder = temporaryFolder('instance-settings');
    const imagePath = path.join(folder.dir, 'disk.raw');
    writeImage(imagePath, [{ kind: 'random', bytes: MiB }]);
    const snapshot = await uploadSnapshot({ ebs, ec2, imagePath, wait: FAST_WAIT });
    ebsAmi = (
      await registerEbsImageAndWait({
        ec2,
        snapshotId: snapshot.snapshotId,
        name: 'settings-ebs',
        architecture: 'x86_64',
        wait: FAST_WAIT,
      })
    ).imageId;
    fake.createBucket('bundles');
    const s3 = s3For(fake);
    const bundle = await uploadTestBundle(s3, 'bundles', 'images/store/', { name: 'store.img' });
    s3.destroy();
    cleanupBundle = bundle.cleanup;
    const registered = await ec2.send(
      new RegisterImageCommand({
        Name: 'settings-store',
        ImageLocation: bundle.location,
        VirtualizationType: 'paravirtual',
        KernelId: 'aki-919dcaf8',
        Architecture: 'x86_64',
      }),
    );
    storeAmi = registered.ImageId!;
    await waitUntilImageAvailable({ client: ec2, ...FAST_WAITER }, { ImageIds: [storeAmi] });
  });

  after(async () => {
    ec2.destroy();
    ebs.destroy();
    await fake.stop();
    folder.cleanup();
    cleanupBundle();
  });

  async function launch(input: Partial<RunInstancesCommandInput>): Promise<string> {
    const output = await ec2.send(
      new RunInstancesCommand({ ImageId: ebsAmi, InstanceType: 't3.micro', MinCount: 1, MaxCount: 1, ...input }),
    );
    const id = output.Instances![0].InstanceId!;
    await waitUntilInstanceRunning({ client: ec2, ...FAST_WAITER }, { InstanceIds: [id] });
    return id;
  }

  async function described(id: string): Promise<Instance> {
    const output = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
    return output.Reservations![0].Instances![0];
  }

  async function attribute(id: string, name: 'disableApiTermination' | 'instanceInitiatedShutdownBehavior') {
    const output = await ec2.send(new DescribeInstanceAttributeCommand({ InstanceId: id, Attribute: name }));
    return name === 'disableApiTermination'
      ? output.DisableApiTermination?.Value
      : output.InstanceInitiatedShutdownBehavior?.Value;
  }

  async function terminate(id: string): Promise<void> {
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    await waitUntilInstanceTerminated({ client: ec2, ...FAST_WAITER }, { InstanceIds: [id] });
  }

  it('keeps every RunInstances setting and shows it in DescribeInstances and DescribeInstanceAttribute', async () => {
    fake.createPlacementGroupDirect('cluster-a');
    const profileArn = fake.createInstanceProfileDirect('unikernel-role');
    const id = await launch({
      Placement: { AvailabilityZone: `${fake.region}b`, GroupName: 'cluster-a' },
      IamInstanceProfile: { Arn: profileArn },
      InstanceInitiatedShutdownBehavior: 'terminate',
      CreditSpecification: { CpuCredits: 'standard' },
      BlockDeviceMappings: [
        { DeviceName: '/dev/xvda', Ebs: { VolumeSize: 4, VolumeType: 'gp3', Iops: 4000, DeleteOnTermination: false } },
      ],
      Monitoring: { Enabled: true },
      DisableApiTermination: true,
      MetadataOptions: { HttpTokens: 'required', HttpPutResponseHopLimit: 2, InstanceMetadataTags: 'enabled' },
      NetworkInterfaces: [{ DeviceIndex: 0, AssociatePublicIpAddress: false, PrivateIpAddress: '172.31.200.10' }],
    });
    const instance = await described(id);
    assert.equal(instance.Placement?.AvailabilityZone, `${fake.region}b`);
    assert.equal(instance.Placement?.GroupName, 'cluster-a');
    assert.equal(instance.IamInstanceProfile?.Arn, profileArn);
    assert.equal(instance.Monitoring?.State, 'enabled');
    assert.equal(instance.PrivateIpAddress, '172.31.200.10');
    assert.equal(instance.PublicIpAddress, undefined, 'no public address was asked for');
    assert.deepEqual(
      {
        tokens: instance.MetadataOptions?.HttpTokens,
        hops: instance.MetadataOptions?.HttpPutResponseHopLimit,
        tags: instance.MetadataOptions?.InstanceMetadataTags,
        endpoint: instance.MetadataOptions?.HttpEndpoint,
      },
      { tokens: 'required', hops: 2, tags: 'enabled', endpoint: 'enabled' },
    );
    assert.equal(instance.BlockDeviceMappings?.[0].Ebs?.DeleteOnTermination, false);
    assert.equal(await attribute(id, 'disableApiTermination'), true);
    assert.equal(await attribute(id, 'instanceInitiatedShutdownBehavior'), 'terminate');

    const refused = await ec2Failure(ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] })));
    assert.equal(refused.name, 'OperationNotPermitted');
    assert.match(refused.message, /may not be terminated\. Modify its 'disableApiTermination' instance attribute/);
    assert.equal((await described(id)).State?.Name, 'running', 'still running');
    await ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: id, DisableApiTermination: { Value: false } }));
    assert.equal(await attribute(id, 'disableApiTermination'), false);
    await terminate(id);
  });

  it('refuses launch settings EC2 refuses, launching nothing', async () => {
    const subnet = fake.createSubnetDirect();
    const cases: [Partial<RunInstancesCommandInput>, string, RegExp][] = [
      [{ Placement: { GroupName: 'no-such-group' } }, 'InvalidPlacementGroup.Unknown', /no-such-group/],
      [{ Placement: { AvailabilityZone: `${fake.region}z` } }, 'InvalidParameterValue', /Invalid availability zone/],
      [
        { SubnetId: subnet, Placement: { AvailabilityZone: `${fake.region}c` } },
        'InvalidParameterValue',
        /is in the availability zone/,
      ],
      [
        { SubnetId: subnet, NetworkInterfaces: [{ DeviceIndex: 0, AssociatePublicIpAddress: true }] },
        'InvalidParameterCombination',
        /instance-level subnet/,
      ],
      [{ PrivateIpAddress: '10.0.0.5' }, 'InvalidParameterValue', /does not fall within the subnet/],
      [
        { InstanceType: 'm5.large', CreditSpecification: { CpuCredits: 'unlimited' } },
        'InvalidParameterCombination',
        /CPU credits/,
      ],
      [
        { ImageId: storeAmi, InstanceType: 'm3.medium', InstanceInitiatedShutdownBehavior: 'terminate' },
        'InvalidParameterCombination',
        /can only be used for elastic images/,
      ],
      [
        {
          ImageId: storeAmi,
          InstanceType: 'm3.medium',
          BlockDeviceMappings: [{ DeviceName: '/dev/sda1', Ebs: { VolumeSize: 8 } }],
        },
        'InvalidBlockDeviceMapping',
        /instance-store/,
      ],
      [
        { BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { VolumeType: 'gp2', Iops: 3000 } }] },
        'InvalidParameterCombination',
        /iops is not supported for gp2/,
      ],
      [
        { BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { KmsKeyId: 'alias/x' } }] },
        'InvalidParameterDependency',
        /requires the parameter Encrypted/,
      ],
      [{ IamInstanceProfile: { Name: 'nobody' } }, 'InvalidParameterValue', /Invalid IAM Instance Profile name/],
    ];
    const before = fake.instances().length;
    for (const [input, code, message] of cases) {
      const error = await ec2Failure(
        ec2.send(
          new RunInstancesCommand({ ImageId: ebsAmi, InstanceType: 't3.micro', MinCount: 1, MaxCount: 1, ...input }),
        ),
      );
      assert.equal(error.name, code, JSON.stringify(input));
      assert.match(error.message, message);
    }
    assert.equal(fake.instances().length, before, 'no refused launch made an instance');

    const first = await launch({ PrivateIpAddress: '172.31.100.7' });
    const taken = await ec2Failure(
      ec2.send(
        new RunInstancesCommand({
          ImageId: ebsAmi,
          InstanceType: 't3.micro',
          MinCount: 1,
          MaxCount: 1,
          PrivateIpAddress: '172.31.100.7',
        }),
      ),
    );
    assert.equal(taken.name, 'InvalidIPAddress.InUse');
    await terminate(first);
  });

  it('associates, replaces and removes an instance profile in place as EC2 does, refusing what EC2 refuses', async () => {
    const firstArn = fake.createInstanceProfileDirect('first-role');
    const secondArn = fake.createInstanceProfileDirect('second-role');
    const id = await launch({ IamInstanceProfile: { Name: 'first-role' } });
    const other = await launch({});
    const associations = async () =>
      (
        await ec2.send(
          new DescribeIamInstanceProfileAssociationsCommand({
            Filters: [
              { Name: 'instance-id', Values: [id] },
              { Name: 'state', Values: ['associated'] },
            ],
          }),
        )
      ).IamInstanceProfileAssociations ?? [];
    const [launched] = await associations();
    assert.match(launched.AssociationId ?? '', /^iip-assoc-[0-9a-f]{17}$/);
    assert.deepEqual([launched.InstanceId, launched.State], [id, 'associated']);
    assert.equal(launched.IamInstanceProfile?.Arn, firstArn);
    assert.equal(launched.IamInstanceProfile?.Id, (await described(id)).IamInstanceProfile?.Id);
    const ofOther = await ec2.send(
      new DescribeIamInstanceProfileAssociationsCommand({ Filters: [{ Name: 'instance-id', Values: [other] }] }),
    );
    assert.deepEqual(ofOther.IamInstanceProfileAssociations, [], 'an instance launched without a profile has none');
    const refusedAssociate = await ec2Failure(
      ec2.send(new AssociateIamInstanceProfileCommand({ InstanceId: id, IamInstanceProfile: { Arn: secondArn } })),
    );
    assert.deepEqual(
      [refusedAssociate.name, refusedAssociate.message],
      ['IncorrectState', `There is an existing association for instance ${id}`],
    );
    const unknown = await ec2Failure(
      ec2.send(
        new ReplaceIamInstanceProfileAssociationCommand({
          AssociationId: launched.AssociationId,
          IamInstanceProfile: { Name: 'nobody' },
        }),
      ),
    );
    assert.equal(unknown.name, 'InvalidParameterValue');
    assert.match(unknown.message, /Invalid IAM Instance Profile name/);
    assert.equal((await described(id)).IamInstanceProfile?.Arn, firstArn, 'a refused replacement changes nothing');
    const replaced = await ec2.send(
      new ReplaceIamInstanceProfileAssociationCommand({
        AssociationId: launched.AssociationId,
        IamInstanceProfile: { Arn: secondArn },
      }),
    );
    const association = replaced.IamInstanceProfileAssociation!;
    assert.equal(association.State, 'associating');
    assert.notEqual(association.AssociationId, launched.AssociationId, 'a replacement is a new association');
    assert.equal((await described(id)).IamInstanceProfile?.Arn, secondArn);
    const stale = await ec2Failure(
      ec2.send(new DisassociateIamInstanceProfileCommand({ AssociationId: launched.AssociationId })),
    );
    assert.equal(stale.name, 'InvalidAssociationID.NotFound');
    const removed = await ec2.send(
      new DisassociateIamInstanceProfileCommand({ AssociationId: association.AssociationId }),
    );
    assert.equal(removed.IamInstanceProfileAssociation?.State, 'disassociating');
    assert.deepEqual(await associations(), []);
    assert.equal((await described(id)).IamInstanceProfile, undefined);
    const unknownByArn = await ec2Failure(
      ec2.send(
        new AssociateIamInstanceProfileCommand({
          InstanceId: id,
          IamInstanceProfile: { Arn: `arn:aws:iam::${fake.accountId}:instance-profile/nobody` },
        }),
      ),
    );
    assert.equal(unknownByArn.name, 'InvalidParameterValue');
    // A stopped instance takes a new association, but its active one is not replaced.
    await ec2.send(new StopInstancesCommand({ InstanceIds: [id] }));
    await waitUntilInstanceStopped({ client: ec2, ...FAST_WAITER }, { InstanceIds: [id] });
    const again = await ec2.send(
      new AssociateIamInstanceProfileCommand({ InstanceId: id, IamInstanceProfile: { Name: 'first-role' } }),
    );
    assert.equal(again.IamInstanceProfileAssociation?.IamInstanceProfile?.Arn, firstArn);
    const whileStopped = await ec2Failure(
      ec2.send(
        new ReplaceIamInstanceProfileAssociationCommand({
          AssociationId: again.IamInstanceProfileAssociation?.AssociationId,
          IamInstanceProfile: { Name: 'second-role' },
        }),
      ),
    );
    assert.equal(whileStopped.name, 'IncorrectState');
    await terminate(id);
    await terminate(other);
    const gone = await ec2Failure(
      ec2.send(new AssociateIamInstanceProfileCommand({ InstanceId: id, IamInstanceProfile: { Name: 'first-role' } })),
    );
    assert.equal(gone.name, 'IncorrectInstanceState');
  });

  it('changes a type only on a stopped EBS-backed instance: stopping → stopped, modify, pending → running', async () => {
    const id = await launch({});
    const tooEarly = await ec2Failure(
      ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: id, InstanceType: { Value: 'm5.large' } })),
    );
    assert.equal(tooEarly.name, 'IncorrectInstanceState');
    assert.match(tooEarly.message, /is not in the 'stopped' state/);
    const publicBefore = (await described(id)).PublicIpAddress;

    const stopping = await ec2.send(new StopInstancesCommand({ InstanceIds: [id] }));
    assert.equal(stopping.StoppingInstances?.[0].CurrentState?.Name, 'stopping');
    assert.equal(stopping.StoppingInstances?.[0].PreviousState?.Name, 'running');
    await waitUntilInstanceStopped({ client: ec2, ...FAST_WAITER }, { InstanceIds: [id] });
    const whileStopped = await described(id);
    assert.equal(whileStopped.State?.Code, 80);
    assert.equal(whileStopped.PublicIpAddress, undefined, 'a stopped instance has no public address');
    assert.ok(whileStopped.PrivateIpAddress, 'it keeps its private address');

    await ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: id, InstanceType: { Value: 'm5.large' } }));
    const starting = await ec2.send(new StartInstancesCommand({ InstanceIds: [id] }));
    assert.equal(starting.StartingInstances?.[0].CurrentState?.Name, 'pending');
    await waitUntilInstanceRunning({ client: ec2, ...FAST_WAITER }, { InstanceIds: [id] });
    const after = await described(id);
    assert.equal(after.InstanceType, 'm5.large');
    assert.equal(after.State?.Name, 'running');
    assert.notEqual(after.PublicIpAddress, publicBefore, 'a new public address after the start');
    await terminate(id);
  });

  it('refuses to stop an instance-store instance, and the type of one that never stops', async () => {
    const output = await ec2.send(
      new RunInstancesCommand({ ImageId: storeAmi, InstanceType: 'm3.medium', MinCount: 1, MaxCount: 1 }),
    );
    const id = output.Instances![0].InstanceId!;
    await waitUntilInstanceRunning({ client: ec2, ...FAST_WAITER }, { InstanceIds: [id] });
    const refused = await ec2Failure(ec2.send(new StopInstancesCommand({ InstanceIds: [id] })));
    assert.equal(refused.name, 'UnsupportedOperation');
    assert.match(refused.message, /does not have an 'ebs' root device type and cannot be stopped/);
    assert.equal(await attribute(id, 'instanceInitiatedShutdownBehavior'), 'terminate');
    const behaviour = await ec2Failure(
      ec2.send(
        new ModifyInstanceAttributeCommand({ InstanceId: id, InstanceInitiatedShutdownBehavior: { Value: 'stop' } }),
      ),
    );
    assert.equal(behaviour.name, 'InvalidParameterCombination');
    await terminate(id);
  });

  it('changes groups, monitoring, CPU credits and metadata options in place', async () => {
    const id = await launch({});
    const group = fake.createSecurityGroupDirect();
    await ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: id, Groups: [group] }));
    assert.deepEqual(
      (await described(id)).SecurityGroups?.map((each) => each.GroupId),
      [group],
    );
    const missing = await ec2Failure(
      ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: id, Groups: ['sg-0123456789abcdef0'] })),
    );
    assert.equal(missing.name, 'InvalidGroup.NotFound');

    const monitored = await ec2.send(new MonitorInstancesCommand({ InstanceIds: [id] }));
    assert.equal(monitored.InstanceMonitorings?.[0].Monitoring?.State, 'pending');
    assert.equal((await described(id)).Monitoring?.State, 'enabled');
    await ec2.send(new UnmonitorInstancesCommand({ InstanceIds: [id] }));
    assert.equal((await described(id)).Monitoring?.State, 'disabled');

    const credits = await ec2.send(
      new ModifyInstanceCreditSpecificationCommand({
        InstanceCreditSpecifications: [
          { InstanceId: id, CpuCredits: 'standard' },
          { InstanceId: 'i-0123456789abcdef0', CpuCredits: 'standard' },
        ],
      }),
    );
    assert.deepEqual(
      credits.SuccessfulInstanceCreditSpecifications?.map((each) => each.InstanceId),
      [id],
    );
    assert.equal(credits.UnsuccessfulInstanceCreditSpecifications?.[0].Error?.Code, 'InvalidInstanceID.NotFound');
    const listed = await ec2.send(new DescribeInstanceCreditSpecificationsCommand({ InstanceIds: [id] }));
    assert.deepEqual(
      listed.InstanceCreditSpecifications?.map((each) => [each.InstanceId, each.CpuCredits]),
      [[id, 'standard']],
    );

    const metadata = await ec2.send(
      new ModifyInstanceMetadataOptionsCommand({ InstanceId: id, HttpTokens: 'optional', HttpEndpoint: 'disabled' }),
    );
    assert.equal(metadata.InstanceMetadataOptions?.State, 'pending');
    const options = (await described(id)).MetadataOptions;
    assert.equal(options?.HttpTokens, 'optional');
    assert.equal(options?.HttpEndpoint, 'disabled');
    const badHops = await ec2Failure(
      ec2.send(new ModifyInstanceMetadataOptionsCommand({ InstanceId: id, HttpPutResponseHopLimit: 65 })),
    );
    assert.equal(badHops.name, 'InvalidParameterValue');
    await terminate(id);
  });
});
