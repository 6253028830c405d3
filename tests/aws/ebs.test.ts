/**
 * EBS-backed images from a raw disk image: the block planner and the LINEAR checksum (pure), then
 * uploadSnapshot, registerEbsImage, launch, drift and removal against the fake AWS with the real SDK
 * clients, faults included, and the `snapshot` command of the CLI.
 */
import { strict as assert } from 'assert';
import { createHash } from 'crypto';
import { promises as fs, readFileSync, writeFileSync } from 'fs';
import * as path from 'path';
import { EBSClient } from '@aws-sdk/client-ebs';
import { DescribeImagesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { createEbsClient, createEc2Client } from '../../provider/aws/clients';
import {
  aggregateChecksum,
  blockChecksum,
  blockSpan,
  EBS_BLOCK_BYTES,
  GIB,
  isZeroBlock,
  MAX_SNAPSHOT_GIB,
  minimumVolumeGiB,
  planSnapshot,
  prepareBlock,
  snapshotVolumeGiB,
} from '../../provider/aws/ebsBlocks';
import { deregisterEbsImage, describeEbsImage, registerEbsImageAndWait } from '../../provider/aws/ebsImages';
import { SnapshotUploadError, uploadSnapshot, UploadSnapshotOptions } from '../../provider/aws/ebsUpload';
import { AwsInputError, AwsOperationError } from '../../provider/aws/errors';
import { ImageId, snapshotId, SnapshotId } from '../../provider/aws/ids';
import { describeImage } from '../../provider/aws/images';
import { launchAndWait, terminateInstance } from '../../provider/aws/instances';
import { deleteSnapshot, describeSnapshot, SnapshotNotCompletedError } from '../../provider/aws/snapshots';
import { LocalAws } from '../../testing/localAws';
import { MiB, runCliAsync, shell, temporaryFolder, writeImage } from '../helpers/tools';

const FAST_WAIT = { minDelaySeconds: 0.02, maxDelaySeconds: 0.05, maxWaitSeconds: 5 };
const FAST_RETRY = { attempts: 4, baseDelayMs: 10 };
const KiB = 1024;

/** The image padded with zeros to whole 512 KiB blocks: what the snapshot must hold. */
function padded(image: Buffer): Buffer {
  return Buffer.concat([image, Buffer.alloc((EBS_BLOCK_BYTES - (image.length % EBS_BLOCK_BYTES)) % EBS_BLOCK_BYTES)]);
}

describe('EBS snapshots and EBS-backed AMIs', function () {
  this.timeout(60_000);

  describe('block planner and checksums (pure)', () => {
    it('sizes the volume in whole GiB: at least 1, at least the image, overridable upwards only', () => {
      assert.equal(minimumVolumeGiB(1), 1);
      assert.equal(minimumVolumeGiB(GIB), 1);
      assert.equal(minimumVolumeGiB(GIB + 1), 2);
      assert.equal(snapshotVolumeGiB(3 * MiB), 1);
      assert.equal(snapshotVolumeGiB(3 * MiB, 8), 8);
      assert.throws(
        () => snapshotVolumeGiB(GIB + 1, 1),
        (error: unknown) =>
          error instanceof AwsInputError && error.input === 'volumeSize' && /at least 2 GiB/.test(error.message),
      );
      assert.throws(() => snapshotVolumeGiB(1, 0), AwsInputError);
      assert.throws(() => snapshotVolumeGiB(1, 1.5), AwsInputError);
      assert.throws(() => snapshotVolumeGiB(1, MAX_SNAPSHOT_GIB + 1), AwsInputError);
      const plan = planSnapshot(3 * MiB + 100 * KiB);
      assert.deepEqual(plan, {
        imageBytes: 3 * MiB + 100 * KiB,
        volumeSizeGiB: 1,
        volumeBlocks: 2048,
        imageBlocks: 7,
        lastBlockBytes: 100 * KiB,
      });
      assert.deepEqual(blockSpan(6, plan.imageBytes), { offset: 6 * EBS_BLOCK_BYTES, length: 100 * KiB });
      assert.throws(() => blockSpan(7, plan.imageBytes), RangeError);
    });

    it('pads the last block with zeros, detects zero blocks, and skips them only when asked', () => {
      const tail = Buffer.alloc(1000, 7);
      const last = prepareBlock(2, tail, 2 * EBS_BLOCK_BYTES + 1000, false);
      assert.equal(last.data.length, EBS_BLOCK_BYTES);
      assert.deepEqual(last.data.subarray(0, 1000), tail);
      assert.ok(isZeroBlock(last.data.subarray(1000)));
      assert.equal(
        last.checksum,
        createHash('sha256')
          .update(Buffer.concat([tail, Buffer.alloc(EBS_BLOCK_BYTES - 1000)]))
          .digest('base64'),
      );
      // A full-size buffer holding a short last block is padded in place (its tail may hold old data).
      const reused = Buffer.alloc(EBS_BLOCK_BYTES, 9);
      tail.copy(reused);
      assert.deepEqual(prepareBlock(2, reused, 2 * EBS_BLOCK_BYTES + 1000, false).data, last.data);

      const zeros = Buffer.alloc(EBS_BLOCK_BYTES);
      const uploaded = prepareBlock(0, zeros, 4 * EBS_BLOCK_BYTES, false);
      assert.equal(uploaded.zero, true);
      assert.equal(uploaded.upload, true, 'zero blocks are uploaded by default');
      assert.equal(uploaded.checksum, createHash('sha256').update(zeros).digest('base64'));
      const skipped = prepareBlock(0, zeros, 4 * EBS_BLOCK_BYTES, true);
      assert.equal(skipped.upload, false);
      assert.equal(skipped.checksum, undefined);
      const nearlyZero = Buffer.alloc(EBS_BLOCK_BYTES);
      nearlyZero[EBS_BLOCK_BYTES - 1] = 1;
      assert.equal(prepareBlock(0, nearlyZero, 4 * EBS_BLOCK_BYTES, true).upload, true);
      assert.throws(() => prepareBlock(0, Buffer.alloc(10), 4 * EBS_BLOCK_BYTES, false), RangeError);
    });

    it('computes the LINEAR aggregate as sha256 over the block digests in index order, as openssl does independently', () => {
      const folder = temporaryFolder('linear');
      try {
        const blocks = [3, 0, 7, 1].map((index) => ({ index, data: Buffer.alloc(EBS_BLOCK_BYTES, index + 1) }));
        for (const block of blocks)
          writeFileSync(path.join(folder.dir, `block-${String(block.index).padStart(2, '0')}`), block.data);
        const oracle = shell(
          'for f in block-*; do openssl dgst -sha256 -binary "$f"; done | openssl dgst -sha256 -binary | base64',
          folder.dir,
        ).trim();
        const ours = aggregateChecksum(
          blocks.map((block) => ({ index: block.index, digest: blockChecksum(block.data).digest })),
        );
        assert.equal(ours, oracle);
        const wrongOrder = createHash('sha256')
          .update(Buffer.concat(blocks.map((block) => blockChecksum(block.data).digest)))
          .digest('base64');
        assert.notEqual(ours, wrongOrder, 'the order is the block index, not the order of completion');
        const overText = createHash('sha256')
          .update(blocks.map((block) => blockChecksum(block.data).checksum).join(''))
          .digest('base64');
        assert.notEqual(ours, overText, 'the raw digests are hashed, not their base64 text');
        assert.throws(
          () =>
            aggregateChecksum([
              { index: 1, digest: Buffer.alloc(32) },
              { index: 1, digest: Buffer.alloc(32) },
            ]),
          RangeError,
        );
      } finally {
        folder.cleanup();
      }
    });
  });

  describe('against the fake AWS', () => {
    let fake: LocalAws;
    let ebs: EBSClient;
    let ec2: EC2Client;
    let folder: ReturnType<typeof temporaryFolder>;
    let imagePath: string;
    let image: Buffer;
    /** EBS requests in flight, as the client sees them. */
    let inFlight = 0;
    let peakInFlight = 0;

    before(async () => {
      fake = await LocalAws.start({
        snapshotCompletingMs: 20,
        imagePendingMs: 20,
        instancePendingMs: 20,
        instanceShuttingDownMs: 20,
      });
      const settings = { endpoint: fake.endpoint, region: fake.region, credentials: fake.credentials, maxAttempts: 3 };
      ebs = createEbsClient(settings);
      ec2 = createEc2Client(settings);
      ebs.middlewareStack.add(
        (next) => async (args) => {
          inFlight++;
          peakInFlight = Math.max(peakInFlight, inFlight);
          try {
            return await next(args);
          } finally {
            inFlight--;
          }
        },
        { step: 'initialize', name: 'countInFlight' },
      );
      folder = temporaryFolder('ebs');
      imagePath = path.join(folder.dir, 'disk.raw');
      // 7 blocks: 2 of random data, 2 of zeros, 2 of random data, then 100 KiB (a partial last block).
      writeImage(imagePath, [
        { kind: 'random', bytes: MiB },
        { kind: 'zeros', bytes: MiB },
        { kind: 'random', bytes: MiB + 100 * KiB },
      ]);
      image = readFileSync(imagePath);
    });
    after(async () => {
      ebs.destroy();
      ec2.destroy();
      await fake.stop();
      folder.cleanup();
    });
    beforeEach(() => {
      fake.faults.clear();
      fake.clearRequests();
      peakInFlight = 0;
    });

    const upload = (extra: Partial<UploadSnapshotOptions> = {}) =>
      uploadSnapshot({ ebs, ec2, imagePath, wait: FAST_WAIT, blockRetry: FAST_RETRY, ...extra });
    const puts = () => fake.requests.filter((request) => request.operation === 'PutSnapshotBlock');

    it('uploads every block (zero blocks too), completes with the LINEAR checksum, and the volume equals the padded image', async () => {
      const progress: number[] = [];
      const result = await upload({
        description: 'disk.raw',
        tags: { app: 'demo' },
        concurrency: 3,
        onProgress: (update) => progress.push(update.bytesDone),
      });
      assert.equal(result.state, 'completed');
      assert.equal(result.volumeSizeGiB, 1);
      assert.equal(result.imageBlocks, 7);
      assert.equal(result.blocksUploaded, 7);
      assert.equal(result.zeroBlocks, 2);
      assert.equal(result.zeroBlocksSkipped, 0);
      assert.deepEqual(fake.snapshotBytes(result.snapshotId), padded(image));
      const snapshot = fake.snapshot(result.snapshotId);
      assert.equal(snapshot?.state, 'completed');
      assert.deepEqual(snapshot?.blockIndexes, [0, 1, 2, 3, 4, 5, 6]);
      assert.deepEqual(snapshot?.tags, { app: 'demo' });
      assert.equal(snapshot?.description, 'disk.raw');
      assert.equal(snapshot?.timeoutMinutes, 60);
      assert.equal(snapshot?.clientToken, result.clientToken);
      assert.deepEqual(snapshot?.completion, {
        changedBlocksCount: 7,
        checksum: result.checksum,
        checksumAlgorithm: 'SHA256',
        aggregationMethod: 'LINEAR',
      });
      const digests = Array.from({ length: 7 }, (_, index) =>
        createHash('sha256')
          .update(padded(image).subarray(index * EBS_BLOCK_BYTES, (index + 1) * EBS_BLOCK_BYTES))
          .digest(),
      );
      assert.equal(result.checksum, createHash('sha256').update(Buffer.concat(digests)).digest('base64'));
      assert.ok(
        puts().every(
          (request) =>
            request.headers['x-amz-data-length'] === '524288' &&
            request.headers['x-amz-checksum-algorithm'] === 'SHA256',
        ),
      );
      assert.equal(puts().find((request) => request.params.BlockIndex === '6')?.headers['x-amz-progress'], '100');
      assert.ok(peakInFlight <= 3 && peakInFlight >= 2, `at most 3 blocks in flight (saw ${peakInFlight})`);
      assert.equal(progress[progress.length - 1], image.length);
      assert.deepEqual(
        await describeSnapshot(ec2, result.snapshotId).then((found) => [
          found?.state,
          found?.volumeSizeGiB,
          found?.tags,
        ]),
        ['completed', 1, { app: 'demo' }],
      );
      assert.equal(await deleteSnapshot(ec2, result.snapshotId), true);
      assert.equal(await deleteSnapshot(ec2, result.snapshotId), false, 'already gone');
      assert.equal(await describeSnapshot(ec2, result.snapshotId), undefined);
    });

    it('keeps 64 blocks really in flight: the EBS client has a socket for each (the SDK default is 50)', async () => {
      const blocks = 60;
      const wide = path.join(folder.dir, 'wide.raw');
      writeImage(wide, [{ kind: 'random', bytes: blocks * EBS_BLOCK_BYTES }]);
      // Every answer is held until all the blocks have arrived (or a minute has passed): with the SDK's
      // 50 sockets the 51st block could only be sent once a first answer came back, so it never arrives.
      let answer = () => {};
      const held = new Promise<void>((resolve) => (answer = resolve));
      fake.faults.inject({ service: 'ebs', operation: 'PutSnapshotBlock', kind: 'latency', ms: 0, until: held });
      const uploading = upload({ imagePath: wide, concurrency: 64 });
      const giveUp = Date.now() + 60_000;
      while (puts().length < blocks && Date.now() < giveUp) await new Promise((resolve) => setTimeout(resolve, 20));
      const arrivedWhileHeld = puts().length;
      answer();
      const result = await uploading;
      assert.equal(arrivedWhileHeld, blocks, `all ${blocks} blocks were sent before any answer came back`);
      await deleteSnapshot(ec2, result.snapshotId);
      await fs.rm(wide);
    });

    it('skips zero blocks only with the opt-in, and honours a larger volume size', async () => {
      const result = await upload({ skipZeroBlocks: true, volumeSizeGiB: 2 });
      assert.equal(result.blocksUploaded, 5);
      assert.equal(result.zeroBlocksSkipped, 2);
      assert.deepEqual(fake.snapshot(result.snapshotId)?.blockIndexes, [0, 1, 4, 5, 6]);
      assert.equal(fake.snapshot(result.snapshotId)?.volumeSizeGiB, 2);
      assert.equal(fake.snapshot(result.snapshotId)?.completion?.changedBlocksCount, 5);
      assert.deepEqual(
        fake.snapshotBytes(result.snapshotId),
        padded(image),
        'unwritten blocks read as zeros on an unencrypted snapshot',
      );
      await deleteSnapshot(ec2, result.snapshotId);
      await assert.rejects(upload({ volumeSizeGiB: 0 }), AwsInputError);
      await assert.rejects(
        upload({ imagePath: path.join(folder.dir, 'missing.raw') }),
        (error: unknown) => error instanceof AwsInputError && /no such file/.test(error.message),
      );
      assert.equal(
        fake.requests.filter((request) => request.operation === 'StartSnapshot').length,
        1,
        'bad inputs fail before StartSnapshot',
      );
    });

    it('recovers from throttling, 500s and a connection reset through the SDK retries, and from a snapshot not visible yet', async () => {
      fake.faults.inject({ service: 'ebs', operation: 'PutSnapshotBlock', kind: 'throttle', times: 2 });
      fake.faults.inject({
        service: 'ebs',
        operation: 'PutSnapshotBlock',
        kind: 'status',
        status: 500,
        code: 'InternalServerException',
        times: 2,
      });
      fake.faults.inject({ service: 'ebs', operation: 'PutSnapshotBlock', kind: 'reset', times: 1 });
      fake.faults.inject({
        service: 'ebs',
        operation: 'CompleteSnapshot',
        kind: 'status',
        status: 503,
        code: 'ServiceUnavailable',
        times: 1,
      });
      fake.faults.inject({
        service: 'ebs',
        operation: 'StartSnapshot',
        kind: 'status',
        status: 500,
        code: 'InternalServerException',
        times: 1,
      });
      const result = await upload({ concurrency: 4 });
      assert.deepEqual(fake.snapshotBytes(result.snapshotId), padded(image));
      assert.equal(fake.snapshot(result.snapshotId)?.state, 'completed');
      assert.equal(puts().filter((request) => request.fault === 'throttle').length, 2);
      assert.equal(puts().filter((request) => request.fault === 'reset').length, 1);
      assert.equal(fake.snapshots().length, 1, 'the retried StartSnapshot made one snapshot');
      await deleteSnapshot(ec2, result.snapshotId);

      fake.faults.inject({ service: 'ebs', operation: 'StartSnapshot', kind: 'notFoundAfterCreate', forCalls: 2 });
      const late = await upload({ concurrency: 1 });
      assert.equal(puts().filter((request) => request.errorCode === 'ResourceNotFoundException').length, 2);
      assert.equal(fake.snapshot(late.snapshotId)?.state, 'completed');
      await deleteSnapshot(ec2, late.snapshotId);
    });

    it('deletes the partial snapshot when a block fails for good, and keeps its id in the error when the delete fails too', async () => {
      fake.faults.inject({
        service: 'ebs',
        operation: 'PutSnapshotBlock',
        kind: 'status',
        status: 400,
        code: 'ValidationException',
        message: 'injected refusal',
        match: (request) => request.params.BlockIndex === '4',
      });
      const failed = await upload({ concurrency: 2 }).then(
        () => assert.fail('the upload should fail'),
        (error: unknown) => error,
      );
      assert.ok(failed instanceof SnapshotUploadError, String(failed));
      assert.equal(failed.snapshotRemains, false);
      assert.equal(failed.code, 'ValidationException');
      assert.match(
        failed.message,
        /PutSnapshotBlock snap-\w+ block 4 failed: ValidationException \(injected refusal\).*the partial snapshot snap-\w+ was deleted/,
      );
      assert.deepEqual(fake.snapshots(), [], 'no snapshot left behind');
      assert.equal(fake.requests.filter((request) => request.operation === 'CompleteSnapshot').length, 0);

      fake.faults.inject({
        service: 'ec2',
        operation: 'DeleteSnapshot',
        kind: 'status',
        status: 403,
        code: 'UnauthorizedOperation',
        message: 'You are not authorized to perform this operation.',
      });
      const kept = await upload({ concurrency: 2 }).then(
        () => assert.fail('the upload should fail'),
        (error: unknown) => error,
      );
      assert.ok(kept instanceof SnapshotUploadError);
      assert.equal(kept.snapshotRemains, true);
      assert.equal(
        fake.snapshot(kept.snapshotId)?.state,
        'pending',
        'the partial snapshot is still there, and the error names it',
      );
      assert.match(
        kept.message,
        new RegExp(
          `the partial snapshot ${kept.snapshotId} could not be deleted \\(DeleteSnapshot ${kept.snapshotId} failed: UnauthorizedOperation`,
        ),
      );
      fake.faults.clear();
      assert.equal(await deleteSnapshot(ec2, kept.snapshotId), true);
    });

    it('reports a snapshot that ends in the error state with its StateMessage, deletes it, and stops on cancellation', async () => {
      fake.faults.inject({
        service: 'ebs',
        operation: 'CompleteSnapshot',
        kind: 'snapshotFails',
        message: 'Snapshot creation failed: injected',
        times: 1,
      });
      const failed = await upload().then(
        () => assert.fail('the upload should fail'),
        (error: unknown) => error,
      );
      assert.ok(failed instanceof SnapshotUploadError);
      assert.ok(failed.cause instanceof SnapshotNotCompletedError);
      assert.equal(failed.cause.state, 'error');
      assert.equal(failed.code, 'SnapshotError');
      assert.match(
        failed.message,
        /is error, not completed: Snapshot creation failed: injected; the partial snapshot snap-\w+ was deleted/,
      );
      assert.deepEqual(fake.snapshots(), []);

      fake.faults.inject({ service: 'ebs', operation: 'PutSnapshotBlock', kind: 'latency', ms: 200 });
      const controller = new AbortController();
      let started = 0;
      // Cancelled 100 ms into the writing of blocks (the image is hashed before StartSnapshot).
      const onProgress = () => {
        if (started !== 0) return;
        started = Date.now();
        setTimeout(() => controller.abort(), 100);
      };
      const aborted = await upload({ concurrency: 2, signal: controller.signal, onProgress }).then(
        () => assert.fail('the upload should stop'),
        (error: unknown) => error,
      );
      assert.ok(aborted instanceof SnapshotUploadError);
      assert.equal(aborted.snapshotRemains, false);
      assert.ok(Date.now() - started < 1500, 'cancellation stops the upload promptly');
      assert.deepEqual(fake.snapshots(), [], 'the cancelled upload left no snapshot');
    });

    it('registers an EBS-backed HVM AMI on the snapshot, launches it on t3.micro, reports out-of-band deletion as drift, and removes AMI then snapshot', async () => {
      const uploaded = await upload();
      const registered = await registerEbsImageAndWait({
        ec2,
        snapshotId: uploaded.snapshotId,
        name: 'unikernel-ebs',
        architecture: 'x86_64',
        tags: { app: 'demo' },
        wait: FAST_WAIT,
      });
      assert.deepEqual(registered.settings, {
        architecture: 'x86_64',
        bootMode: undefined,
        enaSupport: true,
        imdsSupport: 'v2.0',
        rootDeviceName: '/dev/xvda',
        volumeSizeGiB: 1,
        volumeType: 'gp3',
        deleteOnTermination: true,
      });
      assert.equal(registered.state, 'available');
      assert.equal(registered.rootDeviceType, 'ebs');
      assert.equal(registered.virtualizationType, 'hvm');
      assert.equal(registered.rootSnapshotId, uploaded.snapshotId);
      assert.equal(registered.rootVolumeType, 'gp3');
      assert.equal(registered.enaSupport, true);
      assert.equal(registered.imdsSupport, 'v2.0');
      assert.deepEqual(registered.tags, { app: 'demo' });
      const request = fake.requests.filter((recorded) => recorded.operation === 'RegisterImage').pop()!;
      assert.equal(request.params.VirtualizationType, 'hvm');
      assert.equal(request.params['BlockDeviceMapping.1.DeviceName'], '/dev/xvda');
      assert.equal(request.params['BlockDeviceMapping.1.Ebs.DeleteOnTermination'], 'true');
      assert.equal(request.params.ImageLocation, undefined);

      const instance = await launchAndWait({
        ec2,
        imageId: registered.imageId,
        instanceType: 't3.micro',
        clientToken: 'ebs-launch',
        wait: FAST_WAIT,
      });
      assert.equal(instance.state, 'running');
      assert.equal(fake.instances().find((found) => found.instanceId === instance.instanceId)?.rootDeviceType, 'ebs');
      await terminateInstance(ec2, instance.instanceId, FAST_WAIT);

      const arm = await registerEbsImageAndWait({
        ec2,
        snapshotId: uploaded.snapshotId,
        name: 'unikernel-ebs-arm',
        architecture: 'arm64',
        volumeSizeGiB: 4,
        volumeType: 'gp2',
        wait: FAST_WAIT,
      });
      assert.equal(arm.settings.bootMode, 'uefi', 'arm64 boots UEFI');
      assert.equal(arm.rootVolumeSizeGiB, 4);
      const graviton = await launchAndWait({
        ec2,
        imageId: arm.imageId,
        instanceType: 't4g.micro',
        clientToken: 'ebs-arm',
        wait: FAST_WAIT,
      });
      await terminateInstance(ec2, graviton.instanceId, FAST_WAIT);
      await assert.rejects(
        registerEbsImageAndWait({
          ec2,
          snapshotId: uploaded.snapshotId,
          name: 'too-small',
          architecture: 'x86_64',
          volumeSizeGiB: 0,
          wait: FAST_WAIT,
        }),
        (error: unknown) => error instanceof AwsInputError && error.input === 'volumeSize',
      );
      await assert.rejects(
        registerEbsImageAndWait({
          ec2,
          snapshotId: uploaded.snapshotId,
          name: 'arm-bios',
          architecture: 'arm64',
          bootMode: 'legacy-bios',
          wait: FAST_WAIT,
        }),
        (error: unknown) => error instanceof AwsInputError && error.input === 'bootMode',
      );
      await assert.rejects(
        registerEbsImageAndWait({
          ec2,
          snapshotId: snapshotId('snap-0123456789abcdef0'),
          name: 'no-snapshot',
          architecture: 'x86_64',
          wait: FAST_WAIT,
        }),
        (error: unknown) => error instanceof AwsInputError && /does not exist/.test(error.message),
      );

      const noEna = await registerEbsImageAndWait({
        ec2,
        snapshotId: uploaded.snapshotId,
        name: 'unikernel-no-ena',
        architecture: 'x86_64',
        enaSupport: false,
        imdsSupport: 'optional',
        wait: FAST_WAIT,
      });
      const described = (await ec2.send(new DescribeImagesCommand({ ImageIds: [noEna.imageId] }))).Images?.[0];
      assert.equal(described?.EnaSupport, undefined);
      assert.equal(described?.ImdsSupport, undefined);
      await assert.rejects(
        launchAndWait({
          ec2,
          imageId: noEna.imageId,
          instanceType: 't3.micro',
          clientToken: 'no-ena',
          wait: FAST_WAIT,
        }),
        // Refused before RunInstances (the local AWS would refuse it too: tests/pulumi/launchCompatibility.test.ts).
        (error: unknown) =>
          error instanceof AwsInputError &&
          /t3\.micro cannot boot .*not enabled for ENA, but t3\.micro requires ENA; types that can: t2\.micro/.test(
            error.message,
          ),
      );

      // While AMIs use it, the snapshot cannot be deleted.
      await assert.rejects(
        deleteSnapshot(ec2, uploaded.snapshotId),
        (error: unknown) => error instanceof AwsOperationError && error.code === 'InvalidSnapshot.InUse',
      );
      assert.deepEqual(
        await describeEbsImage(ec2, registered.imageId, uploaded.snapshotId).then((state) => state.missing),
        [],
      );
      for (const other of [arm.imageId, noEna.imageId])
        await deregisterEbsImage(ec2, other, uploaded.snapshotId).catch(() => undefined);
      assert.equal(await describeImage(ec2, arm.imageId), undefined);

      // Drift: the snapshot, then the AMI, removed out of band.
      fake.deleteSnapshotDirect(uploaded.snapshotId);
      const snapshotGone = await describeEbsImage(ec2, registered.imageId, uploaded.snapshotId);
      assert.deepEqual(snapshotGone.missing, ['snapshot']);
      assert.equal(snapshotGone.image?.imageId, registered.imageId);
      fake.deregisterImageDirect(registered.imageId);
      assert.deepEqual((await describeEbsImage(ec2, registered.imageId, uploaded.snapshotId)).missing, [
        'image',
        'snapshot',
      ]);
      assert.deepEqual(
        await deregisterEbsImage(ec2, registered.imageId as ImageId, uploaded.snapshotId as SnapshotId),
        { imageDeregistered: false, snapshotDeleted: false },
      );

      // The normal removal: deregister, then delete the snapshot.
      const second = await upload();
      const ami = await registerEbsImageAndWait({
        ec2,
        snapshotId: second.snapshotId,
        name: 'unikernel-ebs-2',
        architecture: 'x86_64',
        wait: FAST_WAIT,
      });
      assert.deepEqual(await deregisterEbsImage(ec2, ami.imageId, second.snapshotId), {
        imageDeregistered: true,
        snapshotDeleted: true,
      });
      assert.deepEqual(fake.snapshots(), []);
    });

    it('unikernel-ami snapshot prints the snapshot id (or a JSON summary) and fails in one line', async () => {
      const environment = {
        AWS_ENDPOINT_URL: fake.endpoint,
        AWS_REGION: fake.region,
        AWS_ACCESS_KEY_ID: fake.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: fake.credentials.secretAccessKey,
        AWS_PROFILE: '',
      };
      const logFile = path.join(folder.dir, 'snapshot.log');
      const plain = await runCliAsync(
        ['snapshot', '--image', imagePath, '--concurrency', '4', '--log-file', logFile],
        environment,
      );
      assert.equal(plain.status, 0, plain.stderr);
      const id = plain.stdout.trim();
      assert.match(id, /^snap-[0-9a-f]{17}$/);
      assert.deepEqual(fake.snapshotBytes(id), padded(image));
      assert.equal(fake.snapshot(id)?.description, 'disk.raw');
      assert.match(await fs.readFile(logFile, 'utf8'), /completed: 1 GiB volume.*7 uploaded, 2 of zeros \(0 skipped\)/);

      const json = await runCliAsync(
        [
          'snapshot',
          '--image',
          imagePath,
          '--skip-zero-blocks',
          '--volume-size',
          '2',
          '--description',
          'unikernel',
          '--json',
        ],
        environment,
      );
      assert.equal(json.status, 0, json.stderr);
      const summary = JSON.parse(json.stdout);
      assert.equal(summary.command, 'snapshot');
      assert.equal(summary.blocksUploaded, 5);
      assert.equal(summary.volumeSizeGiB, 2);
      assert.equal(fake.snapshot(summary.snapshotId)?.description, 'unikernel');

      const small = await runCliAsync(['snapshot', '--image', imagePath, '--volume-size', 'x'], environment);
      assert.equal(small.status, 1);
      assert.match(small.stderr, /^unikernel-ami snapshot: --volume-size x: give a whole number/);
      const missing = await runCliAsync(['snapshot', '--image', path.join(folder.dir, 'nope.raw')], environment);
      assert.equal(missing.status, 1);
      assert.equal(missing.stderr.trim().split('\n').length, 1);
      assert.match(missing.stderr, /-i\/--image: .*no such file/);
      for (const snapshot of [id, summary.snapshotId]) await deleteSnapshot(ec2, snapshot);
    });

    it('leaves no snapshot, AMI or running instance behind', () => {
      assert.deepEqual(fake.snapshots(), []);
      assert.deepEqual(
        fake
          .images()
          .filter((found) => found.state !== 'deregistered')
          .map((found) => found.name),
        [],
      );
      assert.deepEqual(
        fake
          .instances()
          .filter((found) => found.state !== 'terminated')
          .map((found) => found.instanceId),
        [],
      );
    });
  });
});
