/**
 * `register`, `run`, `console`, `terminate` and `deregister`: the CLI runs what it builds, with the
 * AWS CLI's option names. `run` launches, waits for running and verifies the boot as UnikernelInstance
 * does; a boot that is not verified exits non-zero and leaves the instance running, named, with the
 * console's last lines on stderr.
 */
import { randomUUID } from 'crypto';
import { Command } from 'commander';
import { CliInputError, EC2_OPTION_NAMES } from './inputs';
import { Output } from './output';
import { readOptionFile } from './optionFile';
import { runCommand } from './runCommand';

interface Ec2CommandOptions {
  region?: string;
  json?: boolean;
  logFile?: string;
  pollSeconds?: string;
}

interface RegisterOptions extends Ec2CommandOptions {
  imageLocation?: string;
  snapshotId?: string;
  name: string;
  kernel?: string;
  architecture: string;
  description?: string;
}

interface RunOptions extends Ec2CommandOptions {
  imageId: string;
  instanceType: string;
  keyName?: string;
  securityGroupIds?: string[];
  subnetId?: string;
  userDataFile?: string;
  bootMarker?: string;
  bootFailurePattern?: string[];
  bootTimeout?: string;
  bootPort?: string;
  bootPortAddress?: string;
  associatePublicIpAddress?: boolean;
  bootCheck: boolean;
}

interface InstanceOptions extends Ec2CommandOptions {
  instanceId: string;
  latest?: boolean;
}

interface ImageOptions extends Ec2CommandOptions {
  imageId: string;
}

/** EC2 accepts at most 16 KiB of user data (before base64). */
const MAX_USER_DATA_BYTES = 16 * 1024;

function seconds(option: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const number = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || !(number > 0))
    throw new CliInputError(`${option} ${value}: give a positive number of seconds`);
  return number;
}

/** `--boot-port` and `--boot-port-address`, checked before anything is launched. */
function bootPort(options: RunOptions): { port: number; address?: 'public' | 'private' } | undefined {
  const { bootPort: port, bootPortAddress: address } = options;
  if (address !== undefined && address !== 'public' && address !== 'private')
    throw new CliInputError(`--boot-port-address ${address}: give public or private`);
  if (port === undefined) {
    if (address !== undefined) throw new CliInputError('--boot-port-address needs --boot-port');
    return undefined;
  }
  if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535)
    throw new CliInputError(`--boot-port ${port}: give a TCP port from 1 to 65535`);
  if (address === 'public' && options.associatePublicIpAddress === false)
    throw new CliInputError(
      `--boot-port-address public: --no-associate-public-ip-address leaves the instance without a public IP to check port ${port} on; use --boot-port-address private (reachable from where the command runs), or leave out --no-associate-public-ip-address`,
    );
  return { port: Number(port), address };
}

/** The AWS SDK is loaded only by the commands that use it: it costs ~0.2 s and ~40 MB at start-up. */
async function ec2For(options: Ec2CommandOptions) {
  const { createEc2Client } = await import('../aws/clients.js');
  return createEc2Client({ region: options.region });
}

function waits(options: Ec2CommandOptions) {
  const poll = seconds('--poll-seconds', options.pollSeconds, 5);
  return { minDelaySeconds: poll, maxDelaySeconds: Math.max(poll, poll * 3), maxWaitSeconds: 900 };
}

/** User data as EC2 takes it (at most 16 KB), through the CLI's one reader of option files. */
function readUserData(file: string): Promise<string> {
  return readOptionFile('-f/--user-data-file', file, MAX_USER_DATA_BYTES);
}

const common = (command: Command) =>
  command
    .option('--region <region>', 'AWS region (default: the SDK chain: AWS_REGION, profile)')
    .option('--json', 'print a machine-readable summary on stdout')
    .option('--log-file <path>', 'also write every message to this file');

