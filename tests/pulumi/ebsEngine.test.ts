/**
 * The EBS path (RegisteredAmi from a raw image → UnikernelInstance, as `Unikernel { rawImagePath }`
 * and examples/nanos declare it) through the engine model (testing/engineModel.ts) over the real
 * dynamic-provider plugin, against the local AWS: up, an update of the image (a replacement whose
 * snapshot is a child of the previous one), destroy; and a state written when the input was called
 * imagePath, which previews as no change under the new name.
 */
import { strict as assert } from 'assert';
import { closeSync, openSync, readFileSync, writeSync } from 'fs';
import * as path from 'path';
import { registeredAmiProvider } from '../../provider/dynamic/registeredAmi/provider';
import { unikernelInstanceProvider } from '../../provider/dynamic/unikernelInstance/provider';
import { Declaration, EngineModel, output, Plan } from '../../testing/engineModel';
import { LocalAws } from '../../testing/localAws';
import { PluginClient, serializeProvider, startPlugin } from '../../testing/pluginHarness';
import { checkoutProject, MiB, temporaryFolder, writeImage } from '../helpers/tools';

function planText(plan: Plan): string[] {
  return plan.steps.map((step) =>
    step.op === 'replace'
      ? `${step.name}: replace ${step.replaceKind} (${(step.replaces ?? []).join(', ')})`
      : `${step.name}: ${step.op}`,
  );
}

describe('engine model: the EBS path (a raw image → snapshot → HVM AMI → Nitro instance) up, updated and destroyed', function () {
  this.timeout(120_000);
  let fake: LocalAws;
  let plugin: PluginClient;
  let folder: ReturnType<typeof temporaryFolder>;
  let texts: { ami: string; instance: string };
  let image: string;

  before(async () => {
    fake = await LocalAws.start({ instancePendingMs: 20, instanceShuttingDownMs: 20, imagePendingMs: 20 });
    folder = temporaryFolder('ebs-engine');
    image = path.join(folder.dir, 'nanos.raw');
    writeImage(image, [
      { kind: 'random', bytes: 2 * MiB, bootSignature: true },
      { kind: 'hole', bytes: 4 * MiB },
      { kind: 'random', bytes: MiB },
    ]);
    texts = {
      ami: await serializeProvider(registeredAmiProvider),
      instance: await serializeProvider(unikernelInstanceProvider),
    };
    plugin = await startPlugin({
      cwd: checkoutProject(),
      project: 'nanos',
      config: { 'unikernel:pollSeconds': '0.02' },
      env: {
        AWS_ENDPOINT_URL: fake.endpoint,
        AWS_REGION: fake.region,
        AWS_ACCESS_KEY_ID: fake.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: fake.credentials.secretAccessKey,
        AWS_PROFILE: '',
      },
    });
  });
  after(async () => {
    await plugin?.stop();
    await fake?.stop();
    folder?.cleanup();
  });

  /** examples/nanos as the engine sees it: the AMI, and the instance on ami.id. */
  function nanos(source: Record<string, unknown> = { rawImagePath: image }): Declaration[] {
    return [
      {
        name: 'nanos-ami',
        type: 'unikernel:RegisteredAmi',
        provider: texts.ami,
        inputs: { ...source, name: 'nanos-app', architecture: 'x86_64', tags: { app: 'nanos' } },
      },
      {
        name: 'nanos-instance',
        type: 'unikernel:UnikernelInstance',
        provider: texts.instance,
        inputs: { imageId: output('nanos-ami', 'id'), instanceType: 't3.micro' },
      },
    ];
  }

  function live() {
    return {
      images: fake.images().filter((each) => each.state !== 'deregistered').length,
      snapshots: fake.snapshots().length,
      instances: fake.instances().filter((each) => each.state !== 'terminated').length,
    };
  }

  it('up, an image update (a child snapshot of the changed blocks, the instance replaced), then destroy', async () => {
    const engine = new EngineModel(plugin);
    assert.deepEqual(planText(await engine.preview(nanos())), ['nanos-ami: create', 'nanos-instance: create']);
    await engine.up(nanos());
    assert.deepEqual(live(), { images: 1, snapshots: 1, instances: 1 });
    assert.deepEqual(planText(await engine.preview(nanos())), ['nanos-ami: same', 'nanos-instance: same']);
    const first = engine.entry('nanos-ami')!.outputs.snapshotId as string;

    const fd = openSync(image, 'r+');
    writeSync(fd, Buffer.alloc(4096, 0x42), 0, 4096, 6 * MiB + 100);
    closeSync(fd);
    const preview = await engine.preview(nanos());
    assert.deepEqual(planText(preview), [
      'nanos-ami: replace create-before-delete (sourceHash)',
      'nanos-instance: replace create-before-delete (imageId)',
      'nanos-instance: delete-replaced',
      'nanos-ami: delete-replaced',
    ]);
    fake.clearRequests();
    assert.deepEqual(planText(await engine.up(nanos())), planText(preview));
    const second = engine.entry('nanos-ami')!.outputs.snapshotId as string;
    assert.equal(fake.snapshot(second)?.parentSnapshotId, first, 'written as a child of the previous snapshot');
    const written = fake.requests.filter(
      (request) => request.operation === 'PutSnapshotBlock' && request.status === 201,
    );
    assert.deepEqual(
      written.map((request) => request.params.BlockIndex),
      ['12'],
      'only the changed block',
    );
    const content = readFileSync(image);
    assert.ok(fake.snapshotBytes(second).subarray(0, content.length).equals(content));
    assert.deepEqual(
      live(),
      { images: 1, snapshots: 1, instances: 1 },
      'the replaced AMI, snapshot and instance are gone',
    );

    await engine.destroy();
    assert.deepEqual(engine.state, []);
    assert.deepEqual(live(), { images: 0, snapshots: 0, instances: 0 });
  });

  it('a state written when the input was imagePath previews as no change under rawImagePath, and up keeps it', async () => {
    const engine = new EngineModel(plugin);
    await engine.up(nanos());
    // What the provider wrote before the rename: imagePath in the inputs and the outputs.
    const entry = engine.entry('nanos-ami')!;
    const rename = (props: Record<string, unknown>) => {
      const { rawImagePath, ...rest } = props;
      return { ...rest, imagePath: rawImagePath };
    };
    entry.inputs = rename(entry.inputs);
    entry.outputs = rename(entry.outputs);
    assert.equal(entry.outputs.imagePath, image);
    fake.clearRequests();
    assert.deepEqual(planText(await engine.preview(nanos())), ['nanos-ami: same', 'nanos-instance: same']);
    assert.deepEqual(planText(await engine.preview(nanos({ imagePath: image }))), [
      'nanos-ami: same',
      'nanos-instance: same',
    ]);
    assert.deepEqual(planText(await engine.up(nanos())), ['nanos-ami: same', 'nanos-instance: same']);
    const [refreshed] = await engine.refresh(['nanos-ami']);
    assert.equal(refreshed.gone, false);
    assert.deepEqual(planText(await engine.preview(nanos())), ['nanos-ami: same', 'nanos-instance: same']);
    assert.deepEqual(
      fake.requests.filter((request) => !request.operation.startsWith('Describe')).map((request) => request.operation),
      [],
      'nothing changed in AWS',
    );
    await engine.destroy();
    assert.deepEqual(live(), { images: 0, snapshots: 0, instances: 0 }, 'destroy works from the old state');
  });
});
