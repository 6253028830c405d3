/**
 * AWS settings the Pulumi way: the stack's aws:profile (region and credentials from the shared files)
 * aws:defaultTags and aws:assumeRoles (against the local AWS's STS) through the real plugin's configure, and an aws provider given in the
 * provider/providers option refused with a message instead of being silently ignored.
 */
import { strict as assert } from 'assert';
import { writeFileSync } from 'fs';
import * as path from 'path';
import * as pulumi from '@pulumi/pulumi';
import { registeredAmiProvider } from '../../provider/dynamic/registeredAmi/provider';
import { unikernelInstanceProvider } from '../../provider/dynamic/unikernelInstance/provider';
import { EbsUnikernel, RegisteredAmi, Unikernel, UnikernelInstance } from '../../sdk';
import { LocalAws } from '../../testing/localAws';
import { buildXenKernel } from '../../testing/xenKernel';
import { PluginRpcError, serializeProvider, startPlugin } from '../../testing/pluginHarness';
import { kernelImage, registerBootable, uploadBootable } from '../helpers/bootImages';
import { checkoutProject, temporaryFolder } from '../helpers/tools';

class ProviderOf extends pulumi.ProviderResource {
  constructor(pkg: string, name: string) {
    super(pkg, name, {});
  }
}

describe('AWS settings: aws:profile, aws:defaultTags, aws:assumeRoles, and no aws provider option', function () {
  this.timeout(90_000);
  const folder = temporaryFolder('aws-settings');
  after(() => folder.cleanup());

  it('refuses an aws provider given in provider or providers, before anything is registered', async () => {
    const registered: string[] = [];
    await pulumi.runtime.setMocks(
      {
        newResource: async (args) => {
          registered.push(args.type);
          return { id: `${args.name}-id`, state: args.inputs };
        },
        call: () => ({}),
      },
      'unikernel-settings',
      'dev',
      false,
    );
    const aws = new ProviderOf('aws', 'east');
    const message =
      /an aws provider was given in the provider\/providers option, which this resource cannot use .*aws:region/;
    assert.throws(
      () => new UnikernelInstance('vm', { imageId: 'ami-12345678', instanceType: 'm3.medium' }, { provider: aws }),
      (error: unknown) =>
        error instanceof Error && /^UnikernelInstance: /.test(error.message) && message.test(error.message),
    );
    assert.throws(
      () => new RegisteredAmi('ami', { name: 'x', manifestLocation: 'b/k.manifest.xml' }, { provider: aws }),
      /^Error: RegisteredAmi: an aws provider/,
    );
    assert.throws(
      () =>
        new Unikernel(
          'app',
          { bucket: 'b', accountId: '123456789012', privateKey: 'k', certificate: 'c', ec2Certificate: 'e' },
          { providers: { aws } },
        ),
      /^Error: Unikernel: an aws provider/,
    );
    assert.throws(
      () => new EbsUnikernel('raw', { rawImagePath: 'nanos.raw' }, { providers: [aws] }),
      /^Error: EbsUnikernel: an aws provider/,
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.ok(!registered.some((type) => type.startsWith('unikernel:')), `registered ${registered.join(', ')}`);
    const other = new ProviderOf('random', 'r');
    assert.doesNotThrow(
      () => new UnikernelInstance('fine', { imageId: 'ami-12345678', instanceType: 'm3.medium' }, { provider: other }),
      'a provider of another package is not refused',
    );
  });

  it("reads aws:profile from the stack config: the profile's region and credentials are used", async () => {
    const local = await LocalAws.start({ instancePendingMs: 30, statusCheckMs: 30 });
    const kernel = buildXenKernel(folder.dir, { fileName: 'profile.xen' });
    const ami = await registerBootable(local, folder.dir, await kernelImage(folder.dir, kernel, 'profile'), 'profile');
    const credentialsFile = path.join(folder.dir, 'credentials');
    const configFile = path.join(folder.dir, 'config');
    writeFileSync(
      credentialsFile,
      `[unikernel-test]\naws_access_key_id = ${local.credentials.accessKeyId}\naws_secret_access_key = ${local.credentials.secretAccessKey}\n`,
    );
    writeFileSync(configFile, `[profile unikernel-test]\nregion = ${local.region}\n`);
    const env = {
      AWS_ENDPOINT_URL: local.endpoint,
      AWS_SHARED_CREDENTIALS_FILE: credentialsFile,
      AWS_CONFIG_FILE: configFile,
      AWS_REGION: undefined,
      AWS_DEFAULT_REGION: undefined,
      AWS_ACCESS_KEY_ID: undefined,
      AWS_SECRET_ACCESS_KEY: undefined,
      AWS_SESSION_TOKEN: undefined,
      AWS_PROFILE: undefined,
      AWS_EC2_METADATA_DISABLED: 'true',
    };
    const text = await serializeProvider(unikernelInstanceProvider);
    const program = { imageId: ami, instanceType: 'm3.medium', verifyBoot: false };
    const withProfile = await startPlugin({
      cwd: checkoutProject(),
      project: 'unikernel-profile',
      env,
      deadlineMs: 60_000,
    });
    const without = await startPlugin({
      cwd: checkoutProject(),
      project: 'unikernel-profile',
      env,
      deadlineMs: 60_000,
    });
    try {
      await withProfile.configure({ 'aws:profile': 'unikernel-test', 'unikernel:pollSeconds': '0.05' });
      const instances = withProfile.withProvider(text);
      const checked = await instances.check(instances.urn('unikernel:UnikernelInstance', 'vm'), {}, program);
      const created = await instances.create(instances.urn('unikernel:UnikernelInstance', 'vm'), checked.inputs);
      assert.equal(created.properties.region, local.region, "the profile's region");
      assert.equal(local.instances().find((each) => each.instanceId === created.id)?.state, 'running');
      await instances.delete(
        created.id,
        instances.urn('unikernel:UnikernelInstance', 'vm'),
        created.properties,
        checked.inputs,
      );

      await without.configure({ 'unikernel:pollSeconds': '0.05' });
      const bare = without.withProvider(text);
      const failed = await bare.create(bare.urn('unikernel:UnikernelInstance', 'vm2'), { ...checked.inputs }).then(
        () => undefined,
        (error: unknown) => error,
      );
      assert.ok(failed instanceof PluginRpcError, 'without aws:profile there is no region or credential to use');
      assert.equal(local.instances().length, 1, 'nothing launched without the profile');
    } finally {
      await withProfile.stop();
      await without.stop();
      await local.stop();
    }
  });
  it('applies aws:defaultTags to the AMI and the instance, their own tags winning; a change of defaults is an update in place', async () => {
    const local = await LocalAws.start({ instancePendingMs: 30, statusCheckMs: 30 });
    const kernel = buildXenKernel(folder.dir, { fileName: 'tagged.xen' });
    const location = await uploadBootable(local, folder.dir, await kernelImage(folder.dir, kernel, 'tagged'), 'tagged');
    const env = {
      AWS_ENDPOINT_URL: local.endpoint,
      AWS_REGION: local.region,
      AWS_ACCESS_KEY_ID: local.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: local.credentials.secretAccessKey,
      AWS_SESSION_TOKEN: undefined,
      AWS_PROFILE: '',
    };
    const start = (defaults: Record<string, string>) =>
      startPlugin({ cwd: checkoutProject(), project: 'unikernel-tags', env, deadlineMs: 60_000 }).then(
        async (plugin) => {
          await plugin.configure({
            'aws:defaultTags': JSON.stringify({ tags: defaults }),
            'unikernel:pollSeconds': '0.05',
          });
          return plugin;
        },
      );
    const first = await start({ team: 'platform', env: 'dev' });
    const second = await start({ team: 'infra' });
    const broken = await startPlugin({ cwd: checkoutProject(), project: 'unikernel-tags', env, deadlineMs: 60_000 });
    try {
      const amis = first.withProvider(await serializeProvider(registeredAmiProvider));
      const amiUrn = amis.urn('unikernel:RegisteredAmi', 'ami');
      const amiProgram = { name: 'tagged', manifestLocation: location, tags: { app: 'web' } };
      const amiChecked = await amis.check(amiUrn, {}, amiProgram);
      assert.deepEqual(amiChecked.failures, []);
      const ami = await amis.create(amiUrn, amiChecked.inputs);
      assert.deepEqual(local.images().find((each) => each.imageId === ami.id)?.tags, {
        team: 'platform',
        env: 'dev',
        app: 'web',
      });
      assert.deepEqual(ami.properties.tags, { app: 'web' }, "tags stay the program's");
      assert.deepEqual(ami.properties.tagsAll, { team: 'platform', env: 'dev', app: 'web' });

      const text = await serializeProvider(unikernelInstanceProvider);
      const instances = first.withProvider(text);
      const urn = instances.urn('unikernel:UnikernelInstance', 'vm');
      const program = { imageId: ami.id, instanceType: 'm3.medium', verifyBoot: false, tags: { env: 'prod' } };
      const checked = await instances.check(urn, {}, program);
      const created = await instances.create(urn, checked.inputs);
      const liveTags = () => local.instances().find((each) => each.instanceId === created.id)?.tags;
      assert.deepEqual(liveTags(), { team: 'platform', env: 'prod' }, 'the resource wins on a shared key');
      assert.deepEqual(created.properties.tags, { env: 'prod' });
      assert.deepEqual(created.properties.tagsAll, { team: 'platform', env: 'prod' });
      const same = await instances.diff(created.id, urn, created.properties, checked.inputs, checked.inputs);
      assert.equal(same.changes, 'DIFF_NONE', 'the same defaults: no change');
      const read = await instances.read(created.id, urn, created.properties);
      assert.deepEqual(read.inputs?.tags, { env: 'prod' }, 'refresh keeps the defaults out of the inputs');
      assert.deepEqual(read.properties.tagsAll, { team: 'platform', env: 'prod' });

      const retagged = second.withProvider(text);
      const diff = await retagged.diff(created.id, urn, created.properties, checked.inputs, checked.inputs);
      assert.equal(diff.changes, 'DIFF_SOME', 'new defaults change the instance');
      assert.deepEqual(diff.replaces, [], 'in place');
      const updated = await retagged.update(created.id, urn, created.properties, checked.inputs, checked.inputs);
      assert.deepEqual(liveTags(), { team: 'infra', env: 'prod' }, 'env (a default no more) removed, team changed');
      assert.deepEqual(updated.properties.tagsAll, { team: 'infra', env: 'prod' });
      const amiDiff = await second
        .withProvider(await serializeProvider(registeredAmiProvider))
        .diff(ami.id, amiUrn, ami.properties, amiChecked.inputs, amiChecked.inputs);
      assert.deepEqual([amiDiff.changes, amiDiff.replaces], ['DIFF_SOME', []], 'the AMI too, in place');
      await retagged.delete(created.id, urn, updated.properties, checked.inputs);
      await amis.delete(ami.id, amiUrn, ami.properties, amiChecked.inputs);

      await broken.configure({ 'aws:defaultTags': '{"tags": {"team": 7}}' });
      const refused = await broken
        .withProvider(text)
        .check(urn, {}, program)
        .then(
          () => undefined,
          (error: unknown) => error,
        );
      assert.ok(refused instanceof Error, 'a malformed aws:defaultTags is refused');
      assert.match(
        refused.message,
        /aws:defaultTags must be \{"tags": \{"KEY": "VALUE", …\}\}.*"team" is not a string/,
      );
    } finally {
      await first.stop();
      await second.stop();
      await broken.stop();
      await local.stop();
    }
  });
  it("assumes the roles of aws:assumeRoles: every request is signed with the last role's temporary credentials", async () => {
    const local = await LocalAws.start({ instancePendingMs: 30, statusCheckMs: 30 });
    const kernel = buildXenKernel(folder.dir, { fileName: 'role.xen' });
    const ami = await registerBootable(local, folder.dir, await kernelImage(folder.dir, kernel, 'role'), 'role');
    const first = local.createRoleDirect('hub');
    const second = local.createRoleDirect('deployer', { externalId: 'ext-1234' });
    const env = {
      AWS_ENDPOINT_URL: local.endpoint,
      AWS_REGION: local.region,
      AWS_ACCESS_KEY_ID: local.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: local.credentials.secretAccessKey,
      AWS_SESSION_TOKEN: undefined,
      AWS_PROFILE: '',
    };
    const start = (roles: string) =>
      startPlugin({ cwd: checkoutProject(), project: 'unikernel-roles', env, deadlineMs: 60_000 }).then(
        async (plugin) => {
          await plugin.configure({ 'aws:assumeRoles': roles, 'unikernel:pollSeconds': '0.05' });
          return plugin;
        },
      );
    const chained = await start(
      JSON.stringify([
        { roleArn: first, sessionName: 'hub-session' },
        { roleArn: second, sessionName: 'unikernel', externalId: 'ext-1234', duration: '30m' },
      ]),
    );
    const wrong = await start(JSON.stringify([{ roleArn: second, externalId: 'not-it' }]));
    const malformed = await start(JSON.stringify({ roleArn: first }));
    try {
      const text = await serializeProvider(unikernelInstanceProvider);
      const instances = chained.withProvider(text);
      const urn = instances.urn('unikernel:UnikernelInstance', 'vm');
      const program = { imageId: ami, instanceType: 'm3.medium', verifyBoot: false };
      const checked = await instances.check(urn, {}, program);
      local.clearRequests();
      const created = await instances.create(urn, checked.inputs);
      const assumed = local.requests.filter((request) => request.operation === 'AssumeRole');
      assert.deepEqual(
        assumed.map((request) => [request.params.RoleArn, request.params.RoleSessionName, request.params.ExternalId]),
        [
          [first, 'hub-session', undefined],
          [second, 'unikernel', 'ext-1234'],
        ],
      );
      assert.equal(assumed[1].params.DurationSeconds, '1800');
      assert.equal(assumed[0].accessKeyId, local.credentials.accessKeyId, 'the first role from the base credentials');
      assert.match(String(assumed[1].accessKeyId), /^ASIA/, "the second with the first role's");
      assert.notEqual(assumed[1].accessKeyId, assumed[0].accessKeyId);
      const ec2 = local.requests.filter((request) => request.service === 'ec2');
      assert.ok(ec2.some((request) => request.operation === 'RunInstances'));
      const keys = new Set(ec2.map((request) => request.accessKeyId));
      assert.equal(keys.size, 1, `one key signs every EC2 request: ${[...keys].join(', ')}`);
      const [key] = keys;
      assert.match(String(key), /^ASIA/);
      assert.notEqual(key, assumed[1].accessKeyId, "signed with the last role's key, not the one that assumed it");
      assert.ok(
        ec2.every((request) => request.headers['x-amz-security-token']),
        'with its session token',
      );
      assert.equal(local.instances().find((each) => each.instanceId === created.id)?.state, 'running');
      await instances.delete(created.id, urn, created.properties, checked.inputs);

      const before = local.instances().length;
      const denied = await wrong
        .withProvider(text)
        .create(urn, checked.inputs)
        .then(
          () => undefined,
          (error: unknown) => error,
        );
      assert.ok(denied instanceof PluginRpcError);
      assert.match(
        denied.message,
        /not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::\d+:role\/deployer/,
      );
      assert.equal(local.instances().length, before, 'nothing launched');

      const refused = await malformed
        .withProvider(text)
        .check(urn, {}, program)
        .then(
          () => undefined,
          (error: unknown) => error,
        );
      assert.ok(refused instanceof Error);
      assert.match(refused.message, /aws:assumeRoles: it must be a list of roles; give \{"roleArn"/);
    } finally {
      await chained.stop();
      await wrong.stop();
      await malformed.stop();
      await local.stop();
    }
  });
});
