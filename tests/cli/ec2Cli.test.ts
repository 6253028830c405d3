/**
 * `unikernel-ami register`, `run`, `console`, `terminate` and `deregister` against the local AWS
 * (configured only through the SDK's environment), booting real bundles: a verified run, a run whose
 * kernel panics (exit 1, the instance left running and named), and bad inputs refused in one line
 * before anything is launched.
 */
import { strict as assert } from 'assert';
import { writeFileSync } from 'fs';
import { LocalAws } from '../../testing/localAws';
import { buildXenKernel } from '../../testing/xenKernel';
import { kernelImage, sha256Of, uploadBootable } from '../helpers/bootImages';
import { runCliAsync, temporaryFolder } from '../helpers/tools';

describe('unikernel-ami register, run, console, terminate, deregister', function () {
  this.timeout(120_000);
  let local: LocalAws;
  const folder = temporaryFolder('ec2-cli');
  let environment: NodeJS.ProcessEnv;
  let goodAmi: string;

  const cli = (args: string[]) => runCliAsync(args, environment);
  const stateOf = (id: string) => local.instances().find((each) => each.instanceId === id)?.state;

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
  });
  after(async () => {
    await local.stop();
    folder.cleanup();
  });

  it('registers a bundle with the PV-GRUB kernel looked up, printing the AMI id', async () => {
    const kernel = buildXenKernel(folder.dir, { fileName: 'web.xen' });
    local.scriptConsole({ kernelSha256: sha256Of(kernel) }, { lines: ['web: listening on :8080'], ports: [8080] });
    const location = await uploadBootable(local, folder.dir, await kernelImage(folder.dir, kernel, 'web'), 'cli');
    const plain = await cli(['register', '--image-location', location, '-n', 'web-plain', '--poll-seconds', '0.05']);
    assert.equal(plain.status, 0, plain.stderr);
    assert.match(plain.stdout, /^ami-[0-9a-f]{17}\n$/);
    const json = await cli([
      'register',
      '--image-location',
      location,
      '--name',
      'web',
      '--json',
      '--poll-seconds',
      '0.05',
    ]);
    assert.equal(json.status, 0, json.stderr);
    const summary = JSON.parse(json.stdout);
    goodAmi = summary.imageId;
    const image = local.images().find((each) => each.imageId === goodAmi);
    assert.equal(image?.state, 'available');
    assert.match(image?.kernelId ?? '', /^aki-/, 'PV-GRUB kernel looked up');
  });

  it('runs it, verifies the boot by the marker, prints the id and addresses; console prints the console', async () => {
    const run = await cli([
      'run',
      '--image-id',
      goodAmi,
      '-t',
      'm3.medium',
      '--boot-marker',
      'listening on',
      '--poll-seconds',
      '0.05',
      '--json',
    ]);
    assert.equal(run.status, 0, run.stderr);
    const summary = JSON.parse(run.stdout);
    assert.match(summary.instanceId, /^i-/);
    assert.ok(summary.publicIpAddress);
    assert.equal(summary.boot.result, 'verified');
    assert.equal(summary.boot.method, 'console marker');
    assert.equal(stateOf(summary.instanceId), 'running');
    const console = await cli(['console', '--instance-id', summary.instanceId]);
    assert.equal(console.status, 0, console.stderr);
    assert.match(console.stdout, /GNU GRUB/);
    assert.match(console.stdout, /web: listening on :8080/);
    const gone = await cli(['terminate', '--instance-id', summary.instanceId, '--poll-seconds', '0.05']);
    assert.equal(gone.status, 0, gone.stderr);
    assert.match(gone.stdout, new RegExp(`${summary.instanceId} terminated`));
    assert.equal(stateOf(summary.instanceId), 'terminated');
  });

  it('--boot-port: verified when the port answers; a port nobody listens on fails at the deadline, left running', async () => {
    const open = await cli([
      'run',
      '--image-id',
      goodAmi,
      '-t',
      'm3.medium',
      '--boot-marker',
      'listening on',
      '--boot-port',
      '8080',
      '--poll-seconds',
      '0.05',
      '--json',
    ]);
    assert.equal(open.status, 0, open.stderr);
    const summary = JSON.parse(open.stdout);
    assert.equal(summary.boot.result, 'verified');
    assert.equal(summary.boot.method, 'console marker and TCP port');
    assert.equal(summary.boot.port, `${summary.publicIpAddress}:8080`);
    assert.equal((await cli(['terminate', '--instance-id', summary.instanceId, '--poll-seconds', '0.05'])).status, 0);

    const closed = await cli([
      'run',
      '--image-id',
      goodAmi,
      '-t',
      'm3.medium',
      '--boot-port',
      '9090',
      '--boot-port-address',
      'private',
      '--boot-timeout',
      '1',
      '--poll-seconds',
      '0.05',
    ]);
    assert.equal(closed.status, 1);
    const id = /instance (i-[0-9a-f]{17}) is running but its boot was not verified/.exec(closed.stderr)?.[1];
    assert.ok(id, closed.stderr);
    assert.match(
      closed.stderr,
      /the system and instance reachability checks passed, but nothing accepted a TCP connection on 127\.31\.\d+\.\d+:9090 within 1 s \(last attempt: connection refused\)/,
    );
    assert.match(closed.stderr, /web: listening on :8080/, 'the console tail');
    assert.equal(stateOf(id), 'running', 'left running for inspection');
    assert.equal((await cli(['terminate', '--instance-id', id, '--poll-seconds', '0.05'])).status, 0);
  });

  it('a kernel that panics: exit 1 with the console lines, the instance left running and named', async () => {
    const kernel = buildXenKernel(folder.dir, { fileName: 'bad.xen', seed: 'bad' });
    local.scriptConsole(
      { kernelSha256: sha256Of(kernel) },
      { lines: ['Solo5: ABORT (net.c:12): no network'], reachable: false },
    );
    const location = await uploadBootable(local, folder.dir, await kernelImage(folder.dir, kernel, 'bad'), 'cli');
    const registered = await cli(['register', '--image-location', location, '-n', 'bad', '--poll-seconds', '0.05']);
    assert.equal(registered.status, 0, registered.stderr);
    const ami = registered.stdout.trim();
    const run = await cli(['run', '--image-id', ami, '-t', 'm3.medium', '--poll-seconds', '0.05']);
    assert.equal(run.status, 1);
    const id = /instance (i-[0-9a-f]{17}) is running but its boot was not verified/.exec(run.stderr)?.[1];
    assert.ok(id, run.stderr);
    assert.match(run.stderr, /Solo5 abort or panic/);
    assert.match(run.stderr, /Solo5: ABORT \(net\.c:12\): no network/);
    assert.match(run.stderr, new RegExp(`unikernel-ami terminate --instance-id ${id}`));
    assert.equal(stateOf(id), 'running', 'left running for inspection');
    assert.equal(local.instances().find((each) => each.instanceId === id)?.tags.Name, `unikernel-ami run ${ami}`);
    assert.equal((await cli(['terminate', '--instance-id', id, '--poll-seconds', '0.05'])).status, 0);
    const deregistered = await cli(['deregister', '--image-id', ami, '--json']);
    assert.equal(deregistered.status, 0, deregistered.stderr);
    assert.equal(JSON.parse(deregistered.stdout).imageId, ami);
    assert.equal(JSON.parse(deregistered.stdout).keptImageLocation, location, 'the bundle stays, and it says so');
    assert.ok(
      local.objects(location.split('/')[0]).some((object) => `${location.split('/')[0]}/${object.key}` === location),
    );
    const again = await cli(['deregister', '--image-id', ami]);
    assert.equal(again.status, 1);
    assert.match(again.stderr, /^unikernel-ami deregister: --image-id ami-[0-9a-f]+: no such AMI in this region.*\n$/);
  });

  it('console reads the live buffer by itself on a Nitro type, and refuses --latest on a Xen one', async () => {
    const image = `${folder.dir}/nitro.img`;
    writeFileSync(image, Buffer.alloc(1024 * 1024, 7));
    const snapshot = await cli(['snapshot', '-i', image]);
    assert.equal(snapshot.status, 0, snapshot.stderr);
    const registered = await cli([
      'register',
      '--snapshot-id',
      snapshot.stdout.trim(),
      '-n',
      'nitro',
      '--poll-seconds',
      '0.05',
    ]);
    assert.equal(registered.status, 0, registered.stderr);
    const ami = registered.stdout.trim();
    local.scriptConsole({ imageId: ami }, { lines: ['nanos: en1 up'] });
    const run = await cli(['run', '--image-id', ami, '-t', 't3.micro', '--no-boot-check', '--json']);
    assert.equal(run.status, 0, run.stderr);
    const id = JSON.parse(run.stdout).instanceId as string;
    const consoleRequests = () =>
      local.requests.filter((request) => request.operation === 'GetConsoleOutput' && request.params.InstanceId === id);
    const live = await cli(['console', '--instance-id', id, '--json']);
    assert.equal(live.status, 0, live.stderr);
    assert.equal(JSON.parse(live.stdout).latest, true);
    assert.match(JSON.parse(live.stdout).output, /nanos: en1 up/);
    assert.equal(consoleRequests().pop()?.params.Latest, 'true');
    const posted = await cli(['console', '--instance-id', id, '--no-latest', '--json']);
    assert.equal(posted.status, 0, posted.stderr);
    assert.equal(JSON.parse(posted.stdout).latest, false);
    assert.equal(consoleRequests().pop()?.params.Latest, undefined);
    assert.equal((await cli(['terminate', '--instance-id', id, '--poll-seconds', '0.05'])).status, 0);
    const deregistered = await cli(['deregister', '--image-id', ami]);
    assert.equal(deregistered.status, 0, deregistered.stderr);
    const snapshotId = snapshot.stdout.trim();
    assert.equal(
      deregistered.stderr + deregistered.stdout,
      `${ami} deregistered; its root snapshot ${snapshotId} is kept (aws ec2 delete-snapshot --snapshot-id ${snapshotId} removes it)\n`,
    );
    assert.ok(
      local.snapshots().some((each) => each.snapshotId === snapshotId),
      'EC2 keeps the snapshot of a deregistered AMI',
    );

    const xen = await cli(['run', '--image-id', goodAmi, '-t', 'm3.medium', '--no-boot-check', '--json']);
    assert.equal(xen.status, 0, xen.stderr);
    const xenId = JSON.parse(xen.stdout).instanceId as string;
    const refused = await cli(['console', '--instance-id', xenId, '--latest']);
    assert.equal(refused.status, 1);
    assert.match(
      refused.stderr,
      /--latest: i-[0-9a-f]+ is an m3\.medium, not a Nitro type: only Nitro types have the live console/,
    );
    const plain = await cli(['console', '--instance-id', xenId, '--json']);
    assert.equal(plain.status, 0, plain.stderr);
    assert.equal(JSON.parse(plain.stdout).latest, false, 'a Xen type reads the posted buffer');
    assert.equal((await cli(['terminate', '--instance-id', xenId, '--poll-seconds', '0.05'])).status, 0);
  });

  it('bad inputs: one line naming the option, and nothing launched', async () => {
    const before = local.instances().length;
    const cases: Array<[string[], RegExp]> = [
      [
        ['run', '--image-id', goodAmi, '-t', 'm3.medium', '--boot-marker', 'up ('],
        /--boot-marker: "up \(" is not a valid regular expression/,
      ],
      [
        ['run', '--image-id', goodAmi, '-t', 'm3.medium', '--boot-timeout', 'soon'],
        /--boot-timeout soon: give a positive number of seconds/,
      ],
      [
        ['run', '--image-id', goodAmi, '-t', 'm3.medium', '--no-boot-check', '--boot-marker', 'x'],
        /need the boot check/,
      ],
      [['run', '--image-id', goodAmi, '-t', 'm3.medium', '--boot-port', '0'], /--boot-port 0: give a TCP port/],
      [
        ['run', '--image-id', goodAmi, '-t', 'm3.medium', '--boot-port', '80', '--boot-port-address', 'elastic'],
        /--boot-port-address elastic: give public or private/,
      ],
      [['run', '--image-id', goodAmi, '-t', 'm3.medium', '--boot-port-address', 'public'], /needs --boot-port/],
      [
        ['run', '--image-id', goodAmi, '-t', 'm3.medium', '--no-boot-check', '--boot-port', '80'],
        /need the boot check/,
      ],
      [['run', '--image-id', 'i-123', '-t', 'm3.medium'], /--image-id: /],
      [['run', '--image-id', goodAmi, '-t', 't3.micro'], /-t\/--instance-type: t3\.micro cannot boot/],
      [
        ['run', '--image-id', goodAmi, '-t', 'm3.medium', '-s', 'subnet-0123456789abcdef0'],
        /InvalidSubnetID\.NotFound|subnet/,
      ],
      [
        ['run', '--image-id', goodAmi, '-t', 'm3.medium', '-f', '/no/such/file'],
        /-f\/--user-data-file \/no\/such\/file: no such file/,
      ],
      [['register', '-n', 'x'], /give one of --image-location/],
      [
        ['register', '--image-location', 'b/k.manifest.xml', '--snapshot-id', 'snap-0123456789abcdef0', '-n', 'x'],
        /give one of/,
      ],
      [['console', '--instance-id', 'i-0123456789abcdef0'], /--instance-id i-0123456789abcdef0: no such instance/],
    ];
    for (const [args, message] of cases) {
      const result = await cli(args);
      assert.equal(result.status, 1, args.join(' '));
      assert.match(result.stderr, message, args.join(' '));
      assert.equal(result.stderr.trimEnd().split('\n').length, 1, `one line: ${result.stderr}`);
    }
    assert.equal(local.instances().length, before, 'nothing launched');
  });
});
