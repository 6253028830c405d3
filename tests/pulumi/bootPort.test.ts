/**
 * UnikernelInstance's TCP port check through the real dynamic-provider plugin, against a local AWS
 * whose instances have loopback addresses: a port the booted kernel listens on (really listened on
 * by the local AWS at the instance's address) verifies the boot, one that opens late is retried
 * until it does, one nobody listens on is refused by the kernel and fails at the deadline with a
 * message saying so (a partial failure keeping the instance), and bad port inputs fail check.
 */
import { strict as assert } from 'assert';
import { connect } from 'net';
import { unikernelInstanceProvider } from '../../provider/dynamic/unikernelInstance/provider';
import { LocalAws } from '../../testing/localAws';
import { buildXenKernel } from '../../testing/xenKernel';
import { PluginClient, PluginRpcError, Props, serializeProvider, startPlugin } from '../../testing/pluginHarness';
import { kernelImage, registerBootable, sha256Of } from '../helpers/bootImages';
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

/** What a TCP connection from this process to `host:port` gets: 'open' or the error code. */
function connectTo(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve('open');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

describe('UnikernelInstance bootPort through the real plugin', function () {
  this.timeout(90_000);
  let local: LocalAws;
  let plugin: PluginClient | undefined;
  let instances: PluginClient;
  const folder = temporaryFolder('boot-port');
  let ami: string;
  let lateAmi: string;

  before(async function () {
    local = await LocalAws.start({
      instancePendingMs: 30,
      consolePostMs: 60,
      statusCheckMs: 100,
      loopbackAddresses: true,
    });
    const started = await startPlugin({
      cwd: checkoutProject(),
      project: 'unikernel-boot-port',
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
    const kernel = buildXenKernel(folder.dir, { fileName: 'web.xen' });
    local.scriptConsole({ kernelSha256: sha256Of(kernel) }, { lines: ['web: listening on :8080'], ports: [8080] });
    ami = await registerBootable(local, folder.dir, await kernelImage(folder.dir, kernel, 'web'), 'port');
    const late = buildXenKernel(folder.dir, { fileName: 'late.xen', seed: 'late' });
    local.scriptConsole(
      { kernelSha256: sha256Of(late) },
      { lines: ['late: starting'], ports: [8080], listenAfterMs: 1500 },
    );
    lateAmi = await registerBootable(local, folder.dir, await kernelImage(folder.dir, late, 'late'), 'port');
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

  it('a port the unikernel listens on verifies the boot, with the marker; bootStatus names the port', async function () {
    const inputs = await checked('open', {
      imageId: ami,
      instanceType: 'm3.medium',
      bootMarker: 'listening on',
      bootPort: 8080,
    });
    const created = await instances.create(urn('open'), inputs);
    const status = created.properties.bootStatus as Record<string, string>;
    const publicIp = String(created.properties.publicIpAddress);
    assert.match(publicIp, /^127\.54\.\d+\.\d+$/);
    assert.equal(status.result, 'verified');
    assert.equal(status.method, 'console marker and TCP port');
    assert.equal(status.port, `${publicIp}:8080`, 'the public address by default');
    assert.match(status.summary, /boot marker \/listening on\/, and 127\.54\.\d+\.\d+:8080 accepted a TCP connection/);
    assert.equal(await connectTo(publicIp, 8080), 'open', 'the instance really listens there');
    assert.equal(await connectTo(publicIp, 9090), 'ECONNREFUSED', 'and nowhere else');
    await instances.delete(created.id, urn('open'), created.properties, inputs);
    assert.equal(await connectTo(publicIp, 8080), 'ECONNREFUSED', 'a terminated instance listens no more');
  });

  it('without a marker: the status checks and the port, on the private address when asked', async function () {
    const inputs = await checked('private', {
      imageId: ami,
      instanceType: 'm3.medium',
      bootPort: 8080,
      bootPortAddress: 'private',
    });
    const created = await instances.create(urn('private'), inputs);
    const status = created.properties.bootStatus as Record<string, string>;
    assert.equal(status.result, 'verified');
    assert.equal(status.method, 'status checks and TCP port');
    assert.equal(status.port, `${String(created.properties.privateIpAddress)}:8080`);
    assert.match(status.port, /^127\.31\./);
    await instances.delete(created.id, urn('private'), created.properties, inputs);
  });

  it('a port that opens late is tried again until it answers', async function () {
    const inputs = await checked('late', { imageId: lateAmi, instanceType: 'm3.medium', bootPort: 8080 });
    const started = Date.now();
    const created = await instances.create(urn('late'), inputs);
    assert.ok(Date.now() - started >= 1500, 'not before the kernel listens');
    assert.equal((created.properties.bootStatus as Record<string, string>).result, 'verified');
    const polls = local.requests.filter(
      (request) => request.operation === 'GetConsoleOutput' && request.params.InstanceId === created.id,
    );
    assert.ok(polls.length > 2, 'polled more than once while the port was closed');
    await instances.delete(created.id, urn('late'), created.properties, inputs);
  });

  it('a port nobody listens on: refused until the deadline, a partial failure with the console lines', async function () {
    const inputs = await checked('closed', {
      imageId: ami,
      instanceType: 'm3.medium',
      bootMarker: 'listening on',
      bootPort: 9090,
      bootTimeoutSeconds: 2,
    });
    const error = await rejection(instances.create(urn('closed'), inputs));
    assert.ok(error.partial, `a partial failure expected, got ${error.message}`);
    const id = error.partial.id;
    assert.match(
      error.message,
      new RegExp(
        `instance ${id} is running but its boot was not verified: the console printed the boot marker /listening on/, ` +
          'but nothing accepted a TCP connection on 127\\.54\\.\\d+\\.\\d+:9090 within 2 s \\(last attempt: connection refused\\)',
      ),
    );
    assert.match(error.message, /\n {4}web: listening on :8080/, 'the console tail');
    const status = error.partial.properties.bootStatus as Record<string, string>;
    assert.equal(status.result, 'not verified');
    assert.match(status.port, /:9090$/);
    assert.equal(local.instances().find((each) => each.instanceId === id)?.state, 'running', 'kept');
    const diff = await instances.diff(id, urn('closed'), error.partial.properties, inputs, inputs);
    assert.ok(diff.replaces.includes('bootStatus'));
    await instances.delete(id, urn('closed'), error.partial.properties, inputs);
  });

  it('bad port inputs are refused in check, one line per property', async function () {
    const before = local.instances().length;
    const bad = await instances.check(
      urn('bad'),
      {},
      { imageId: ami, instanceType: 'm3.medium', bootPort: 70000, bootPortAddress: 'elastic' },
    );
    const failures = Object.fromEntries(bad.failures.map((failure) => [failure.property, failure.reason]));
    assert.match(failures.bootPort, /must be a whole number of a TCP port from 1 to 65535/);
    assert.match(failures.bootPortAddress, /must be "public" or "private"/);
    const alone = await instances.check(
      urn('alone'),
      {},
      { imageId: ami, instanceType: 'm3.medium', bootPortAddress: 'public' },
    );
    assert.deepEqual(
      alone.failures.map((failure) => failure.reason),
      ['is given without bootPort: give the port to check, or remove it'],
    );
    const off = await instances.check(
      urn('off'),
      {},
      { imageId: ami, instanceType: 'm3.medium', verifyBoot: false, bootPort: 80 },
    );
    assert.deepEqual(
      off.failures.map((failure) => failure.property),
      ['bootPort'],
    );
    assert.equal(local.instances().length, before, 'nothing launched');
  });
});
