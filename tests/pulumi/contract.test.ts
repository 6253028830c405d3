/**
 * Contract tests of BundledImage, RegisteredAmi and UnikernelInstance through the SDK's real
 * dynamic-provider plugin (tests/helpers/pluginHarness.ts), against the fake AWS: Check, Create,
 * Diff, Update, Read and Delete with what the engine would send, in dependency order
 * (kernel → bundle → AMI → instance, then deletes in reverse), drift made out of band, partial
 * failures that keep the id, and injected AWS faults. Every case ends with no AWS object that
 * the state held by the test does not record (the zero-orphans check at the end of the file).
 */
import { strict as assert } from 'assert';
import * as path from 'path';
import { mkdirSync, utimesSync } from 'fs';
import { CreateTagsCommand, DeleteTagsCommand, EC2Client, ModifyImageAttributeCommand } from '@aws-sdk/client-ec2';
import { ListBucketsCommand, S3Client } from '@aws-sdk/client-s3';
import { bundledImageProvider } from '../../provider/dynamic/bundledImage/provider';
import { registeredAmiProvider } from '../../provider/dynamic/registeredAmi/provider';
import { unikernelInstanceProvider } from '../../provider/dynamic/unikernelInstance/provider';
import { LocalAws } from '../../testing/localAws';
import { buildXenKernel } from '../../testing/xenKernel';
import {
  CheckFailure,
  PROVIDER_KEY,
  PluginClient,
  PluginRpcError,
  Props,
  UNKNOWN,
  secret,
  serializeProvider,
  startPlugin,
  withoutProvider,
} from '../../testing/pluginHarness';
import { testEc2Identity, testPki, TestPki } from '../helpers/pki';
import { MiB, checkoutProject, REPO_ROOT, temporaryFolder, writeImage } from '../helpers/tools';

const BUCKET = 'unikernels';
const PROJECT = 'unikernel-contract';
const CONFIG = { 'unikernel:pollSeconds': '0.05' };
/** A call that hangs (an answer the plugin cannot encode) fails the test instead of waiting two minutes. */
const DEADLINE_MS = 20_000;
const BUNDLE = 'unikernel:BundledImage';
const AMI = 'unikernel:RegisteredAmi';
const INSTANCE = 'unikernel:UnikernelInstance';

/** What the test holds as Pulumi state: ids (and bundle locations) of successful and partial creates. */
const held = {
  /** id → where the bundle's objects live. */
  bundles: new Map<string, { bucket: string; prefix: string }>(),
  amis: new Set<string>(),
  instances: new Set<string>(),
};

function holdBundle(id: string, props: Props): void {
  held.bundles.set(id, {
    bucket: String(props.bucket),
    prefix: `${String(props.keyPrefix ?? '')}${String(props.bundleKey)}/`,
  });
}

let fake: LocalAws;
let folder: { dir: string; cleanup: () => void };
let pki: TestPki;
let texts: { bundle: string; ami: string; instance: string };

function pluginEnv(): NodeJS.ProcessEnv {
  return {
    AWS_ENDPOINT_URL: fake.endpoint,
    AWS_ENDPOINT_URL_S3: undefined,
    AWS_ENDPOINT_URL_EC2: undefined,
    AWS_REGION: fake.region,
    AWS_DEFAULT_REGION: undefined,
    AWS_ACCESS_KEY_ID: fake.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: fake.credentials.secretAccessKey,
    AWS_SESSION_TOKEN: undefined,
    AWS_PROFILE: '',
  };
}

/** One plugin per describe, configured with the stack config like the engine does before any resource call. */
async function launchPlugin(): Promise<PluginClient> {
  const plugin = await startPlugin({
    cwd: checkoutProject(),
    project: PROJECT,
    env: pluginEnv(),
    deadlineMs: DEADLINE_MS,
  });
  const protocol = await plugin.configure(CONFIG);
  assert.equal(protocol.acceptSecrets, false, 'secrets are stripped before they reach the plugin');
  return plugin;
}

function rejection(promise: Promise<unknown>): Promise<PluginRpcError> {
  return promise.then(
    () => assert.fail('expected the RPC to fail'),
    (error: unknown) => {
      assert.ok(error instanceof PluginRpcError, `not a PluginRpcError: ${String(error)}`);
      return error;
    },
  );
}

function bundleProgram(extra: Props = {}): Props {
  return {
    bucket: BUCKET,
    keyPrefix: 'images',
    accountId: fake.accountId,
    privateKey: secret(pki.user.key),
    certificate: pki.user.cert,
    ec2Certificate: pki.ec2.cert,
    ...extra,
  };
}

/** Failures as property → reason; each property at most once, each reason one non-empty line. */
function failureMap(failures: CheckFailure[]): Record<string, string> {
  const map: Record<string, string> = {};
  for (const failure of failures) {
    assert.ok(!(failure.property in map), `one failure per property, ${failure.property} twice`);
    assert.ok(
      failure.reason.length > 0 && !failure.reason.includes('\n'),
      `one clear line for ${failure.property}: ${JSON.stringify(failure.reason)}`,
    );
    map[failure.property] = failure.reason;
  }
  return map;
}

/** No private key (nor any line of its body) anywhere in a property bag. */
function assertNoKeyMaterial(props: Props, what: string): void {
  const text = JSON.stringify(props);
  assert.ok(!('privateKey' in props) && !('privateKeyPassphrase' in props), `${what}: no privateKey property`);
  assert.ok(!text.includes('PRIVATE KEY'), `${what}: no PEM private key`);
  const body = pki.user.key.split('\n').filter((line) => line.length >= 40 && !line.startsWith('-----'));
  assert.ok(body.length > 0);
  assert.ok(!body.some((line) => text.includes(line)), `${what}: no line of the private key's body`);
}

function ec2OutOfBand(): EC2Client {
  return new EC2Client({ endpoint: fake.endpoint, region: fake.region, credentials: fake.credentials, maxAttempts: 1 });
}

