/**
 * The Mirage stack (BundledImage → RegisteredAmi → UnikernelInstance, wired as examples/mirage is)
 * through the engine model (testing/engineModel.ts) over the real dynamic-provider plugin, against
 * the local AWS. Each scenario asserts what the preview plans, that `up` does exactly that, and the
 * order of the AWS calls that change something; each ends with a destroy that leaves AWS empty.
 */
import { strict as assert } from 'assert';
import { CreateTagsCommand, DeleteTagsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { bundledImageProvider } from '../../provider/dynamic/bundledImage/provider';
import { registeredAmiProvider } from '../../provider/dynamic/registeredAmi/provider';
import { unikernelInstanceProvider } from '../../provider/dynamic/unikernelInstance/provider';
import { LocalAws, RecordedRequest } from '../../testing/localAws';
import { buildXenKernel } from '../../testing/xenKernel';
import { Declaration, EngineModel, output, Plan, ResourceOptions } from '../../testing/engineModel';
import { PluginClient, serializeProvider, startPlugin } from '../../testing/pluginHarness';
import { testEc2Identity, testPki, TestPki } from '../helpers/pki';
import { checkoutProject, temporaryFolder } from '../helpers/tools';

const BUCKET = 'mirage-bundles';

/** The AWS calls that change something, in order, with consecutive repeats folded (a multi-part upload is one step). */
const CHANGING = new Set([
  'PutObject',
  'CompleteMultipartUpload',
  'DeleteObject',
  'RegisterImage',
  'DeregisterImage',
  'ModifyImageAttribute',
  'RunInstances',
  'TerminateInstances',
  'CreateTags',
  'DeleteTags',
]);

function changingCalls(requests: RecordedRequest[]): string[] {
  const calls: string[] = [];
  for (const request of requests) {
    if (!CHANGING.has(request.operation) || request.status >= 300 || request.status === 0) continue;
    // The claim on a bundle's place (NAME.resume.json) is written and removed within one create.
    if (request.key?.endsWith('.resume.json')) continue;
    const name = request.operation === 'CompleteMultipartUpload' ? 'PutObject' : request.operation;
    if (calls[calls.length - 1] !== name) calls.push(name);
  }
  return calls;
}

/** The plan as `name: op` (with the replacement kind and what forced it). */
function planText(plan: Plan): string[] {
  return plan.steps.map((step) =>
    step.op === 'replace'
      ? `${step.name}: replace ${step.replaceKind} (${(step.replaces ?? []).join(', ')})`
      : `${step.name}: ${step.op}${step.retained ? ' (retained)' : ''}`,
  );
}

describe('engine model: the Mirage stack previewed, updated, refreshed and destroyed as the Pulumi engine would', function () {
  this.timeout(120_000);

  let fake: LocalAws;
  let plugin: PluginClient;
  let folder: { dir: string; cleanup: () => void };
  let pki: TestPki;
  let texts: { bundle: string; ami: string; instance: string };
  let kernels: { first: string; second: string };

  before(async function () {
    fake = await LocalAws.start({
      instancePendingMs: 30,
      instanceShuttingDownMs: 30,
      imagePendingMs: 30,
      ec2Identity: testEc2Identity(),
    });
    fake.createBucket(BUCKET, { objectOwnership: 'ObjectWriter' });
    folder = temporaryFolder('engine-scenarios');
    pki = testPki();
    texts = {
      bundle: await serializeProvider(bundledImageProvider),
      ami: await serializeProvider(registeredAmiProvider),
      instance: await serializeProvider(unikernelInstanceProvider),
    };
    kernels = {
      first: buildXenKernel(folder.dir, { fileName: 'mir-app.xen', seed: 'first' }),
      second: buildXenKernel(temporaryFolder('engine-scenarios-v2').dir, { fileName: 'mir-app.xen', seed: 'second' }),
    };
    plugin = await startPlugin({
      cwd: checkoutProject(),
      project: 'mirage',
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
      },
      deadlineMs: 60_000,
    });
  });

  // A failed case leaves nothing behind for the next one.
  afterEach(function () {
    const left = live();
    for (const instance of left.instances) fake.setInstanceStateDirect(instance, 'terminated');
    for (const image of left.images) fake.deregisterImageDirect(image);
    for (const key of left.objects) fake.deleteObjectDirect(BUCKET, key);
    fake.clearRequests();
  });

  after(async function () {
    await plugin?.stop();
    await fake?.stop();
    folder?.cleanup();
  });

  interface Stack {
    kernelPath?: string;
    timeoutSeconds?: number;
    description?: string;
    amiTags?: Record<string, string>;
    instanceType?: string;
    instanceTags?: Record<string, string>;
    options?: ResourceOptions;
    amiOptions?: ResourceOptions;
    /** Also wire the manifest's ETag, as programs written before the ids were used do. */
    wireEtag?: boolean;
  }

  /** examples/mirage/index.ts, as the engine sees it. */
  function mirage(stack: Stack = {}): Declaration[] {
    return [
      {
        name: 'mirage-bundle',
        type: 'unikernel:BundledImage',
        provider: texts.bundle,
        inputs: {
          kernelPath: stack.kernelPath ?? kernels.first,
          bucket: BUCKET,
          keyPrefix: 'unikernels/dev',
          accountId: fake.accountId,
          privateKey: pki.user.key,
          certificate: pki.user.cert,
          ec2Certificate: pki.ec2.cert,
          timeoutSeconds: stack.timeoutSeconds,
        },
        secretInputs: ['privateKey'],
        options: stack.options,
      },
      {
        name: 'mirage-ami',
        type: 'unikernel:RegisteredAmi',
        provider: texts.ami,
        inputs: {
          manifestLocation: output('mirage-bundle', 'id'),
          manifestEtag: stack.wireEtag ? output('mirage-bundle', 'manifestEtag') : undefined,
          name: 'mirage-dev',
          description: stack.description ?? 'Xen PV unikernel (PV-GRUB)',
          tags: stack.amiTags ?? { project: 'mirage', stack: 'dev' },
        },
        options: stack.amiOptions ?? stack.options,
      },
      {
        name: 'mirage-instance',
        type: 'unikernel:UnikernelInstance',
        provider: texts.instance,
        inputs: {
          imageId: output('mirage-ami', 'id'),
          instanceType: stack.instanceType ?? 'm3.medium',
          tags: stack.instanceTags ?? { Name: 'mirage-dev' },
        },
        options: stack.options,
      },
    ];
  }

  const live = () => ({
    instances: fake
      .instances()
      .filter((each) => each.state !== 'terminated')
      .map((each) => each.instanceId),
    images: fake
      .images()
      .filter((each) => each.ownerId === fake.accountId && each.state !== 'deregistered')
      .map((each) => each.imageId),
    objects: fake.objects(BUCKET).map((each) => each.key),
  });

  /** A fresh stack, up; the requests cleared. */
  async function upFirst(stack: Stack = {}): Promise<EngineModel> {
    const engine = new EngineModel(plugin);
    const plan = await engine.up(mirage(stack));
    assert.deepEqual(planText(plan), ['mirage-bundle: create', 'mirage-ami: create', 'mirage-instance: create']);
    fake.clearRequests();
    return engine;
  }

  /** Preview, then up: the plan `up` carries out is the one the preview showed. */
  async function previewThenUp(engine: EngineModel, stack: Stack, expected: string[]): Promise<Plan> {
    const preview = await engine.preview(mirage(stack));
    assert.deepEqual(planText(preview), expected, 'the preview');
    assert.deepEqual(changingCalls(fake.requests), [], 'a preview changes nothing in AWS');
    const plan = await engine.up(mirage(stack));
    assert.deepEqual(planText(plan), expected, 'up does what the preview showed');
    const again = await engine.preview(mirage(stack));
    assert.deepEqual(
      planText(again),
      ['mirage-bundle: same', 'mirage-ami: same', 'mirage-instance: same'],
      'nothing is left to do',
    );
    return plan;
  }

  async function destroyToEmpty(engine: EngineModel): Promise<void> {
    await engine.destroy();
    assert.deepEqual(engine.state, []);
    assert.deepEqual(live(), { instances: [], images: [], objects: [] }, 'destroy leaves AWS empty');
  }

  it('a tag change on the AMI previews as that update alone, and up only retags', async function () {
    const engine = await upFirst();
    const instance = engine.entry('mirage-instance')!.id;
    await previewThenUp(engine, { amiTags: { project: 'mirage', stack: 'dev', owner: 'ops' } }, [
      'mirage-bundle: same',
      'mirage-ami: update',
      'mirage-instance: same',
    ]);
    assert.deepEqual(changingCalls(fake.requests), ['CreateTags']);
    assert.equal(engine.entry('mirage-instance')!.id, instance, 'the instance runs on');
    await destroyToEmpty(engine);
  });

  it('wired through an output-only property (ami.imageId), the same tag change previews a replacement up does not make: why the ids', async function () {
    const engine = await upFirst();
    const viaOutput = (stack: Stack): Declaration[] =>
      mirage(stack).map((declaration) =>
        declaration.name === 'mirage-instance'
          ? { ...declaration, inputs: { ...declaration.inputs, imageId: output('mirage-ami', 'imageId') } }
          : declaration,
      );
    const retag = { amiTags: { project: 'mirage', stack: 'dev', owner: 'ops' } };
    const preview = await engine.preview(viaOutput(retag));
    assert.deepEqual(planText(preview), [
      'mirage-bundle: same',
      'mirage-ami: update',
      'mirage-instance: replace create-before-delete (imageId)',
      'mirage-instance: delete-replaced',
    ]);
    const plan = await engine.up(viaOutput(retag));
    assert.deepEqual(planText(plan), ['mirage-bundle: same', 'mirage-ami: update', 'mirage-instance: same']);
    await destroyToEmpty(engine);
  });

  it('a description change previews as an AMI update alone; up calls ModifyImageAttribute only', async function () {
    const engine = await upFirst();
    await previewThenUp(engine, { description: 'v2' }, [
      'mirage-bundle: same',
      'mirage-ami: update',
      'mirage-instance: same',
    ]);
    assert.deepEqual(changingCalls(fake.requests), ['ModifyImageAttribute']);
    await destroyToEmpty(engine);
  });

  it('an in-place bundle change (timeoutSeconds), even with the ETag wired, replaces nothing downstream', async function () {
    const engine = await upFirst({ wireEtag: true });
    await previewThenUp(engine, { wireEtag: true, timeoutSeconds: 600 }, [
      'mirage-bundle: update',
      'mirage-ami: same',
      'mirage-instance: same',
    ]);
    assert.deepEqual(changingCalls(fake.requests), []);
    await destroyToEmpty(engine);
  });

  it('a kernel change replaces all three create-before-delete: the old instance is terminated only once the new one runs', async function () {
    const engine = await upFirst();
    const old = {
      bundle: engine.entry('mirage-bundle')!.id,
      ami: engine.entry('mirage-ami')!.id,
      instance: engine.entry('mirage-instance')!.id,
    };
    const plan = await previewThenUp(engine, { kernelPath: kernels.second }, [
      'mirage-bundle: replace create-before-delete (sourceHash)',
      'mirage-ami: replace create-before-delete (manifestLocation)',
      'mirage-instance: replace create-before-delete (imageId)',
      'mirage-instance: delete-replaced',
      'mirage-ami: delete-replaced',
      'mirage-bundle: delete-replaced',
    ]);
    const fresh = {
      bundle: engine.entry('mirage-bundle')!.id,
      ami: engine.entry('mirage-ami')!.id,
      instance: engine.entry('mirage-instance')!.id,
    };
    assert.deepEqual(plan.events, [
      `create mirage-bundle ${fresh.bundle}`,
      `create mirage-ami ${fresh.ami}`,
      `create mirage-instance ${fresh.instance}`,
      `delete mirage-instance ${old.instance} (replaced)`,
      `delete mirage-ami ${old.ami} (replaced)`,
      `delete mirage-bundle ${old.bundle} (replaced)`,
    ]);
    assert.deepEqual(changingCalls(fake.requests), [
      'PutObject',
      'RegisterImage',
      'RunInstances',
      'TerminateInstances',
      'DeregisterImage',
      'DeleteObject',
    ]);
    // The new instance was running (its create waited for it) before the old one was terminated.
    const terminate = fake.requests.find((request) => request.operation === 'TerminateInstances')!;
    assert.equal(terminate.params['InstanceId.1'], old.instance);
    const newRunning = fake.instances().find((each) => each.instanceId === fresh.instance)!;
    assert.equal(newRunning.state, 'running');
    const names = fake.images().map((image) => image.name);
    assert.equal(new Set(names).size, names.length, 'the AMIs have names of their own');
    assert.ok(
      names.every((name) => /^mirage-dev-[0-9a-f]{8}$/.test(name)),
      names.join(', '),
    );
    await destroyToEmpty(engine);
  });

  it('an instance type change replaces the instance alone, new before old', async function () {
    const engine = await upFirst();
    await previewThenUp(engine, { instanceType: 'c3.large' }, [
      'mirage-bundle: same',
      'mirage-ami: same',
      'mirage-instance: replace create-before-delete (instanceType)',
      'mirage-instance: delete-replaced',
    ]);
    assert.deepEqual(changingCalls(fake.requests), ['RunInstances', 'TerminateInstances']);
    await destroyToEmpty(engine);
  });

  it('a damaged bundle, found by refresh, is made again next to the old one; AMI and instance follow, new before old', async function () {
    const engine = await upFirst();
    const damagedKey = String((engine.entry('mirage-bundle')!.outputs.partKeys as string[])[0]);
    fake.deleteObjectDirect(BUCKET, damagedKey);
    const refreshed = await engine.refresh();
    assert.deepEqual(
      refreshed.map((step) => [step.name, step.changed]),
      [
        ['mirage-bundle', true],
        ['mirage-ami', false],
        ['mirage-instance', false],
      ],
    );
    assert.match(String(engine.entry('mirage-bundle')!.outputs.bundleStatus), /^damaged: part .* is missing$/);
    fake.clearRequests();
    await previewThenUp(engine, {}, [
      'mirage-bundle: replace create-before-delete (bundleStatus)',
      'mirage-ami: replace create-before-delete (manifestLocation)',
      'mirage-instance: replace create-before-delete (imageId)',
      'mirage-instance: delete-replaced',
      'mirage-ami: delete-replaced',
      'mirage-bundle: delete-replaced',
    ]);
    assert.deepEqual(changingCalls(fake.requests), [
      'PutObject',
      'RegisterImage',
      'RunInstances',
      'TerminateInstances',
      'DeregisterImage',
      'DeleteObject',
    ]);
    await destroyToEmpty(engine);
  });

  it('drift healed: a terminated instance is created again, an AMI retagged out of band is retagged back', async function () {
    const engine = await upFirst();
    fake.setInstanceStateDirect(engine.entry('mirage-instance')!.id, 'terminated');
    const ec2 = new EC2Client({ ...fake.clientConfig(), maxAttempts: 1 });
    const image = engine.entry('mirage-ami')!.id;
    await ec2.send(new CreateTagsCommand({ Resources: [image], Tags: [{ Key: 'project', Value: 'someone-else' }] }));
    await ec2.send(new DeleteTagsCommand({ Resources: [image], Tags: [{ Key: 'stack' }] }));
    fake.clearRequests();
    const refreshed = await engine.refresh();
    assert.deepEqual(
      refreshed.map((step) => [step.name, step.gone, step.inputsAdopted]),
      [
        ['mirage-bundle', false, true],
        ['mirage-ami', false, true],
        ['mirage-instance', true, false],
      ],
    );
    assert.deepEqual(
      engine.entry('mirage-ami')!.inputs.tags,
      { project: 'someone-else' },
      'refresh adopts the inputs read returns',
    );
    fake.clearRequests();
    await previewThenUp(engine, {}, ['mirage-bundle: same', 'mirage-ami: update', 'mirage-instance: create']);
    assert.deepEqual(changingCalls(fake.requests), ['CreateTags', 'RunInstances']);
    await destroyToEmpty(engine);
  });

  it('retained resources: a kernel change keeps the old bundle, AMI and instance (no name or location collides); destroy only forgets', async function () {
    const engine = await upFirst({ options: { retainOnDelete: true } });
    const old = live();
    const plan = await previewThenUp(engine, { kernelPath: kernels.second, options: { retainOnDelete: true } }, [
      'mirage-bundle: replace create-before-delete (sourceHash)',
      'mirage-ami: replace create-before-delete (manifestLocation)',
      'mirage-instance: replace create-before-delete (imageId)',
      'mirage-instance: delete-replaced (retained)',
      'mirage-ami: delete-replaced (retained)',
      'mirage-bundle: delete-replaced (retained)',
    ]);
    assert.deepEqual(
      plan.events.filter((event) => event.startsWith('retain')).map((event) => event.split(' ')[1]),
      ['mirage-instance', 'mirage-ami', 'mirage-bundle'],
    );
    assert.deepEqual(changingCalls(fake.requests), ['PutObject', 'RegisterImage', 'RunInstances']);
    const both = live();
    assert.equal(both.instances.length, 2);
    assert.equal(both.images.length, 2);
    assert.ok(
      old.objects.every((key) => both.objects.includes(key)),
      'the old bundle is kept whole',
    );
    fake.clearRequests();
    await engine.destroy();
    assert.deepEqual(changingCalls(fake.requests), [], 'retained: destroy deletes nothing');
    assert.deepEqual(engine.state, []);
    // Clean up what the stack let go of.
    for (const instance of both.instances) fake.setInstanceStateDirect(instance, 'terminated');
    for (const image of both.images) fake.deregisterImageDirect(image);
    for (const key of both.objects) fake.deleteObjectDirect(BUCKET, key);
    assert.deepEqual(live(), { instances: [], images: [], objects: [] });
  });

  it('delete-before-replace asked for on the AMI: the engine deletes the instance first, then the AMI, then makes both again', async function () {
    const engine = await upFirst({ amiOptions: { deleteBeforeReplace: true } });
    const old = { ami: engine.entry('mirage-ami')!.id, instance: engine.entry('mirage-instance')!.id };
    const stack = { kernelPath: kernels.second, amiOptions: { deleteBeforeReplace: true } };
    const plan = await previewThenUp(engine, stack, [
      'mirage-bundle: replace create-before-delete (sourceHash)',
      'mirage-instance: delete-replaced',
      'mirage-ami: delete-replaced',
      'mirage-ami: replace delete-before-replace (manifestLocation)',
      'mirage-instance: replace delete-before-replace ()',
      'mirage-bundle: delete-replaced',
    ]);
    assert.deepEqual(plan.events.slice(1, 3), [
      `delete mirage-instance ${old.instance} (delete-before-replace of a dependency)`,
      `delete mirage-ami ${old.ami} (delete-before-replace)`,
    ]);
    assert.deepEqual(changingCalls(fake.requests), [
      'PutObject',
      'TerminateInstances',
      'DeregisterImage',
      'RegisterImage',
      'RunInstances',
      'DeleteObject',
    ]);
    await destroyToEmpty(engine);
  });

  it('a resource dropped from the program is deleted after the others are made, dependents first', async function () {
    const engine = await upFirst();
    const program = mirage().slice(0, 2);
    const preview = await engine.preview(program);
    assert.deepEqual(planText(preview), ['mirage-bundle: same', 'mirage-ami: same', 'mirage-instance: delete']);
    const plan = await engine.up(program);
    assert.deepEqual(planText(plan), planText(preview));
    assert.deepEqual(changingCalls(fake.requests), ['TerminateInstances']);
    await destroyToEmpty(engine);
  });

  it('adoption: an AMI and an instance that exist (a state lost) are taken over by id; destroy then deregisters and terminates them', async function () {
    const first = await upFirst();
    const ami = first.entry('mirage-ami')!.id;
    const instance = first.entry('mirage-instance')!.id;
    const bundle = first.entry('mirage-bundle')!;
    const adopting = (instanceType = 'm3.medium'): Declaration[] => [
      {
        name: 'adopted-ami',
        type: 'unikernel:RegisteredAmi',
        provider: texts.ami,
        inputs: { adoptImageId: ami, name: 'mirage-dev', description: 'adopted', tags: { owner: 'stack' } },
      },
      {
        name: 'adopted-instance',
        type: 'unikernel:UnikernelInstance',
        provider: texts.instance,
        inputs: { adoptInstanceId: instance, imageId: output('adopted-ami', 'id'), instanceType },
      },
    ];
    const engine = new EngineModel(plugin);
    const refused = await engine.up(adopting('c3.large')).then(
      () => assert.fail('a mismatched instance type must be refused'),
      (error: Error) => error,
    );
    assert.match(
      refused.message,
      new RegExp(`adoptInstanceId ${instance} is of type m3.medium, not c3.large: give the instanceType it is`),
    );
    assert.deepEqual(
      engine.state.map((entry) => entry.name),
      ['adopted-ami'],
    );
    await engine.destroy();
    assert.deepEqual(live().images, [], "the adopted AMI was the stack's: destroy deregistered it");
    // Adopt again what is left: the instance (its AMI gone, it still runs).
    fake.clearRequests();
    const instanceOnly = new EngineModel(plugin);
    const program: Declaration[] = [
      {
        name: 'adopted-instance',
        type: 'unikernel:UnikernelInstance',
        provider: texts.instance,
        inputs: { adoptInstanceId: instance, imageId: ami, instanceType: 'm3.medium', tags: { Name: 'adopted' } },
      },
    ];
    assert.deepEqual(planText(await instanceOnly.preview(program)), ['adopted-instance: create']);
    await instanceOnly.up(program);
    assert.deepEqual(changingCalls(fake.requests), ['CreateTags'], 'nothing launched: only tagged');
    assert.equal(instanceOnly.entry('adopted-instance')!.id, instance);
    assert.deepEqual(planText(await instanceOnly.preview(program)), ['adopted-instance: same']);
    const [refreshed] = await instanceOnly.refresh();
    assert.deepEqual([refreshed.gone, refreshed.changed], [false, false]);
    await instanceOnly.destroy();
    assert.deepEqual(live().instances, [], 'destroy terminated the adopted instance');
    fake.clearRequests();
    await plugin
      .withProvider(texts.bundle)
      .delete(bundle.id, plugin.urn('unikernel:BundledImage', 'mirage-bundle'), bundle.outputs, bundle.inputs);
    assert.deepEqual(live(), { instances: [], images: [], objects: [] });
  });

  it("adoption of an AMI: preview shows a create, up registers nothing, only its description and tags become the program's", async function () {
    const first = await upFirst();
    const ami = first.entry('mirage-ami')!.id;
    const engine = new EngineModel(plugin);
    const program: Declaration[] = [
      {
        name: 'adopted-ami',
        type: 'unikernel:RegisteredAmi',
        provider: texts.ami,
        inputs: { adoptImageId: ami, name: 'mirage-dev', description: 'adopted', tags: { owner: 'stack' } },
      },
    ];
    assert.deepEqual(planText(await engine.preview(program)), ['adopted-ami: create']);
    await engine.up(program);
    assert.deepEqual(changingCalls(fake.requests), ['ModifyImageAttribute', 'DeleteTags', 'CreateTags']);
    const outputs = engine.entry('adopted-ami')!.outputs;
    assert.equal(outputs.imageId, ami);
    assert.match(String(outputs.imageName), /^mirage-dev-[0-9a-f]{8}$/);
    assert.deepEqual(fake.images().find((image) => image.imageId === ami)?.tags, { owner: 'stack' });
    assert.deepEqual(
      planText(await engine.preview([{ ...program[0], inputs: { ...program[0].inputs, name: 'renamed' } }])),
      ['adopted-ami: update'],
      'an adopted AMI is the one named: its name input only describes it',
    );
    await engine.destroy();
    assert.deepEqual(live().images, []);
    first.state = first.state.filter((entry) => entry.name !== 'mirage-ami');
    await destroyToEmpty(first);
  });
});
