/**
 * Incremental snapshots against the local AWS with the real SDK clients: a child of the previous
 * snapshot (ParentSnapshotId) written with only the blocks that changed, read back block by block
 * through ListSnapshotBlocks and GetSnapshotBlock; the full upload (and why) when the parent or its
 * list is missing; an image that changes during the upload fails it and leaves no snapshot.
 */
import { strict as assert } from 'assert';
import { closeSync, promises as fs, openSync, readFileSync, writeSync } from 'fs';
import * as path from 'path';
import { EBSClient } from '@aws-sdk/client-ebs';
import { EC2Client } from '@aws-sdk/client-ec2';
import { createEbsClient, createEc2Client } from '../../provider/aws/clients';
import { contentIdentity, encodeBlockList } from '../../provider/aws/blockList';
import { EBS_BLOCK_BYTES } from '../../provider/aws/ebsBlocks';
import { hashImageBlocks } from '../../provider/aws/imageBlocks';
import { SnapshotUploadError, uploadSnapshot, UploadSnapshotOptions } from '../../provider/aws/ebsUpload';
import { snapshotId } from '../../provider/aws/ids';
import { deleteSnapshot } from '../../provider/aws/snapshots';
import { LocalAws } from '../../testing/localAws';
import { holdsImage } from '../helpers/ebsReadBack';
import { MiB, runCliAsync, temporaryFolder, writeImage } from '../helpers/tools';

const FAST_WAIT = { minDelaySeconds: 0.02, maxDelaySeconds: 0.05, maxWaitSeconds: 5 };
const FAST_RETRY = { attempts: 4, baseDelayMs: 10 };

function overwrite(file: string, offset: number, data: Buffer): void {
  const fd = openSync(file, 'r+');
  try {
    writeSync(fd, data, 0, data.length, offset);
  } finally {
    closeSync(fd);
  }
}

