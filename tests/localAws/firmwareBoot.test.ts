/**
 * The local AWS does not count as booted what EC2 could not boot: an EBS HVM root volume without a
 * boot sector (legacy BIOS: no 0x55 0xAA at bytes 510–511; UEFI: no GPT header either) shows the
 * firmware's lines and fails the reachability check, and an instance-store bundle the local AWS cannot
 * open (sealed for another certificate) is unreachable with an empty console. A script for the image
 * still decides, and a volume with a boot sector stays reachable. Real SDK clients over HTTP.
 */
import { strict as assert } from 'assert';
import { writeFileSync } from 'fs';
import * as path from 'path';
import {
  DescribeInstanceStatusCommand,
  EC2Client,
  GetConsoleOutputCommand,
  RunInstancesCommand,
  _InstanceType,
  waitUntilInstanceRunning,
} from '@aws-sdk/client-ec2';
import { createEbsClient } from '../../provider/aws/clients';
import { registerEbsImageAndWait } from '../../provider/aws/ebsImages';
import { uploadSnapshot } from '../../provider/aws/ebsUpload';
import { registerAndWait } from '../../provider/aws/images';
import { LocalAws } from '../../testing/localAws';
import { firmwareBoot } from '../../testing/localAws/firmware';
import { MiB, temporaryFolder } from '../helpers/tools';
import { ec2For, FAST_WAITER, s3For, uploadTestBundle } from './testSupport';

const FAST_WAIT = { minDelaySeconds: 0.02, maxDelaySeconds: 0.05, maxWaitSeconds: 5 };
const SEABIOS = ['Booting from Hard Disk...', 'Boot failed: not a bootable disk', '', 'No bootable device.'];
const OVMF = ['BdsDxe: No bootable option or device was found.'];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** 2 MiB of 0x01 bytes, then what `marks` writes over it. */
function disk(marks: (start: Buffer) => void = () => undefined): Buffer {
  const data = Buffer.alloc(2 * MiB, 0x01);
  marks(data);
  return data;
}
const mbrSignature = (start: Buffer) => start.set([0x55, 0xaa], 510);
const gptHeader = (start: Buffer) => start.write('EFI PART', 512, 'ascii');

describe('firmware verdict on the first sectors (pure)', function () {
  it('legacy BIOS needs the MBR signature; UEFI takes a GPT header or an MBR signature', () => {
    assert.deepEqual(firmwareBoot(disk(), 'legacy-bios'), { kind: 'no-bootable-device', lines: SEABIOS });
    assert.deepEqual(firmwareBoot(disk(gptHeader), 'legacy-bios'), { kind: 'no-bootable-device', lines: SEABIOS });
    assert.deepEqual(firmwareBoot(disk(mbrSignature), 'legacy-bios'), { kind: 'boot-loader-found' });
    assert.deepEqual(firmwareBoot(disk(), 'uefi'), { kind: 'no-bootable-device', lines: OVMF });
    assert.deepEqual(firmwareBoot(disk(gptHeader), 'uefi'), { kind: 'boot-loader-found' });
    assert.deepEqual(firmwareBoot(disk(mbrSignature), 'uefi'), { kind: 'boot-loader-found' });
    assert.deepEqual(firmwareBoot(Buffer.alloc(0), 'uefi'), { kind: 'no-bootable-device', lines: OVMF });
    const reversed = disk((start) => start.set([0xaa, 0x55], 510));
    assert.equal(firmwareBoot(reversed, 'legacy-bios').kind, 'no-bootable-device', 'the bytes in order');
  });
});

