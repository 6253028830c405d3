/**
 * Cancellation: SIGTERM or SIGINT to the real dynamic-provider plugin in the middle of a create or a
 * delete (what the engine's stop, or a second Ctrl-C, does). What the plugin was doing ends as a
 * deadline ends it, its answer reaches the engine model, the process exits, and the next up or
 * destroy, with a new plugin, finds everything that was made.
 */
import { strict as assert } from 'assert';
import { bundledImageProvider } from '../../provider/dynamic/bundledImage/provider';
import { registeredAmiProvider } from '../../provider/dynamic/registeredAmi/provider';
import { unikernelInstanceProvider } from '../../provider/dynamic/unikernelInstance/provider';
import { LocalAws } from '../../testing/localAws';
import { buildXenKernel } from '../../testing/xenKernel';
import { Declaration, EngineModel, output } from '../../testing/engineModel';
import { PluginClient, PluginRpcError, serializeProvider, startPlugin } from '../../testing/pluginHarness';
import { testEc2Identity, testPki, TestPki } from '../helpers/pki';
import { checkoutProject, MiB, temporaryFolder, writeImage } from '../helpers/tools';
import * as path from 'path';
import { execFileSync, spawnSync } from 'child_process';
import { mkdirSync, readdirSync } from 'fs';
import { qemuNbdServing } from '../helpers/qemuNbd';

const BUCKET = 'cancel-bundles';

