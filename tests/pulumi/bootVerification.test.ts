/**
 * UnikernelInstance's boot verification through the SDK's real dynamic-provider plugin, against the
 * local AWS booting real bundles (PV-GRUB's work, kernel output scripted per kernel digest): a boot
 * confirmed by its marker or by the status checks, a failure line and a deadline each ending in a
 * partial failure that keeps the instance (the console lines in the message, never in state), the
 * next diff replacing it, refresh reporting an impaired check, and bad inputs refused in check.
 */
import { strict as assert } from 'assert';
import { unikernelInstanceProvider } from '../../provider/dynamic/unikernelInstance/provider';
import { LocalAws } from '../../testing/localAws';
import { buildXenKernel } from '../../testing/xenKernel';
import { PluginClient, PluginRpcError, Props, serializeProvider, startPlugin } from '../../testing/pluginHarness';
import { ext2Image, kernelImage, registerBootable, sha256Of } from '../helpers/bootImages';
import { checkoutProject, temporaryFolder } from '../helpers/tools';

const INSTANCE = 'unikernel:UnikernelInstance';

function rejection(promise: Promise<unknown>): Promise<PluginRpcError> {
  return promise.then(
    () => assert.fail('expected the RPC to fail'),
    (error: unknown) => {
      assert.ok(error instanceof PluginRpcError, `not a PluginRpcError: ${String(error)}`);
      return error;
    },
  );
}