async function runRegister(options: RegisterOptions, output: Output, signal: AbortSignal): Promise<void> {
  if ((options.imageLocation === undefined) === (options.snapshotId === undefined))
    throw new CliInputError(
      'give one of --image-location BUCKET/KEY.manifest.xml (instance-store) or --snapshot-id SNAP (EBS-backed HVM)',
    );
  const ec2 = await ec2For(options);
  const wait = waits(options);
  if (options.imageLocation !== undefined) {
    if (!/^[^/]+\/.+\.manifest\.xml$/.test(options.imageLocation))
      throw new CliInputError(`--image-location ${options.imageLocation}: give BUCKET/KEY.manifest.xml`);
    if (options.architecture !== 'x86_64' && options.architecture !== 'i386')
      throw new CliInputError(`--architecture ${options.architecture}: an instance-store image is x86_64 or i386`);
    const { kernelId } = await import('../aws/ids.js');
    const { registerAndWait } = await import('../aws/images.js');
    const image = await registerAndWait({
      ec2,
      imageLocation: options.imageLocation,
      name: options.name,
      description: options.description,
      architecture: options.architecture,
      kernelId: options.kernel === undefined ? undefined : kernelId(options.kernel, 'kernel'),
      wait,
      signal,
    });
    output.info(image.imageId);
    output.result({ command: 'register', imageId: image.imageId, state: image.state, name: options.name });
    return;
  }
  if (options.kernel !== undefined)
    throw new CliInputError('--kernel is for an instance-store image (--image-location); an HVM image has none');
  if (options.architecture !== 'x86_64' && options.architecture !== 'arm64')
    throw new CliInputError(`--architecture ${options.architecture}: an EBS-backed image is x86_64 or arm64`);
  const { snapshotId } = await import('../aws/ids.js');
  const { registerEbsImageAndWait } = await import('../aws/ebsImages.js');
  const image = await registerEbsImageAndWait({
    ec2,
    snapshotId: snapshotId(options.snapshotId as string, 'snapshotId'),
    name: options.name,
    description: options.description,
    architecture: options.architecture,
    wait,
    signal,
  });
  output.info(image.imageId);
  output.result({ command: 'register', imageId: image.imageId, state: image.state, name: options.name });
}

async function runRun(options: RunOptions, output: Output, signal: AbortSignal): Promise<void> {
  const timeoutSeconds = seconds('--boot-timeout', options.bootTimeout, 600);
  if (
    !options.bootCheck &&
    (options.bootMarker !== undefined || options.bootFailurePattern !== undefined || options.bootPort !== undefined)
  )
    throw new CliInputError(
      '--boot-marker, --boot-failure-pattern and --boot-port need the boot check: leave out --no-boot-check',
    );
  const port = bootPort(options);
  const { bootPatterns } = await import('../aws/bootCheck.js');
  const patterns = bootPatterns(options.bootMarker, options.bootFailurePattern ?? [], {
    marker: 'bootMarker',
    failures: 'bootFailurePatterns',
  });
  const userData = options.userDataFile === undefined ? undefined : await readUserData(options.userDataFile);
  const { imageId } = await import('../aws/ids.js');
  const { launchInstance, waitForInstanceRunning } = await import('../aws/instances.js');
  const ec2 = await ec2For(options);
  const wait = waits(options);
  const id = await launchInstance({
    ec2,
    imageId: imageId(options.imageId, 'imageId'),
    instanceType: options.instanceType,
    clientToken: randomUUID(),
    keyName: options.keyName,
    securityGroupIds: options.securityGroupIds,
    subnetId: options.subnetId,
    associatePublicIpAddress: options.associatePublicIpAddress,
    userData,
    tags: { Name: `unikernel-ami run ${options.imageId}` },
    bootPort: port,
    notice: (message) => output.info(`note: ${message}`),
    signal,
  });
  output.log(`launched ${id}`);
  const instance = await waitForInstanceRunning(ec2, id, wait, signal);
  const addresses = { publicIpAddress: instance.publicIpAddress, privateIpAddress: instance.privateIpAddress };
  const summary = { command: 'run', instanceId: id, state: instance.state, ...addresses };
  if (!options.bootCheck) {
    output.info(`${id} running${instance.publicIpAddress ? ` at ${instance.publicIpAddress}` : ''} (boot not checked)`);
    output.result({ ...summary, boot: { result: 'not checked' } });
    return;
  }
  const { bootFailureMessage, bootStatusOf, watchBoot } = await import('../aws/bootWatch.js');
  const outcome = await watchBoot({
    ec2,
    instanceId: id,
    instanceType: options.instanceType,
    patterns,
    timeoutSeconds,
    pollSeconds: wait.minDelaySeconds,
    signal,
    onProgress: (message) => output.log(`${id}: ${message}`),
    port,
  });
  const boot = bootStatusOf(outcome);
  if (outcome.verified) {
    output.info(
      `${id} running${instance.publicIpAddress ? ` at ${instance.publicIpAddress}` : ''}: ${outcome.summary}`,
    );
    output.result({ ...summary, boot });
    return;
  }
  output.result({ ...summary, boot, consoleTail: outcome.tail });
  throw new CliInputError(
    `${bootFailureMessage(id, outcome)}\nThe instance is left running: see unikernel-ami console --instance-id ${id}, ` +
      `and end it with unikernel-ami terminate --instance-id ${id}`,
  );
}

