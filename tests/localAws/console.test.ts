/**
 * The local AWS boots what it can: PV-GRUB's work on real bundles sealed for its EC2 certificate
 * (menus and kernels it cannot boot give GRUB's and Xen's errors), scripted kernel output,
 * GetConsoleOutput (posted late, `Latest` on Nitro only), DescribeInstanceStatus, and the existence
 * checks of RunInstances.
 */
import { strict as assert } from 'assert';
import {
  DescribeInstanceStatusCommand,
  EC2Client,
  EC2ServiceException,
  GetConsoleOutputCommand,
  RunInstancesCommand,
  RunInstancesCommandInput,
  waitUntilInstanceRunning,
} from '@aws-sdk/client-ec2';
import { gzipSync } from 'zlib';
import { readFileSync } from 'fs';
import { LocalAws } from '../../testing/localAws';
import { buildXenKernel } from '../../testing/xenKernel';
import { ext2Image, kernelImage, registerBootable, sha256Of } from '../helpers/bootImages';
import { temporaryFolder } from '../helpers/tools';
import { ec2For, FAST_WAITER } from './testSupport';

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

describe('local AWS: console, status checks and what RunInstances names', function () {
  let local: LocalAws;
  let ec2: EC2Client;
  const folder = temporaryFolder('local-aws-console');

  before(async () => {
    local = await LocalAws.start({ consolePostMs: 150, statusCheckMs: 100 });
    ec2 = ec2For(local);
  });
  after(async () => {
    ec2.destroy();
    await local.stop();
    folder.cleanup();
  });

  async function launch(imageId: string, extra: Partial<RunInstancesCommandInput> = {}): Promise<string> {
    const answer = await ec2.send(
      new RunInstancesCommand({ ImageId: imageId, InstanceType: 'm3.medium', MinCount: 1, MaxCount: 1, ...extra }),
    );
    const id = answer.Instances![0].InstanceId!;
    await waitUntilInstanceRunning({ client: ec2, ...FAST_WAITER }, { InstanceIds: [id] });
    return id;
  }

  /** The console once posted (polled as a client would). */
  async function consoleOf(instanceId: string, latest?: boolean): Promise<string> {
    for (let attempt = 0; attempt < 100; attempt++) {
      const answer = await ec2.send(new GetConsoleOutputCommand({ InstanceId: instanceId, Latest: latest }));
      if (answer.Output) return Buffer.from(answer.Output, 'base64').toString('utf8');
      await sleep(30);
    }
    assert.fail(`no console output for ${instanceId}`);
  }

  async function reachability(instanceId: string): Promise<string | undefined> {
    for (let attempt = 0; attempt < 100; attempt++) {
      const answer = await ec2.send(new DescribeInstanceStatusCommand({ InstanceIds: [instanceId] }));
      const status = answer.InstanceStatuses?.[0]?.InstanceStatus?.Status;
      if (status !== 'initializing') return status;
      await sleep(30);
    }
    return 'initializing';
  }

  it('boots a real PV-GRUB image from its bundle and prints the kernel scripted for its digest', async () => {
    const kernelPath = buildXenKernel(folder.dir, { fileName: 'good.xen' });
    local.scriptConsole(
      { kernelSha256: sha256Of(kernelPath) },
      { lines: ['Solo5: Xen console: ready', 'mirage: listening on 0.0.0.0:80'] },
    );
    const imageId = await registerBootable(
      local,
      folder.dir,
      await kernelImage(folder.dir, kernelPath, 'good'),
      'boot',
    );
    const id = await launch(imageId);
    const first = await ec2.send(new GetConsoleOutputCommand({ InstanceId: id }));
    assert.equal(first.Output, undefined, 'without Latest the console is posted some time after running');
    const text = await consoleOf(id);
    assert.match(text, /GNU GRUB {2}version 0\.97/);
    assert.match(text, /Booting 'good\.xen'/);
    assert.match(text, /root \(hd0\)\r\n Filesystem type is ext2fs, using whole disk/);
    assert.match(text, /kernel \/boot\/good\.xen\.gz/);
    assert.ok(text.endsWith('mirage: listening on 0.0.0.0:80\r\n'), text);
    assert.equal(await reachability(id), 'ok');
  });

  it('writes the Xen builder refusal for a kernel without Xen notes, and the instance is impaired', async () => {
    const kernelPath = buildXenKernel(folder.dir, { fileName: 'plain.xen', variant: 'no-xen-notes' });
    // The product's image builder refuses such a kernel; build the file system by hand, gzipped as PV-GRUB reads it.
    const imagePath = ext2Image(folder.dir, 'plain', {
      'boot/grub/menu.lst': 'default 0\ntimeout 0\ntitle plain\n  root (hd0)\n  kernel /boot/plain.xen.gz\n',
      'boot/plain.xen.gz': gzipSync(readFileSync(kernelPath)),
    });
    const id = await launch(await registerBootable(local, folder.dir, imagePath, 'boot'));
    const text = await consoleOf(id);
    assert.match(text, /elf_xen_parse: ERROR: Not a Xen-ELF image/);
    assert.match(text, /Error 9: Unknown boot failure/);
    assert.equal(await reachability(id), 'impaired');
  });

  it("writes GRUB's errors for a menu naming a missing kernel or a partition the disk does not have", async () => {
    const missing = ext2Image(folder.dir, 'missing', {
      'boot/grub/menu.lst': 'default 0\ntitle missing\nroot (hd0)\nkernel /boot/gone.gz\n',
    });
    const missingText = await consoleOf(await launch(await registerBootable(local, folder.dir, missing, 'boot')));
    assert.match(missingText, /kernel \/boot\/gone\.gz\r\n\r\nError 15: File not found/);
    const partition = ext2Image(folder.dir, 'partition', {
      'boot/grub/menu.lst': 'default 0\ntitle part\nroot (hd0,0)\nkernel /boot/x.gz\n',
    });
    const partitionText = await consoleOf(await launch(await registerBootable(local, folder.dir, partition, 'boot')));
    assert.match(partitionText, /Error 22: No such partition/);
    const noMenu = ext2Image(folder.dir, 'nomenu', { 'boot/readme': 'no menu here' });
    const noMenuText = await consoleOf(await launch(await registerBootable(local, folder.dir, noMenu, 'boot')));
    assert.match(noMenuText, /grubdom> \r\n$/, 'no menu.lst: the GRUB prompt');
  });

  it('serves Latest only on Nitro types, and unknown instances as EC2 does', async () => {
    const kernelPath = buildXenKernel(folder.dir, { fileName: 'latest.xen', seed: 'latest' });
    const id = await launch(
      await registerBootable(local, folder.dir, await kernelImage(folder.dir, kernelPath, 'latest'), 'boot'),
    );
    const refused = await ec2Failure(ec2.send(new GetConsoleOutputCommand({ InstanceId: id, Latest: true })));
    assert.equal(refused.name, 'UnsupportedOperation');
    const unknown = await ec2Failure(ec2.send(new GetConsoleOutputCommand({ InstanceId: 'i-0123456789abcdef0' })));
    assert.equal(unknown.name, 'InvalidInstanceID.NotFound');
  });

  it('refuses subnets, security groups, key pairs and instance profiles that do not exist', async () => {
    const kernelPath = buildXenKernel(folder.dir, { fileName: 'refs.xen', seed: 'refs' });
    const imageId = await registerBootable(
      local,
      folder.dir,
      await kernelImage(folder.dir, kernelPath, 'refs'),
      'boot',
    );
    const base = { ImageId: imageId, InstanceType: 'm3.medium' as const, MinCount: 1, MaxCount: 1 };
    const before = local.instances().length;
    const cases: Array<[Partial<RunInstancesCommandInput>, string]> = [
      [{ SubnetId: 'subnet-0123456789abcdef0' }, 'InvalidSubnetID.NotFound'],
      [{ SecurityGroupIds: ['sg-0123456789abcdef0'] }, 'InvalidGroup.NotFound'],
      [{ KeyName: 'nobody' }, 'InvalidKeyPair.NotFound'],
      [{ IamInstanceProfile: { Name: 'no-profile' } }, 'InvalidParameterValue'],
      [
        { IamInstanceProfile: { Arn: `arn:aws:iam::${local.accountId}:instance-profile/no-profile` } },
        'InvalidParameterValue',
      ],
    ];
    for (const [extra, code] of cases) {
      const failure = await ec2Failure(ec2.send(new RunInstancesCommand({ ...base, ...extra })));
      assert.equal(failure.name, code, JSON.stringify(extra));
    }
    assert.equal(local.instances().length, before, 'nothing launched');
    const subnet = local.createSubnetDirect();
    const group = local.createSecurityGroupDirect();
    local.createKeyPairDirect('ops');
    const arn = local.createInstanceProfileDirect('unikernel');
    const id = await launch(imageId, {
      SubnetId: subnet,
      SecurityGroupIds: [group],
      KeyName: 'ops',
      IamInstanceProfile: { Arn: arn },
    });
    assert.match(id, /^i-/);
  });

  it('reports a scripted image console and an impaired check on DescribeInstanceStatus', async () => {
    const kernelPath = buildXenKernel(folder.dir, { fileName: 'status.xen', seed: 'status' });
    const imageId = await registerBootable(
      local,
      folder.dir,
      await kernelImage(folder.dir, kernelPath, 'status'),
      'boot',
    );
    local.scriptConsole(
      { kernelSha256: sha256Of(kernelPath) },
      { lines: ['Kernel panic - not syncing: VFS'], reachable: false },
    );
    const id = await launch(imageId);
    assert.match(await consoleOf(id), /Kernel panic - not syncing: VFS\r\n$/);
    assert.equal(await reachability(id), 'impaired');
    const all = await ec2.send(new DescribeInstanceStatusCommand({ IncludeAllInstances: true }));
    assert.ok(all.InstanceStatuses!.some((status) => status.InstanceId === id));
  });
});
