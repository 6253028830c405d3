import { strict as assert } from 'assert';
import {
  CreateTagsCommand,
  DeleteTagsCommand,
  DeregisterImageCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeInstanceTypesCommand,
  ModifyImageAttributeCommand,
  paginateDescribeInstanceTypes,
  EC2Client,
  EC2ServiceException,
  Image,
  RegisterImageCommand,
  RunInstancesCommand,
  RunInstancesCommandInput,
  TerminateInstancesCommand,
  waitUntilImageAvailable,
  waitUntilInstanceRunning,
  waitUntilInstanceTerminated,
  _InstanceType,
} from '@aws-sdk/client-ec2';
import { S3Client } from '@aws-sdk/client-s3';
import { LocalAws } from '../../testing/localAws';
import { ec2For, FAST_WAITER, s3For, sendSigned, uploadTestBundle } from './testSupport';

async function ec2Failure(promise: Promise<unknown>): Promise<EC2ServiceException> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof EC2ServiceException) return error;
    throw error;
  }
  assert.fail('expected the request to fail');
}

/** A name outside the SDK's list of instance types, as a user could still send. */
const NO_SUCH_TYPE = 'z9.huge' as _InstanceType;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe('fake AWS: EC2', function () {
  let fake: LocalAws;
  let s3: S3Client;
  let ec2: EC2Client;
  const cleanups: Array<() => void> = [];

  beforeEach(async () => {
    fake = await LocalAws.start({ imagePendingMs: 200, instancePendingMs: 80, instanceShuttingDownMs: 80 });
    s3 = s3For(fake);
    ec2 = ec2For(fake);
    fake.createBucket('bundles');
  });

  afterEach(async () => {
    s3.destroy();
    ec2.destroy();
    await fake.stop();
    cleanups.splice(0).forEach((cleanup) => cleanup());
  });

  async function bundle(
    name: string,
    options: { accountId?: string; architecture?: 'x86_64' | 'i386'; acl?: 'aws-exec-read' | 'private' } = {},
  ) {
    const uploaded = await uploadTestBundle(s3, 'bundles', `images/${name}/`, { name, ...options });
    cleanups.push(uploaded.cleanup);
    return uploaded;
  }

  async function availableImage(name = 'app.img', architecture: 'x86_64' | 'i386' = 'x86_64'): Promise<string> {
    const { location } = await bundle(name, { architecture });
    const { ImageId } = await ec2.send(
      new RegisterImageCommand({
        Name: name,
        ImageLocation: location,
        VirtualizationType: 'paravirtual',
        KernelId: 'aki-919dcaf8',
      }),
    );
    await waitUntilImageAvailable({ client: ec2, ...FAST_WAITER }, { ImageIds: [ImageId!] });
    return ImageId!;
  }

  it('registers an image from the bundle manifest in S3; it is pending, then available for the SDK waiter', async () => {
    const { location } = await bundle('app.img');
    const registered = await ec2.send(
      new RegisterImageCommand({
        Name: 'app-v1',
        Description: 'unikernel <app> & co',
        ImageLocation: location,
        Architecture: 'x86_64',
        VirtualizationType: 'paravirtual',
        KernelId: 'aki-919dcaf8',
        RootDeviceName: '/dev/sda1',
        TagSpecifications: [{ ResourceType: 'image', Tags: [{ Key: 'app', Value: 'demo & <test>' }] }],
      }),
    );
    assert.match(registered.ImageId!, /^ami-[0-9a-f]{17}$/);
    const recorded = fake.requests.find((request) => request.operation === 'RegisterImage')!;
    assert.equal(recorded.params.ImageLocation, 'bundles/images/app.img/app.img.manifest.xml');
    assert.equal(recorded.params['TagSpecification.1.Tag.1.Key'], 'app');

    const pending = await ec2.send(new DescribeImagesCommand({ ImageIds: [registered.ImageId!] }));
    const image: Image = pending.Images![0];
    assert.equal(image.State, 'pending');
    assert.equal(image.ImageLocation, location);
    assert.equal(image.RootDeviceType, 'instance-store');
    assert.equal(image.RootDeviceName, '/dev/sda1');
    assert.equal(image.Architecture, 'x86_64');
    assert.equal(image.KernelId, 'aki-919dcaf8');
    assert.equal(image.VirtualizationType, 'paravirtual');
    assert.equal(image.ImageType, 'machine');
    assert.equal(image.OwnerId, fake.accountId);
    assert.equal(image.Public, false);
    assert.equal(image.Description, 'unikernel <app> & co');
    assert.deepEqual(image.Tags, [{ Key: 'app', Value: 'demo & <test>' }]);
    assert.match(image.CreationDate!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

    const waited = await waitUntilImageAvailable({ client: ec2, ...FAST_WAITER }, { ImageIds: [registered.ImageId!] });
    assert.equal(waited.state, 'SUCCESS');
    assert.equal(fake.images()[0].state, 'available');
    const mine = await ec2.send(
      new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: 'name', Values: ['app-*'] }] }),
    );
    assert.deepEqual(
      mine.Images?.map((found) => found.ImageId),
      [registered.ImageId],
    );
  });

  it('refuses a manifest that is missing, unreadable by EC2, unparseable or of another account, and a duplicate name', async () => {
    const missing = await ec2Failure(
      ec2.send(new RegisterImageCommand({ Name: 'x-1', ImageLocation: 'bundles/none.manifest.xml' })),
    );
    assert.equal(missing.name, 'InvalidManifest');
    assert.match(missing.message, /404/);
    assert.equal(missing.$metadata.httpStatusCode, 400);

    const privateBundle = await bundle('private.img', { acl: 'private' });
    const unreadable = await ec2Failure(
      ec2.send(new RegisterImageCommand({ Name: 'x-2', ImageLocation: privateBundle.location })),
    );
    assert.equal(unreadable.name, 'InvalidManifest');
    assert.match(unreadable.message, /403/);

    fake.putObjectDirect('bundles', 'garbage.manifest.xml', Buffer.from('<manifest><version>'), {
      acl: 'aws-exec-read',
    });
    const garbage = await ec2Failure(
      ec2.send(new RegisterImageCommand({ Name: 'x-3', ImageLocation: 'bundles/garbage.manifest.xml' })),
    );
    assert.equal(garbage.name, 'InvalidManifest');

    const foreign = await bundle('foreign.img', { accountId: '210987654321' });
    const refused = await ec2Failure(
      ec2.send(new RegisterImageCommand({ Name: 'x-4', ImageLocation: foreign.location })),
    );
    assert.equal(refused.name, 'InvalidManifest');
    assert.match(refused.message, /210987654321/);

    const good = await bundle('good.img');
    const first = await ec2.send(new RegisterImageCommand({ Name: 'taken-name', ImageLocation: good.location }));
    const duplicate = await ec2Failure(
      ec2.send(new RegisterImageCommand({ Name: 'taken-name', ImageLocation: good.location })),
    );
    assert.equal(duplicate.name, 'InvalidAMIName.Duplicate');
    assert.match(duplicate.message, new RegExp(first.ImageId!));
    assert.equal(fake.images().length, 1);
  });

  it("serves Amazon's PV-GRUB kernels for its region, so the newest can be picked", async () => {
    const kernels = await ec2.send(
      new DescribeImagesCommand({
        Owners: ['amazon'],
        Filters: [
          { Name: 'image-type', Values: ['kernel'] },
          { Name: 'name', Values: ['pv-grub-hd0_*-x86_64.gz'] },
          { Name: 'state', Values: ['available'] },
        ],
      }),
    );
    assert.deepEqual(kernels.Images?.map((image) => image.Name).sort(), [
      'pv-grub-hd0_1.04-x86_64.gz',
      'pv-grub-hd0_1.05-x86_64.gz',
    ]);
    const newest = [...kernels.Images!].sort((a, b) => (a.CreationDate! < b.CreationDate! ? 1 : -1))[0];
    assert.equal(newest.ImageId, 'aki-919dcaf8');
    assert.equal(newest.ImageOwnerAlias, 'amazon');
    assert.equal(newest.Architecture, 'x86_64');
    assert.deepEqual(fake.images(), [], 'the seeded kernels are not listed as registered images');

    const west = await LocalAws.start({ region: 'eu-west-1' });
    const westEc2 = ec2For(west);
    try {
      const found = await westEc2.send(
        new DescribeImagesCommand({ Filters: [{ Name: 'name', Values: ['pv-grub-hd0_1.05-i386.gz'] }] }),
      );
      assert.deepEqual(
        found.Images?.map((image) => image.ImageId),
        ['aki-68a3451f'],
      );
    } finally {
      westEc2.destroy();
      await west.stop();
    }

    assert.equal(
      (await ec2Failure(ec2.send(new DescribeImagesCommand({ ImageIds: ['ami-0123456789abcdef0'] })))).name,
      'InvalidAMIID.NotFound',
    );
    assert.equal(
      (await ec2Failure(ec2.send(new DescribeImagesCommand({ ImageIds: ['image-1'] })))).name,
      'InvalidAMIID.Malformed',
    );
    assert.equal(
      (await ec2Failure(ec2.send(new DescribeImagesCommand({ Filters: [{ Name: 'colour', Values: ['red'] }] })))).name,
      'InvalidParameterValue',
    );
  });

  it('describes instance types: which can boot an instance-store root, and which virtualization they take', async () => {
    const answer = await ec2.send(
      new DescribeInstanceTypesCommand({
        InstanceTypes: ['m1.small', 'c3.large', 't3.micro', 'm5.large', 'm3.medium', 'm1.medium'],
      }),
    );
    const byName = new Map(answer.InstanceTypes!.map((info) => [info.InstanceType, info]));
    assert.deepEqual(byName.get('m1.small')?.SupportedRootDeviceTypes, ['ebs', 'instance-store']);
    assert.deepEqual(byName.get('m1.small')?.SupportedVirtualizationTypes, ['hvm', 'paravirtual']);
    assert.deepEqual(byName.get('m1.small')?.ProcessorInfo?.SupportedArchitectures, ['i386', 'x86_64']);
    assert.deepEqual(byName.get('m3.medium')?.ProcessorInfo?.SupportedArchitectures, ['x86_64']);
    assert.deepEqual(byName.get('t3.micro')?.SupportedRootDeviceTypes, ['ebs']);
    assert.deepEqual(byName.get('m5.large')?.SupportedVirtualizationTypes, ['hvm']);
    assert.equal(byName.get('m5.large')?.MemoryInfo?.SizeInMiB, 8192);
    const unknown = await ec2Failure(
      ec2.send(new DescribeInstanceTypesCommand({ InstanceTypes: ['m1.small', NO_SUCH_TYPE] })),
    );
    assert.equal(unknown.name, 'InvalidInstanceType');
    const storeRoots = await ec2.send(
      new DescribeInstanceTypesCommand({
        Filters: [{ Name: 'supported-root-device-type', Values: ['instance-store'] }],
      }),
    );
    assert.ok(storeRoots.InstanceTypes!.every((info) => info.SupportedRootDeviceTypes!.includes('instance-store')));
    assert.ok(storeRoots.InstanceTypes!.some((info) => info.InstanceType === 'c3.large'));
    const pageSizes: number[] = [];
    for await (const page of paginateDescribeInstanceTypes({ client: ec2, pageSize: 5 }, {}))
      pageSizes.push(page.InstanceTypes!.length);
    assert.deepEqual(pageSizes, [5, 4]);
  });

  it('runs an instance from pending to running, terminates it, and the SDK waiters follow', async () => {
    const imageId = await availableImage();
    const group = fake.createSecurityGroupDirect();
    const subnet = fake.createSubnetDirect({ mapPublicIpOnLaunch: true });
    fake.createKeyPairDirect('demo-key');
    const launch: RunInstancesCommandInput = {
      ImageId: imageId,
      InstanceType: 'm1.small',
      MinCount: 1,
      MaxCount: 1,
      KeyName: 'demo-key',
      SecurityGroupIds: [group],
      SubnetId: subnet,
      UserData: Buffer.from('console=hvc0').toString('base64'),
      MetadataOptions: { HttpTokens: 'required' },
      ClientToken: 'launch-1',
      TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'Name', Value: 'unikernel' }] }],
    };
    const reservation = await ec2.send(new RunInstancesCommand(launch));
    const started = reservation.Instances![0];
    assert.match(started.InstanceId!, /^i-[0-9a-f]{17}$/);
    assert.equal(started.State?.Name, 'pending');
    assert.equal(started.State?.Code, 0);
    assert.equal(started.ImageId, imageId);
    assert.equal(started.KernelId, 'aki-919dcaf8');
    assert.equal(started.RootDeviceType, 'instance-store');
    assert.equal(started.ClientToken, 'launch-1');
    assert.equal(started.MetadataOptions?.HttpTokens, 'required');
    assert.deepEqual(
      started.SecurityGroups?.map((group) => group.GroupId),
      [group],
    );
    assert.ok(started.LaunchTime instanceof Date);
    const recorded = fake.requests.find((request) => request.operation === 'RunInstances')!;
    assert.equal(recorded.params['MetadataOptions.HttpTokens'], 'required');
    assert.equal(recorded.params['SecurityGroupId.1'], group);
    assert.equal(recorded.params['TagSpecification.1.ResourceType'], 'instance');

    const running = await waitUntilInstanceRunning(
      { client: ec2, ...FAST_WAITER },
      { InstanceIds: [started.InstanceId!] },
    );
    assert.equal(running.state, 'SUCCESS');
    const described = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [started.InstanceId!] }));
    const instance = described.Reservations![0].Instances![0];
    assert.equal(instance.State?.Name, 'running');
    assert.ok(instance.PublicIpAddress);
    assert.deepEqual(instance.Tags, [{ Key: 'Name', Value: 'unikernel' }]);
    const snapshot = fake.instances()[0];
    assert.equal(snapshot.userData?.toString(), 'console=hvc0');
    assert.equal(snapshot.keyName, 'demo-key');
    assert.equal(snapshot.state, 'running');

    const terminating = await ec2.send(new TerminateInstancesCommand({ InstanceIds: [started.InstanceId!] }));
    assert.equal(terminating.TerminatingInstances![0].PreviousState?.Name, 'running');
    assert.equal(terminating.TerminatingInstances![0].CurrentState?.Name, 'shutting-down');
    const terminated = await waitUntilInstanceTerminated(
      { client: ec2, ...FAST_WAITER },
      { InstanceIds: [started.InstanceId!] },
    );
    assert.equal(terminated.state, 'SUCCESS');
    const after = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [started.InstanceId!] }));
    assert.equal(after.Reservations![0].Instances![0].State?.Name, 'terminated');
    assert.equal(after.Reservations![0].Instances![0].StateReason?.Code, 'Client.UserInitiatedShutdown');
    const unknown = await ec2Failure(ec2.send(new DescribeInstancesCommand({ InstanceIds: ['i-0123456789abcdef0'] })));
    assert.equal(unknown.name, 'InvalidInstanceID.NotFound');
  });

  it('answers a repeated ClientToken with the first launch, and refuses it with other parameters', async () => {
    const imageId = await availableImage();
    const launch: RunInstancesCommandInput = {
      ImageId: imageId,
      InstanceType: 'c3.large',
      MinCount: 1,
      MaxCount: 1,
      ClientToken: 'same-token',
    };
    const first = await ec2.send(new RunInstancesCommand(launch));
    const second = await ec2.send(new RunInstancesCommand(launch));
    assert.equal(second.ReservationId, first.ReservationId);
    assert.equal(second.Instances![0].InstanceId, first.Instances![0].InstanceId);
    assert.equal(fake.instances().length, 1);
    const mismatch = await ec2Failure(ec2.send(new RunInstancesCommand({ ...launch, InstanceType: 'm1.medium' })));
    assert.equal(mismatch.name, 'IdempotentParameterMismatch');
    const fresh = await ec2.send(new RunInstancesCommand({ ...launch, ClientToken: undefined }));
    assert.notEqual(fresh.Instances![0].InstanceId, first.Instances![0].InstanceId);
    assert.equal(fake.instances().length, 2);
  });

  it('refuses instance types that cannot boot the image, as EC2 does', async () => {
    const imageId = await availableImage();
    for (const instanceType of ['t3.micro', 'm5.large'] as const) {
      const refused = await ec2Failure(
        ec2.send(new RunInstancesCommand({ ImageId: imageId, InstanceType: instanceType, MinCount: 1, MaxCount: 1 })),
      );
      assert.equal(refused.name, 'UnsupportedOperation');
      assert.equal(
        refused.message,
        `AMI '${imageId}' with an instance-store root device is not supported for the instance type '${instanceType}'.`,
      );
    }
    const unknownType = await ec2Failure(
      ec2.send(new RunInstancesCommand({ ImageId: imageId, InstanceType: NO_SUCH_TYPE, MinCount: 1, MaxCount: 1 })),
    );
    assert.equal(unknownType.name, 'InvalidParameterValue');
    const i386 = await availableImage('small32.img', 'i386');
    const architecture = await ec2Failure(
      ec2.send(new RunInstancesCommand({ ImageId: i386, InstanceType: 'm3.medium', MinCount: 1, MaxCount: 1 })),
    );
    assert.equal(architecture.name, 'InvalidParameterValue');
    assert.match(architecture.message, /architecture/);
    assert.equal(fake.instances().length, 0);
  });

  it('refuses to launch an image that is pending, deregistered or unknown', async () => {
    const { location } = await bundle('app.img');
    const { ImageId } = await ec2.send(new RegisterImageCommand({ Name: 'slow', ImageLocation: location }));
    const pending = await ec2Failure(ec2.send(new RunInstancesCommand({ ImageId, MinCount: 1, MaxCount: 1 })));
    assert.equal(pending.name, 'InvalidAMIID.Unavailable');
    await waitUntilImageAvailable({ client: ec2, ...FAST_WAITER }, { ImageIds: [ImageId!] });
    await ec2.send(new DeregisterImageCommand({ ImageId }));
    assert.deepEqual((await ec2.send(new DescribeImagesCommand({ ImageIds: [ImageId!] }))).Images, []);
    assert.equal(fake.images()[0].state, 'deregistered');
    const gone = await ec2Failure(ec2.send(new RunInstancesCommand({ ImageId, MinCount: 1, MaxCount: 1 })));
    assert.equal(gone.name, 'InvalidAMIID.Unavailable');
    const unknown = await ec2Failure(
      ec2.send(new RunInstancesCommand({ ImageId: 'ami-0123456789abcdef0', MinCount: 1, MaxCount: 1 })),
    );
    assert.equal(unknown.name, 'InvalidAMIID.NotFound');
    const again = await ec2.send(new RegisterImageCommand({ Name: 'slow', ImageLocation: location }));
    assert.notEqual(again.ImageId, ImageId, 'a deregistered name can be used again');
  });

  it('changes an image description, but not while the image is pending', async () => {
    const { location } = await bundle('described.img');
    const { ImageId } = await ec2.send(
      new RegisterImageCommand({ Name: 'described', ImageLocation: location, Description: 'first' }),
    );
    const pending = await ec2Failure(
      ec2.send(new ModifyImageAttributeCommand({ ImageId, Description: { Value: 'second' } })),
    );
    assert.equal(pending.name, 'InvalidAMIID.Unavailable');
    await waitUntilImageAvailable({ client: ec2, ...FAST_WAITER }, { ImageIds: [ImageId!] });
    await ec2.send(new ModifyImageAttributeCommand({ ImageId, Description: { Value: 'second' } }));
    assert.equal(fake.images()[0].description, 'second');
    assert.equal(fake.requests[fake.requests.length - 1].params['Description.Value'], 'second');
  });

  it('tags and untags images and instances', async () => {
    const imageId = await availableImage();
    const { Instances } = await ec2.send(new RunInstancesCommand({ ImageId: imageId, MinCount: 1, MaxCount: 1 }));
    const instanceId = Instances![0].InstanceId!;
    assert.equal(Instances![0].Tags, undefined, 'EC2 leaves tagSet out when there are no tags');
    await ec2.send(
      new CreateTagsCommand({
        Resources: [imageId, instanceId],
        Tags: [
          { Key: 'stack', Value: 'dev' },
          { Key: 'owner', Value: 'me' },
        ],
      }),
    );
    assert.deepEqual(fake.images()[0].tags, { stack: 'dev', owner: 'me' });
    assert.deepEqual(fake.instances()[0].tags, { stack: 'dev', owner: 'me' });
    await ec2.send(
      new DeleteTagsCommand({
        Resources: [instanceId],
        Tags: [{ Key: 'owner', Value: 'someone else' }, { Key: 'stack' }],
      }),
    );
    assert.deepEqual(fake.instances()[0].tags, { owner: 'me' });
    const filtered = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'tag:owner', Values: ['me'] }] }));
    assert.equal(filtered.Reservations?.length, 1);
    const reserved = await ec2Failure(
      ec2.send(new CreateTagsCommand({ Resources: [imageId], Tags: [{ Key: 'aws:x', Value: 'y' }] })),
    );
    assert.equal(reserved.name, 'InvalidParameterValue');
    const missing = await ec2Failure(
      ec2.send(new CreateTagsCommand({ Resources: ['i-0123456789abcdef0'], Tags: [{ Key: 'a', Value: 'b' }] })),
    );
    assert.equal(missing.name, 'InvalidInstanceID.NotFound');
  });

  it('fails the launch when the bundle changed in S3 after registration', async () => {
    const { location, keys } = await bundle('drift.img');
    const { ImageId } = await ec2.send(new RegisterImageCommand({ Name: 'drift', ImageLocation: location }));
    await waitUntilImageAvailable({ client: ec2, ...FAST_WAITER }, { ImageIds: [ImageId!] });
    fake.putObjectDirect('bundles', keys[0], Buffer.from('not the part any more'));
    const { Instances } = await ec2.send(new RunInstancesCommand({ ImageId, MinCount: 1, MaxCount: 1 }));
    const error = await waitUntilInstanceRunning(
      { client: ec2, ...FAST_WAITER },
      { InstanceIds: [Instances![0].InstanceId!] },
    ).then(
      () => undefined,
      (failure: Error) => failure,
    );
    assert.ok(error, 'the waiter fails');
    await sleep(200);
    const [instance] = fake.instances();
    assert.equal(instance.state, 'terminated');
    assert.equal(instance.stateReason?.code, 'Server.InternalError');
  });

  it('lets tests change state behind the client: instance states and deregistration', async () => {
    const imageId = await availableImage();
    const { Instances } = await ec2.send(new RunInstancesCommand({ ImageId: imageId, MinCount: 2, MaxCount: 2 }));
    assert.equal(Instances!.length, 2);
    fake.setInstanceStateDirect(Instances![0].InstanceId!, 'stopped');
    const described = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [Instances![0].InstanceId!] }));
    assert.equal(described.Reservations![0].Instances![0].State?.Name, 'stopped');
    fake.deregisterImageDirect(imageId);
    assert.deepEqual((await ec2.send(new DescribeImagesCommand({ Owners: ['self'] }))).Images, []);
  });

  it('answers an unknown action with InvalidAction and a DryRun with DryRunOperation', async () => {
    const answer = await sendSigned(fake, {
      service: 'ec2',
      method: 'POST',
      path: '/',
      headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
      body: 'Action=LaunchRockets&Version=2016-11-15',
    });
    assert.equal(answer.status, 400);
    assert.match(answer.body, /<Code>InvalidAction<\/Code>/);
    const dryRun = await ec2Failure(ec2.send(new DescribeImagesCommand({ DryRun: true, Owners: ['self'] })));
    assert.equal(dryRun.name, 'DryRunOperation');
  });
});
