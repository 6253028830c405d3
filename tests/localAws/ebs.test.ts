/** The fake's EBS direct APIs and EC2 snapshot calls, driven with the real @aws-sdk/client-ebs and client-ec2. */
import { strict as assert } from 'assert';
import { createHash } from 'crypto';
import {
  CompleteSnapshotCommand,
  EBSClient,
  EBSServiceException,
  PutSnapshotBlockCommand,
  PutSnapshotBlockCommandInput,
  StartSnapshotCommand,
  ValidationException,
} from '@aws-sdk/client-ebs';
import {
  DeleteSnapshotCommand,
  DescribeImagesCommand,
  DescribeSnapshotsCommand,
  EC2Client,
  RegisterImageCommand,
  RunInstancesCommand,
  waitUntilSnapshotCompleted,
} from '@aws-sdk/client-ec2';
import { LocalAws } from '../../testing/localAws';
import { ec2For, FAST_WAITER } from './testSupport';

const BLOCK = 524_288;

function sha256(data: Uint8Array): Buffer {
  return createHash('sha256').update(data).digest();
}

async function failure(promise: Promise<unknown>): Promise<Error & { $metadata?: { httpStatusCode?: number } }> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof Error) return error;
    throw error;
  }
  assert.fail('expected the request to fail');
}