describe('incremental EBS snapshots (ParentSnapshotId) against the local AWS', function () {
  this.timeout(120_000);
  let fake: LocalAws;
  let ebs: EBSClient;
  let ec2: EC2Client;
  let folder: { dir: string; cleanup: () => void };
  let imagePath: string;

  before(async () => {
    fake = await LocalAws.start({ snapshotCompletingMs: 20 });
    const settings = { endpoint: fake.endpoint, region: fake.region, credentials: fake.credentials, maxAttempts: 3 };
    ebs = createEbsClient(settings);
    ec2 = createEc2Client(settings);
    folder = temporaryFolder('ebs-incremental');
    imagePath = path.join(folder.dir, 'disk.raw');
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
  });

  const upload = (extra: Partial<UploadSnapshotOptions> = {}) =>
    uploadSnapshot({ ebs, ec2, imagePath, wait: FAST_WAIT, blockRetry: FAST_RETRY, concurrency: 4, ...extra });
  const putIndexes = () =>
    fake.requests
      .filter((request) => request.operation === 'PutSnapshotBlock' && request.status === 201)
      .map((request) => Number(request.params.BlockIndex))
      .sort((a, b) => a - b);

  it('writes only the changed blocks into a child, which reads back equal to the new image block for block', async () => {
    // 6 MiB of data around a 20 MiB hole: 12 data blocks of 52.
    writeImage(imagePath, [
      { kind: 'random', bytes: 3 * MiB },
      { kind: 'hole', bytes: 20 * MiB },
      { kind: 'random', bytes: 3 * MiB },
    ]);
    const first = await upload();
    assert.equal(first.parentSnapshotId, undefined);
    assert.equal(first.blocksUploaded, 52, 'a first upload writes every block, zeros too');
    await holdsImage(ebs, first.snapshotId, imagePath);

    // One byte in block 1, 1 MiB into the hole (blocks 10 and 11), and the last block zeroed.
    overwrite(imagePath, EBS_BLOCK_BYTES + 7, Buffer.from([0x5a ^ readFileSync(imagePath)[EBS_BLOCK_BYTES + 7]]));
    overwrite(imagePath, 5 * MiB, Buffer.alloc(MiB, 0xee));
    overwrite(imagePath, 26 * MiB - EBS_BLOCK_BYTES, Buffer.alloc(EBS_BLOCK_BYTES));
    fake.clearRequests();
    const notices: string[] = [];
    const second = await upload({
      parent: { snapshotId: first.snapshotId, blockList: first.blockList },
      onNotice: (message) => notices.push(message),
    });
    assert.equal(second.parentSnapshotId, first.snapshotId);
    assert.equal(second.fullUploadReason, undefined);
    assert.deepEqual(putIndexes(), [1, 10, 11, 51]);
    assert.equal(second.blocksUploaded, 4);
    assert.equal(second.blocksUnchanged, 48);
    assert.equal(fake.snapshot(second.snapshotId)?.completion?.changedBlocksCount, 4);
    assert.match(notices.join('\n'), /writing 4 changed block\(s\) of 52 into a child of snap-/);
    await holdsImage(ebs, second.snapshotId, imagePath);
    assert.notEqual(second.contentIdentity, first.contentIdentity);

    // The parent can go: the child keeps what it read from it.
    assert.equal(await deleteSnapshot(ec2, first.snapshotId), true);
    await holdsImage(ebs, second.snapshotId, imagePath);

    // A shorter image: the blocks past its end that held data are written as zeros.
    const kept = readFileSync(imagePath).subarray(0, 2 * MiB);
    writeImage(imagePath, [{ kind: 'zeros', bytes: kept.length }]);
    overwrite(imagePath, 0, kept);
    fake.clearRequests();
    const third = await upload({ parent: { snapshotId: second.snapshotId, blockList: second.blockList } });
    assert.equal(third.parentSnapshotId, second.snapshotId);
    assert.deepEqual(putIndexes(), [4, 5, 10, 11, 46, 47, 48, 49, 50]);
    await holdsImage(ebs, third.snapshotId, imagePath);
    await deleteSnapshot(ec2, second.snapshotId);
    await deleteSnapshot(ec2, third.snapshotId);
  });

  it('uploads the whole image, saying why, when the parent is gone or its block list is missing', async () => {
    writeImage(imagePath, [{ kind: 'random', bytes: 2 * MiB }]);
    const first = await upload();
    await deleteSnapshot(ec2, first.snapshotId);
    const notices: string[] = [];
    const gone = await upload({
      parent: { snapshotId: first.snapshotId, blockList: first.blockList },
      onNotice: (message) => notices.push(message),
    });
    assert.equal(gone.parentSnapshotId, undefined);
    assert.equal(gone.blocksUploaded, 4);
    assert.match(gone.fullUploadReason ?? '', new RegExp(`the previous snapshot ${first.snapshotId} is gone`));
    assert.deepEqual(notices, [`uploading the whole image: the previous snapshot ${first.snapshotId} is gone`]);
    assert.equal(fake.snapshot(gone.snapshotId)?.parentSnapshotId, undefined);

    const unlisted = await upload({ parent: { snapshotId: gone.snapshotId } });
    assert.equal(unlisted.parentSnapshotId, undefined);
    assert.match(unlisted.fullUploadReason ?? '', /list of the blocks of snap-\w+ is missing or unreadable/);
    await holdsImage(ebs, unlisted.snapshotId, imagePath);
    await deleteSnapshot(ec2, gone.snapshotId);
    await deleteSnapshot(ec2, unlisted.snapshotId);
  });

  it("a full upload with nothing to match reads the image once (bytes counted on the file handles), and a parent's plan twice", async () => {
    // 3 MiB of data (one block of it zeros) and a 4 MiB hole: 6 blocks read of the 14 in the image.
    writeImage(imagePath, [
      { kind: 'random', bytes: MiB },
      { kind: 'zeros', bytes: EBS_BLOCK_BYTES },
      { kind: 'random', bytes: EBS_BLOCK_BYTES },
      { kind: 'hole', bytes: 4 * MiB },
      { kind: 'random', bytes: MiB },
    ]);
    const dataBytes = 3 * MiB;
    // Every read of any file handle in this process, as the file system sees it.
    const probe = await fs.open(imagePath, 'r');
    const prototype = Object.getPrototypeOf(probe) as { read: (...args: unknown[]) => Promise<{ bytesRead: number }> };
    await probe.close();
    const original = prototype.read;
    let bytesRead = 0;
    const counting = async <T>(run: () => Promise<T>): Promise<{ result: T; bytes: number }> => {
      bytesRead = 0;
      prototype.read = async function (this: unknown, ...args: unknown[]) {
        const answer = await original.apply(this, args);
        bytesRead += answer.bytesRead;
        return answer;
      };
      try {
        return { result: await run(), bytes: bytesRead };
      } finally {
        prototype.read = original;
      }
    };
    const once = await counting(() => upload());
    // The container check reads the first KiB and the last 512 bytes; the rest is the data, once.
    assert.ok(once.bytes >= dataBytes && once.bytes <= dataBytes + 1536, `${once.bytes} bytes read`);
    assert.equal(once.result.blocksRead, 6);
    assert.deepEqual([once.result.blocksUploaded, once.result.zeroBlocks, once.result.zeroBlocksSkipped], [14, 9, 0]);
    await holdsImage(ebs, once.result.snapshotId, imagePath);
    // The same identity and list as hashing first.
    const hashed = await hashImageBlocks(imagePath);
    assert.equal(once.result.contentIdentity, contentIdentity(hashed));
    assert.equal(once.result.blockList, encodeBlockList(hashed));
    // Skipping zero blocks: the written zeros read are skipped too.
    const skipping = await counting(() => upload({ skipZeroBlocks: true }));
    assert.equal(skipping.result.blocksUploaded, 5);
    assert.equal(skipping.result.zeroBlocksSkipped, skipping.result.zeroBlocks);
    await holdsImage(ebs, skipping.result.snapshotId, imagePath);
    // With a parent, the blocks are hashed first (the plan needs them), then the changed ones read again.
    overwrite(imagePath, 0, Buffer.alloc(10, 9));
    const child = await counting(() =>
      upload({ parent: { snapshotId: once.result.snapshotId, blockList: once.result.blockList } }),
    );
    assert.equal(child.result.blocksRead, 6 + 1);
    assert.ok(child.bytes >= dataBytes + EBS_BLOCK_BYTES, `${child.bytes} bytes read`);
    await holdsImage(ebs, child.result.snapshotId, imagePath);
    for (const made of [once, skipping, child]) await deleteSnapshot(ec2, made.result.snapshotId);
  });

  it('an image that changes during the upload fails it truthfully and leaves no snapshot behind', async () => {
    writeImage(imagePath, [{ kind: 'random', bytes: 4 * MiB }]);
    const before = fake.snapshots().length;
    let changed = false;
    const failed = await upload({
      concurrency: 1,
      onProgress: (event) => {
        if (!changed && event.blocksUploaded === 1) {
          changed = true;
          overwrite(imagePath, 6 * EBS_BLOCK_BYTES, Buffer.alloc(10, 1));
        }
      },
    }).then(
      () => assert.fail('the upload should fail'),
      (error: unknown) => error,
    );
    assert.ok(failed instanceof SnapshotUploadError, String(failed));
    assert.equal(failed.snapshotRemains, false);
    assert.match(failed.message, /disk\.raw changed during the upload\b.*; the partial snapshot snap-\w+ was deleted/);
    assert.equal(fake.snapshots().length, before, 'the pending snapshot was deleted');
  });

  it('unikernel-ami snapshot --encrypted [--kms-key-arn]: an encrypted snapshot; a key without --encrypted is refused in one line', async () => {
    writeImage(imagePath, [{ kind: 'random', bytes: MiB }]);
    const environment = {
      AWS_ENDPOINT_URL: fake.endpoint,
      AWS_REGION: fake.region,
      AWS_ACCESS_KEY_ID: fake.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: fake.credentials.secretAccessKey,
      AWS_PROFILE: '',
    };
    const key = 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    const alone = await runCliAsync(['snapshot', '--image', imagePath, '--kms-key-arn', key], environment);
    assert.equal(alone.status, 1);
    assert.match(
      alone.stderr,
      /^unikernel-ami snapshot: --kms-key-arn: a KMS key encrypts only with --encrypted; add it\n$/,
    );
    const run = await runCliAsync(['snapshot', '--image', imagePath, '--encrypted', '--kms-key-arn', key], environment);
    assert.equal(run.status, 0, run.stderr);
    const id = run.stdout.trim();
    assert.deepEqual([fake.snapshot(id)?.encrypted, fake.snapshot(id)?.kmsKeyArn], [true, key]);
    await deleteSnapshot(ec2, snapshotId(id));
  });

  it('retries "the snapshot does not exist" for about 2 minutes after StartSnapshot (on an injected clock), then gives up truthfully', async () => {
    writeImage(imagePath, [{ kind: 'random', bytes: MiB }]);
    let now = 0;
    const clock = {
      now: () => now,
      sleep: async (ms: number) => {
        now += ms;
      },
    };
    const retry = { attempts: 4, baseDelayMs: 500 };
    fake.faults.inject({ service: 'ebs', operation: 'StartSnapshot', kind: 'notFoundAfterCreate', forCalls: 12 });
    const late = await upload({ concurrency: 1, clock, blockRetry: retry });
    const notFound = () => fake.requests.filter((request) => request.errorCode === 'ResourceNotFoundException');
    assert.equal(notFound().length, 12, 'twelve answers of "does not exist", all retried (more than 6 attempts)');
    assert.ok(now > 15_000 && now <= 120_000, `waited ${now} ms of the clock`);
    assert.equal(fake.snapshot(late.snapshotId)?.state, 'completed');
    await deleteSnapshot(ec2, late.snapshotId);

    fake.clearRequests();
    fake.faults.clear();
    now = 0;
    fake.faults.inject({ service: 'ebs', operation: 'StartSnapshot', kind: 'notFoundAfterCreate', forCalls: 100_000 });
    const failed = await upload({ concurrency: 1, clock, blockRetry: retry }).then(
      () => assert.fail(`the upload should give up (${notFound().length} not found, ${now} ms)`),
      (error: unknown) => error,
    );
    assert.ok(failed instanceof SnapshotUploadError, String(failed));
    assert.equal(failed.code, 'ResourceNotFoundException');
    assert.ok(now >= 110_000 && now <= 135_000, `gave up after ${now} ms of the clock, about 2 minutes`);
    // EC2 does not see the snapshot either (still hidden): the error says it may remain, with its id.
    assert.equal(failed.snapshotRemains, true);
    assert.match(failed.message, /could not be deleted .*aws ec2 delete-snapshot --snapshot-id snap-/);
    assert.match(failed.message, /snap-\w+/);
    fake.faults.clear();
    if (fake.snapshot(failed.snapshotId)) await deleteSnapshot(ec2, failed.snapshotId);
  });

  it('unikernel-ami snapshot: a snapshot still pending at --timeout is said in words, and --json prints an error document', async () => {
    writeImage(imagePath, [{ kind: 'random', bytes: MiB }]);
    fake.faults.inject({ service: 'ebs', operation: 'CompleteSnapshot', kind: 'stuckPending' });
    const environment = {
      AWS_ENDPOINT_URL: fake.endpoint,
      AWS_REGION: fake.region,
      AWS_ACCESS_KEY_ID: fake.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: fake.credentials.secretAccessKey,
      AWS_PROFILE: '',
    };
    const before = fake.snapshots().length;
    const run = await runCliAsync(['snapshot', '--image', imagePath, '--timeout', '3', '--json'], environment);
    assert.equal(run.status, 1, run.stderr);
    assert.doesNotMatch(run.stdout + run.stderr, /ABORTED/);
    const summary = JSON.parse(run.stdout) as { command: string; error: Record<string, unknown> };
    assert.equal(summary.command, 'snapshot');
    assert.match(
      String(summary.error.message),
      /snapshot snap-\w+ is pending, not completed: the time allowed ran out while waiting for it to complete; the partial snapshot snap-\w+ was deleted/,
    );
    assert.equal(summary.error.snapshotRemains, false);
    assert.match(String(summary.error.snapshotId), /^snap-/);
    assert.equal(run.stderr.trim().split('\n').length, 1);
    assert.equal(fake.snapshots().length, before, 'the pending snapshot was deleted');
  });

  it('unikernel-ami snapshot --encrypted [--kms-key-arn]: an encrypted snapshot; a key without --encrypted is refused in one line', async () => {
    writeImage(imagePath, [{ kind: 'random', bytes: MiB }]);
    const environment = {
      AWS_ENDPOINT_URL: fake.endpoint,
      AWS_REGION: fake.region,
      AWS_ACCESS_KEY_ID: fake.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: fake.credentials.secretAccessKey,
      AWS_PROFILE: '',
    };
    const key = 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    const alone = await runCliAsync(['snapshot', '--image', imagePath, '--kms-key-arn', key], environment);
    assert.equal(alone.status, 1);
    assert.match(
      alone.stderr,
      /^unikernel-ami snapshot: --kms-key-arn: a KMS key encrypts only with --encrypted; add it\n$/,
    );
    const run = await runCliAsync(['snapshot', '--image', imagePath, '--encrypted', '--kms-key-arn', key], environment);
    assert.equal(run.status, 0, run.stderr);
    const id = run.stdout.trim();
    assert.deepEqual([fake.snapshot(id)?.encrypted, fake.snapshot(id)?.kmsKeyArn], [true, key]);
    await deleteSnapshot(ec2, snapshotId(id));
  });

  it('encrypted: a child of an encrypted snapshot stays encrypted with its key; another encryption asked for uploads the whole image', async () => {
    writeImage(imagePath, [{ kind: 'random', bytes: 2 * MiB }]);
    const key = 'arn:aws:kms:us-east-1:123456789012:key/0b1c2d3e-aaaa-bbbb-cccc-1234567890ab';
    const first = await upload({ encrypted: true, kmsKeyArn: key });
    assert.deepEqual(
      [fake.snapshot(first.snapshotId)?.encrypted, fake.snapshot(first.snapshotId)?.kmsKeyArn],
      [true, key],
    );
    overwrite(imagePath, 0, Buffer.alloc(100, 9));
    fake.clearRequests();
    const child = await upload({
      encrypted: true,
      kmsKeyArn: key,
      parent: { snapshotId: first.snapshotId, blockList: first.blockList },
    });
    assert.equal(child.parentSnapshotId, first.snapshotId);
    assert.deepEqual(putIndexes(), [0]);
    assert.deepEqual(
      [fake.snapshot(child.snapshotId)?.encrypted, fake.snapshot(child.snapshotId)?.kmsKeyArn],
      [true, key],
    );
    // (the local EBS, like EBS, refuses Encrypted with ParentSnapshotId: the child was started without it)
    await holdsImage(ebs, child.snapshotId, imagePath);

    const plain = await upload({ parent: { snapshotId: child.snapshotId, blockList: child.blockList } });
    assert.equal(plain.parentSnapshotId, undefined);
    assert.match(plain.fullUploadReason ?? '', /is encrypted, and this one is to be unencrypted/);
    assert.equal(fake.snapshot(plain.snapshotId)?.encrypted, false);
    const otherKey = await upload({
      encrypted: true,
      kmsKeyArn: key.replace('0b1c', 'ffff'),
      parent: { snapshotId: child.snapshotId, blockList: child.blockList },
    });
    assert.match(otherKey.fullUploadReason ?? '', /encrypted with another KMS key/);
    for (const each of [first, child, plain, otherKey]) await deleteSnapshot(ec2, each.snapshotId);
  });
});