async function runConsole(options: InstanceOptions, output: Output, signal: AbortSignal): Promise<void> {
  const { instanceId } = await import('../aws/ids.js');
  const id = instanceId(options.instanceId, 'instanceId');
  const { readConsole, supportsLatestConsole } = await import('../aws/bootWatch.js');
  const { describeInstance } = await import('../aws/instances.js');
  const ec2 = await ec2For(options);
  const instance = await describeInstance(ec2, id, signal);
  if (!instance) throw new CliInputError(`--instance-id ${id}: no such instance in this region`);
  // The live buffer where the type offers it (Nitro), unless --latest or --no-latest says otherwise.
  const nitro = instance.instanceType ? await supportsLatestConsole(ec2, instance.instanceType, signal) : false;
  if (options.latest === true && !nitro)
    throw new CliInputError(
      `--latest: ${id} is an ${instance.instanceType ?? 'instance of unknown type'}, not a Nitro type: only Nitro types have the live console; leave out --latest`,
    );
  const latest = options.latest ?? nitro;
  const text = await readConsole(ec2, id, latest, signal);
  if (!options.json) process.stdout.write(text || '');
  if (!text)
    output.error(
      latest
        ? `(the console of ${id} is empty)`
        : `(the console of ${id} is empty; on a Xen type EC2 posts it some minutes after a state change)`,
    );
  output.result({ command: 'console', instanceId: id, latest, output: text });
}

async function runTerminate(options: InstanceOptions, output: Output, signal: AbortSignal): Promise<void> {
  const { instanceId } = await import('../aws/ids.js');
  const id = instanceId(options.instanceId, 'instanceId');
  const { describeInstance, terminateInstance } = await import('../aws/instances.js');
  const ec2 = await ec2For(options);
  if (!(await describeInstance(ec2, id, signal)))
    throw new CliInputError(`--instance-id ${id}: no such instance in this region`);
  await terminateInstance(ec2, id, waits(options), signal);
  output.info(`${id} terminated`);
  output.result({ command: 'terminate', instanceId: id, state: 'terminated' });
}

async function runDeregister(options: ImageOptions, output: Output, signal: AbortSignal): Promise<void> {
  const { imageId } = await import('../aws/ids.js');
  const id = imageId(options.imageId, 'imageId');
  const { deregisterImage, describeImage } = await import('../aws/images.js');
  const ec2 = await ec2For(options);
  // What the AMI rests on, read first: DeregisterImage leaves it in place, and the message says so.
  const image = await describeImage(ec2, id, signal);
  if (!image || !(await deregisterImage(ec2, id, signal)))
    throw new CliInputError(`--image-id ${id}: no such AMI in this region (already deregistered?)`);
  const kept = image.rootSnapshotId
    ? `; its root snapshot ${image.rootSnapshotId} is kept (aws ec2 delete-snapshot --snapshot-id ${image.rootSnapshotId} removes it)`
    : image.imageLocation
      ? `; its bundle ${image.imageLocation} is kept in S3 (unikernel-ami delete-bundle removes it)`
      : '';
  output.info(`${id} deregistered${kept}`);
  output.result({
    command: 'deregister',
    imageId: id,
    keptSnapshotId: image.rootSnapshotId,
    keptImageLocation: image.rootSnapshotId ? undefined : image.imageLocation,
  });
}

