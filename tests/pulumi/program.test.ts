/**
 * The example programs under `pulumi.runtime.setMocks`: the mock rehydrates each resource's
 * serialized provider and calls its real `check` and `create` against the fake AWS, recording the
 * inputs the program passed; a preview run shows output-only values unknown.
 */
import { strict as assert } from 'assert';
import * as path from 'path';
import * as pulumi from '@pulumi/pulumi';
import * as rpc from '@pulumi/pulumi/runtime/rpc';
import requireFromString from 'require-from-string';
import { LocalAws } from '../../testing/localAws';
import { testEc2Identity, testPki } from '../helpers/pki';
import { checkoutProject, REPO_ROOT, temporaryFolder, writeText } from '../helpers/tools';
import { buildXenKernel } from '../../testing/xenKernel';

type Provider = pulumi.dynamic.ResourceProvider;

/** The engine strips secret wrappers before calling a dynamic provider (it accepts no secrets). */
function unwrapSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(unwrapSecrets);
  if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    if (record[rpc.specialSigKey] === rpc.specialSecretSig) return unwrapSecrets(record.value);
    return Object.fromEntries(Object.entries(record).map(([key, item]) => [key, unwrapSecrets(item)]));
  }
  return value;
}

function outputValue<T>(output: pulumi.Output<T>): Promise<{ known: boolean; value: T | undefined }> {
  const internal = output as unknown as { isKnown: Promise<boolean>; promise: () => Promise<T> };
  return Promise.all([internal.isKnown, internal.promise()]).then(([known, value]) => ({ known, value }));
}

const PROGRAM = path.join(REPO_ROOT, 'dist', 'examples', 'mirage', 'index.js');

async function loadProgram(): Promise<Record<string, pulumi.Output<string>>> {
  delete require.cache[require.resolve(PROGRAM)];
  // eslint-style note: the program registers its resources when it is loaded, after the mocks.
  return require(PROGRAM);
}