describe('pulumi contract: BundledImage, RegisteredAmi and UnikernelInstance through the real dynamic-provider plugin', function () {
  this.timeout(60_000);

  before(async function () {
    fake = await LocalAws.start({
      instancePendingMs: 30,
      instanceShuttingDownMs: 30,
      imagePendingMs: 30,
      ec2Identity: testEc2Identity(),
    });
    fake.createBucket(BUCKET, { objectOwnership: 'ObjectWriter' });
    folder = temporaryFolder('contract');
    pki = testPki();
    texts = {
      bundle: await serializeProvider(bundledImageProvider),
      ami: await serializeProvider(registeredAmiProvider),
      instance: await serializeProvider(unikernelInstanceProvider),
    };
  });

  after(async function () {
    await fake?.stop();
    folder?.cleanup();
  });

  describe('the lifecycle in dependency order: check, create, diff, update, read, delete', function () {
    let plugin: PluginClient | undefined;
    let bundles: PluginClient;
    let amis: PluginClient;
    let instances: PluginClient;

    const bundleUrn = (name: string) => bundles.urn(BUNDLE, name);
    const amiUrn = (name: string) => amis.urn(AMI, name);
    const instanceUrn = (name: string) => instances.urn(INSTANCE, name);

    let kernelPath: string;
    let bundleInputs: Props; // checked inputs of the program's bundle
    let bundle: { id: string; outputs: Props };
    let amiInputs: Props;
    let ami: { id: string; outputs: Props };
    let instanceInputs: Props;
    let instance: { id: string; outputs: Props };

    before(async function () {
      plugin = await launchPlugin();
      bundles = plugin.withProvider(texts.bundle);
      amis = plugin.withProvider(texts.ami);
      instances = plugin.withProvider(texts.instance);
      kernelPath = buildXenKernel(folder.dir, { fileName: 'mir-app.xen' });
    });

    after(async function () {
      await plugin?.stop();
    });

    // ---- BundledImage ----

    it('BundledImage check: good inputs gain sourceHash; the private key arrives unwrapped (secrets are stripped)', async function () {
      const checked = await bundles.check(
        bundleUrn('app'),
        {},
        bundleProgram({ kernelPath, kernelCommandLine: 'console=hvc0' }),
      );
      assert.deepEqual(checked.failures, []);
      assert.match(String(checked.inputs.sourceHash), /^[0-9a-f]{64}$/);
      assert.equal(checked.inputs.privateKey, pki.user.key, 'a plain string, not a secret wrapper');
      assert.equal(checked.inputs[PROVIDER_KEY], texts.bundle);
      assert.deepEqual(withoutProvider(checked.inputs), {
        ...bundleProgram({ kernelPath, kernelCommandLine: 'console=hvc0' }),
        privateKey: pki.user.key,
        sourceHash: checked.inputs.sourceHash,
      });
      bundleInputs = checked.inputs;

      const again = await bundles.check(
        bundleUrn('app'),
        bundleInputs,
        bundleProgram({ kernelPath, kernelCommandLine: 'console=hvc0' }),
      );
      assert.equal(again.inputs.sourceHash, bundleInputs.sourceHash, 'the same kernel and options hash the same');
    });

    it('BundledImage check: bad inputs give one failure per property with a clear reason', async function () {
      const bad = await bundles.check(
        bundleUrn('bad'),
        {},
        {
          kernelPath: path.join(folder.dir, 'missing.xen'),
          bucket: 'Bad_Bucket',
          keyPrefix: 'a/../b',
          acl: 'public-for-all',
          timeoutSeconds: -1,
          accountId: '123',
          privateKey: secret('not a key'),
          certificate: pki.user.cert,
          ec2Certificate: '',
        },
      );
      const failures = failureMap(bad.failures);
      assert.deepEqual(Object.keys(failures).sort(), [
        'accountId',
        'acl',
        'bucket',
        'ec2Certificate',
        'kernelPath',
        'keyPrefix',
        'timeoutSeconds',
      ]);
      assert.match(failures.kernelPath, /missing\.xen does not exist/);
      assert.match(failures.bucket, /bucket name "Bad_Bucket"/);
      assert.match(failures.keyPrefix, /"\.\." segment/);
      assert.match(failures.acl, /"public-for-all" is not one of/);
      assert.match(failures.timeoutSeconds, /positive number of seconds/);
      assert.match(failures.accountId, /12/);
      assert.match(failures.ec2Certificate, /cert-ec2\.pem/);
      assert.equal(bad.inputs.sourceHash, UNKNOWN, 'no hash of inputs that do not check');

      const badKey = await bundles.check(
        bundleUrn('bad'),
        {},
        bundleProgram({ kernelPath, privateKey: secret('not a key') }),
      );
      assert.deepEqual(Object.keys(failureMap(badKey.failures)), ['privateKey']);

      const notKernel = await bundles.check(
        bundleUrn('bad'),
        {},
        bundleProgram({ kernelPath: path.join(REPO_ROOT, 'package.json') }),
      );
      const kernelFailures = failureMap(notKernel.failures);
      assert.deepEqual(Object.keys(kernelFailures), ['kernelPath']);
      assert.match(kernelFailures.kernelPath, /ELF/);

      const neither = await bundles.check(bundleUrn('bad'), {}, bundleProgram());
      assert.deepEqual(Object.keys(failureMap(neither.failures)), ['imagePath']);
    });

    it('BundledImage create: the manifest location as id, outputs without key material, progress in the output', async function () {
      const created = await bundles.create(bundleUrn('app'), bundleInputs);
      bundle = { id: created.id, outputs: created.properties };
      holdBundle(created.id, created.properties);
      const outs = created.properties;
      assert.match(created.id, /^unikernels\/images\/[0-9a-f]{16}-[0-9a-f]{8}\/mir-app\.img\.manifest\.xml$/);
      assert.equal(outs.manifestLocation, created.id);
      assert.equal(outs.bundleStatus, 'intact');
      assert.equal(outs.bundleName, 'mir-app.img');
      assert.equal(outs.region, fake.region);
      assert.equal(outs.sourceHash, bundleInputs.sourceHash);
      assert.equal(outs[PROVIDER_KEY], texts.bundle);
      assertNoKeyMaterial(outs, 'create outputs');

      const partKeys = outs.partKeys as string[];
      assert.equal(partKeys.length, outs.partCount);
      const stored = fake.objects(BUCKET);
      assert.deepEqual(stored.map((object) => object.key).sort(), [...partKeys, String(outs.manifestKey)].sort());
      assert.equal(
        stored.find((object) => object.key === outs.manifestKey)?.md5,
        outs.manifestEtag,
        'the ETag S3 answered (the MD5 here)',
      );
      assert.ok(stored.every((object) => object.acl === 'aws-exec-read'));

      await bundles.waitForOutput(`BundledImage mir-app.img: uploaded: ${created.id}`);
      await bundles.waitForOutput(/^BundledImage mir-app\.img: bundling straight into s3:\/\/unikernels\/images\//);
    });

    it('BundledImage diff: no change is DIFF_NONE; a new kernel replaces on sourceHash; timeoutSeconds changes in place', async function () {
      const none = await bundles.diff(bundle.id, bundleUrn('app'), bundle.outputs, bundleInputs, bundleInputs);
      assert.deepEqual([none.changes, none.replaces, none.deleteBeforeReplace], ['DIFF_NONE', [], false]);

      const otherDir = path.join(folder.dir, 'v2');
      mkdirSync(otherDir);
      const newKernel = buildXenKernel(otherDir, { fileName: 'mir-app.xen', seed: 'version 2' });
      const rechecked = await bundles.check(
        bundleUrn('app'),
        bundleInputs,
        bundleProgram({ kernelPath: newKernel, kernelCommandLine: 'console=hvc0' }),
      );
      assert.deepEqual(rechecked.failures, []);
      assert.notEqual(rechecked.inputs.sourceHash, bundleInputs.sourceHash);
      const replace = await bundles.diff(bundle.id, bundleUrn('app'), bundle.outputs, rechecked.inputs, bundleInputs);
      assert.deepEqual(
        [replace.changes, replace.replaces, replace.deleteBeforeReplace],
        ['DIFF_SOME', ['sourceHash'], false],
        'a new bundle at a new key: create before delete',
      );

      const slower = await bundles.check(
        bundleUrn('app'),
        bundleInputs,
        bundleProgram({ kernelPath, kernelCommandLine: 'console=hvc0', timeoutSeconds: 600 }),
      );
      const inPlace = await bundles.diff(bundle.id, bundleUrn('app'), bundle.outputs, slower.inputs, bundleInputs);
      assert.deepEqual([inPlace.changes, inPlace.replaces], ['DIFF_SOME', []]);
    });

    it('BundledImage diff in preview: an unknown bucket (the sentinel) replaces on bucket', async function () {
      const checked = await bundles.check(
        bundleUrn('app'),
        bundleInputs,
        bundleProgram({ kernelPath, kernelCommandLine: 'console=hvc0', bucket: UNKNOWN }),
      );
      assert.deepEqual(checked.failures, []);
      assert.equal(checked.inputs.bucket, UNKNOWN);
      const preview = await bundles.diff(bundle.id, bundleUrn('app'), bundle.outputs, checked.inputs, bundleInputs);
      assert.equal(preview.changes, 'DIFF_SOME');
      assert.deepEqual(preview.replaces, ['bucket']);
    });

    it('BundledImage update in place: outputs take the new timeout, keep the bundle, and still hold no key', async function () {
      const slower = await bundles.check(
        bundleUrn('app'),
        bundleInputs,
        bundleProgram({ kernelPath, kernelCommandLine: 'console=hvc0', timeoutSeconds: 600 }),
      );
      const before = fake.objects(BUCKET);
      const updated = await bundles.update(bundle.id, bundleUrn('app'), bundle.outputs, slower.inputs, bundleInputs);
      assert.equal(updated.properties.timeoutSeconds, 600);
      assert.equal(updated.properties.manifestEtag, bundle.outputs.manifestEtag);
      assertNoKeyMaterial(updated.properties, 'update outputs');
      assert.deepEqual(fake.objects(BUCKET), before, 'nothing changes in S3');
      bundle = { id: bundle.id, outputs: updated.properties };
      bundleInputs = slower.inputs;
      const settled = await bundles.diff(bundle.id, bundleUrn('app'), bundle.outputs, bundleInputs, bundleInputs);
      assert.equal(settled.changes, 'DIFF_NONE');
    });

    it('BundledImage read: an intact bundle keeps its id and outputs; the returned inputs hold no private key', async function () {
      const read = await bundles.read(bundle.id, bundleUrn('app'), bundle.outputs, bundleInputs);
      assert.equal(read.id, bundle.id);
      assert.deepEqual(read.properties, bundle.outputs);
      assert.ok(read.inputs, 'read returns inputs');
      assertNoKeyMaterial(read.inputs, 'read inputs');
      assert.equal(read.inputs.kernelPath, kernelPath);
      assert.equal(read.inputs.sourceHash, bundleInputs.sourceHash);
    });

    // ---- RegisteredAmi ----

    it('RegisteredAmi check: good inputs pass unchanged; bad inputs give one failure per property', async function () {
      const program = {
        manifestLocation: bundle.outputs.manifestLocation,
        manifestEtag: bundle.outputs.manifestEtag,
        name: 'mir-app',
        description: 'first',
        tags: { app: 'mir' },
      };
      const checked = await amis.check(amiUrn('app'), {}, program);
      assert.deepEqual(checked.failures, []);
      assert.deepEqual(withoutProvider(checked.inputs), program);
      amiInputs = checked.inputs;

      const bad = await amis.check(
        amiUrn('bad'),
        {},
        {
          manifestLocation: 'nope',
          name: 'x',
          architecture: 'arm64',
          virtualizationType: 'xen',
          kernelId: 'ami-12345678',
          ramdiskId: 'ari-xyz',
          description: 'd'.repeat(300),
          timeoutSeconds: 0,
        },
      );
      const failures = failureMap(bad.failures);
      assert.deepEqual(Object.keys(failures).sort(), [
        'architecture',
        'description',
        'kernelId',
        'manifestLocation',
        'name',
        'ramdiskId',
        'timeoutSeconds',
        'virtualizationType',
      ]);
      assert.match(failures.name, /AMI name "x" must be 3 to 128 characters/);
      assert.match(failures.architecture, /"arm64" is not an architecture for instance-store AMIs/);
      assert.match(failures.kernelId, /"ami-12345678" is not a kernel id/);
      assert.match(failures.description, /255/);

      const missing = await amis.check(amiUrn('bad'), {}, {});
      assert.deepEqual(Object.keys(failureMap(missing.failures)).sort(), ['manifestLocation', 'name']);
    });

    it('RegisteredAmi create: registers from the manifest, waits until available, reports progress', async function () {
      const created = await amis.create(amiUrn('app'), amiInputs);
      ami = { id: created.id, outputs: created.properties };
      held.amis.add(created.id);
      assert.match(created.id, /^ami-[0-9a-f]{17}$/);
      assert.equal(created.properties.imageId, created.id);
      assert.equal(created.properties.state, 'available');
      assert.match(String(created.properties.effectiveKernelId), /^aki-/);
      assert.deepEqual(created.properties.tags, { app: 'mir' });
      assert.equal(created.properties.region, fake.region);
      const image = fake.images().find((each) => each.imageId === created.id);
      assert.ok(image);
      assert.equal(image.location, bundle.outputs.manifestLocation);
      assert.match(image.name, /^mir-app-[0-9a-f]{8}$/, 'the name and a suffix of its own');
      assert.equal(created.properties.imageName, image.name);
      assert.equal(image.description, 'first');
      assert.deepEqual(image.tags, { app: 'mir' });
      await amis.waitForOutput(`RegisteredAmi mir-app: ${created.id} is available`);
    });

    it('RegisteredAmi diff: none; description and tags in place; name replaces; an unknown manifest (bundle replaced in preview) replaces', async function () {
      const none = await amis.diff(ami.id, amiUrn('app'), ami.outputs, amiInputs, amiInputs);
      assert.deepEqual([none.changes, none.replaces], ['DIFF_NONE', []]);

      const retagged = { ...amiInputs, description: 'second', tags: { app: 'mir', tier: 'web' } };
      const inPlace = await amis.diff(ami.id, amiUrn('app'), ami.outputs, retagged, amiInputs);
      assert.deepEqual([inPlace.changes, inPlace.replaces, inPlace.deleteBeforeReplace], ['DIFF_SOME', [], false]);

      const renamed = await amis.diff(
        ami.id,
        amiUrn('app'),
        ami.outputs,
        { ...amiInputs, name: 'mir-app-2' },
        amiInputs,
      );
      assert.deepEqual([renamed.changes, renamed.replaces], ['DIFF_SOME', ['name']]);

      const previewChecked = await amis.check(amiUrn('app'), amiInputs, {
        ...withoutProvider(amiInputs),
        manifestLocation: UNKNOWN,
        manifestEtag: UNKNOWN,
      });
      assert.deepEqual(previewChecked.failures, [], 'unknowns are not judged');
      const preview = await amis.diff(ami.id, amiUrn('app'), ami.outputs, previewChecked.inputs, amiInputs);
      assert.equal(preview.changes, 'DIFF_SOME');
      assert.deepEqual(preview.replaces, ['manifestLocation', 'manifestEtag']);
    });

    it('RegisteredAmi update: description and tags change in place on the AMI', async function () {
      const news = { ...amiInputs, description: 'second', tags: { app: 'mir', tier: 'web' } };
      const updated = await amis.update(ami.id, amiUrn('app'), ami.outputs, news, amiInputs);
      assert.equal(updated.properties.imageId, ami.id);
      assert.equal(updated.properties.description, 'second');
      assert.deepEqual(updated.properties.tags, { app: 'mir', tier: 'web' });
      const image = fake.images().find((each) => each.imageId === ami.id);
      assert.equal(image?.description, 'second');
      assert.deepEqual(image?.tags, { app: 'mir', tier: 'web' });
      assert.equal(image?.state, 'available');
      ami = { id: ami.id, outputs: updated.properties };
      amiInputs = news;
      const settled = await amis.diff(ami.id, amiUrn('app'), ami.outputs, amiInputs, amiInputs);
      assert.equal(settled.changes, 'DIFF_NONE');
    });

    // ---- UnikernelInstance ----

    it('UnikernelInstance check: good inputs pass unchanged (the client token is made per launch); bad inputs fail per property', async function () {
      const program = { imageId: ami.id, instanceType: 'm1.small', tags: { Name: 'mir' } };
      const checked = await instances.check(instanceUrn('app'), {}, program);
      assert.deepEqual(checked.failures, []);
      assert.deepEqual(withoutProvider(checked.inputs), program);
      instanceInputs = checked.inputs;

      const bad = await instances.check(
        instanceUrn('bad'),
        {},
        {
          imageId: 'i-12345678',
          instanceType: 'big',
          subnetId: 'subnet-x',
          securityGroupIds: ['sg-12345678', 'default'],
          userData: 'x'.repeat(17 * 1024),
          httpTokens: 'sometimes',
          timeoutSeconds: -5,
        },
      );
      const failures = failureMap(bad.failures);
      assert.deepEqual(Object.keys(failures).sort(), [
        'httpTokens',
        'imageId',
        'instanceType',
        'securityGroupIds',
        'subnetId',
        'timeoutSeconds',
        'userData',
      ]);
      assert.match(failures.imageId, /"i-12345678" is not an AMI id/);
      assert.match(failures.instanceType, /"big" is not an instance type/);
      assert.match(failures.securityGroupIds, /"default" is not a security group id/);
      assert.match(failures.userData, /at most 16384/);
    });

    it('UnikernelInstance create: launches the AMI, waits until running, reports progress', async function () {
      const created = await instances.create(instanceUrn('app'), instanceInputs);
      instance = { id: created.id, outputs: created.properties };
      held.instances.add(created.id);
      assert.match(created.id, /^i-[0-9a-f]{17}$/);
      assert.equal(created.properties.instanceId, created.id);
      assert.equal(created.properties.state, 'running');
      assert.match(String(created.properties.clientToken), /^[0-9a-f-]{36}$/);
      assert.deepEqual(created.properties.tags, { Name: 'mir' });
      const live = fake.instances().find((each) => each.instanceId === created.id);
      assert.equal(live?.state, 'running');
      assert.equal(live?.imageId, ami.id);
      assert.equal(live?.instanceType, 'm1.small');
      assert.equal(live?.clientToken, created.properties.clientToken);
      assert.equal(live?.httpTokens, 'required');
      await instances.waitForOutput(`UnikernelInstance ${created.id}: running`);
    });

    it('UnikernelInstance diff: none; tags in place; instanceType replaces with a note on instance-store; an unknown AMI replaces', async function () {
      const none = await instances.diff(
        instance.id,
        instanceUrn('app'),
        instance.outputs,
        instanceInputs,
        instanceInputs,
      );
      assert.deepEqual([none.changes, none.replaces], ['DIFF_NONE', []]);

      const retagged = await instances.diff(
        instance.id,
        instanceUrn('app'),
        instance.outputs,
        { ...instanceInputs, tags: { Name: 'mir', env: 'test' } },
        instanceInputs,
      );
      assert.deepEqual([retagged.changes, retagged.replaces, retagged.deleteBeforeReplace], ['DIFF_SOME', [], false]);

      const bigger = await instances.diff(
        instance.id,
        instanceUrn('app'),
        instance.outputs,
        { ...instanceInputs, instanceType: 'c3.large' },
        instanceInputs,
      );
      assert.deepEqual([bigger.changes, bigger.replaces], ['DIFF_SOME', ['instanceType']]);
      const note = await instances.waitForOutput(`UnikernelInstance ${instance.id}: instanceType m1.small → c3.large`);
      assert.match(
        note,
        /the instance is replaced \(a type changes only on a stopped instance, and instance-store instances cannot be stopped\)/,
      );

      const previewChecked = await instances.check(instanceUrn('app'), instanceInputs, {
        imageId: UNKNOWN,
        instanceType: 'm1.small',
        tags: { Name: 'mir' },
      });
      assert.deepEqual(previewChecked.failures, []);
      const preview = await instances.diff(
        instance.id,
        instanceUrn('app'),
        instance.outputs,
        previewChecked.inputs,
        instanceInputs,
      );
      assert.equal(preview.changes, 'DIFF_SOME');
      assert.deepEqual(preview.replaces, ['imageId']);
    });

    it('UnikernelInstance update: tags change in place on the instance, the id and client token stay', async function () {
      const news = { ...instanceInputs, tags: { Name: 'mir', env: 'test' } };
      const updated = await instances.update(instance.id, instanceUrn('app'), instance.outputs, news, instanceInputs);
      assert.equal(updated.properties.instanceId, instance.id);
      assert.equal(updated.properties.clientToken, instance.outputs.clientToken);
      assert.deepEqual(updated.properties.tags, { Name: 'mir', env: 'test' });
      assert.deepEqual(fake.instances().find((each) => each.instanceId === instance.id)?.tags, {
        Name: 'mir',
        env: 'test',
      });
      instance = { id: instance.id, outputs: updated.properties };
      instanceInputs = news;
      const settled = await instances.diff(
        instance.id,
        instanceUrn('app'),
        instance.outputs,
        instanceInputs,
        instanceInputs,
      );
      assert.equal(settled.changes, 'DIFF_NONE');
    });

    // ---- refresh: drift made out of band ----

    it('UnikernelInstance read after an out-of-band retag: tags come back changed, and the next diff heals in place', async function () {
      const clean = await instances.read(instance.id, instanceUrn('app'), instance.outputs, instanceInputs);
      assert.equal(clean.id, instance.id);
      assert.deepEqual(clean.properties, instance.outputs);
      assert.ok(clean.inputs);
      // The zone EC2 chose comes back as an input too (compared only when a program gives one).
      assert.deepEqual(withoutProvider(clean.inputs), {
        ...withoutProvider(instanceInputs),
        region: fake.region,
        availabilityZone: `${fake.region}a`,
      });

      const ec2 = ec2OutOfBand();
      await ec2.send(
        new CreateTagsCommand({
          Resources: [instance.id],
          Tags: [
            { Key: 'env', Value: 'prod' },
            { Key: 'owner', Value: 'ops' },
          ],
        }),
      );
      const drifted = await instances.read(instance.id, instanceUrn('app'), instance.outputs, instanceInputs);
      assert.equal(drifted.id, instance.id);
      assert.deepEqual(drifted.properties.tags, { Name: 'mir', env: 'prod', owner: 'ops' });
      assert.deepEqual(drifted.inputs?.tags, { Name: 'mir', env: 'prod', owner: 'ops' });

      const heal = await instances.diff(
        instance.id,
        instanceUrn('app'),
        drifted.properties,
        instanceInputs,
        drifted.inputs,
      );
      assert.deepEqual([heal.changes, heal.replaces], ['DIFF_SOME', []], 'an update, not a replacement');
      const healed = await instances.update(
        instance.id,
        instanceUrn('app'),
        drifted.properties,
        instanceInputs,
        drifted.inputs,
      );
      assert.deepEqual(healed.properties.tags, { Name: 'mir', env: 'test' });
      assert.deepEqual(fake.instances().find((each) => each.instanceId === instance.id)?.tags, {
        Name: 'mir',
        env: 'test',
      });
      instance = { id: instance.id, outputs: healed.properties };
    });

    it('RegisteredAmi read after an out-of-band retag and new description: both come back changed; the next diff heals in place', async function () {
      const clean = await amis.read(ami.id, amiUrn('app'), ami.outputs, amiInputs);
      assert.equal(clean.id, ami.id);
      assert.deepEqual(clean.properties, ami.outputs);
      assert.ok(clean.inputs);
      assert.ok(!('imageId' in clean.inputs) && !('state' in clean.inputs), 'inputs are inputs, not outputs');

      const ec2 = ec2OutOfBand();
      await ec2.send(new DeleteTagsCommand({ Resources: [ami.id], Tags: [{ Key: 'tier' }] }));
      await ec2.send(new CreateTagsCommand({ Resources: [ami.id], Tags: [{ Key: 'app', Value: 'other' }] }));
      await ec2.send(new ModifyImageAttributeCommand({ ImageId: ami.id, Description: { Value: 'edited by hand' } }));
      const drifted = await amis.read(ami.id, amiUrn('app'), ami.outputs, amiInputs);
      assert.equal(drifted.id, ami.id);
      assert.deepEqual(drifted.properties.tags, { app: 'other' });
      assert.equal(drifted.properties.description, 'edited by hand');
      assert.deepEqual(drifted.inputs?.tags, { app: 'other' });

      const heal = await amis.diff(ami.id, amiUrn('app'), drifted.properties, amiInputs, drifted.inputs);
      assert.deepEqual([heal.changes, heal.replaces], ['DIFF_SOME', []]);
      const healed = await amis.update(ami.id, amiUrn('app'), drifted.properties, amiInputs, drifted.inputs);
      assert.deepEqual(healed.properties.tags, { app: 'mir', tier: 'web' });
      const image = fake.images().find((each) => each.imageId === ami.id);
      assert.deepEqual(image?.tags, { app: 'mir', tier: 'web' });
      assert.equal(image?.description, 'second');
      ami = { id: ami.id, outputs: healed.properties };
    });

    it('UnikernelInstance read after an out-of-band termination: id "" (gone)', async function () {
      const checked = await instances.check(instanceUrn('drift'), {}, { imageId: ami.id, instanceType: 'm1.small' });
      const created = await instances.create(instanceUrn('drift'), checked.inputs);
      held.instances.add(created.id);
      fake.setInstanceStateDirect(created.id, 'terminated');
      held.instances.delete(created.id);
      const gone = await instances.read(created.id, instanceUrn('drift'), created.properties, checked.inputs);
      assert.equal(gone.id, '');
      assert.equal(gone.inputs, undefined);
      await assertZeroOrphans();
    });

    it('RegisteredAmi read of an AMI with no description, then after an out-of-band deregistration: id "" (gone)', async function () {
      const checked = await amis.check(
        amiUrn('drift'),
        {},
        { manifestLocation: bundle.outputs.manifestLocation, name: 'mir-app-drift' },
      );
      const created = await amis.create(amiUrn('drift'), checked.inputs);
      held.amis.add(created.id);
      const clean = await amis.read(created.id, amiUrn('drift'), created.properties, checked.inputs);
      assert.equal(clean.id, created.id);
      fake.deregisterImageDirect(created.id);
      held.amis.delete(created.id);
      const gone = await amis.read(created.id, amiUrn('drift'), created.properties, checked.inputs);
      assert.equal(gone.id, '');
      await assertZeroOrphans();
    });

    it('BundledImage read after out-of-band damage: a part deleted, a part altered, the manifest deleted → damaged and replaced first; all deleted → id ""', async function () {
      const imagePath = path.join(folder.dir, 'disk.img');
      writeImage(imagePath, [{ kind: 'random', bytes: MiB }]);
      const checked = await bundles.check(bundleUrn('disk'), {}, bundleProgram({ imagePath, keyPrefix: 'drift' }));
      assert.deepEqual(checked.failures, []);
      const created = await bundles.create(bundleUrn('disk'), checked.inputs);
      holdBundle(created.id, created.properties);
      const [partKey] = created.properties.partKeys as string[];
      const manifestKey = String(created.properties.manifestKey);
      let state = created.properties;
      const refresh = async (): Promise<{ id: string; status: string }> => {
        const read = await bundles.read(created.id, bundleUrn('disk'), state, checked.inputs);
        if (read.id !== '') {
          state = read.properties;
          assert.ok(read.inputs);
          assertNoKeyMaterial(read.inputs, 'read inputs');
        }
        return { id: read.id, status: String(read.properties.bundleStatus) };
      };
      const expectReplaceFirst = async () => {
        const heal = await bundles.diff(created.id, bundleUrn('disk'), state, checked.inputs, checked.inputs);
        assert.deepEqual(
          [heal.changes, heal.replaces, heal.deleteBeforeReplace],
          ['DIFF_SOME', ['bundleStatus'], false],
          'made again in a folder of its own: the damaged one is deleted after',
        );
      };

      fake.deleteObjectDirect(BUCKET, partKey);
      assert.deepEqual(await refresh(), { id: created.id, status: `damaged: part ${partKey} is missing` });
      await expectReplaceFirst();
      await bundles.waitForOutput(
        /^BundledImage disk\.img: the bundle in S3 is damaged .* it will be made and uploaded again$/,
      );

      fake.putObjectDirect(BUCKET, partKey, Buffer.from('tampered'));
      assert.deepEqual(await refresh(), { id: created.id, status: `damaged: part ${partKey} was changed` });
      await expectReplaceFirst();

      fake.deleteObjectDirect(BUCKET, manifestKey);
      assert.deepEqual(await refresh(), {
        id: created.id,
        status: `damaged: manifest ${manifestKey} is missing; part ${partKey} was changed`,
      });
      await expectReplaceFirst();

      fake.deleteObjectDirect(BUCKET, partKey);
      held.bundles.delete(created.id);
      assert.equal((await refresh()).id, '', 'nothing left: gone');
      await assertZeroOrphans();
    });

    // ---- partial failures keep the id ----

    it('RegisteredAmi create whose image fails: a partial failure carrying the AMI id; Delete with its properties deregisters it', async function () {
      fake.faults.inject({
        service: 'ec2',
        operation: 'RegisterImage',
        kind: 'imageFails',
        times: 1,
        code: 'Client.InvalidManifest',
        message: 'Client.InvalidManifest: bundle digest mismatch',
      });
      const checked = await amis.check(
        amiUrn('doomed'),
        {},
        { manifestLocation: bundle.outputs.manifestLocation, name: 'mir-app-doomed' },
      );
      const error = await rejection(amis.create(amiUrn('doomed'), checked.inputs));
      fake.faults.clear();
      assert.equal(error.codeName, 'UNKNOWN');
      assert.ok(error.partial, 'ErrorResourceInitFailed: the engine keeps the resource');
      const id = error.partial.id;
      held.amis.add(id);
      assert.match(id, /^ami-[0-9a-f]{17}$/);
      assert.match(
        error.message,
        new RegExp(`AMI ${id} was registered but is failed, not available: .*bundle digest mismatch`),
      );
      assert.ok(!error.message.includes('\n'), 'one line');
      assert.deepEqual(error.partial.reasons, [error.message]);
      assert.equal(error.partial.properties.imageId, id);
      assert.equal(error.partial.properties.state, 'failed');
      assert.equal(error.partial.properties[PROVIDER_KEY], texts.ami, 'the state can be deleted and refreshed later');
      assert.equal(fake.images().find((each) => each.imageId === id)?.state, 'failed', 'the image exists in AWS');
      await assertZeroOrphans();

      const heal = await amis.diff(id, amiUrn('doomed'), error.partial.properties, checked.inputs, checked.inputs);
      assert.deepEqual([heal.changes, heal.replaces], ['DIFF_SOME', ['state']], 'the next up replaces the failed AMI');

      await amis.delete(id, amiUrn('doomed'), error.partial.properties, checked.inputs);
      assert.equal(fake.images().find((each) => each.imageId === id)?.state, 'deregistered');
      held.amis.delete(id);
      await amis.waitForOutput(`RegisteredAmi mir-app-doomed: deregistered ${id}`);
      assert.equal((await amis.read(id, amiUrn('doomed'), error.partial.properties)).id, '');
      await assertZeroOrphans();
    });

    it('UnikernelInstance create stuck pending past timeoutSeconds: a partial failure carrying the instance id; Delete terminates it', async function () {
      fake.faults.inject({ service: 'ec2', operation: 'RunInstances', kind: 'stuckPending', times: 1 });
      const checked = await instances.check(
        instanceUrn('stuck'),
        {},
        { imageId: ami.id, instanceType: 'm1.small', timeoutSeconds: 1 },
      );
      const error = await rejection(instances.create(instanceUrn('stuck'), checked.inputs));
      fake.faults.clear();
      const stuck = fake.instances().filter((each) => each.state === 'pending');
      assert.equal(stuck.length, 1, 'one instance was launched');
      // Whatever the outcome, the instance is either held (partial) or gone: never leaked.
      if (error.partial) held.instances.add(error.partial.id);
      assert.ok(
        error.partial,
        `ErrorResourceInitFailed expected; got ${JSON.stringify(error.message)} and the instance is ${stuck[0].state}`,
      );
      const id = error.partial.id;
      assert.equal(id, stuck[0].instanceId);
      assert.match(error.message, new RegExp(`instance ${id} was launched but is pending, not running`));
      assert.ok(!error.message.includes('\n'), 'one line');
      assert.equal(error.partial.properties.state, 'pending');
      assert.equal(error.partial.properties[PROVIDER_KEY], texts.instance);
      await assertZeroOrphans();

      await instances.delete(id, instanceUrn('stuck'), error.partial.properties, checked.inputs);
      assert.equal(fake.instances().find((each) => each.instanceId === id)?.state, 'terminated');
      held.instances.delete(id);
      assert.equal((await instances.read(id, instanceUrn('stuck'), error.partial.properties)).id, '');
      await assertZeroOrphans();
    });

    // ---- delete in reverse dependency order ----

    it('UnikernelInstance delete terminates the instance; a later read gives id ""', async function () {
      await instances.delete(instance.id, instanceUrn('app'), instance.outputs, instanceInputs);
      assert.equal(fake.instances().find((each) => each.instanceId === instance.id)?.state, 'terminated');
      held.instances.delete(instance.id);
      await instances.waitForOutput(`UnikernelInstance ${instance.id}: terminated`);
      assert.equal((await instances.read(instance.id, instanceUrn('app'), instance.outputs)).id, '');
    });

    it('RegisteredAmi delete deregisters the AMI; a later read gives id ""', async function () {
      await amis.delete(ami.id, amiUrn('app'), ami.outputs, amiInputs);
      assert.equal(fake.images().find((each) => each.imageId === ami.id)?.state, 'deregistered');
      held.amis.delete(ami.id);
      assert.equal((await amis.read(ami.id, amiUrn('app'), ami.outputs)).id, '');
    });

    it('BundledImage delete removes every object of the bundle; a later read gives id ""', async function () {
      await bundles.delete(bundle.id, bundleUrn('app'), bundle.outputs, bundleInputs);
      assert.deepEqual(fake.objects(BUCKET), []);
      held.bundles.delete(bundle.id);
      await bundles.waitForOutput(
        `BundledImage mir-app.img: deleted ${Number(bundle.outputs.partCount) + 1} object(s) from s3://${BUCKET}`,
      );
      assert.equal((await bundles.read(bundle.id, bundleUrn('app'), bundle.outputs)).id, '');
    });

    it('leaves no AWS object the state does not hold', async function () {
      await assertZeroOrphans();
    });
  });

  describe('AWS faults during create and delete', function () {
    let plugin: PluginClient | undefined;
    let bundles: PluginClient;
    let amis: PluginClient;
    let instances: PluginClient;
    let bundle: { id: string; outputs: Props; inputs: Props } | undefined;
    let ami: { id: string; outputs: Props; inputs: Props } | undefined;

    before(async function () {
      plugin = await launchPlugin();
      bundles = plugin.withProvider(texts.bundle);
      amis = plugin.withProvider(texts.ami);
      instances = plugin.withProvider(texts.instance);
    });

    beforeEach(function () {
      fake.faults.clear();
      fake.clearRequests();
    });

    afterEach(function () {
      fake.faults.clear();
    });

    after(async function () {
      await plugin?.stop();
    });

    /** Random data, sealed for a certificate the local AWS does not hold: a script says how it boots. */
    async function checkedBundle(name: string, bytes: number): Promise<Props> {
      const imagePath = path.join(folder.dir, `${name}.img`);
      writeImage(imagePath, [{ kind: 'random', bytes }]);
      const checked = await bundles.check(
        bundles.urn(BUNDLE, name),
        {},
        bundleProgram({ imagePath, keyPrefix: 'faults', ec2Certificate: pki.other.cert }),
      );
      assert.deepEqual(checked.failures, []);
      return checked.inputs;
    }

    it('BundledImage create recovers from two S3 500s through retries', async function () {
      fake.faults.inject({
        service: 's3',
        operation: 'PutObject',
        kind: 'status',
        status: 500,
        code: 'InternalError',
        times: 2,
      });
      const inputs = await checkedBundle('flaky', MiB);
      const created = await bundles.create(bundles.urn(BUNDLE, 'flaky'), inputs);
      holdBundle(created.id, created.properties);
      bundle = { id: created.id, outputs: created.properties, inputs };
      assert.equal(
        fake.requests.filter((request) => request.fault === 'status').length,
        2,
        'both 500s were met, and retried',
      );
      const keys = fake
        .objects(BUCKET)
        .map((object) => object.key)
        .sort();
      assert.deepEqual(
        keys,
        [...(created.properties.partKeys as string[]), String(created.properties.manifestKey)].sort(),
      );
      await assertZeroOrphans();
    });

    /** A create of NAME.img whose manifest PUT keeps failing: the partial failure the engine would keep in state. */
    async function unfinishedCreate(
      name: string,
      inputs: Props,
    ): Promise<{ id: string; state: Props; error: PluginRpcError }> {
      const isManifest = (request: { key?: string }) => request.key?.endsWith(`/${name}.img.manifest.xml`) === true;
      const fault = fake.faults.inject({ service: 's3', operation: 'PutObject', kind: 'reset', match: isManifest });
      const error = await rejection(bundles.create(bundles.urn(BUNDLE, name), inputs));
      assert.ok(fault.hits >= 2, `the SDK retried the reset PutObject (${fault.hits} attempts)`);
      fake.faults.clear();
      assert.ok(error.partial, `ErrorResourceInitFailed expected: ${error.message}`);
      holdBundle(error.partial.id, error.partial.properties);
      return { id: error.partial.id, state: error.partial.properties, error };
    }

    const putKeys = () =>
      fake.requests
        .filter((request) => request.operation === 'PutObject' && request.status === 200)
        .map((request) => String(request.key));
    const bundleObjects = (name: string) =>
      fake
        .objects(BUCKET)
        .map((object) => object.key)
        .filter((key) => key.includes(`/${name}.`))
        .sort();

    it('BundledImage create fails on a connection reset that outlasts the retries: a partial failure that keeps the parts and a resume record; the next update resumes without uploading a part again', async function () {
      const inputs = await checkedBundle('reset', 11 * MiB);
      const { id, state, error } = await unfinishedCreate('reset', inputs);
      assert.ok(!error.message.includes('\n'), `one line: ${JSON.stringify(error.message)}`);
      assert.match(
        error.message,
        /^bundling stopped \(PutObject s3:\/\/unikernels\/faults\/[0-9a-f]{16}-[0-9a-f]{8}\/reset\.img\.manifest\.xml failed: NetworkingError.*\); the parts uploaded so far stay in s3:\/\/unikernels\/faults\/[0-9a-f]{16}-[0-9a-f]{8}\/ with reset\.img\.resume\.json: run pulumi up again to resume the upload, or pulumi destroy to remove them$/,
      );
      assert.deepEqual(error.partial?.reasons, [error.message]);
      assert.equal(id, `${BUCKET}/${String(state.manifestKey)}`, 'the id is where the manifest will be');
      assert.equal(state.bundleStatus, 'unfinished');
      assert.equal(state[PROVIDER_KEY], texts.bundle, 'the state can be deleted, refreshed and updated later');
      assertNoKeyMaterial(state, 'the partial state');
      const partsPut = putKeys().filter((key) => key.includes('.part.'));
      assert.equal(partsPut.length, 2, 'both parts had reached S3 before the manifest failed');
      assert.deepEqual(
        bundleObjects('reset'),
        [...partsPut, partsPut[0].replace(/\.part\.\d+$/, '.resume.json')].sort(),
        'the parts and the resume record stay; no manifest',
      );

      const refreshed = await bundles.read(id, bundles.urn(BUNDLE, 'reset'), state, inputs);
      assert.equal(refreshed.id, id);
      assert.equal(refreshed.properties.bundleStatus, 'unfinished', 'refresh keeps an unfinished upload resumable');

      const plan = await bundles.diff(id, bundles.urn(BUNDLE, 'reset'), refreshed.properties, inputs, inputs);
      assert.deepEqual([plan.changes, plan.replaces], ['DIFF_SOME', []], 'an update in place, not a replacement');
      await bundles.waitForOutput(
        'BundledImage reset.img: the upload stopped before it finished; the update resumes it',
      );

      // The resume fails too: again a partial failure, and the kept parts are still not uploaded.
      fake.clearRequests();
      fake.faults.inject({
        service: 's3',
        operation: 'PutObject',
        kind: 'reset',
        match: (request) => request.key === state.manifestKey,
      });
      const again = await rejection(
        bundles.update(id, bundles.urn(BUNDLE, 'reset'), refreshed.properties, inputs, inputs),
      );
      fake.faults.clear();
      assert.equal(again.partial?.id, id);
      assert.equal(again.partial?.properties.bundleStatus, 'unfinished');
      assert.equal(again.partial?.properties[PROVIDER_KEY], texts.bundle);
      assert.deepEqual(
        putKeys().filter((key) => key.includes('.part.')),
        [],
        'a failed resume uploads no part again',
      );
      assert.equal(bundleObjects('reset').length, 3, 'the parts and the record are still there');

      fake.clearRequests();
      const updated = await bundles.update(id, bundles.urn(BUNDLE, 'reset'), again.partial.properties, inputs, inputs);
      assert.deepEqual(putKeys(), [String(state.manifestKey)], 'only the manifest is uploaded: both parts are kept');
      await bundles.waitForOutput(
        /^BundledImage reset\.img: uploaded: .* \(2 part\(s\), 2 of them kept from the unfinished upload, \d+ bytes\)$/,
      );
      const outputs = updated.properties;
      assert.equal(outputs.bundleStatus, 'intact');
      assert.equal(outputs.manifestLocation, id, 'the same id');
      assert.deepEqual(outputs.partKeys, [...partsPut].sort());
      assert.match(String(outputs.manifestEtag), /^[0-9a-f]{32}$/);
      assert.deepEqual(
        bundleObjects('reset'),
        [...partsPut, String(outputs.manifestKey)].sort(),
        'the record is gone once the manifest is there',
      );
      assert.equal(
        (await bundles.read(id, bundles.urn(BUNDLE, 'reset'), outputs, inputs)).properties.bundleStatus,
        'intact',
      );
      assert.deepEqual(
        (await bundles.diff(id, bundles.urn(BUNDLE, 'reset'), outputs, inputs, inputs)).changes,
        'DIFF_NONE',
      );

      await bundles.delete(id, bundles.urn(BUNDLE, 'reset'), outputs, inputs);
      held.bundles.delete(id);
      assert.deepEqual(bundleObjects('reset'), []);
      await assertZeroOrphans();
    });

    it('BundledImage: destroy of an unfinished upload removes its parts and record; a record deleted out of band makes it damaged, replaced first', async function () {
      const inputs = await checkedBundle('dropped', 11 * MiB);
      const { id, state } = await unfinishedCreate('dropped', inputs);
      assert.equal(bundleObjects('dropped').length, 3);
      await bundles.delete(id, bundles.urn(BUNDLE, 'dropped'), state, inputs);
      held.bundles.delete(id);
      assert.deepEqual(bundleObjects('dropped'), [], 'destroy leaves nothing of the unfinished upload');
      assert.equal((await bundles.read(id, bundles.urn(BUNDLE, 'dropped'), state, inputs)).id, '');

      const again = await unfinishedCreate('dropped', inputs);
      const record = bundleObjects('dropped').find((key) => key.endsWith('.resume.json'));
      assert.ok(record);
      fake.deleteObjectDirect(BUCKET, record);
      const refreshed = await bundles.read(again.id, bundles.urn(BUNDLE, 'dropped'), again.state, inputs);
      assert.equal(
        refreshed.properties.bundleStatus,
        `damaged: the upload was unfinished and its resume record ${record} is missing`,
      );
      const plan = await bundles.diff(again.id, bundles.urn(BUNDLE, 'dropped'), refreshed.properties, inputs, inputs);
      assert.deepEqual(
        [plan.changes, plan.replaces, plan.deleteBeforeReplace],
        ['DIFF_SOME', ['bundleStatus'], false],
        'not resumable: made again next to it, then removed',
      );
      await bundles.delete(again.id, bundles.urn(BUNDLE, 'dropped'), refreshed.properties, inputs);
      held.bundles.delete(again.id);
      assert.deepEqual(bundleObjects('dropped'), []);

      // Without a refresh, the next up still tries to resume: the leftovers are removed and the bundle made from the start.
      const third = await unfinishedCreate('dropped', inputs);
      const thirdRecord = bundleObjects('dropped').find((key) => key.endsWith('.resume.json'));
      assert.ok(thirdRecord);
      fake.deleteObjectDirect(BUCKET, thirdRecord);
      fake.clearRequests();
      const updated = await bundles.update(third.id, bundles.urn(BUNDLE, 'dropped'), third.state, inputs, inputs);
      await bundles.waitForOutput(
        'BundledImage dropped.img: the unfinished upload cannot be resumed (its resume record is missing); removing it and bundling from the start',
      );
      assert.equal(updated.properties.bundleStatus, 'intact');
      assert.equal(putKeys().filter((key) => key.includes('.part.')).length, 2, 'every part is uploaded again');
      assert.deepEqual(
        bundleObjects('dropped'),
        [...(updated.properties.partKeys as string[]), String(updated.properties.manifestKey)].sort(),
      );
      await bundles.delete(third.id, bundles.urn(BUNDLE, 'dropped'), updated.properties, inputs);
      held.bundles.delete(third.id);
      await assertZeroOrphans();
    });

    it('BundledImage create never takes over an unfinished upload (another stack or resource may own it): each create makes a folder of its own, and the upload is left as it was', async function () {
      const inputs = await checkedBundle('owned', 11 * MiB);
      const { id, state } = await unfinishedCreate('owned', inputs);
      const before = fake
        .objects(BUCKET)
        .filter((object) => object.key.includes('/owned.'))
        .map((object) => `${object.key} ${object.md5}`)
        .sort();
      fake.clearRequests();
      const intruder = await bundles.create(bundles.urn(BUNDLE, 'intruder'), inputs);
      holdBundle(intruder.id, intruder.properties);
      assert.notEqual(intruder.id, id, 'a folder of its own');
      assert.ok(
        putKeys().every((key) => key.includes(`/${String(intruder.properties.bundleKey)}/`)),
        'nothing uploaded into the unfinished upload',
      );
      assert.deepEqual(
        fake.requests
          .filter((request) => request.operation === 'DeleteObject')
          .filter((request) => !request.key?.includes(`/${String(intruder.properties.bundleKey)}/`)),
        [],
        'nothing deleted but its own claim on its own folder',
      );
      await bundles.delete(intruder.id, bundles.urn(BUNDLE, 'intruder'), intruder.properties, inputs);
      held.bundles.delete(intruder.id);
      assert.deepEqual(
        fake
          .objects(BUCKET)
          .filter((object) => object.key.includes('/owned.'))
          .map((object) => `${object.key} ${object.md5}`)
          .sort(),
        before,
      );
      await bundles.delete(id, bundles.urn(BUNDLE, 'owned'), state, inputs);
      held.bundles.delete(id);
      await assertZeroOrphans();
    });

    it('BundledImage: an unfinished upload of a copy of the image with another mtime is removed and bundled from the start', async function () {
      const inputs = await checkedBundle('touched', 11 * MiB);
      const { id, state } = await unfinishedCreate('touched', inputs);
      const imagePath = String(inputs.imagePath);
      utimesSync(imagePath, new Date('2030-01-01T00:00:00Z'), new Date('2030-01-01T00:00:00Z'));
      const rechecked = await bundles.check(
        bundles.urn(BUNDLE, 'touched'),
        inputs,
        bundleProgram({ imagePath, keyPrefix: 'faults', ec2Certificate: pki.other.cert }),
      );
      assert.equal(rechecked.inputs.sourceHash, inputs.sourceHash, 'the same content: the same location');
      fake.clearRequests();
      const updated = await bundles.update(id, bundles.urn(BUNDLE, 'touched'), state, rechecked.inputs, inputs);
      await bundles.waitForOutput(
        "BundledImage touched.img: the unfinished upload cannot be resumed (the image's mtime, mode or sparse layout, or the options, differ); removing it and bundling from the start",
      );
      assert.equal(putKeys().filter((key) => key.includes('.part.')).length, 2, 'every part is uploaded again');
      assert.equal(updated.properties.bundleStatus, 'intact');
      assert.deepEqual(
        bundleObjects('touched'),
        [...(updated.properties.partKeys as string[]), String(updated.properties.manifestKey)].sort(),
      );
      await bundles.delete(id, bundles.urn(BUNDLE, 'touched'), updated.properties, rechecked.inputs);
      held.bundles.delete(id);
      await assertZeroOrphans();
    });

    it('BundledImage from a kernel: the image is built again with the same tar header, so its unfinished upload resumes', async function () {
      const kernelPath = buildXenKernel(folder.dir, { fileName: 'resumed.xen' });
      const checked = await bundles.check(
        bundles.urn(BUNDLE, 'resumed'),
        {},
        bundleProgram({ kernelPath, keyPrefix: 'faults' }),
      );
      assert.deepEqual(checked.failures, []);
      const { id, state } = await unfinishedCreate('resumed', checked.inputs);
      const partsPut = putKeys().filter((key) => key.includes('.part.'));
      assert.ok(partsPut.length >= 1);
      // The tar header holds whole seconds: a rebuild in a later second must still give the same header.
      await new Promise((resolve) => setTimeout(resolve, 1100));
      fake.clearRequests();
      const updated = await bundles.update(id, bundles.urn(BUNDLE, 'resumed'), state, checked.inputs, checked.inputs);
      assert.deepEqual(
        putKeys(),
        [String(updated.properties.manifestKey)],
        'the rebuilt image resumes: no part is uploaded again',
      );
      assert.equal(updated.properties.bundleStatus, 'intact');
      await bundles.delete(id, bundles.urn(BUNDLE, 'resumed'), updated.properties, checked.inputs);
      held.bundles.delete(id);
      await assertZeroOrphans();
    });

    it('RegisteredAmi and UnikernelInstance create recover from an EC2 500 through retries, with no duplicate', async function () {
      assert.ok(bundle);
      fake.faults.inject({
        service: 'ec2',
        operation: 'RegisterImage',
        kind: 'status',
        status: 500,
        code: 'InternalError',
        times: 1,
      });
      const amiChecked = await amis.check(
        amis.urn(AMI, 'flaky'),
        {},
        { manifestLocation: bundle.outputs.manifestLocation, manifestEtag: bundle.outputs.manifestEtag, name: 'flaky' },
      );
      const createdAmi = await amis.create(amis.urn(AMI, 'flaky'), amiChecked.inputs);
      held.amis.add(createdAmi.id);
      ami = { id: createdAmi.id, outputs: createdAmi.properties, inputs: amiChecked.inputs };
      assert.equal(fake.images().filter((image) => image.name.startsWith('flaky-')).length, 1);
      // The local AWS cannot open the bundle (sealed for another certificate): the script decides.
      fake.scriptConsole({ imageId: createdAmi.id }, { lines: ['Xen Minimal OS!'] });

      fake.faults.inject({
        service: 'ec2',
        operation: 'RunInstances',
        kind: 'status',
        status: 500,
        code: 'InternalError',
        times: 1,
      });
      const checked = await instances.check(
        instances.urn(INSTANCE, 'flaky'),
        {},
        { imageId: createdAmi.id, instanceType: 'm3.medium' },
      );
      const created = await instances.create(instances.urn(INSTANCE, 'flaky'), checked.inputs);
      held.instances.add(created.id);
      assert.equal(fake.requests.filter((request) => request.fault === 'status').length, 2);
      assert.deepEqual(
        fake
          .instances()
          .filter((each) => each.clientToken === created.properties.clientToken)
          .map((each) => each.instanceId),
        [created.id],
        'the retried RunInstances launched once',
      );

      await instances.delete(created.id, instances.urn(INSTANCE, 'flaky'), created.properties, checked.inputs);
      held.instances.delete(created.id);
      await assertZeroOrphans();
    });

    it('RegisteredAmi delete recovers from DeregisterImage throttling; a delete that keeps failing keeps the AMI in state', async function () {
      assert.ok(ami);
      fake.faults.inject({
        service: 'ec2',
        operation: 'DeregisterImage',
        kind: 'status',
        status: 503,
        code: 'Unavailable',
      });
      const error = await rejection(amis.delete(ami.id, amis.urn(AMI, 'flaky'), ami.outputs, ami.inputs));
      assert.ok(!error.message.includes('\n'), `one line: ${JSON.stringify(error.message)}`);
      assert.match(error.message, new RegExp(`^DeregisterImage ${ami.id} failed: Unavailable`));
      assert.equal(
        fake.images().find((image) => image.imageId === ami?.id)?.state,
        'available',
        'still there, and still held',
      );
      await assertZeroOrphans();
      fake.faults.clear();
      fake.clearRequests();

      fake.faults.inject({ service: 'ec2', operation: 'DeregisterImage', kind: 'throttle', times: 2 });
      await amis.delete(ami.id, amis.urn(AMI, 'flaky'), ami.outputs, ami.inputs);
      assert.equal(fake.requests.filter((request) => request.fault === 'throttle').length, 2);
      assert.equal(fake.images().find((image) => image.imageId === ami?.id)?.state, 'deregistered');
      held.amis.delete(ami.id);
      await assertZeroOrphans();
    });

    it('BundledImage delete recovers from an S3 500 on DeleteObject', async function () {
      assert.ok(bundle);
      fake.faults.inject({
        service: 's3',
        operation: 'DeleteObject',
        kind: 'status',
        status: 500,
        code: 'InternalError',
        times: 1,
      });
      await bundles.delete(bundle.id, bundles.urn(BUNDLE, 'flaky'), bundle.outputs, bundle.inputs);
      assert.equal(fake.requests.filter((request) => request.fault === 'status').length, 1);
      assert.deepEqual(fake.objects(BUCKET), []);
      held.bundles.delete(bundle.id);
      assert.equal((await bundles.read(bundle.id, bundles.urn(BUNDLE, 'flaky'), bundle.outputs)).id, '');
      await assertZeroOrphans();
    });
  });

  describe('after every case above', function () {
    it('every object, AMI and instance in the fake AWS is recorded in the state the test holds, or gone', async function () {
      await assertZeroOrphans();
      assert.equal(held.bundles.size + held.amis.size + held.instances.size, 0, 'and the test deleted all it held');
    });
  });
});

/**
 * The zero-orphans invariant: every S3 object of every bucket lies under a bundle location the state
 * records, every AMI not deregistered and every instance not terminated (or shutting down) has its id
 * in the state. Buckets are listed through S3 itself, so a bucket created on the way is seen too.
 */
async function assertZeroOrphans(): Promise<void> {
  const s3 = new S3Client({
    endpoint: fake.endpoint,
    region: fake.region,
    credentials: fake.credentials,
    forcePathStyle: true,
    maxAttempts: 1,
  });
  const listed = await s3.send(new ListBucketsCommand({}));
  const buckets = (listed.Buckets ?? []).map((bucket) => bucket.Name ?? '');
  assert.ok(buckets.includes(BUCKET));
  const orphans: string[] = [];
  for (const bucket of buckets) {
    for (const object of fake.objects(bucket)) {
      const recorded = [...held.bundles.values()].some(
        (location) => location.bucket === bucket && object.key.startsWith(location.prefix),
      );
      if (!recorded) orphans.push(`s3://${bucket}/${object.key}`);
    }
  }
  for (const image of fake.images()) {
    if (image.state !== 'deregistered' && !held.amis.has(image.imageId))
      orphans.push(`${image.imageId} (${image.state})`);
  }
  for (const instance of fake.instances()) {
    if (
      instance.state !== 'terminated' &&
      instance.state !== 'shutting-down' &&
      !held.instances.has(instance.instanceId)
    ) {
      orphans.push(`${instance.instanceId} (${instance.state})`);
    }
  }
  assert.deepEqual(orphans, [], 'AWS objects that no state records');
}