describe('UnikernelInstance boot verification through the real plugin', function () {
  this.timeout(90_000);
  let local: LocalAws;
  let plugin: PluginClient | undefined;
  let instances: PluginClient;
  const folder = temporaryFolder('boot-verification');
  let goodKernel: string;
  let goodAmi: string;

  before(async function () {
    // As on EC2, the reachability checks settle after the console is posted.
    local = await LocalAws.start({ instancePendingMs: 30, consolePostMs: 60, statusCheckMs: 400 });
    const started = await startPlugin({
      cwd: checkoutProject(),
      project: 'unikernel-boot',
      env: {
        AWS_ENDPOINT_URL: local.endpoint,
        AWS_REGION: local.region,
        AWS_ACCESS_KEY_ID: local.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: local.credentials.secretAccessKey,
        AWS_SESSION_TOKEN: undefined,
        AWS_PROFILE: '',
      },
      deadlineMs: 60_000,
    });
    plugin = started;
    await started.configure({ 'unikernel:pollSeconds': '0.05' });
    instances = started.withProvider(await serializeProvider(unikernelInstanceProvider));
    goodKernel = buildXenKernel(folder.dir, { fileName: 'app.xen' });
    goodAmi = await registerBootable(local, folder.dir, await kernelImage(folder.dir, goodKernel, 'app'), 'boot');
  });

  after(async function () {
    await plugin?.stop();
    await local?.stop();
    folder.cleanup();
  });

  const urn = (name: string) => instances.urn(INSTANCE, name);

  async function checked(name: string, program: Props): Promise<Props> {
    const result = await instances.check(urn(name), {}, program);
    assert.deepEqual(result.failures, []);
    return result.inputs;
  }

  function stateOf(id: string) {
    return local.instances().find((each) => each.instanceId === id)?.state;
  }

  it('confirms the boot by the marker on the console; the console text is not in state', async function () {
    local.scriptConsole(
      { kernelSha256: sha256Of(goodKernel) },
      { lines: ['Solo5: Xen console', 'mirage: listening on 0.0.0.0:80 (secret-token-1234)'] },
    );
    const inputs = await checked('marked', { imageId: goodAmi, instanceType: 'm3.medium', bootMarker: 'listening on' });
    const created = await instances.create(urn('marked'), inputs);
    const status = created.properties.bootStatus as Record<string, string>;
    assert.equal(status.result, 'verified');
    assert.equal(status.method, 'console marker');
    assert.ok(!Number.isNaN(Date.parse(status.at)));
    assert.ok(!JSON.stringify(created.properties).includes('secret-token-1234'), 'no console text in state');
    await instances.waitForOutput(`UnikernelInstance ${created.id}: boot verified`);
    await instances.delete(created.id, urn('marked'), created.properties, inputs);
  });

  it('without a marker, the reachability checks passing confirm the boot', async function () {
    const inputs = await checked('checks', { imageId: goodAmi, instanceType: 'm3.medium' });
    const created = await instances.create(urn('checks'), inputs);
    const status = created.properties.bootStatus as Record<string, string>;
    assert.equal(status.result, 'verified');
    assert.equal(status.method, 'status checks');
    assert.equal(created.properties.arn, `arn:aws:ec2:${local.region}:${local.accountId}:instance/${created.id}`);
    assert.match(String(created.properties.privateDns), /^ip-172-31-\d+-\d+\.ec2\.internal$/);
    assert.match(String(created.properties.publicDns), /^ec2-54-\d+-\d+-\d+\.compute-1\.amazonaws\.com$/);
    assert.equal(created.properties.availabilityZone, `${local.region}a`);
    const retagged = await checked('checks', { imageId: goodAmi, instanceType: 'm3.medium', tags: { team: 'a' } });
    const updated = await instances.update(created.id, urn('checks'), created.properties, retagged, inputs);
    assert.deepEqual(updated.properties.bootStatus, created.properties.bootStatus, 'an update keeps the verdict');
    assert.equal(updated.properties.arn, created.properties.arn);
    await instances.delete(created.id, urn('checks'), updated.properties, retagged);
  });

  it('a panicking kernel: a partial failure keeping the instance, the console lines in the message; the next diff replaces it', async function () {
    const kernel = buildXenKernel(folder.dir, { fileName: 'panic.xen', seed: 'panics' });
    local.scriptConsole(
      { kernelSha256: sha256Of(kernel) },
      { lines: ['Booting unikernel', 'Kernel panic - not syncing: no root device'], reachable: false },
    );
    const ami = await registerBootable(local, folder.dir, await kernelImage(folder.dir, kernel, 'panic'), 'boot');
    const inputs = await checked('panic', { imageId: ami, instanceType: 'm3.medium', bootMarker: 'listening on' });
    const before = local.instances().length;
    const error = await rejection(instances.create(urn('panic'), inputs));
    assert.ok(error.partial, `a partial failure expected, got ${error.message}`);
    const id = error.partial.id;
    assert.equal(local.instances().length, before + 1);
    assert.equal(stateOf(id), 'running', 'the instance is kept running for inspection');
    assert.match(error.message, new RegExp(`instance ${id} is running but its boot was not verified`));
    assert.match(error.message, /Linux kernel panic/);
    assert.match(error.message, /\n {4}Kernel panic - not syncing: no root device/);
    assert.match(error.message, /GNU GRUB/, "PV-GRUB's lines come first");
    const status = error.partial.properties.bootStatus as Record<string, string>;
    assert.equal(status.result, 'not verified');
    assert.ok(!JSON.stringify(error.partial.properties).includes('no root device'), 'no console text in state');
    const diff = await instances.diff(id, urn('panic'), error.partial.properties, inputs, inputs);
    assert.ok(diff.replaces.includes('bootStatus'), `replaces ${JSON.stringify(diff.replaces)}`);
    await instances.delete(id, urn('panic'), error.partial.properties, inputs);
    assert.equal(stateOf(id), 'terminated');
  });

  it("a menu PV-GRUB cannot follow: GRUB's error ends the boot, without waiting for the deadline", async function () {
    const image = ext2Image(folder.dir, 'broken-menu', {
      'boot/grub/menu.lst': 'default 0\ntimeout 0\ntitle app\n  root (hd0)\n  kernel /boot/app.xen.gz\n',
    });
    const ami = await registerBootable(local, folder.dir, image, 'boot');
    const inputs = await checked('menu', { imageId: ami, instanceType: 'm3.medium', bootTimeoutSeconds: 60 });
    const started = Date.now();
    const error = await rejection(instances.create(urn('menu'), inputs));
    assert.ok(error.partial);
    assert.ok(Date.now() - started < 30_000, 'decided by the failure line, not the deadline');
    assert.match(error.message, /PV-GRUB error/);
    assert.match(error.message, /Error 15: File not found/);
    await instances.delete(error.partial.id, urn('menu'), error.partial.properties, inputs);
  });

  it('the deadline: no marker within bootTimeoutSeconds is a partial failure that says so', async function () {
    const inputs = await checked('deadline', {
      imageId: goodAmi,
      instanceType: 'm3.medium',
      bootMarker: 'never printed',
      bootTimeoutSeconds: 1,
    });
    const error = await rejection(instances.create(urn('deadline'), inputs));
    assert.ok(error.partial);
    assert.match(error.message, /no boot marker \/never printed\/ on the console within 1 s/);
    assert.equal(stateOf(error.partial.id), 'running');
    await instances.delete(error.partial.id, urn('deadline'), error.partial.properties, inputs);
  });

  it('refresh reports an impaired reachability check, and the next diff replaces the instance', async function () {
    const inputs = await checked('refresh', { imageId: goodAmi, instanceType: 'm3.medium' });
    const created = await instances.create(urn('refresh'), inputs);
    local.impairInstanceDirect(created.id);
    const read = await instances.read(created.id, urn('refresh'), created.properties);
    assert.equal(read.properties.statusCheck, 'impaired');
    await instances.waitForOutput(`UnikernelInstance ${created.id}: its instance reachability check is impaired`);
    const diff = await instances.diff(created.id, urn('refresh'), read.properties, inputs, inputs);
    assert.ok(diff.replaces.includes('statusCheck'));
    await instances.delete(created.id, urn('refresh'), read.properties, inputs);
  });

  it('bad boot inputs are refused in check, one line per property, and nothing is launched', async function () {
    const before = local.instances().length;
    const result = await instances.check(
      urn('bad'),
      {},
      {
        imageId: goodAmi,
        instanceType: 'm3.medium',
        bootMarker: 'listening (on',
        bootFailurePatterns: ['ok', '[z-a]'],
        bootTimeoutSeconds: 0,
      },
    );
    const failures = Object.fromEntries(result.failures.map((failure) => [failure.property, failure.reason]));
    assert.deepEqual(Object.keys(failures).sort(), ['bootFailurePatterns', 'bootMarker', 'bootTimeoutSeconds']);
    assert.match(failures.bootMarker, /"listening \(on" is not a valid regular expression/);
    assert.match(failures.bootFailurePatterns, /"\[z-a\]" is not a valid regular expression/);
    assert.ok(Object.values(failures).every((reason) => !reason.includes('\n')));
    const off = await instances.check(
      urn('off'),
      {},
      { imageId: goodAmi, instanceType: 'm3.medium', verifyBoot: false, bootMarker: 'up' },
    );
    assert.deepEqual(
      off.failures.map((failure) => failure.property),
      ['bootMarker'],
    );
    assert.match(off.failures[0].reason, /verifyBoot is false/);
    assert.equal(local.instances().length, before, 'nothing launched');
  });

  it('verifyBoot false: running is enough, and bootStatus says it was not checked', async function () {
    const inputs = await checked('unchecked', { imageId: goodAmi, instanceType: 'm3.medium', verifyBoot: false });
    const created = await instances.create(urn('unchecked'), inputs);
    assert.equal((created.properties.bootStatus as Record<string, string>).result, 'not checked');
    assert.ok(
      !local.requests.some(
        (request) => request.operation === 'GetConsoleOutput' && request.params.InstanceId === created.id,
      ),
    );
    await instances.delete(created.id, urn('unchecked'), created.properties, inputs);
  });
});