describe('fake AWS: EBS direct APIs', function () {
  let fake: LocalAws;
  let ebs: EBSClient;
  let ec2: EC2Client;

  beforeEach(async () => {
    fake = await LocalAws.start({ snapshotCompletingMs: 30, imagePendingMs: 20, instancePendingMs: 20 });
    ebs = new EBSClient({
      endpoint: fake.endpoint,
      region: fake.region,
      credentials: { ...fake.credentials },
      maxAttempts: 1,
    });
    ec2 = ec2For(fake);
  });

  afterEach(async () => {
    ebs.destroy();
    ec2.destroy();
    await fake.stop();
  });

  const block = (fill: number) => Buffer.alloc(BLOCK, fill);
  const put = (
    input: Partial<PutSnapshotBlockCommandInput> & { SnapshotId: string; BlockIndex: number; BlockData: Buffer },
  ) =>
    ebs.send(
      new PutSnapshotBlockCommand({
        DataLength: BLOCK,
        Checksum: sha256(input.BlockData).toString('base64'),
        ChecksumAlgorithm: 'SHA256',
        ...input,
      }),
    );

  it('writes blocks sparsely, completes on the LINEAR checksum, and EC2 follows pending → completed', async () => {
    const started = await ebs.send(
      new StartSnapshotCommand({
        VolumeSize: 1,
        Description: 'raw',
        Tags: [{ Key: 'k', Value: 'v' }],
        Timeout: 10,
        ClientToken: 'token-1',
      }),
    );
    assert.equal(started.$metadata.httpStatusCode, 201);
    assert.equal(started.Status, 'pending');
    assert.equal(started.BlockSize, BLOCK);
    assert.equal(started.VolumeSize, 1);
    assert.ok(started.StartTime instanceof Date);
    const id = started.SnapshotId!;
    const again = await ebs.send(
      new StartSnapshotCommand({
        VolumeSize: 1,
        Description: 'raw',
        Tags: [{ Key: 'k', Value: 'v' }],
        Timeout: 10,
        ClientToken: 'token-1',
      }),
    );
    assert.equal(again.SnapshotId, id, 'the same client token and parameters give the same snapshot');
    const conflict = await failure(ebs.send(new StartSnapshotCommand({ VolumeSize: 2, ClientToken: 'token-1' })));
    assert.equal(conflict.name, 'ConflictException');
    assert.equal(conflict.$metadata?.httpStatusCode, 409);

    const written = await put({ SnapshotId: id, BlockIndex: 5, BlockData: block(5), Progress: 50 });
    assert.equal(written.$metadata.httpStatusCode, 201);
    assert.equal(written.Checksum, sha256(block(5)).toString('base64'));
    assert.equal(written.ChecksumAlgorithm, 'SHA256');
    await put({ SnapshotId: id, BlockIndex: 0, BlockData: block(1) });
    const request = fake.requests.find((recorded) => recorded.operation === 'PutSnapshotBlock')!;
    assert.equal(request.service, 'ebs');
    assert.equal(request.method, 'PUT');
    assert.equal(request.path, `/snapshots/${id}/blocks/5`);
    assert.deepEqual(request.params, { SnapshotId: id, BlockIndex: '5' });
    assert.equal(request.headers['x-amz-data-length'], String(BLOCK));
    assert.equal(request.headers['x-amz-checksum-algorithm'], 'SHA256');
    assert.equal(request.headers['x-amz-progress'], '50');

    const pending = await ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [id] }));
    assert.equal(pending.Snapshots?.[0]?.State, 'pending');
    assert.equal(pending.Snapshots?.[0]?.Progress, '50%');
    const linear = createHash('sha256')
      .update(Buffer.concat([sha256(block(1)), sha256(block(5))]))
      .digest('base64');
    const completed = await ebs.send(
      new CompleteSnapshotCommand({
        SnapshotId: id,
        ChangedBlocksCount: 2,
        Checksum: linear,
        ChecksumAlgorithm: 'SHA256',
        ChecksumAggregationMethod: 'LINEAR',
      }),
    );
    assert.equal(completed.$metadata.httpStatusCode, 202);
    assert.equal(completed.Status, 'pending');
    const completion = fake.requests.find((recorded) => recorded.operation === 'CompleteSnapshot')!;
    assert.equal(completion.path, `/snapshots/completion/${id}`);
    assert.equal(completion.headers['x-amz-changedblockscount'], '2');
    assert.equal(completion.headers['x-amz-checksum-aggregation-method'], 'LINEAR');
    await waitUntilSnapshotCompleted({ client: ec2, ...FAST_WAITER }, { SnapshotIds: [id] });
    const [snapshot] =
      (
        await ec2.send(
          new DescribeSnapshotsCommand({ OwnerIds: ['self'], Filters: [{ Name: 'tag:k', Values: ['v'] }] }),
        )
      ).Snapshots ?? [];
    assert.equal(snapshot?.SnapshotId, id);
    assert.equal(snapshot?.State, 'completed');
    assert.equal(snapshot?.Progress, '100%');
    assert.equal(snapshot?.VolumeSize, 1);
    assert.equal(snapshot?.Description, 'raw');
    assert.equal(snapshot?.VolumeId, 'vol-ffffffff');
    assert.deepEqual(snapshot?.Tags, [{ Key: 'k', Value: 'v' }]);

    const volume = fake.snapshotBytes(id);
    assert.equal(volume.length, 6 * BLOCK);
    assert.deepEqual(volume.subarray(0, BLOCK), block(1));
    assert.deepEqual(volume.subarray(BLOCK, 5 * BLOCK), Buffer.alloc(4 * BLOCK), 'unwritten blocks read as zeros');
    assert.deepEqual(volume.subarray(5 * BLOCK), block(5));
    assert.deepEqual(fake.snapshot(id)?.blockIndexes, [0, 5]);
    const late = await failure(put({ SnapshotId: id, BlockIndex: 1, BlockData: block(2) }));
    assert.equal(late.name, 'ValidationException', 'a completed snapshot takes no more blocks');
  });

  it('refuses a wrong checksum, a wrong data length, an index beyond the volume and an unknown snapshot, with REST-JSON errors', async () => {
    const { SnapshotId: id } = await ebs.send(new StartSnapshotCommand({ VolumeSize: 1 }));
    const wrongSum = await failure(
      put({ SnapshotId: id!, BlockIndex: 0, BlockData: block(1), Checksum: sha256(block(2)).toString('base64') }),
    );
    assert.ok(wrongSum instanceof EBSServiceException);
    assert.ok(wrongSum instanceof ValidationException);
    assert.equal(wrongSum.$metadata?.httpStatusCode, 400);
    assert.match(wrongSum.message, /checksum/);
    assert.equal(wrongSum.Reason, 'INVALID_BLOCK');
    const shortBlock = await failure(
      put({ SnapshotId: id!, BlockIndex: 0, BlockData: Buffer.alloc(1000, 1), DataLength: 1000 }),
    );
    assert.equal(shortBlock.name, 'ValidationException');
    assert.match(shortBlock.message, /524288/);
    const lying = await failure(
      put({ SnapshotId: id!, BlockIndex: 0, BlockData: Buffer.alloc(1000, 1), DataLength: BLOCK }),
    );
    assert.equal(lying.name, 'ValidationException');
    const beyond = await failure(put({ SnapshotId: id!, BlockIndex: 2048, BlockData: block(1) }));
    assert.equal(beyond.name, 'ValidationException');
    assert.match(beyond.message, /out of range for a 1 GiB volume/);
    await put({ SnapshotId: id!, BlockIndex: 2047, BlockData: block(1) });
    const unknown = await failure(put({ SnapshotId: 'snap-0123456789abcdef0', BlockIndex: 0, BlockData: block(1) }));
    assert.equal(unknown.name, 'ResourceNotFoundException');
    assert.equal(unknown.$metadata?.httpStatusCode, 404);
    const badSize = await failure(ebs.send(new StartSnapshotCommand({ VolumeSize: 70_000 })));
    assert.equal(badSize.name, 'ValidationException');
    const answer = fake.requests.find((recorded) => recorded.errorCode === 'ValidationException');
    assert.equal(answer?.status, 400);
  });

  it('goes to error on a wrong aggregate checksum or a wrong block count, and on an injected failure', async () => {
    const start = async () => (await ebs.send(new StartSnapshotCommand({ VolumeSize: 1 }))).SnapshotId!;
    const wrongChecksum = await start();
    await put({ SnapshotId: wrongChecksum, BlockIndex: 0, BlockData: block(1) });
    await ebs.send(
      new CompleteSnapshotCommand({
        SnapshotId: wrongChecksum,
        ChangedBlocksCount: 1,
        Checksum: sha256(block(1)).toString('base64'),
        ChecksumAlgorithm: 'SHA256',
        ChecksumAggregationMethod: 'LINEAR',
      }),
    );
    const wrongCount = await start();
    await put({ SnapshotId: wrongCount, BlockIndex: 0, BlockData: block(1) });
    await ebs.send(new CompleteSnapshotCommand({ SnapshotId: wrongCount, ChangedBlocksCount: 3 }));
    fake.faults.inject({
      service: 'ebs',
      operation: 'CompleteSnapshot',
      kind: 'snapshotFails',
      message: 'injected: the snapshot failed',
      times: 1,
    });
    const injected = await start();
    await ebs.send(new CompleteSnapshotCommand({ SnapshotId: injected, ChangedBlocksCount: 0 }));
    for (const [id, message] of [
      [wrongChecksum, /aggregated checksum does not match/],
      [wrongCount, /ChangedBlocksCount 3 does not match the 1 blocks written/],
      [injected, /injected: the snapshot failed/],
    ] as const) {
      const waited = await failure(waitUntilSnapshotCompleted({ client: ec2, ...FAST_WAITER }, { SnapshotIds: [id] }));
      assert.match(waited.message, /FAILURE/);
      const snapshot = (await ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [id] }))).Snapshots?.[0];
      assert.equal(snapshot?.State, 'error');
      assert.match(snapshot?.StateMessage ?? '', message);
    }
  });

  it('applies throttling, status and latency faults to the EBS operations, and hides a new snapshot on notFoundAfterCreate', async () => {
    fake.faults.inject({ service: 'ebs', operation: 'StartSnapshot', kind: 'throttle', times: 1 });
    const throttled = await failure(ebs.send(new StartSnapshotCommand({ VolumeSize: 1 })));
    assert.equal(throttled.name, 'RequestThrottledException');
    fake.faults.inject({ service: 'ebs', operation: 'StartSnapshot', kind: 'notFoundAfterCreate', forCalls: 2 });
    const { SnapshotId: id } = await ebs.send(new StartSnapshotCommand({ VolumeSize: 1 }));
    assert.equal(
      (await failure(put({ SnapshotId: id!, BlockIndex: 0, BlockData: block(1) }))).name,
      'ResourceNotFoundException',
    );
    assert.equal(
      (await failure(ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [id!] })))).name,
      'InvalidSnapshot.NotFound',
    );
    await put({ SnapshotId: id!, BlockIndex: 0, BlockData: block(1) });
    fake.faults.inject({
      service: 'ebs',
      operation: 'PutSnapshotBlock',
      kind: 'status',
      status: 500,
      code: 'InternalServerException',
      times: 1,
    });
    const internal = await failure(put({ SnapshotId: id!, BlockIndex: 1, BlockData: block(1) }));
    assert.equal(internal.name, 'InternalServerException');
    assert.equal(internal.$metadata?.httpStatusCode, 500);
    fake.faults.inject({ service: 'ebs', operation: 'PutSnapshotBlock', kind: 'latency', ms: 120, times: 1 });
    const started = Date.now();
    await put({ SnapshotId: id!, BlockIndex: 1, BlockData: block(1) });
    assert.ok(Date.now() - started >= 110);
  });

  it('checks the signature of EBS requests', async () => {
    const wrong = new EBSClient({
      endpoint: fake.endpoint,
      region: fake.region,
      credentials: { accessKeyId: fake.credentials.accessKeyId, secretAccessKey: 'nope' },
      maxAttempts: 1,
    });
    const refused = await failure(wrong.send(new StartSnapshotCommand({ VolumeSize: 1 })));
    assert.equal(refused.name, 'InvalidSignatureException');
    assert.equal(refused.$metadata?.httpStatusCode, 403);
    const unknownKey = new EBSClient({
      endpoint: fake.endpoint,
      region: fake.region,
      credentials: { accessKeyId: 'AKIDOTHER', secretAccessKey: 'x' },
      maxAttempts: 1,
    });
    assert.equal(
      (await failure(unknownKey.send(new StartSnapshotCommand({ VolumeSize: 1 })))).name,
      'UnrecognizedClientException',
    );
    wrong.destroy();
    unknownKey.destroy();
    assert.deepEqual(fake.snapshots(), []);
  });

  it('registers an EBS-backed HVM image on a completed snapshot; Nitro types need ENA; the snapshot is in use until deregistration', async () => {
    const { SnapshotId: id } = await ebs.send(new StartSnapshotCommand({ VolumeSize: 2 }));
    const early = await failure(
      ec2.send(
        new RegisterImageCommand({
          Name: 'too-early',
          RootDeviceName: '/dev/xvda',
          BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { SnapshotId: id } }],
        }),
      ),
    );
    assert.equal(early.name, 'IncorrectState');
    await ebs.send(new CompleteSnapshotCommand({ SnapshotId: id, ChangedBlocksCount: 0 }));
    await waitUntilSnapshotCompleted({ client: ec2, ...FAST_WAITER }, { SnapshotIds: [id!] });
    const small = await failure(
      ec2.send(
        new RegisterImageCommand({
          Name: 'small',
          RootDeviceName: '/dev/xvda',
          BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { SnapshotId: id, VolumeSize: 1 } }],
        }),
      ),
    );
    assert.equal(small.name, 'InvalidBlockDeviceMapping');
    const registered = await ec2.send(
      new RegisterImageCommand({
        Name: 'ebs-image',
        Architecture: 'x86_64',
        VirtualizationType: 'hvm',
        RootDeviceName: '/dev/xvda',
        BlockDeviceMappings: [
          {
            DeviceName: '/dev/xvda',
            Ebs: { SnapshotId: id, VolumeSize: 4, VolumeType: 'gp3', DeleteOnTermination: true },
          },
        ],
        EnaSupport: true,
        BootMode: 'uefi',
        ImdsSupport: 'v2.0',
      }),
    );
    const request = fake.requests.filter((recorded) => recorded.operation === 'RegisterImage').pop()!;
    assert.equal(request.params['BlockDeviceMapping.1.Ebs.SnapshotId'], id);
    assert.equal(request.params.EnaSupport, 'true');
    assert.equal(request.params.BootMode, 'uefi');
    assert.equal(request.params.ImdsSupport, 'v2.0');
    const image = (await ec2.send(new DescribeImagesCommand({ ImageIds: [registered.ImageId!] }))).Images?.[0];
    assert.equal(image?.RootDeviceType, 'ebs');
    assert.equal(image?.VirtualizationType, 'hvm');
    assert.equal(image?.EnaSupport, true);
    assert.equal(image?.BootMode, 'uefi');
    assert.equal(image?.ImdsSupport, 'v2.0');
    assert.equal(image?.ImageLocation, `${fake.accountId}/ebs-image`);
    assert.deepEqual(image?.BlockDeviceMappings, [
      {
        DeviceName: '/dev/xvda',
        Ebs: { SnapshotId: id, VolumeSize: 4, VolumeType: 'gp3', DeleteOnTermination: true, Encrypted: false },
      },
    ]);
    const bySnapshot = await ec2.send(
      new DescribeImagesCommand({
        Owners: ['self'],
        Filters: [{ Name: 'block-device-mapping.snapshot-id', Values: [id!] }],
      }),
    );
    assert.deepEqual(
      bySnapshot.Images?.map((found) => found.ImageId),
      [registered.ImageId],
    );

    const inUse = await failure(ec2.send(new DeleteSnapshotCommand({ SnapshotId: id })));
    assert.equal(inUse.name, 'InvalidSnapshot.InUse');
    await new Promise((resolve) => setTimeout(resolve, 30));
    const launched = await ec2.send(
      new RunInstancesCommand({ ImageId: registered.ImageId, InstanceType: 'm5.large', MinCount: 1, MaxCount: 1 }),
    );
    assert.equal(launched.Instances?.[0]?.RootDeviceType, 'ebs');
    assert.equal(launched.Instances?.[0]?.BlockDeviceMappings?.[0]?.DeviceName, '/dev/xvda');
    assert.equal(launched.Instances?.[0]?.CurrentInstanceBootMode, 'uefi');
    const xen = await failure(
      ec2.send(
        new RunInstancesCommand({ ImageId: registered.ImageId, InstanceType: 't2.micro', MinCount: 1, MaxCount: 1 }),
      ),
    );
    assert.equal(xen.name, 'InvalidParameterCombination', 't2 boots legacy BIOS only');

    const plain = await ec2.send(
      new RegisterImageCommand({
        Name: 'no-ena',
        Architecture: 'x86_64',
        VirtualizationType: 'hvm',
        RootDeviceName: '/dev/xvda',
        BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { SnapshotId: id } }],
      }),
    );
    await new Promise((resolve) => setTimeout(resolve, 30));
    const noEna = await failure(
      ec2.send(new RunInstancesCommand({ ImageId: plain.ImageId, InstanceType: 't3.micro', MinCount: 1, MaxCount: 1 })),
    );
    assert.equal(noEna.name, 'InvalidParameterCombination');
    assert.match(noEna.message, /Elastic Network Adapter \(ENA\) is required for the 't3.micro' instance type/);
    assert.equal(
      fake.images().find((found) => found.imageId === plain.ImageId)?.blockDeviceMappings[0]?.ebs?.VolumeType,
      'gp2',
      'EC2 default volume type',
    );

    fake.deleteSnapshotDirect(id!);
    const orphan = await ec2.send(
      new RunInstancesCommand({ ImageId: registered.ImageId, InstanceType: 'm5.large', MinCount: 1, MaxCount: 1 }),
    );
    await new Promise((resolve) => setTimeout(resolve, 80));
    const failed = fake.instances().find((instance) => instance.instanceId === orphan.Instances?.[0]?.InstanceId);
    assert.equal(failed?.state, 'terminated', 'an image whose root snapshot is gone does not boot');
    assert.equal(failed?.stateReason?.code, 'Server.InternalError');
  });
});
