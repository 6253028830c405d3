/**
 * `npm run demo`: the main job end to end on this machine, with no AWS account.
 *
 * It builds a sample MirageOS-style Xen kernel, then runs the life of the Mirage example's stack —
 * BundledImage → RegisteredAmi → UnikernelInstance — through Pulumi's real dynamic-provider plugin
 * over gRPC, against the local AWS (`pulumi-unikernel/testing`): create in dependency order, an
 * out-of-band change (the instance terminated, the AMI retagged), refresh showing the drift, an
 * update healing it, a new kernel that crashes at boot (the local AWS boots the real bundle with
 * PV-GRUB, and the kernel's output is scripted: `up` fails with its console lines and keeps the
 * instance), a fixed kernel that heals it, and a destroy that leaves AWS empty.
 *
 * With AWS_ENDPOINT_URL set it runs against that endpoint instead, with the usual AWS credentials:
 * another emulator, or AWS itself. There, UNIKERNEL_EC2_CERTIFICATE names EC2's bundling certificate
 * (cert-ec2.pem; without it a stand-in is used, which only the local AWS can read), UNIKERNEL_KERNEL_ID
 * the PV-GRUB kernel when the endpoint has no catalogue of Amazon's, UNIKERNEL_DEMO_BUCKET the bucket
 * (created with ACLs enabled when missing) and UNIKERNEL_DEMO_ACCOUNT_ID the account.
 */
import { createHash } from 'crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import * as path from 'path';
import { createClients } from '../provider/aws/clients';
import { imageId, instanceId } from '../provider/aws/ids';
import { terminateInstance } from '../provider/aws/instances';
import { findPvGrubKernel } from '../provider/aws/kernels';
import { updateTags } from '../provider/aws/tags';
import { createSigningIdentity } from '../provider/bundle/identity';
import { bundledImageProvider } from '../provider/dynamic/bundledImage/provider';
import { registeredAmiProvider } from '../provider/dynamic/registeredAmi/provider';
import { unikernelInstanceProvider } from '../provider/dynamic/unikernelInstance/provider';
import { LocalAws } from '../testing/localAws';
import { buildXenKernel } from '../testing/xenKernel';
import { linkedProject, PluginRpcError, startPlugin } from '../testing/pluginHarness';
import { kernelUpdate } from './demo/kernelUpdate';
import { MiniEngine, output } from './demo/engine';

const REPO_ROOT = path.resolve(__dirname, '..', '..');
// The AWS SDK's notice that its 2027 releases need Node 22 says nothing about the demo; keep it out.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const BUNDLE = 'unikernel:BundledImage';
const AMI = 'unikernel:RegisteredAmi';
const INSTANCE = 'unikernel:UnikernelInstance';

const say = (line: string) => process.stdout.write(`${line}\n`);
const step = (title: string) => say(`\n▸ ${title}`);

/** Every failure, a gap of the endpoint included, is shown as its message's first line, without a stack trace. */
const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

interface Target {
  endpoint: string;
  region: string;
  accountId: string;
  bucket: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  local?: LocalAws;
  /** The PV-GRUB kernel to register with, when the endpoint cannot look one up. */
  kernelId?: string;
  ec2Certificate: { pem: string; from: string };
}

function ec2CertificateFrom(local: LocalAws | undefined): Target['ec2Certificate'] {
  const file = process.env.UNIKERNEL_EC2_CERTIFICATE;
  if (file) {
    if (!existsSync(file))
      throw new Error(`UNIKERNEL_EC2_CERTIFICATE names ${file}, which does not exist: give the path of cert-ec2.pem`);
    return { pem: readFileSync(file, 'utf8'), from: file };
  }
  if (local)
    return {
      pem: local.ec2Certificate,
      from: "(the local AWS's stand-in for cert-ec2.pem: it holds the key, opens the bundle and boots it with PV-GRUB, as EC2 does)",
    };
  const from =
    '(a stand-in: EC2 cannot decrypt this bundle, so its instance will not boot; set UNIKERNEL_EC2_CERTIFICATE to cert-ec2.pem for AWS)';
  return { pem: createSigningIdentity('stand-in for cert-ec2.pem').certificatePem, from };
}

