/**
 * `npm run demo`: the main job end to end on this machine, with no AWS account.
 *
 * It builds a sample MirageOS-style Xen kernel, then runs the life of the Mirage example's stack —
 * BundledImage → RegisteredAmi → UnikernelInstance — through Pulumi's real dynamic-provider plugin
 * over gRPC, against the local fake AWS: create in dependency order, an out-of-band change (the
 * instance terminated, the AMI retagged), refresh showing the drift, an update healing it, and a
 * destroy that leaves AWS empty. With AWS_ENDPOINT_URL set it uses that endpoint (and the usual AWS
 * credentials) instead of starting the fake.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import * as path from 'path';
import { createClients } from '../provider/aws/clients';
import { imageId, instanceId } from '../provider/aws/ids';
import { terminateInstance } from '../provider/aws/instances';
import { updateTags } from '../provider/aws/tags';
import { createSigningIdentity } from '../provider/bundle/identity';
import { bundledImageProvider } from '../provider/dynamic/bundledImage/provider';
import { registeredAmiProvider } from '../provider/dynamic/registeredAmi/provider';
import { unikernelInstanceProvider } from '../provider/dynamic/unikernelInstance/provider';
import { FakeAws } from '../tests/fakeAws';
import { buildXenKernel } from '../tests/fixtures/xenKernel';
import { startPlugin } from '../tests/helpers/pluginHarness';
import { MiniEngine } from './demo/engine';

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const EC2_CERTIFICATE = path.resolve(REPO_ROOT, '..', 'shared', 'data', 'ec2-certs', 'cert-ec2.pem');
const BUNDLE = 'unikernel:BundledImage';
const AMI = 'unikernel:RegisteredAmi';
const INSTANCE = 'unikernel:UnikernelInstance';

const say = (line: string) => process.stdout.write(`${line}\n`);
const step = (title: string) => say(`\n▸ ${title}`);

interface Target {
  endpoint: string;
  region: string;
  accountId: string;
  bucket: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  fake?: FakeAws;
}

async function target(): Promise<Target> {
  if (process.env.AWS_ENDPOINT_URL) {
    return {
      endpoint: process.env.AWS_ENDPOINT_URL,
      region: process.env.AWS_REGION ?? 'us-east-1',
      accountId: process.env.UNIKERNEL_DEMO_ACCOUNT_ID ?? '123456789012',
      bucket: process.env.UNIKERNEL_DEMO_BUCKET ?? 'pulumi-unikernel-demo',
    };
  }
  const fake = await FakeAws.start({ instancePendingMs: 300, instanceShuttingDownMs: 300, imagePendingMs: 200 });
  return { endpoint: fake.endpoint, region: fake.region, accountId: fake.accountId, bucket: 'pulumi-unikernel-demo', credentials: fake.credentials, fake };
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
  const fake = aws.fake;
  const plugin = await startPlugin({
    cwd: REPO_ROOT,
    project: 'pulumi-unikernel',
    stack: 'demo',
    env: {
      AWS_ENDPOINT_URL: aws.endpoint,
      AWS_REGION: aws.region,
      ...(aws.credentials ? { AWS_ACCESS_KEY_ID: aws.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: aws.credentials.secretAccessKey, AWS_PROFILE: undefined } : {}),
    },
    config: { 'unikernel:pollSeconds': '0.1' },
  });
  try {
    say(fake ? `  local fake AWS at ${aws.endpoint} (S3 + EC2, SigV4-checked; the real AWS SDK talks to it)` : `  AWS endpoint ${aws.endpoint} (from AWS_ENDPOINT_URL)`);
    say(`  Pulumi's dynamic-provider plugin (@pulumi/pulumi) on port ${plugin.port}, driven over gRPC as the engine would`);
    fake?.createBucket(aws.bucket, { objectOwnership: 'ObjectWriter' });

    step('The program: a Xen PV kernel, a signing key, EC2\'s certificate');
    const kernelPath = buildXenKernel(work, { fileName: 'mir-hello.xen' });
    const identity = createSigningIdentity('pulumi-unikernel demo');
    const ec2Certificate = existsSync(EC2_CERTIFICATE) ? readFileSync(EC2_CERTIFICATE, 'utf8') : createSigningIdentity('stand-in for cert-ec2.pem').certificatePem;
    say(`  kernel ${kernelPath}; key and self-signed certificate made for this run; EC2 certificate ${existsSync(EC2_CERTIFICATE) ? EC2_CERTIFICATE : '(a stand-in)'}`);
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
    say(`  + BundledImage mirage-bundle  ${bundle.id}  (${bundle.outputs.partCount} part(s), digest ${bundle.outputs.imageDigest})`);
    const amiInputs = { manifestLocation: bundle.outputs.manifestLocation, manifestEtag: bundle.outputs.manifestEtag, name: 'mirage-demo', description: 'MirageOS unikernel', tags: { project: 'pulumi-unikernel', stack: 'demo' } };
    const ami = await engine.create(AMI, 'mirage-ami', registeredAmiProvider, amiInputs);
    say(`  + RegisteredAmi mirage-ami  ${ami.id}  (paravirtual, kernel ${ami.outputs.effectiveKernelId}, ${ami.outputs.state})`);
    const instanceInputs = { imageId: ami.id, instanceType: 'm3.medium', tags: { Name: 'mirage-demo' } };
    const instance = await engine.create(INSTANCE, 'mirage-instance', unikernelInstanceProvider, instanceInputs);
    say(`  + UnikernelInstance mirage-instance  ${instance.id}  (${instance.outputs.state}, IMDSv2 ${instance.outputs.httpTokens ?? 'required'})`);
    const stored = JSON.stringify([...engine.state.values()].map((entry) => entry.outputs));
    say(`  state holds no private key: ${stored.includes('PRIVATE KEY') ? 'NO — it does' : 'yes'}`);

    step('Out of band (someone at the console): the instance is terminated, the AMI retagged');
    const clients = createClients({ endpoint: aws.endpoint, region: aws.region, credentials: aws.credentials });
    await terminateInstance(clients.ec2, instanceId(instance.id), { minDelaySeconds: 0.1, maxDelaySeconds: 0.5, maxWaitSeconds: 60 });
    await updateTags(clients.ec2, imageId(ami.id), { project: 'pulumi-unikernel', stack: 'demo' }, { project: 'pulumi-unikernel', stack: 'demo', owner: 'someone-else' });
    say(`  terminated ${instance.id}; tagged ${ami.id} owner=someone-else`);

    step('pulumi refresh: read every resource back from AWS');
    for (const [name, keys] of [['mirage-bundle', ['bundleStatus']], ['mirage-ami', ['state', 'tags', 'description']], ['mirage-instance', ['state', 'tags']]] as const) {
      const result = await engine.refresh(name);
      say(`  ~ ${name}: ${result.gone ? 'gone (deleted outside Pulumi): dropped from the state' : describeDrift(result.before, result.after, [...keys])}`);
    }

    step('pulumi up: heal the drift (the program is unchanged)');
    say(`  ~ mirage-bundle: ${await engine.up(BUNDLE, 'mirage-bundle', bundledImageProvider, bundleInputs, ['privateKey'])}`);
    say(`  ~ mirage-ami: ${await engine.up(AMI, 'mirage-ami', registeredAmiProvider, amiInputs)}`);
    say(`  ~ mirage-instance: ${await engine.up(INSTANCE, 'mirage-instance', unikernelInstanceProvider, instanceInputs)}`);
    if (fake) {
      const tags = fake.images().find((image) => image.imageId === ami.id)?.tags;
      say(`  AMI tags now ${JSON.stringify(tags)}; running instances: ${fake.instances().filter((each) => each.state === 'running').map((each) => each.instanceId).join(', ')}`);
    }

    step('pulumi destroy: in reverse dependency order');
    for (const name of ['mirage-instance', 'mirage-ami', 'mirage-bundle']) {
      const id = engine.state.get(name)?.id;
      await engine.destroy(name);
      say(`  - ${name}  ${id}`);
    }
    if (fake) {
      const left = fake.objects(aws.bucket).length + fake.images().filter((image) => image.state !== 'deregistered').length + fake.instances().filter((each) => each.state !== 'terminated').length;
      say(`  the fake AWS now holds ${left} object(s), AMI(s) or running instance(s)`);
    }
    say('\nDone. The same resources in a real program: examples/mirage (see README, "Pulumi").');
  } finally {
    await plugin.stop();
    await fake?.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(`demo failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
