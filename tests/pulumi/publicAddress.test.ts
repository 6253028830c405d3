/**
 * UnikernelInstance and the public address, through the real dynamic-provider plugin against a local
 * AWS with loopback addresses: a port check on the public address of an instance that will have
 * none is refused in check (associatePublicIpAddress false) or, when the subnet decides, before
 * anything is launched (DescribeSubnets' MapPublicIpOnLaunch); a port check on the private address
 * of such an instance verifies its boot; and an address gained or lost outside the program is drift
 * on refresh, which the next diff replaces (EC2 assigns one only at launch).
 */
import { strict as assert } from 'assert';
import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { createEc2Client } from '../../provider/aws/clients';
import { unikernelInstanceProvider } from '../../provider/dynamic/unikernelInstance/provider';
import { checkInstanceInputs } from '../../provider/dynamic/unikernelInstance/rules';
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

describe('UnikernelInstance and the public address, through the real plugin', function () {
  this.timeout(90_000);
  let local: LocalAws;
  let plugin: PluginClient | undefined;
  let instances: PluginClient;
  const folder = temporaryFolder('public-address');
  let ami: string;

  before(async function () {
    local = await LocalAws.start({
      instancePendingMs: 30,
      consolePostMs: 60,
      statusCheckMs: 100,
      loopbackAddresses: true,
    });
    const started = await startPlugin({
      cwd: checkoutProject(),
      project: 'unikernel-public-address',
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
    ami = await registerBootable(local, folder.dir, await kernelImage(folder.dir, kernel, 'web'), 'public');
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

  /** Every instance the local EC2 knows, as DescribeInstances lists them. */
  async function described(): Promise<string[]> {
    const ec2 = createEc2Client({ endpoint: local.endpoint, region: local.region, credentials: local.credentials });
    try {
      const output = await ec2.send(new DescribeInstancesCommand({}));
      return (output.Reservations ?? []).flatMap((reservation) =>
        (reservation.Instances ?? []).map((instance) => instance.InstanceId ?? ''),
      );
    } finally {
      ec2.destroy();
    }
  }

  it('check refuses a public port check with associatePublicIpAddress false, naming both and what to do', async function () {
    const result = await instances.check(
      urn('no-public'),
      {},
      {
        imageId: ami,
        instanceType: 'm3.medium',
        bootPort: 8080,
        bootPortAddress: 'public',
        associatePublicIpAddress: false,
      },
    );
    assert.deepEqual(
      result.failures.map((failure) => [failure.property, failure.reason]),
      [
        [
          'bootPortAddress',
          'is "public" but associatePublicIpAddress is false, so the instance will have no public IP to check the port on: ' +
            'set bootPortAddress to "private" (reachable from where pulumi up runs), or associatePublicIpAddress to true',
        ],
      ],
    );
  });

  it('check (pure): only "public" with associatePublicIpAddress false is refused; verifyBoot false says its own', function () {
    const base = { imageId: 'ami-12345678', instanceType: 'm3.medium', bootPort: 8080 };
    const reasons = (extra: Props) =>
      Object.fromEntries(
        checkInstanceInputs({ ...base, ...extra }).map((failure) => [failure.property, failure.reason]),
      );
    assert.match(
      reasons({ bootPortAddress: 'public', associatePublicIpAddress: false }).bootPortAddress,
      /will have no public IP/,
    );
    assert.deepEqual(reasons({ bootPortAddress: 'private', associatePublicIpAddress: false }), {});
    assert.deepEqual(reasons({ bootPortAddress: 'public', associatePublicIpAddress: true }), {});
    assert.deepEqual(reasons({ bootPortAddress: 'public' }), {}, 'the subnet decides: known only before launch');
    assert.match(
      reasons({ bootPortAddress: 'public', associatePublicIpAddress: false, verifyBoot: false }).bootPortAddress,
      /is given but verifyBoot is false/,
    );
  });

  it("a subnet that maps no public IP: refused before launch, nothing launched; the default subnets' too", async function () {
    const subnet = local.createSubnetDirect();
    const before = await described();
    const inputs = await checked('subnet', {
      imageId: ami,
      instanceType: 'm3.medium',
      subnetId: subnet,
      bootPort: 8080,
      bootPortAddress: 'public',
    });
    const error = await rejection(instances.create(urn('subnet'), inputs));
    assert.equal(error.partial, undefined, 'not a partial failure: nothing exists');
    assert.equal(
      error.message.split('\n')[0],
      `bootPortAddress: port 8080 is to be checked on the instance's public address, but it would have none: subnet ${subnet} ` +
        'does not map public IPs on launch (MapPublicIpOnLaunch false); nothing was launched; ' +
        'set bootPortAddress to "private" (reachable from where pulumi up runs), or associatePublicIpAddress to true',
    );
    assert.deepEqual(await described(), before, 'DescribeInstances lists no new instance');
    assert.ok(!local.requests.some((request) => request.operation === 'RunInstances'), 'RunInstances never sent');

    const zones = ['a', 'b', 'c'].map((letter) => local.defaultSubnetIdDirect(`${local.region}${letter}`));
    for (const zone of zones) local.setSubnetMapPublicIpDirect(zone, false);
    try {
      const anywhere = await checked('default', {
        imageId: ami,
        instanceType: 'm3.medium',
        bootPort: 8080,
        bootPortAddress: 'public',
      });
      const refused = await rejection(instances.create(urn('default'), anywhere));
      assert.match(
        refused.message,
        new RegExp(`the default subnets \\(${zones.join(', ')}\\) do not map public IPs on launch`),
      );
      assert.deepEqual(await described(), before);
    } finally {
      for (const zone of zones) local.setSubnetMapPublicIpDirect(zone, true);
    }
  });

  it('with associatePublicIpAddress true in that subnet, the public port check goes ahead and verifies', async function () {
    const subnet = local.createSubnetDirect();
    const inputs = await checked('asked', {
      imageId: ami,
      instanceType: 'm3.medium',
      subnetId: subnet,
      associatePublicIpAddress: true,
      bootPort: 8080,
      bootPortAddress: 'public',
    });
    const created = await instances.create(urn('asked'), inputs);
    const status = created.properties.bootStatus as Record<string, string>;
    assert.equal(status.result, 'verified');
    assert.equal(status.port, `${String(created.properties.publicIpAddress)}:8080`);
    await instances.delete(created.id, urn('asked'), created.properties, inputs);
  });

  it('an instance with no public IP: the port check on its private address verifies the boot', async function () {
    const subnet = local.createSubnetDirect();
    const inputs = await checked('private', {
      imageId: ami,
      instanceType: 'm3.medium',
      subnetId: subnet,
      bootMarker: 'listening on',
      bootPort: 8080,
      bootPortAddress: 'private',
    });
    const created = await instances.create(urn('private'), inputs);
    assert.equal(created.properties.publicIpAddress, undefined, 'no public IP');
    const status = created.properties.bootStatus as Record<string, string>;
    assert.equal(status.result, 'verified');
    assert.equal(status.method, 'console marker and TCP port');
    assert.equal(status.port, `${String(created.properties.privateIpAddress)}:8080`);
    await instances.delete(created.id, urn('private'), created.properties, inputs);
  });

  it('a public address lost or gained outside the program is drift on refresh, and the next diff replaces', async function () {
    const inputs = await checked('drift', {
      imageId: ami,
      instanceType: 'm3.medium',
      associatePublicIpAddress: true,
      verifyBoot: false,
    });
    const created = await instances.create(urn('drift'), inputs);
    assert.ok(created.properties.publicIpAddress);
    const unchanged = await instances.read(created.id, urn('drift'), created.properties, inputs);
    assert.equal(unchanged.inputs?.associatePublicIpAddress, true, 'no drift while it has one');
    local.setPublicAddressDirect(created.id, false);
    const lost = await instances.read(created.id, urn('drift'), created.properties, inputs);
    assert.equal(lost.inputs?.associatePublicIpAddress, false, 'refresh records the lost address');
    assert.equal(lost.properties.publicIpAddress, undefined);
    const diff = await instances.diff(created.id, urn('drift'), lost.properties, inputs, lost.inputs);
    assert.equal(diff.changes, 'DIFF_SOME');
    assert.deepEqual(diff.replaces, ['associatePublicIpAddress']);
    await instances.delete(created.id, urn('drift'), lost.properties, inputs);

    const without = await checked('gained', {
      imageId: ami,
      instanceType: 'm3.medium',
      subnetId: local.createSubnetDirect(),
      associatePublicIpAddress: false,
      verifyBoot: false,
    });
    const quiet = await instances.create(urn('gained'), without);
    assert.equal(quiet.properties.publicIpAddress, undefined);
    local.setPublicAddressDirect(quiet.id, true);
    const gained = await instances.read(quiet.id, urn('gained'), quiet.properties, without);
    assert.equal(gained.inputs?.associatePublicIpAddress, true, 'an address gained (an Elastic IP) is drift too');
    const back = await instances.diff(quiet.id, urn('gained'), gained.properties, without, gained.inputs);
    assert.deepEqual(back.replaces, ['associatePublicIpAddress']);
    await instances.delete(quiet.id, urn('gained'), gained.properties, without);
  });
});