async function target(): Promise<Target> {
  const endpoint = process.env.AWS_ENDPOINT_URL;
  if (endpoint) {
    return {
      endpoint,
      region: process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
      accountId: process.env.UNIKERNEL_DEMO_ACCOUNT_ID ?? '123456789012',
      bucket: process.env.UNIKERNEL_DEMO_BUCKET ?? 'pulumi-unikernel-demo',
      kernelId: process.env.UNIKERNEL_KERNEL_ID || undefined,
      ec2Certificate: ec2CertificateFrom(undefined),
    };
  }
  const local = await LocalAws.start({ instancePendingMs: 300, instanceShuttingDownMs: 300, imagePendingMs: 200 });
  return {
    endpoint: local.endpoint,
    region: local.region,
    accountId: local.accountId,
    bucket: 'pulumi-unikernel-demo',
    credentials: local.credentials,
    local,
    ec2Certificate: ec2CertificateFrom(local),
  };
}

/** The kernel the AMI is registered with: UNIKERNEL_KERNEL_ID, or the endpoint's own PV-GRUB catalogue. */
async function kernelFor(aws: Target): Promise<{ kernelId?: string; note: string }> {
  if (aws.kernelId) return { kernelId: aws.kernelId, note: `kernel ${aws.kernelId} (from UNIKERNEL_KERNEL_ID)` };
  const { ec2 } = createClients({
    endpoint: aws.endpoint,
    region: aws.region,
    credentials: aws.credentials,
    maxAttempts: 2,
  });
  try {
    const found = await findPvGrubKernel(ec2, 'x86_64');
    return { note: `kernel ${found} (Amazon's PV-GRUB hd0, looked up at ${aws.endpoint})` };
  } catch (error) {
    throw new Error(
      `${aws.endpoint} has no catalogue of Amazon's PV-GRUB kernels (${messageOf(error)}): set UNIKERNEL_KERNEL_ID to the PV-GRUB hd0 kernel (aki-…) to register with`,
      { cause: error },
    );
  } finally {
    ec2.destroy();
  }
}

const HEALTHY_CONSOLE = ['Solo5: Xen console: ready', 'mir-hello: listening on 0.0.0.0:8080'];
const CRASHING_CONSOLE = [
  'Solo5: Xen console: ready',
  'Fatal error: exception Invalid_argument("index out of bounds")',
  'Solo5: solo5_exit(2) called',
];