describe('cancellation: the plugin signalled mid-operation leaves nothing the next run cannot find', function () {
  this.timeout(120_000);

  let fake: LocalAws;
  let folder: { dir: string; cleanup: () => void };
  let pki: TestPki;
  let texts: { bundle: string; ami: string; instance: string };
  let kernelPath: string;
  const plugins: PluginClient[] = [];

  before(async function () {
    fake = await LocalAws.start({
      instancePendingMs: 30,
      instanceShuttingDownMs: 1500,
      imagePendingMs: 30,
      ec2Identity: testEc2Identity(),
    });
    fake.createBucket(BUCKET, { objectOwnership: 'ObjectWriter' });
    folder = temporaryFolder('cancellation');
    pki = testPki();
    texts = {
      bundle: await serializeProvider(bundledImageProvider),
      ami: await serializeProvider(registeredAmiProvider),
      instance: await serializeProvider(unikernelInstanceProvider),
    };
    kernelPath = buildXenKernel(folder.dir, { fileName: 'mir-app.xen' });
  });

  after(async function () {
    for (const plugin of plugins) await plugin.stop();
    await fake?.stop();
    folder?.cleanup();
  });

  async function plugin(extraEnv: Record<string, string> = {}): Promise<PluginClient> {
    const started = await startPlugin({
      cwd: checkoutProject(),
      project: 'cancel',
      config: { 'unikernel:pollSeconds': '0.02' },
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
        ...extraEnv,
      },
      deadlineMs: 60_000,
    });
    plugins.push(started);
    return started;
  }

  function mirage(): Declaration[] {
    return [
      {
        name: 'bundle',
        type: 'unikernel:BundledImage',
        provider: texts.bundle,
        inputs: {
          kernelPath,
          bucket: BUCKET,
          accountId: fake.accountId,
          privateKey: pki.user.key,
          certificate: pki.user.cert,
          ec2Certificate: pki.ec2.cert,
        },
        secretInputs: ['privateKey'],
      },
      {
        name: 'ami',
        type: 'unikernel:RegisteredAmi',
        provider: texts.ami,
        inputs: { manifestLocation: output('bundle', 'id'), name: 'cancel' },
      },
      {
        name: 'instance',
        type: 'unikernel:UnikernelInstance',
        provider: texts.instance,
        inputs: { imageId: output('ami', 'id'), instanceType: 'm3.medium' },
      },
    ];
  }

  const live = () => ({
    instances: fake.instances().filter((each) => each.state !== 'terminated').length,
    images: fake.images().filter((each) => each.ownerId === fake.accountId && each.state !== 'deregistered').length,
    objects: fake.objects(BUCKET).length,
  });
  const liveImageIds = () =>
    fake
      .images()
      .filter((each) => each.ownerId === fake.accountId && each.state !== 'deregistered')
      .map((each) => each.imageId);
  const liveInstanceIds = () =>
    fake
      .instances()
      .filter((each) => each.state !== 'terminated')
      .map((each) => each.instanceId);
  const planText = (plan: { steps: { name: string; op: string; replaces?: string[] }[] }) =>
    plan.steps.map((step) => `${step.name}: ${step.op}${step.replaces ? ` (${step.replaces.join(', ')})` : ''}`);

  async function until(test: () => boolean, what: string): Promise<void> {
    const start = Date.now();
    while (!test()) {
      if (Date.now() - start > 30_000) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  it('SIGTERM mid-upload: the bundle is kept as an unfinished upload with its location; the next up resumes it and goes on', async function () {
    fake.clearRequests();
    const first = await plugin();
    const engine = new EngineModel(first);
    const manifest = (request: { operation: string; key?: string }) =>
      request.operation === 'PutObject' && request.key?.endsWith('.manifest.xml') === true;
    fake.faults.inject({ service: 's3', operation: 'PutObject', kind: 'latency', ms: 5_000, match: manifest });
    const running = engine.up(mirage());
    await until(() => fake.requests.some(manifest), 'the manifest upload');
    first.signal('SIGTERM');
    const error = await running.then(
      () => assert.fail('the up must fail'),
      (failure: unknown) => failure,
    );
    assert.ok(error instanceof PluginRpcError, String(error));
    assert.ok(error.partial, `a partial failure keeps the bundle: ${error.message}`);
    assert.deepEqual((await first.exited()).code, 143, 'the plugin exits once its answer is sent');
    // The delayed PutObject still lands in the local AWS after the client gave up; the next up
    // starts once it has (a write arriving after the resumed upload would be another race).
    await until(() => fake.requests.filter(manifest).every((request) => request.status !== 0), 'the delayed write');
    fake.faults.clear();
    assert.deepEqual(
      engine.state.map((entry) => [entry.name, entry.outputs.bundleStatus]),
      [['bundle', 'unfinished']],
    );

    const next = new EngineModel(await plugin());
    next.state = engine.state;
    const plan = await next.up(mirage());
    assert.deepEqual(
      plan.steps.map((step) => `${step.name}: ${step.op}`),
      ['bundle: update', 'ami: create', 'instance: create'],
    );
    assert.equal(next.entry('bundle')!.outputs.bundleStatus, 'intact');
    await next.destroy();
    assert.deepEqual(live(), { instances: 0, images: 0, objects: 0 });
  });

  it('SIGINT mid-launch: the instance not yet running is terminated before the plugin exits; SIGTERM mid-terminate keeps it in the state for the next destroy', async function () {
    fake.clearRequests();
    const first = await plugin();
    const engine = new EngineModel(first);
    fake.faults.inject({ service: 'ec2', operation: 'RunInstances', kind: 'stuckPending', times: 1 });
    const running = engine.up(mirage());
    await until(() => fake.requests.some((request) => request.operation === 'RunInstances'), 'the launch');
    await new Promise((resolve) => setTimeout(resolve, 200));
    first.signal('SIGINT');
    await assert.rejects(running, PluginRpcError);
    assert.deepEqual(await first.exited(), { code: 130, signal: null }, first.output().join('\n'));
    fake.faults.clear();
    assert.deepEqual(
      engine.state.map((entry) => entry.name),
      ['bundle', 'ami'],
    );
    assert.equal(live().instances, 0, 'the launched instance was terminated, not left running unrecorded');

    const second = await plugin();
    const next = new EngineModel(second);
    next.state = engine.state;
    await next.up(mirage());
    assert.equal(live().instances, 1);
    fake.clearRequests();
    const destroying = next.destroy();
    await until(() => fake.requests.some((request) => request.operation === 'TerminateInstances'), 'the terminate');
    second.signal('SIGTERM');
    await assert.rejects(destroying, PluginRpcError);
    assert.deepEqual((await second.exited()).code, 143);
    assert.deepEqual(
      next.state.map((entry) => entry.name),
      ['bundle', 'ami', 'instance'],
      'a delete that did not finish keeps the resource',
    );

    const last = new EngineModel(await plugin());
    last.state = next.state;
    await last.destroy();
    assert.deepEqual(last.state, []);
    assert.deepEqual(live(), { instances: 0, images: 0, objects: 0 });
  });

  it('SIGINT while the boot is verified: the running instance is kept in the state (a partial failure), and the next destroy removes it', async function () {
    fake.clearRequests();
    const first = await plugin();
    const engine = new EngineModel(first);
    const program = mirage().map((declaration) =>
      declaration.name === 'instance'
        ? { ...declaration, inputs: { ...declaration.inputs, bootMarker: 'never printed', bootTimeoutSeconds: 600 } }
        : declaration,
    );
    const running = engine.up(program);
    await until(() => fake.requests.some((request) => request.operation === 'GetConsoleOutput'), 'the boot check');
    first.signal('SIGINT');
    await assert.rejects(running, PluginRpcError);
    assert.deepEqual(await first.exited(), { code: 130, signal: null }, first.output().join('\n'));
    assert.deepEqual(
      engine.state.map((entry) => entry.name),
      ['bundle', 'ami', 'instance'],
      'the instance that runs is in the state',
    );
    assert.equal(live().instances, 1);

    const last = new EngineModel(await plugin());
    last.state = engine.state;
    await last.destroy();
    assert.deepEqual(live(), { instances: 0, images: 0, objects: 0 });
  });

  it('SIGINT while RegisterImage is in flight: the AMI AWS registered is found by its name and kept in the state; the next up replaces it, and destroy leaves nothing', async function () {
    fake.clearRequests();
    const first = await plugin();
    const engine = new EngineModel(first);
    fake.faults.inject({ service: 'ec2', operation: 'RegisterImage', kind: 'latency', ms: 1_500, times: 1 });
    const running = engine.up(mirage());
    await until(() => fake.requests.some((request) => request.operation === 'RegisterImage'), 'RegisterImage');
    first.signal('SIGINT');
    const error = await running.then(
      () => assert.fail('the up must fail'),
      (failure: unknown) => failure,
    );
    assert.ok(error instanceof PluginRpcError && error.partial, `a partial failure keeps the AMI: ${String(error)}`);
    assert.match(
      error.message,
      /RegisterImage was cut off in flight \(cancelled \(SIGINT\)\) after AWS registered ami-/,
    );
    assert.match(
      error.message,
      /kept in the state: the next up replaces it \(a refresh before it finds the AMI available and keeps it\), destroy deregisters it/,
    );
    assert.deepEqual(await first.exited(), { code: 130, signal: null }, first.output().join('\n'));
    fake.faults.clear();
    assert.deepEqual(
      engine.state.map((entry) => entry.name),
      ['bundle', 'ami'],
    );
    assert.deepEqual(
      liveImageIds(),
      [engine.entry('ami')!.id],
      'the one AMI AWS registered is the one the state names',
    );
    assert.match(String(engine.entry('ami')!.outputs.state), /registration cut off$/);

    const next = new EngineModel(await plugin());
    next.state = engine.state;
    const cutOff = engine.entry('ami')!.id;
    const plan = await next.up(mirage());
    assert.deepEqual(planText(plan), [
      'bundle: same',
      'ami: replace (state)',
      'instance: create',
      'ami: delete-replaced',
    ]);
    assert.ok(!liveImageIds().includes(cutOff), 'the cut-off AMI was deregistered by the replacement');
    await next.destroy();
    assert.deepEqual(live(), { instances: 0, images: 0, objects: 0 });
  });

  it('SIGTERM while RunInstances is in flight: the instance EC2 started is found by its client token and kept in the state; the next up replaces it, and destroy leaves nothing', async function () {
    fake.clearRequests();
    const first = await plugin();
    const engine = new EngineModel(first);
    fake.faults.inject({ service: 'ec2', operation: 'RunInstances', kind: 'latency', ms: 1_500, times: 1 });
    const running = engine.up(mirage());
    await until(() => fake.requests.some((request) => request.operation === 'RunInstances'), 'RunInstances');
    first.signal('SIGTERM');
    const error = await running.then(
      () => assert.fail('the up must fail'),
      (failure: unknown) => failure,
    );
    assert.ok(
      error instanceof PluginRpcError && error.partial,
      `a partial failure keeps the instance: ${String(error)}`,
    );
    assert.match(error.message, /RunInstances was cut off in flight \(cancelled \(SIGTERM\)\) after EC2 started i-/);
    assert.deepEqual((await first.exited()).code, 143);
    fake.faults.clear();
    assert.deepEqual(
      engine.state.map((entry) => entry.name),
      ['bundle', 'ami', 'instance'],
    );
    const cutOff = engine.entry('instance')!.id;
    assert.deepEqual(liveInstanceIds(), [cutOff], 'the one instance EC2 started is the one the state names');
    assert.match(String(engine.entry('instance')!.outputs.state), /launch cut off$/);

    const next = new EngineModel(await plugin());
    next.state = engine.state;
    // A refresh finds it running; its boot was never checked, and the state still says so.
    await next.refresh();
    assert.equal(next.entry('instance')!.outputs.state, 'running');
    const plan = await next.up(mirage());
    assert.deepEqual(planText(plan), [
      'bundle: same',
      'ami: same',
      'instance: replace (bootStatus)',
      'instance: delete-replaced',
    ]);
    assert.ok(!liveInstanceIds().includes(cutOff), 'the cut-off instance was terminated by the replacement');
    await next.destroy();
    assert.deepEqual(live(), { instances: 0, images: 0, objects: 0 });
  });

  it("RegisterImage's answer lost: the plugin's create adopts the AMI its retry found under its own name, and the state names the one AMI there is", async function () {
    fake.clearRequests();
    const engine = new EngineModel(await plugin());
    fake.faults.inject({ service: 'ec2', operation: 'RegisterImage', kind: 'answerLost', times: 1 });
    await engine.up(mirage());
    fake.faults.clear();
    assert.deepEqual(
      fake.requests.filter((request) => request.operation === 'RegisterImage').map((request) => request.errorCode),
      ['ConnectionReset', 'InvalidAMIName.Duplicate'],
    );
    assert.deepEqual(liveImageIds(), [engine.entry('ami')!.id]);
    assert.equal(engine.entry('ami')!.outputs.state, 'available');
    await engine.destroy();
    assert.deepEqual(live(), { instances: 0, images: 0, objects: 0 });
  });

  it('EBS-backed: a lost answer is adopted; SIGINT while RegisterImage is in flight keeps the AMI and its snapshot in the state, and destroy removes both', async function () {
    const imagePath = path.join(folder.dir, 'disk.raw');
    writeImage(imagePath, [{ kind: 'random', bytes: MiB }]);
    const program: Declaration[] = [
      {
        name: 'ebs-ami',
        type: 'unikernel:RegisteredAmi',
        provider: texts.ami,
        inputs: { imagePath, name: 'cancel-ebs' },
      },
    ];
    const liveSnapshots = () => fake.snapshots().length;

    fake.clearRequests();
    const lost = new EngineModel(await plugin());
    fake.faults.inject({ service: 'ec2', operation: 'RegisterImage', kind: 'answerLost', times: 1 });
    await lost.up(program);
    fake.faults.clear();
    assert.deepEqual(liveImageIds(), [lost.entry('ebs-ami')!.id]);
    await lost.destroy();
    assert.deepEqual([live().images, liveSnapshots()], [0, 0]);

    fake.clearRequests();
    const first = await plugin();
    const engine = new EngineModel(first);
    fake.faults.inject({ service: 'ec2', operation: 'RegisterImage', kind: 'latency', ms: 1_500, times: 1 });
    const running = engine.up(program);
    await until(() => fake.requests.some((request) => request.operation === 'RegisterImage'), 'RegisterImage');
    first.signal('SIGINT');
    const error = await running.then(
      () => assert.fail('the up must fail'),
      (failure: unknown) => failure,
    );
    assert.ok(error instanceof PluginRpcError && error.partial, `a partial failure keeps the AMI: ${String(error)}`);
    assert.match(error.message, /kept in the state with snapshot snap-/);
    assert.deepEqual(await first.exited(), { code: 130, signal: null }, first.output().join('\n'));
    fake.faults.clear();
    const entry = engine.entry('ebs-ami')!;
    assert.deepEqual(liveImageIds(), [entry.id]);
    assert.equal(liveSnapshots(), 1);
    assert.match(String(entry.outputs.snapshotId), /^snap-/);

    const last = new EngineModel(await plugin());
    last.state = engine.state;
    await last.destroy();
    assert.deepEqual([live().images, liveSnapshots()], [0, 0]);
  });

  it('EBS-backed: SIGTERM while snapshot blocks are written deletes the pending snapshot before the plugin exits, and says so', async function () {
    const imagePath = path.join(folder.dir, 'disk-blocks.raw');
    writeImage(imagePath, [{ kind: 'random', bytes: 4 * MiB }]);
    const program: Declaration[] = [
      {
        name: 'ebs-ami',
        type: 'unikernel:RegisteredAmi',
        provider: texts.ami,
        inputs: { rawImagePath: imagePath, name: 'cancel-ebs-blocks' },
      },
    ];
    fake.clearRequests();
    const first = await plugin();
    const engine = new EngineModel(first);
    fake.faults.inject({ service: 'ebs', operation: 'PutSnapshotBlock', kind: 'latency', ms: 1_500, times: 2 });
    const running = engine.up(program);
    await until(() => fake.requests.some((request) => request.operation === 'PutSnapshotBlock'), 'a block write');
    first.signal('SIGTERM');
    const error = await running.then(
      () => assert.fail('the up must fail'),
      (failure: unknown) => failure,
    );
    assert.deepEqual(await first.exited(), { code: 143, signal: null }, first.output().join('\n'));
    fake.faults.clear();
    assert.match(String(error), /the partial snapshot snap-[0-9a-f]+ was deleted/);
    assert.deepEqual(engine.state, [], 'nothing was made that a state must name');
    assert.deepEqual(
      fake.snapshots().map((snapshot) => snapshot.snapshotId),
      [],
      'no snapshot is left that no state names',
    );
    assert.deepEqual(live().images, 0);
  });

  it('EBS-backed, a qcow2 image read through qemu-nbd: SIGTERM while its blocks are written stops qemu-nbd and removes its socket folder before the plugin exits', async function () {
    if (spawnSync('qemu-nbd', ['--version']).status !== 0) this.skip(); // apt-get install qemu-utils
    const rawPath = path.join(folder.dir, 'disk-nbd.raw');
    writeImage(rawPath, [{ kind: 'random', bytes: 4 * MiB }]);
    const imagePath = path.join(folder.dir, 'disk-nbd.qcow2');
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', rawPath, imagePath]);
    const scratch = path.join(folder.dir, 'nbd-tmp');
    mkdirSync(scratch);
    const program: Declaration[] = [
      {
        name: 'ebs-qcow2-ami',
        type: 'unikernel:RegisteredAmi',
        provider: texts.ami,
        inputs: { rawImagePath: imagePath, name: 'cancel-ebs-qcow2' },
      },
    ];
    fake.clearRequests();
    const first = await plugin({ TMPDIR: scratch });
    const engine = new EngineModel(first);
    fake.faults.inject({ service: 'ebs', operation: 'PutSnapshotBlock', kind: 'latency', ms: 1_500, times: 2 });
    const running = engine.up(program);
    await until(() => fake.requests.some((request) => request.operation === 'PutSnapshotBlock'), 'a block write');
    assert.equal(qemuNbdServing(imagePath).length, 1, 'qemu-nbd serves the upload');
    first.signal('SIGTERM');
    const error = await running.then(
      () => assert.fail('the up must fail'),
      (failure: unknown) => failure,
    );
    assert.deepEqual(await first.exited(), { code: 143, signal: null }, first.output().join('\n'));
    fake.faults.clear();
    assert.match(String(error), /the partial snapshot snap-[0-9a-f]+ was deleted/);
    assert.deepEqual(qemuNbdServing(imagePath), [], 'qemu-nbd stopped before the plugin exited');
    assert.deepEqual(readdirSync(scratch), [], 'its socket folder removed');
    assert.deepEqual(engine.state, []);
    assert.deepEqual(fake.snapshots(), [], 'no snapshot is left');
  });

  it("SIGKILL mid-upload: nothing could be recorded; the next up removes the killed create's folder, and the bucket holds exactly the bundle the state names", async function () {
    fake.clearRequests();
    const first = await plugin();
    const engine = new EngineModel(first);
    const part = (request: { operation: string; key?: string }) =>
      request.operation === 'PutObject' && /\.part\.\d+$/.test(request.key ?? '');
    fake.faults.inject({ service: 's3', operation: 'PutObject', kind: 'latency', ms: 1_500, match: part, times: 1 });
    const running = engine.up(mirage()).then(
      () => 'finished',
      () => 'failed',
    );
    await until(() => fake.requests.some(part), 'a part upload');
    first.signal('SIGKILL');
    assert.equal(await running, 'failed');
    assert.deepEqual(await first.exited(), { code: null, signal: 'SIGKILL' });
    await until(() => fake.requests.filter(part).every((request) => request.status !== 0), 'the delayed part');
    fake.faults.clear();
    assert.deepEqual(engine.state, [], 'a killed plugin answers nothing: no state names its folder');
    const left = fake.objects(BUCKET).map((object) => object.key);
    assert.ok(
      left.some((key) => key.endsWith('.resume.json')) && left.some((key) => /\.part\.\d+$/.test(key)),
      `the killed create left its claim and a part: ${left.join(', ')}`,
    );

    const second = await plugin();
    const next = new EngineModel(second);
    await next.up(mirage());
    const bundle = next.entry('bundle')!.outputs;
    const folder = `${String(bundle.bundleKey)}/`;
    const keys = fake
      .objects(BUCKET)
      .map((object) => object.key)
      .sort();
    assert.deepEqual(
      keys,
      [...(bundle.partKeys as string[]), String(bundle.manifestKey)].sort(),
      'the bucket holds exactly the bundle the state names',
    );
    assert.ok(
      keys.every((key) => key.startsWith(folder)),
      keys.join(', '),
    );
    assert.ok(
      second.output().some((line) => /a create of this bundle that was killed before it finished/.test(line)),
      second.output().join('\n'),
    );
    await next.destroy();
    assert.deepEqual(live(), { instances: 0, images: 0, objects: 0 });
  });
});
