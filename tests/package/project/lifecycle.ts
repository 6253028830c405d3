/**
 * Runs in a scratch project that installed the packed tarball: the program's resources are made by
 * the installed classes (their providers serialized by the Pulumi runtime, under mocks), then created,
 * refreshed and destroyed through Pulumi's own dynamic-provider plugin, started in this project, against
 * the installed local AWS. Prints one JSON line with what happened.
 */
import * as pulumi from '@pulumi/pulumi';
import { mkdtempSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import * as path from 'path';
import { BundledImage, RegisteredAmi, UnikernelInstance } from 'pulumi-unikernel';
import { createSigningIdentity } from 'pulumi-unikernel/bundle';
import { buildXenKernel, LocalAws, secret, startPlugin, withoutProvider } from 'pulumi-unikernel/testing';
import type { Props } from 'pulumi-unikernel/testing';

interface Step {
  resource: string;
  id: string;
  refreshedId: string;
  outputs: Props;
}

/** The serialized provider of each resource, captured as the Pulumi runtime registers it. */
async function serializedProviders(build: () => pulumi.Resource[]): Promise<Map<string, string>> {
  const providers = new Map<string, string>();
  await pulumi.runtime.setMocks(
    {
      newResource: async (args) => {
        const text: unknown = args.inputs.__provider;
        if (typeof text !== 'string') throw new Error(`${args.name} was registered without a serialized provider`);
        providers.set(args.name, text);
        return { id: `${args.name}-mock`, state: {} };
      },
      call: async () => ({}),
    },
    'scratch',
    'dev',
    true,
  );
  const resources = build();
  await new Promise((resolve) => pulumi.all(resources.map((resource) => resource.urn)).apply(resolve));
  return providers;
}

async function main(): Promise<void> {
  const work = mkdtempSync(path.join(tmpdir(), 'scratch-lifecycle-'));
  const local = await LocalAws.start({ instancePendingMs: 30, instanceShuttingDownMs: 30, imagePendingMs: 20 });
  const plugin = await startPlugin({
    cwd: process.cwd(),
    project: 'scratch',
    stack: 'dev',
    env: {
      AWS_ENDPOINT_URL: local.endpoint,
      AWS_REGION: local.region,
      AWS_ACCESS_KEY_ID: local.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: local.credentials.secretAccessKey,
      AWS_PROFILE: undefined,
    },
    config: { 'unikernel:pollSeconds': '0.05' },
  });
  try {
    local.createBucket('scratch-bundles', { objectOwnership: 'ObjectWriter' });
    const identity = createSigningIdentity('scratch project');
    const imagePath = path.join(work, 'nanos.raw');
    writeFileSync(imagePath, Buffer.alloc(1024 * 1024, 7));
    const bundleArgs = {
      kernelPath: buildXenKernel(work, { fileName: 'mir-app.xen' }),
      bucket: 'scratch-bundles',
      keyPrefix: 'unikernels/dev',
      accountId: local.accountId,
      certificate: identity.certificatePem,
      // Sealed for the local AWS's own stand-in EC2 certificate, so that it opens the bundle and boots it.
      ec2Certificate: local.ec2Certificate,
    };
    const providers = await serializedProviders(() => [
      new BundledImage('bundle', { ...bundleArgs, privateKey: pulumi.secret(identity.privateKeyPem) }),
      new RegisteredAmi('ami', { manifestLocation: 'scratch-bundles/x.manifest.xml', name: 'scratch' }),
      new UnikernelInstance('instance', { imageId: 'ami-12345678', instanceType: 'm3.medium' }),
    ]);

    // The EBS-backed AMI is a RegisteredAmi too: it runs on the provider serialized for 'ami'.
    const providerOf = (name: string): string => providers.get(name === 'ebs-ami' ? 'ami' : name)!;

    const created: Array<{ name: string; type: string; id: string; inputs: Props; outputs: Props }> = [];
    const create = async (name: string, type: string, inputs: Props): Promise<Props> => {
      const client = plugin.withProvider(providerOf(name));
      const urn = client.urn(type, name);
      const checked = await client.check(urn, {}, inputs);
      if (checked.failures.length > 0) throw new Error(`${name}: ${JSON.stringify(checked.failures)}`);
      const result = await client.create(urn, checked.inputs);
      const outputs = withoutProvider(result.properties);
      created.push({ name, type, id: result.id, inputs: withoutProvider(checked.inputs), outputs });
      return { ...outputs, id: result.id };
    };

    const bundle = await create('bundle', 'unikernel:BundledImage', {
      ...bundleArgs,
      privateKey: secret(identity.privateKeyPem),
    });
    const ami = await create('ami', 'unikernel:RegisteredAmi', {
      manifestLocation: bundle.manifestLocation,
      manifestEtag: bundle.manifestEtag,
      name: 'scratch-app',
    });
    await create('instance', 'unikernel:UnikernelInstance', { imageId: ami.id, instanceType: 'm3.medium' });
    await create('ebs-ami', 'unikernel:RegisteredAmi', {
      rawImagePath: imagePath,
      name: 'scratch-ebs',
      architecture: 'x86_64',
    });

    const steps: Step[] = [];
    for (const entry of created) {
      const client = plugin.withProvider(providerOf(entry.name));
      const read = await client.read(entry.id, client.urn(entry.type, entry.name), entry.outputs, entry.inputs);
      steps.push({ resource: entry.name, id: entry.id, refreshedId: read.id, outputs: entry.outputs });
    }
    for (const entry of [...created].reverse()) {
      const client = plugin.withProvider(providerOf(entry.name));
      await client.delete(entry.id, client.urn(entry.type, entry.name), entry.outputs, entry.inputs);
    }
    const left = {
      objects: local.objects('scratch-bundles').map((object) => object.key),
      images: local
        .images()
        .filter((image) => image.state !== 'deregistered' && image.ownerId === local.accountId)
        .map((image) => image.imageId),
      instances: local
        .instances()
        .filter((instance) => instance.state !== 'terminated')
        .map((instance) => instance.instanceId),
      snapshots: local.snapshots().map((snapshot) => snapshot.snapshotId),
    };
    const stateText = JSON.stringify(steps);
    process.stdout.write(
      `${JSON.stringify({ steps, left, privateKeyInState: stateText.includes('PRIVATE KEY'), pluginOutput: plugin.output() })}\n`,
    );
  } finally {
    await plugin.stop();
    await local.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(
    `lifecycle failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exitCode = 1;
});