describe('local AWS: instances whose image the firmware or EC2 cannot boot', function () {
  this.timeout(60_000);
  let local: LocalAws;
  let ec2: EC2Client;
  const folder = temporaryFolder('local-aws-firmware');
  let counter = 0;

  before(async () => {
    local = await LocalAws.start({
      consolePostMs: 40,
      statusCheckMs: 80,
      snapshotCompletingMs: 20,
      imagePendingMs: 20,
      instancePendingMs: 20,
    });
    ec2 = ec2For(local);
  });
  after(async () => {
    ec2.destroy();
    await local.stop();
    folder.cleanup();
  });

  /** An EBS AMI of `data` as a raw image, uploaded through the EBS direct APIs. */
  async function ebsAmi(data: Buffer, bootMode?: 'legacy-bios' | 'uefi'): Promise<string> {
    const imagePath = path.join(folder.dir, `disk-${++counter}.raw`);
    writeFileSync(imagePath, data);
    const settings = { endpoint: local.endpoint, region: local.region, credentials: local.credentials };
    const ebs = createEbsClient({ ...settings, maxAttempts: 1 });
    try {
      const snapshot = await uploadSnapshot({ ebs, ec2, imagePath, wait: FAST_WAIT });
      const registered = await registerEbsImageAndWait({
        ec2,
        snapshotId: snapshot.snapshotId,
        name: `firmware-${counter}`,
        architecture: 'x86_64',
        bootMode,
        wait: FAST_WAIT,
      });
      return registered.imageId;
    } finally {
      ebs.destroy();
    }
  }

  async function launch(imageId: string, instanceType: _InstanceType = 't3.micro', client = ec2): Promise<string> {
    const answer = await client.send(
      new RunInstancesCommand({ ImageId: imageId, InstanceType: instanceType, MinCount: 1, MaxCount: 1 }),
    );
    const id = answer.Instances![0].InstanceId!;
    await waitUntilInstanceRunning({ client, ...FAST_WAITER }, { InstanceIds: [id] });
    return id;
  }

  /** The reachability status once settled, and the console then (Latest where the type has it). */
  async function outcome(id: string, latest: boolean, client = ec2): Promise<{ status?: string; console: string }> {
    let status: string | undefined = 'initializing';
    for (let attempt = 0; attempt < 200 && status === 'initializing'; attempt++) {
      const answer = await client.send(new DescribeInstanceStatusCommand({ InstanceIds: [id] }));
      status = answer.InstanceStatuses?.[0]?.InstanceStatus?.Status;
      if (status === 'initializing') await sleep(20);
    }
    const output = await client.send(new GetConsoleOutputCommand({ InstanceId: id, Latest: latest || undefined }));
    return { status, console: Buffer.from(output.Output ?? '', 'base64').toString('utf8') };
  }

  it("an HVM volume without a boot signature: SeaBIOS's lines, the reachability check impaired", async () => {
    const id = await launch(await ebsAmi(disk()));
    assert.deepEqual(await outcome(id, true), { status: 'impaired', console: `${SEABIOS.join('\r\n')}\r\n` });
    assert.deepEqual(local.consoleLines(id), SEABIOS);
  });

  it('an HVM volume with the MBR signature stays reachable, as before', async () => {
    const id = await launch(await ebsAmi(disk(mbrSignature)));
    assert.deepEqual(await outcome(id, true), { status: 'ok', console: '' });
  });

  it("UEFI: a GPT header boots, nothing at all gives OVMF's line and an impaired check", async () => {
    const gpt = await launch(await ebsAmi(disk(gptHeader), 'uefi'));
    assert.deepEqual(await outcome(gpt, true), { status: 'ok', console: '' });
    const none = await launch(await ebsAmi(disk(), 'uefi'));
    assert.deepEqual(await outcome(none, true), { status: 'impaired', console: `${OVMF.join('\r\n')}\r\n` });
    // A legacy-bios boot of a GPT-only disk does not find it (t3 types boot legacy-bios by default).
    const legacy = await launch(await ebsAmi(disk(gptHeader)));
    assert.equal((await outcome(legacy, true)).status, 'impaired');
  });

  it('a script for the image still decides, whatever the volume holds', async () => {
    const imageId = await ebsAmi(disk());
    local.scriptConsole({ imageId }, { lines: ['Solo5: hvt', 'app: listening on :8080'] });
    const id = await launch(imageId);
    assert.deepEqual(await outcome(id, true), { status: 'ok', console: 'Solo5: hvt\r\napp: listening on :8080\r\n' });
  });

  it('a bundle sealed for another certificate than the one the local AWS holds: unreachable, empty console', async () => {
    assert.ok(local.ec2Certificate.includes('BEGIN CERTIFICATE'), 'the local AWS holds its own EC2 certificate');
    local.createBucket('sealed-elsewhere', { objectOwnership: 'ObjectWriter' });
    const s3 = s3For(local);
    const bundle = await uploadTestBundle(s3, 'sealed-elsewhere', 'b/', { name: 'other.img' });
    try {
      const register = (name: string) =>
        registerAndWait({ ec2, imageLocation: bundle.location, name, architecture: 'x86_64', wait: FAST_WAIT });
      const unscripted = (await register('other-unscripted')).imageId;
      const id = await launch(unscripted, 'm3.medium');
      assert.deepEqual(await outcome(id, false), { status: 'impaired', console: '' });
      assert.deepEqual(local.consoleLines(id), []);
      const scripted = (await register('other-scripted')).imageId;
      local.scriptConsole({ imageId: scripted }, { lines: ['Xen Minimal OS!'] });
      const ok = await launch(scripted, 'm3.medium');
      assert.deepEqual(await outcome(ok, false), { status: 'ok', console: 'Xen Minimal OS!\r\n' });
    } finally {
      s3.destroy();
      bundle.cleanup();
    }
  });

  it('a local AWS holding no EC2 certificate at all opens no bundle: unreachable, empty console', async () => {
    const bare = await LocalAws.start({
      consolePostMs: 40,
      statusCheckMs: 80,
      imagePendingMs: 20,
      instancePendingMs: 20,
    });
    const client = ec2For(bare);
    const s3 = s3For(bare);
    bare.createBucket('bare', { objectOwnership: 'ObjectWriter' });
    const bundle = await uploadTestBundle(s3, 'bare', 'b/', { name: 'bare.img' });
    try {
      const { imageId } = await registerAndWait({
        ec2: client,
        imageLocation: bundle.location,
        name: 'bare',
        architecture: 'x86_64',
        wait: FAST_WAIT,
      });
      const id = await launch(imageId, 'm3.medium', client);
      assert.deepEqual(await outcome(id, false, client), { status: 'impaired', console: '' });
    } finally {
      client.destroy();
      s3.destroy();
      bundle.cleanup();
      await bare.stop();
    }
  });
});
