/**
 * Launch-time compatibility of EBS-backed HVM AMIs, end to end against the local AWS: an AMI without
 * ENA on a Nitro type, and a uefi AMI on a legacy-bios-only type, are refused before anything is
 * launched — as a UnikernelInstance create failure through the real plugin, and by `unikernel-ami run`
 * — in one line naming the AMI's need, the type's lack and types that can boot it. The local AWS
 * refuses the same launches itself, as EC2 does.
 */
import { strict as assert } from 'assert';
import * as path from 'path';
import { EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { EBSClient } from '@aws-sdk/client-ebs';
import { createEbsClient, createEc2Client } from '../../provider/aws/clients';
import { registerEbsImageAndWait } from '../../provider/aws/ebsImages';
import { uploadSnapshot } from '../../provider/aws/ebsUpload';
import { snapshotId } from '../../provider/aws/ids';
import { unikernelInstanceProvider } from '../../provider/dynamic/unikernelInstance/provider';
import { LocalAws } from '../../testing/localAws';
import { PluginClient, PluginRpcError, serializeProvider, startPlugin } from '../../testing/pluginHarness';
import { MiB, checkoutProject, runCliAsync, temporaryFolder, writeImage } from '../helpers/tools';

const FAST_WAIT = { minDelaySeconds: 0.02, maxDelaySeconds: 0.05, maxWaitSeconds: 5 };

describe('launch-time compatibility of EBS-backed HVM AMIs (plugin, CLI, local AWS)', function () {
  this.timeout(120_000);
  let fake: LocalAws;
  let ebs: EBSClient;
  let ec2: EC2Client;
  let plugin: PluginClient;
  let instances: PluginClient;
  let folder: ReturnType<typeof temporaryFolder>;
  let environment: NodeJS.ProcessEnv;
  /** No ENA support, no boot mode. */
  let noEna: string;
  /** ENA, boot mode uefi. */
  let uefi: string;

  before(async () => {
    fake = await LocalAws.start({ instancePendingMs: 20, imagePendingMs: 20, snapshotCompletingMs: 20 });
    const settings = { endpoint: fake.endpoint, region: fake.region, credentials: fake.credentials, maxAttempts: 3 };
    ebs = createEbsClient(settings);
    ec2 = createEc2Client(settings);
    folder = temporaryFolder('launch-compat');
    const imagePath = path.join(folder.dir, 'disk.raw');
    writeImage(imagePath, [{ kind: 'random', bytes: MiB }]);
    const snapshot = await uploadSnapshot({ ebs, ec2, imagePath, wait: FAST_WAIT });
    const register = async (name: string, extra: { enaSupport?: boolean; bootMode?: 'uefi' }) =>
      (
        await registerEbsImageAndWait({
          ec2,
          snapshotId: snapshotId(snapshot.snapshotId),
          name,
          architecture: 'x86_64',
          wait: FAST_WAIT,
          ...extra,
        })
      ).imageId;
    noEna = await register('no-ena', { enaSupport: false });
    uefi = await register('uefi-only', { bootMode: 'uefi' });
    environment = {
      AWS_ENDPOINT_URL: fake.endpoint,
      AWS_REGION: fake.region,
      AWS_ACCESS_KEY_ID: fake.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: fake.credentials.secretAccessKey,
      AWS_PROFILE: undefined,
    };
    plugin = await startPlugin({
      cwd: checkoutProject(),
      env: environment,
      config: { 'unikernel:pollSeconds': '0.05' },
    });
    instances = plugin.withProvider(await serializeProvider(unikernelInstanceProvider));
  });
  after(async () => {
    await plugin?.stop();
    ebs?.destroy();
    ec2?.destroy();
    await fake?.stop();
    folder?.cleanup();
  });

  const cases = (): Array<[string, string, RegExp]> => [
    [
      noEna,
      't3.micro',
      new RegExp(
        `t3\\.micro cannot boot ${noEna}: the AMI is not enabled for ENA, but t3\\.micro requires ENA; types that can: t2\\.micro, c1\\.medium, c3\\.large, m1\\.medium, m1\\.small$`,
      ),
    ],
    [
      uefi,
      't2.micro',
      new RegExp(
        `t2\\.micro cannot boot ${uefi}: the AMI boots with uefi, but t2\\.micro boots only with legacy-bios; types that can: m5\\.large, t3\\.micro$`,
      ),
    ],
  ];

  it('UnikernelInstance create fails before launching, naming the need, the lack and types that can', async () => {
    for (const [imageId, instanceType, message] of cases()) {
      const urn = instances.urn('unikernel:UnikernelInstance', `vm-${instanceType}`);
      const checked = await instances.check(urn, {}, { imageId, instanceType });
      assert.deepEqual(checked.failures, []);
      await assert.rejects(instances.create(urn, checked.inputs), (error: unknown) => {
        assert.ok(error instanceof PluginRpcError && !error.partial, String(error));
        assert.match(error.message.split('\n')[0] ?? '', message);
        return true;
      });
    }
    assert.deepEqual(fake.instances(), [], 'nothing launched');
    assert.equal(fake.requests.filter((request) => request.operation === 'RunInstances').length, 0, 'not even tried');
  });

  it('unikernel-ami run refuses in one line, exit 1, nothing launched', async () => {
    for (const [imageId, instanceType, message] of cases()) {
      const result = await runCliAsync(['run', '--image-id', imageId, '-t', instanceType], environment);
      assert.equal(result.status, 1, result.stderr);
      assert.match(result.stderr.trimEnd(), /-t\/--instance-type: /);
      assert.match(result.stderr.trimEnd(), message);
      assert.equal(result.stderr.trimEnd().split('\n').length, 1, `one line: ${result.stderr}`);
    }
    assert.deepEqual(fake.instances(), [], 'nothing launched');
  });

  it('a compatible type launches, with a note that the EBS root is an NVMe device there', async () => {
    const result = await runCliAsync(
      ['run', '--image-id', noEna, '-t', 't2.micro', '--no-boot-check', '--poll-seconds', '0.05'],
      environment,
    );
    assert.equal(result.status, 0, result.stderr);
    assert.doesNotMatch(result.stdout + result.stderr, /NVMe/, 't2 has no NVMe');
    const uefiRun = await runCliAsync(
      ['run', '--image-id', uefi, '-t', 't3.micro', '--no-boot-check', '--poll-seconds', '0.05'],
      environment,
    );
    assert.equal(uefiRun.status, 0, uefiRun.stderr);
    assert.match(uefiRun.stdout + uefiRun.stderr, /t3\.micro the EBS root volume is an NVMe device/);
    assert.equal(fake.instances().length, 2);
  });

  it('UnikernelInstance on a compatible Nitro type launches, and notes that the EBS root is an NVMe device', async () => {
    const urn = instances.urn('unikernel:UnikernelInstance', 'vm-uefi');
    const checked = await instances.check(urn, {}, { imageId: uefi, instanceType: 't3.micro', verifyBoot: false });
    const launched = await instances.create(urn, checked.inputs);
    assert.equal(launched.properties.state, 'running');
    await plugin.waitForOutput(
      new RegExp(`UnikernelInstance of ${uefi}: on t3\\.micro the EBS root volume is an NVMe device`),
    );
    await instances.delete(launched.id, urn, launched.properties);
  });

  it('the local AWS refuses what EC2 refuses: an AMI without ENA on a type that requires it', async () => {
    const before = fake.instances().length;
    await assert.rejects(
      ec2.send(new RunInstancesCommand({ ImageId: noEna, InstanceType: 't3.micro', MinCount: 1, MaxCount: 1 })),
      (error: unknown) =>
        error instanceof Error &&
        error.name === 'InvalidParameterCombination' &&
        /Elastic Network Adapter \(ENA\) is required for the 't3\.micro' instance type/.test(error.message),
    );
    assert.equal(fake.instances().length, before);
  });
});