describe('example program with mocks', function () {
  this.timeout(60_000);
  let fake: LocalAws;
  let folder: ReturnType<typeof temporaryFolder>;
  const saved = { ...process.env };
  const cwd = process.cwd();

  before(async () => {
    process.chdir(checkoutProject());
    fake = await LocalAws.start({
      instancePendingMs: 20,
      instanceShuttingDownMs: 20,
      imagePendingMs: 20,
      ec2Identity: testEc2Identity(),
    });
    Object.assign(process.env, {
      AWS_ENDPOINT_URL: fake.endpoint,
      AWS_REGION: fake.region,
      AWS_ACCESS_KEY_ID: fake.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: fake.credentials.secretAccessKey,
    });
    fake.createBucket('program-bundles', { objectOwnership: 'ObjectWriter' });
    folder = temporaryFolder('program');
    const pki = testPki();
    const settings: Record<string, string> = {
      'unikernel:kernelPath': buildXenKernel(folder.dir, { fileName: 'mir-app.xen' }),
      'unikernel:bucket': 'program-bundles',
      'unikernel:accountId': fake.accountId,
      'unikernel:privateKey': pki.user.key,
      'unikernel:certificatePath': pki.user.certPath,
      'unikernel:ec2CertificatePath': writeText(path.join(folder.dir, 'ec2.pem'), pki.ec2.cert),
      'unikernel:instanceType': 'm1.small',
      'unikernel:pollSeconds': '0.02',
    };
    for (const [key, value] of Object.entries(settings)) pulumi.runtime.setConfig(key, value);
  });
  after(async () => {
    process.chdir(cwd);
    process.env = saved;
    await fake.stop();
    folder.cleanup();
  });

  it('creates bundle → AMI → instance through the real providers, with the inputs the program meant', async () => {
    const recorded: pulumi.runtime.MockResourceArgs[] = [];
    const providers = new Map<string, Provider>();
    await pulumi.runtime.setMocks(
      {
        newResource: async (args) => {
          recorded.push(args);
          const text = args.inputs.__provider as string;
          let provider = providers.get(text);
          if (!provider) {
            provider = (requireFromString(text) as { handler: () => Provider }).handler();
            await provider.configure?.({ config: { get: (key: string) => pulumi.runtime.getConfig(key) } } as never);
            providers.set(text, provider);
          }
          const inputs = unwrapSecrets(args.inputs) as Record<string, unknown>;
          const checked = await provider.check?.({}, inputs);
          if (checked?.failures?.length)
            throw new Error(checked.failures.map((failure) => `${failure.property}: ${failure.reason}`).join('; '));
          const created = await provider.create(checked?.inputs ?? inputs);
          return { id: created.id, state: { ...created.outs } };
        },
        call: () => ({}),
      },
      'unikernel-test',
      'dev',
      false,
    );
    const program = await loadProgram();
    const imageId = await outputValue(program.imageId);
    const instanceId = await outputValue(program.instanceId);
    const manifestLocation = await outputValue(program.manifestLocation);
    assert.match(String(imageId.value), /^ami-/);
    assert.match(String(instanceId.value), /^i-/);
    assert.match(
      String(manifestLocation.value),
      /^program-bundles\/unikernels\/dev\/[0-9a-f]{16}-[0-9a-f]{8}\/mir-app\.img\.manifest\.xml$/,
    );

    assert.deepEqual(
      recorded.map((args) => args.type),
      [
        'pulumi-nodejs:dynamic/unikernel:BundledImage',
        'pulumi-nodejs:dynamic/unikernel:RegisteredAmi',
        'pulumi-nodejs:dynamic/unikernel:UnikernelInstance',
      ],
    );
    const [bundleArgs, amiArgs, instanceArgs] = recorded;
    assert.equal(bundleArgs.inputs.keyPrefix, 'unikernels/dev');
    assert.equal(
      bundleArgs.inputs.privateKey[rpc.specialSigKey],
      rpc.specialSecretSig,
      'the private key is passed as a secret',
    );
    assert.equal(amiArgs.inputs.manifestLocation, manifestLocation.value);
    assert.equal(amiArgs.inputs.manifestEtag, undefined, 'the location alone names the bundle made');
    assert.equal(amiArgs.inputs.name, 'mirage-dev');
    assert.deepEqual(amiArgs.inputs.tags, { project: 'unikernel-test', stack: 'dev' });
    assert.equal(instanceArgs.inputs.imageId, imageId.value);
    assert.equal(instanceArgs.inputs.instanceType, 'm1.small');
    assert.equal(fake.instances().filter((instance) => instance.state === 'running').length, 1);
    assert.equal(fake.images().filter((image) => image.state === 'available').length, 1);
  });

  it('in preview, output-only values (the AMI id, the instance id) are unknown', async () => {
    await pulumi.runtime.setMocks(
      {
        // Preview: the engine echoes the checked inputs and has no id yet.
        newResource: async (args) => ({ id: undefined, state: args.inputs }),
        call: () => ({}),
      },
      'unikernel-test',
      'dev',
      true,
    );
    const program = await loadProgram();
    assert.equal((await outputValue(program.imageId)).known, false);
    assert.equal((await outputValue(program.instanceId)).known, false);
    assert.equal((await outputValue(program.manifestLocation)).known, false);
  });

  it('in preview of an in-place update (the engine keeps the id, echoes the inputs), the AMI and instance see known ids', async () => {
    const recorded: pulumi.runtime.MockResourceArgs[] = [];
    await pulumi.runtime.setMocks(
      {
        // An update in preview: the new state is the inputs; the id stays the one in the state.
        newResource: async (args) => {
          recorded.push(args);
          return { id: `${args.name}-id`, state: args.inputs };
        },
        call: () => ({}),
      },
      'unikernel-test',
      'dev',
      true,
    );
    const program = await loadProgram();
    await outputValue(program.instanceId);
    const inputsOf = (name: string) => recorded.find((args) => args.name === name)?.inputs;
    assert.equal(inputsOf('mirage-ami')?.manifestLocation, 'mirage-bundle-id', 'the bundle id, known');
    assert.equal(inputsOf('mirage-instance')?.imageId, 'mirage-ami-id', 'the AMI id, known: no replacement previewed');
  });
});