export function registerEc2Commands(program: Command): void {
  const poll = (command: Command) =>
    command.option('--poll-seconds <seconds>', 'first delay between status polls (later ones back off)', '5');

  poll(
    common(
      program
        .command('register')
        .description(
          'register an AMI from an uploaded bundle (PV-GRUB kernel looked up) or an EBS snapshot; prints its id',
        ),
    ),
  )
    .option('--image-location <bucket/key.manifest.xml>', "the bundle's manifest in S3 (an instance-store AMI)")
    .option('--snapshot-id <snap>', 'the root snapshot (an EBS-backed HVM AMI)')
    .requiredOption('-n, --name <name>', 'the AMI name (3 to 128 characters)')
    .option('--kernel <aki>', "the PV-GRUB kernel (default: Amazon's hd0 PV-GRUB for the region and architecture)")
    .option('--architecture <arch>', 'x86_64, i386 (instance-store) or arm64 (EBS)', 'x86_64')
    .option('--description <text>', 'the AMI description')
    .action((options: RegisterOptions) =>
      runCommand('register', options, {}, (output, signal) => runRegister(options, output, signal), EC2_OPTION_NAMES),
    );

  poll(
    common(
      program
        .command('run')
        .description(
          'launch an instance of an AMI, wait until it runs and verify that it booted (exit 1 when not verified, the instance left running)',
        ),
    ),
  )
    .requiredOption('--image-id <ami>', 'the AMI to run')
    .requiredOption(
      '-t, --instance-type <type>',
      'an instance type that can boot the AMI (m3.medium for PV instance-store)',
    )
    .option('-k, --key-name <name>', 'an existing key pair')
    .option('-g, --security-group-ids <sg...>', 'existing security group ids')
    .option('-s, --subnet-id <subnet>', 'an existing subnet')
    .option('-f, --user-data-file <path>', 'user data (at most 16 KiB)')
    .option('--associate-public-ip-address', 'give the instance a public IP (default: the subnet decides)')
    .option('--no-associate-public-ip-address', 'give the instance no public IP')
    .option('--boot-marker <regex>', 'the console line that confirms the boot (default: the reachability checks)')
    .option('--boot-failure-pattern <regex...>', 'console lines that mean the boot failed, besides the built-in ones')
    .option('--boot-timeout <seconds>', 'how long to wait for the boot to be verified', '600')
    .option('--boot-port <port>', "also require a TCP connection to this port on the instance's address")
    .option('--boot-port-address <which>', 'public or private (default: the public IP if it has one)')
    .option('--no-boot-check', 'do not verify the boot: running is enough')
    .action((options: RunOptions) =>
      runCommand('run', options, {}, (output, signal) => runRun(options, output, signal), EC2_OPTION_NAMES),
    );

  common(program.command('console').description("print an instance's serial console output"))
    .requiredOption('--instance-id <id>', 'the instance')
    .option('--latest', 'the live console (default on Nitro instance types, which alone offer it)')
    .option('--no-latest', 'the buffer EC2 posts after state changes, even on a Nitro type')
    .action((options: InstanceOptions) =>
      runCommand('console', options, {}, (output, signal) => runConsole(options, output, signal), EC2_OPTION_NAMES),
    );

  poll(common(program.command('terminate').description('terminate an instance and wait until it is terminated')))
    .requiredOption('--instance-id <id>', 'the instance')
    .action((options: InstanceOptions) =>
      runCommand('terminate', options, {}, (output, signal) => runTerminate(options, output, signal), EC2_OPTION_NAMES),
    );

  common(program.command('deregister').description('deregister an AMI'))
    .requiredOption('--image-id <ami>', 'the AMI')
    .action((options: ImageOptions) =>
      runCommand(
        'deregister',
        options,
        {},
        (output, signal) => runDeregister(options, output, signal),
        EC2_OPTION_NAMES,
      ),
    );
}