function sha256Of(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

function bootSummary(outputs: Record<string, unknown>): string {
  const status = outputs.bootStatus as Record<string, string> | undefined;
  return status ? `${status.result}: ${status.summary} (${status.at})` : 'not recorded';
}

/**
 * `pulumi up` of the whole stack with another kernel. A boot that is not verified is a partial
 * failure: the engine keeps the instance the error names in the state, and `pulumi up` shows the error.
 */
async function upWithKernel(
  engine: MiniEngine,
  bundleInputs: Record<string, unknown>,
  kernelPath: string,
): Promise<void> {
  await engine.declare(BUNDLE, 'mirage-bundle', bundledImageProvider, { ...bundleInputs, kernelPath }, ['privateKey']);
  for (const line of await engine.preview()) say(`  preview  ${line}`);
  try {
    const plan = await engine.upAll();
    for (const event of plan.events) say(`  ${event}`);
    const instance = engine.state.get('mirage-instance');
    say(`    boot ${instance ? bootSummary(instance.outputs) : 'not recorded'}`);
  } catch (error) {
    if (!(error instanceof PluginRpcError) || !error.partial) throw error;
    say('  error: update failed');
    for (const line of error.message.split('\n')) say(`    ${line}`);
    say(
      `  the state keeps mirage-instance ${error.partial.id} (${String(error.partial.properties.state)}), for inspection`,
    );
  }
}

function describeDrift(before: Record<string, unknown>, after: Record<string, unknown>, keys: string[]): string {
  const changes = keys
    .filter((key) => JSON.stringify(before[key]) !== JSON.stringify(after[key]))
    .map((key) => `${key}: ${JSON.stringify(before[key])} → ${JSON.stringify(after[key])}`);
  return changes.length ? changes.join('; ') : 'no drift';
}

async function main(): Promise<void> {
  const work = mkdtempSync(path.join(tmpdir(), 'unikernel-demo-'));
  say(`pulumi-unikernel demo — working in ${work}`);
  const aws = await target();
  const fake = aws.local;
  const kernel = await kernelFor(aws).catch(async (error: unknown) => {
    await fake?.stop();
    throw error;
  });
  const plugin = await startPlugin({
    cwd: linkedProject(REPO_ROOT),
    project: 'pulumi-unikernel',
    stack: 'demo',
    env: {
      AWS_ENDPOINT_URL: aws.endpoint,
      AWS_REGION: aws.region,
      ...(aws.credentials
        ? {
            AWS_ACCESS_KEY_ID: aws.credentials.accessKeyId,
            AWS_SECRET_ACCESS_KEY: aws.credentials.secretAccessKey,
            AWS_PROFILE: undefined,
          }
        : {}),
    },
    config: { 'unikernel:pollSeconds': '0.1' },
  });
  try {
    say(
      fake
        ? `  local AWS at ${aws.endpoint} (S3, EC2 and EBS, SigV4-checked; the real AWS SDK talks to it)`
        : `  AWS endpoint ${aws.endpoint} (from AWS_ENDPOINT_URL)`,
    );
    say(`  ${kernel.note}`);
    say(
      `  Pulumi's dynamic-provider plugin (@pulumi/pulumi) on port ${plugin.port}, driven over gRPC as the engine would`,
    );
    fake?.createBucket(aws.bucket, { objectOwnership: 'ObjectWriter' });

    step("The program: a Xen PV kernel, a signing key, EC2's certificate");
    const kernelPath = buildXenKernel(work, { fileName: 'mir-hello.xen' });
    // What the kernel prints once PV-GRUB has booted it (the local AWS plays the unikernel's part).
    fake?.scriptConsole({ kernelSha256: sha256Of(kernelPath) }, { lines: HEALTHY_CONSOLE });
    const identity = createSigningIdentity('pulumi-unikernel demo');
    const ec2Certificate = aws.ec2Certificate.pem;
    say(
      `  kernel ${kernelPath}; key and self-signed certificate made for this run; EC2 certificate ${aws.ec2Certificate.from}`,
    );
    const bundleInputs = {
      kernelPath,
      kernelCommandLine: 'console=hvc0',
      bucket: aws.bucket,
      keyPrefix: 'unikernels/demo',
      accountId: aws.accountId,
      privateKey: identity.privateKeyPem,
      certificate: identity.certificatePem,
      ec2Certificate,
      createBucket: !fake,
    };
    const engine = new MiniEngine(plugin, say);

    step('pulumi up: create in dependency order');
    const bundle = await engine.create(BUNDLE, 'mirage-bundle', bundledImageProvider, bundleInputs, ['privateKey']);
    say(
      `  + BundledImage mirage-bundle  ${bundle.id}  (${bundle.outputs.partCount} part(s), digest ${bundle.outputs.imageDigest})`,
    );
    const amiInputs = {
      manifestLocation: output('mirage-bundle', 'id'),
      name: 'mirage-demo',
      description: 'MirageOS-style unikernel',
      tags: { project: 'pulumi-unikernel', stack: 'demo' },
      ...(kernel.kernelId ? { kernelId: kernel.kernelId } : {}),
    };
    const ami = await engine.create(AMI, 'mirage-ami', registeredAmiProvider, amiInputs);
    say(
      `  + RegisteredAmi mirage-ami  ${ami.id}  (paravirtual, kernel ${ami.outputs.effectiveKernelId}, ${ami.outputs.state})`,
    );
    // The boot is verified from the console's marker here; elsewhere (a bundle the endpoint may not
    // boot) the reachability checks decide.
    const bootCheck = fake ? { bootMarker: 'listening on' } : {};
    const instanceInputs = {
      imageId: output('mirage-ami', 'id'),
      instanceType: 'm3.medium',
      tags: { Name: 'mirage-demo' },
      ...bootCheck,
    };
    const instance = await engine.create(INSTANCE, 'mirage-instance', unikernelInstanceProvider, instanceInputs);
    say(
      `  + UnikernelInstance mirage-instance  ${instance.id}  (${instance.outputs.state}, IMDSv2 ${instance.outputs.httpTokens ?? 'required'})`,
    );
    say(`    boot ${bootSummary(instance.outputs)}`);
    const stored = JSON.stringify([...engine.state.values()].map((entry) => entry.outputs));
    say(`  state holds no private key: ${stored.includes('PRIVATE KEY') ? 'NO — it does' : 'yes'}`);

    step('Out of band (someone at the console): the instance is terminated, the AMI retagged');
    const clients = createClients({ endpoint: aws.endpoint, region: aws.region, credentials: aws.credentials });
    await terminateInstance(clients.ec2, instanceId(instance.id), {
      minDelaySeconds: 0.1,
      maxDelaySeconds: 0.5,
      maxWaitSeconds: 60,
    });
    await updateTags(
      clients.ec2,
      imageId(ami.id),
      { project: 'pulumi-unikernel', stack: 'demo' },
      { project: 'pulumi-unikernel', stack: 'demo', owner: 'someone-else' },
    );
    say(`  terminated ${instance.id}; tagged ${ami.id} owner=someone-else`);

    step('pulumi refresh: read every resource back from AWS');
    for (const [name, keys] of [
      ['mirage-bundle', ['bundleStatus']],
      ['mirage-ami', ['state', 'tags', 'description']],
      ['mirage-instance', ['state', 'tags']],
    ] as const) {
      const result = await engine.refresh(name);
      say(
        `  ~ ${name}: ${result.gone ? 'gone (deleted outside Pulumi): dropped from the state' : describeDrift(result.before, result.after, [...keys])}`,
      );
    }

    step('pulumi up: heal the drift (the program is unchanged)');
    say(
      `  ~ mirage-bundle: ${await engine.up(BUNDLE, 'mirage-bundle', bundledImageProvider, bundleInputs, ['privateKey'])}`,
    );
    say(`  ~ mirage-ami: ${await engine.up(AMI, 'mirage-ami', registeredAmiProvider, amiInputs)}`);
    say(
      `  ~ mirage-instance: ${await engine.up(INSTANCE, 'mirage-instance', unikernelInstanceProvider, instanceInputs)}`,
    );
    if (fake) {
      const tags = fake.images().find((image) => image.imageId === ami.id)?.tags;
      say(
        `  AMI tags now ${JSON.stringify(tags)}; running instances: ${fake
          .instances()
          .filter((each) => each.state === 'running')
          .map((each) => each.instanceId)
          .join(', ')}`,
      );
    }

    await kernelUpdate(engine, work, bundleInputs, fake, (kernelPath) =>
      fake?.scriptConsole({ kernelSha256: sha256Of(kernelPath) }, { lines: HEALTHY_CONSOLE }),
    );

    if (fake) {
      const broken = buildXenKernel(work, { fileName: 'mir-hello-v3.xen', seed: 'v3: reads past its buffer' });
      fake.scriptConsole({ kernelSha256: sha256Of(broken) }, { lines: CRASHING_CONSOLE, reachable: false });
      step('pulumi up with a new kernel that crashes at boot (the program now names mir-hello-v3.xen)');
      await upWithKernel(engine, bundleInputs, broken);

      const fixed = buildXenKernel(work, { fileName: 'mir-hello-v4.xen', seed: 'v4: fixed' });
      fake.scriptConsole({ kernelSha256: sha256Of(fixed) }, { lines: HEALTHY_CONSOLE });
      step('pulumi up after fixing the kernel (mir-hello-v4.xen): the failed instance is replaced');
      await upWithKernel(engine, bundleInputs, fixed);
    }

    step('pulumi destroy: in reverse dependency order');
    for (const name of ['mirage-instance', 'mirage-ami', 'mirage-bundle']) {
      const id = engine.state.get(name)?.id;
      await engine.destroy(name);
      say(`  - ${name}  ${id}`);
    }
    if (fake) {
      const left =
        fake.objects(aws.bucket).length +
        fake.images().filter((image) => image.state !== 'deregistered').length +
        fake.instances().filter((each) => each.state !== 'terminated').length;
      say(`  the local AWS now holds ${left} object(s), AMI(s) or running instance(s)`);
    }
    say('\nDone. The same resources in a real program: examples/mirage (see README, "Pulumi").');
  } finally {
    await plugin.stop();
    await fake?.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(`demo failed: ${messageOf(error).split('\n')[0]}`);
  process.exitCode = 1;
});
