/**
 * `pulumi up` (the engine model over the real dynamic-provider plugin) of a UnikernelInstance from an
 * EBS AMI the firmware cannot boot: the raw image has no boot sector, the local AWS's console shows
 * SeaBIOS's lines, and the built-in failure list ends the boot at once as a partial failure (the
 * firmware line in the message, the instance kept in state and running), not at the deadline. The
 * same image with the MBR boot signature is verified by the status checks.
 */
import { strict as assert } from 'assert';
import { writeFileSync } from 'fs';
import * as path from 'path';
import { createEbsClient, createEc2Client } from '../../provider/aws/clients';
import { registerEbsImageAndWait } from '../../provider/aws/ebsImages';
import { uploadSnapshot } from '../../provider/aws/ebsUpload';
import { unikernelInstanceProvider } from '../../provider/dynamic/unikernelInstance/provider';
import { LocalAws } from '../../testing/localAws';
import { Declaration, EngineModel } from '../../testing/engineModel';
import { PluginClient, PluginRpcError, serializeProvider, startPlugin } from '../../testing/pluginHarness';
import { checkoutProject, MiB, temporaryFolder } from '../helpers/tools';

const FAST_WAIT = { minDelaySeconds: 0.02, maxDelaySeconds: 0.05, maxWaitSeconds: 5 };

describe('engine model: a UnikernelInstance from an EBS image without a boot sector fails at once', function () {
  this.timeout(120_000);

  let fake: LocalAws;
  let plugin: PluginClient | undefined;
  let folder: { dir: string; cleanup: () => void };
  let provider: string;

  before(async function () {
    fake = await LocalAws.start({
      snapshotCompletingMs: 20,
      imagePendingMs: 20,
      instancePendingMs: 30,
      instanceShuttingDownMs: 30,
      consolePostMs: 60,
      statusCheckMs: 300,
    });
    folder = temporaryFolder('firmware-boot');
    provider = await serializeProvider(unikernelInstanceProvider);
    plugin = await startPlugin({
      cwd: checkoutProject(),
      project: 'firmware-boot',
      config: { 'unikernel:pollSeconds': '0.05' },
      env: {
        AWS_ENDPOINT_URL: fake.endpoint,
        AWS_ENDPOINT_URL_S3: undefined,
        AWS_ENDPOINT_URL_EC2: undefined,
        AWS_REGION: fake.region,
        AWS_DEFAULT_REGION: undefined,
        AWS_ACCESS_KEY_ID: fake.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: fake.credentials.secretAccessKey,
        AWS_SESSION_TOKEN: undefined,
        AWS_PROFILE: '',
      },
      deadlineMs: 60_000,
    });
  });

  after(async function () {
    await plugin?.stop();
    await fake?.stop();
    folder?.cleanup();
  });

  /** An EBS AMI of 2 MiB of 0x01 bytes, with the MBR boot signature at 510–511 when asked. */
  async function ebsAmi(name: string, bootSignature: boolean): Promise<string> {
    const data = Buffer.alloc(2 * MiB, 0x01);
    if (bootSignature) data.set([0x55, 0xaa], 510);
    const imagePath = path.join(folder.dir, `${name}.raw`);
    writeFileSync(imagePath, data);
    const settings = { endpoint: fake.endpoint, region: fake.region, credentials: fake.credentials, maxAttempts: 1 };
    const ec2 = createEc2Client(settings);
    const ebs = createEbsClient(settings);
    try {
      const snapshot = await uploadSnapshot({ ebs, ec2, imagePath, wait: FAST_WAIT });
      const registered = await registerEbsImageAndWait({
        ec2,
        snapshotId: snapshot.snapshotId,
        name,
        architecture: 'x86_64',
        wait: FAST_WAIT,
      });
      return registered.imageId;
    } finally {
      ec2.destroy();
      ebs.destroy();
    }
  }

  function program(imageId: string, inputs: Record<string, unknown> = {}): Declaration[] {
    return [
      {
        name: 'app',
        type: 'unikernel:UnikernelInstance',
        provider,
        inputs: { imageId, instanceType: 't3.micro', ...inputs },
      },
    ];
  }

  async function failedUp(engine: EngineModel, declarations: Declaration[]): Promise<PluginRpcError> {
    try {
      await engine.up(declarations);
    } catch (error) {
      assert.ok(error instanceof PluginRpcError, `not a PluginRpcError: ${String(error)}`);
      return error;
    }
    assert.fail('expected pulumi up to fail');
  }

  const stateOf = (id: string) => fake.instances().find((each) => each.instanceId === id)?.state;

  it("no boot sector: SeaBIOS's line fails the boot before the deadline; the instance is kept in state", async function () {
    const imageId = await ebsAmi('no-boot-sector', false);
    const engine = new EngineModel(plugin!);
    // A marker that never comes and a long deadline: only the built-in failure line can end it early.
    const error = await failedUp(engine, program(imageId, { bootMarker: 'listening on', bootTimeoutSeconds: 600 }));
    assert.ok(error.partial, `a partial failure expected, got ${error.message}`);
    const id = error.partial.id;
    assert.match(error.message, new RegExp(`instance ${id} is running but its boot was not verified`));
    assert.match(error.message, /firmware found no bootable device/);
    assert.match(error.message, /Boot failed: not a bootable disk/);
    assert.doesNotMatch(error.message, /within 600 s/, 'not the deadline');
    assert.equal(engine.entry('app')?.id, id, 'the instance is kept in state');
    assert.equal(stateOf(id), 'running', 'and kept running for inspection');
    await engine.destroy();
    assert.equal(stateOf(id), 'terminated');
  });

  it('no boot sector and no marker: not verified either (the status checks are impaired)', async function () {
    const imageId = await ebsAmi('no-boot-sector-no-marker', false);
    const engine = new EngineModel(plugin!);
    const error = await failedUp(engine, program(imageId));
    assert.ok(error.partial, `a partial failure expected, got ${error.message}`);
    assert.equal((error.partial.properties.bootStatus as Record<string, string>).result, 'not verified');
    assert.equal(engine.entry('app')?.id, error.partial.id);
    await engine.destroy();
  });

  it('the same image with the MBR boot signature: verified by the status checks', async function () {
    const imageId = await ebsAmi('boot-sector', true);
    const engine = new EngineModel(plugin!);
    await engine.up(program(imageId));
    const status = engine.entry('app')?.outputs.bootStatus as Record<string, string>;
    assert.equal(status.result, 'verified');
    assert.equal(status.method, 'status checks');
    await engine.destroy();
  });
});
