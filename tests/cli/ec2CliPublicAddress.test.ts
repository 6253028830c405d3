/**
 * `unikernel-ami run` and the public address, against the local AWS: a `--boot-port` on the public
 * address of an instance that will have none is refused in one line before anything is launched
 * (`--no-associate-public-ip-address` at once; a subnet that maps no public IP after DescribeSubnets),
 * `--associate-public-ip-address` gives it one, and `--boot-port-address private` verifies the boot
 * of an instance without one.
 */
import { strict as assert } from 'assert';
import { LocalAws } from '../../testing/localAws';
import { buildXenKernel } from '../../testing/xenKernel';
import { kernelImage, registerBootable, sha256Of } from '../helpers/bootImages';
import { runCliAsync, temporaryFolder } from '../helpers/tools';

describe('unikernel-ami run --boot-port and the public address', function () {
  this.timeout(120_000);
  let local: LocalAws;
  const folder = temporaryFolder('ec2-cli-public');
  let environment: NodeJS.ProcessEnv;
  let ami: string;

  const cli = (args: string[]) => runCliAsync(args, environment);
  const run = (...extra: string[]) =>
    cli(['run', '--image-id', ami, '-t', 'm3.medium', '--boot-port', '8080', '--poll-seconds', '0.05', ...extra]);
  const launches = () => local.requests.filter((request) => request.operation === 'RunInstances').length;

  before(async () => {
    local = await LocalAws.start({
      instancePendingMs: 30,
      consolePostMs: 50,
      statusCheckMs: 50,
      loopbackAddresses: true,
    });
    environment = {
      AWS_ENDPOINT_URL: local.endpoint,
      AWS_REGION: local.region,
      AWS_ACCESS_KEY_ID: local.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: local.credentials.secretAccessKey,
      AWS_PROFILE: '',
    };
    const kernel = buildXenKernel(folder.dir, { fileName: 'web.xen' });
    local.scriptConsole({ kernelSha256: sha256Of(kernel) }, { lines: ['web: listening on :8080'], ports: [8080] });
    ami = await registerBootable(local, folder.dir, await kernelImage(folder.dir, kernel, 'web'), 'cli-public');
  });
  after(async () => {
    await local.stop();
    folder.cleanup();
  });

  it('--no-associate-public-ip-address with --boot-port-address public: refused at once, nothing launched', async () => {
    const refused = await run('--boot-port-address', 'public', '--no-associate-public-ip-address');
    assert.equal(refused.status, 1);
    assert.equal(
      refused.stderr.trim(),
      'unikernel-ami run: --boot-port-address public: --no-associate-public-ip-address leaves the instance without a public IP to check port 8080 on; ' +
        'use --boot-port-address private (reachable from where the command runs), or leave out --no-associate-public-ip-address',
    );
    assert.equal(launches(), 0);
    assert.equal(local.instances().length, 0);
  });

  it("a subnet that maps no public IP: refused after DescribeSubnets, before RunInstances, in the CLI's words", async () => {
    const subnet = local.createSubnetDirect();
    const refused = await run('-s', subnet, '--boot-port-address', 'public');
    assert.equal(refused.status, 1);
    assert.equal(
      refused.stderr.trim(),
      `unikernel-ami run: --boot-port-address: port 8080 is to be checked on the instance's public address, but it would have none: subnet ${subnet} ` +
        'does not map public IPs on launch (MapPublicIpOnLaunch false); nothing was launched; ' +
        'use --boot-port-address private (reachable from where the command runs), or --associate-public-ip-address',
    );
    assert.ok(local.requests.some((request) => request.operation === 'DescribeSubnets'));
    assert.equal(launches(), 0);
    assert.equal(local.instances().length, 0);
  });

  it('--associate-public-ip-address in that subnet: a public IP, and the port on it verifies', async () => {
    const subnet = local.createSubnetDirect();
    const asked = await run('-s', subnet, '--associate-public-ip-address', '--boot-port-address', 'public', '--json');
    assert.equal(asked.status, 0, asked.stderr);
    const summary = JSON.parse(asked.stdout);
    assert.match(summary.publicIpAddress, /^127\.54\./);
    assert.equal(summary.boot.port, `${summary.publicIpAddress}:8080`);
    assert.equal((await cli(['terminate', '--instance-id', summary.instanceId, '--poll-seconds', '0.05'])).status, 0);
  });

  it('no public IP and --boot-port-address private: the boot is verified on the private address', async () => {
    const subnet = local.createSubnetDirect();
    const quiet = await run('-s', subnet, '--boot-port-address', 'private', '--boot-marker', 'listening on', '--json');
    assert.equal(quiet.status, 0, quiet.stderr);
    const summary = JSON.parse(quiet.stdout);
    assert.equal(summary.publicIpAddress, undefined);
    assert.equal(summary.boot.result, 'verified');
    assert.equal(summary.boot.port, `${summary.privateIpAddress}:8080`);
    assert.equal((await cli(['terminate', '--instance-id', summary.instanceId, '--poll-seconds', '0.05'])).status, 0);
  });
});
