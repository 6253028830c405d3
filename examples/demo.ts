/**
 * `npm run demo`: the main job end to end on this machine, with nothing to set up.
 * It makes a sample unikernel disk image, a throwaway signing key, bundles the image exactly as
 * ec2-bundle-image would (into a temporary folder), verifies the bundle, restores the image from it
 * and checks that it is byte-identical; then uploads it, registers an AMI, runs and tears it all
 * down against the local fake AWS. Nothing leaves the machine.
 */
import { createHash } from 'crypto';
import { createReadStream, existsSync, mkdtempSync, mkdirSync, readFileSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import * as path from 'path';
import { bundleImage } from '../provider/bundle/bundle';
import { createSigningIdentity } from '../provider/bundle/identity';
import { unbundleImage, verifyBundle } from '../provider/bundle/unbundle';
import { formatBytes } from '../provider/cli/progress';
import { makeSampleImage } from './sampleImage';
import { createClients } from '../provider/aws/clients';
import { deleteBundle } from '../provider/aws/deleteBundle';
import { deregisterImage, registerAndWait } from '../provider/aws/images';
import { launchAndWait, terminateInstance } from '../provider/aws/instances';
import { parseBucketArgument } from '../provider/aws/location';
import { uploadBundle } from '../provider/aws/upload';
import { FakeAws } from '../tests/fakeAws';

const EC2_CERTIFICATE = path.resolve(__dirname, '..', '..', '..', 'shared', 'data', 'ec2-certs', 'cert-ec2.pem');

function sha256(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(file).on('data', (chunk) => hash.update(chunk)).on('error', reject).on('end', () => resolve(hash.digest('hex')));
  });
}

/**
 * Upload, register, run and tear down against the local fake AWS (the real SDK clients over HTTP,
 * SigV4-checked), so the whole path runs without an AWS account.
 */
async function deployToFakeAws(manifestPath: string): Promise<void> {
  step('Starting the local fake AWS (S3 + EC2 on 127.0.0.1; the real AWS SDK talks to it over HTTP)');
  const fake = await FakeAws.start({ instancePendingMs: 300, instanceShuttingDownMs: 300, imagePendingMs: 200 });
  const wait = { minDelaySeconds: 0.1, maxDelaySeconds: 0.5, maxWaitSeconds: 30 };
  try {
    const aws = createClients({ endpoint: fake.endpoint, region: fake.region, credentials: fake.credentials });
    console.log(`  ${fake.endpoint} (region ${fake.region}, account ${fake.accountId})`);

    step('Uploading the bundle: parts in parallel with Content-MD5, the manifest last');
    const location = parseBucketArgument('demo-unikernels/images/v1');
    const upload = await uploadBundle({ s3: aws.s3, manifestPath, location, createBucket: true });
    console.log(`  ${upload.uploaded.length} object(s), ${formatBytes(upload.bytesUploaded)}, ACL aws-exec-read → s3://${location.bucket}/${location.keyPrefix}`);

    step('Registering the AMI (paravirtual, booted by the region\'s PV-GRUB hd0 kernel, looked up)');
    const image = await registerAndWait({ ec2: aws.ec2, imageLocation: upload.imageLocation, name: 'demo-unikernel', architecture: 'x86_64', tags: { app: 'demo' }, wait });
    console.log(`  ${image.imageId} is ${image.state}; kernel ${image.kernelId}; from ${upload.imageLocation}`);

    step('Launching an instance (instance-store root: checked against the instance type first)');
    const instance = await launchAndWait({ ec2: aws.ec2, imageId: image.imageId, instanceType: 'm1.small', clientToken: `demo-${Date.now()}`, tags: { Name: 'demo' }, wait });
    console.log(`  ${instance.instanceId} is ${instance.state} (${instance.instanceType}, IMDSv2 ${instance.httpTokens})`);

    step('Tearing down: terminate, deregister, delete the bundle (manifest first)');
    await terminateInstance(aws.ec2, instance.instanceId, wait);
    await deregisterImage(aws.ec2, image.imageId);
    const deleted = await deleteBundle({ s3: aws.s3, location, name: upload.name });
    const left = fake.objects(location.bucket).length + fake.instances().filter((each) => each.state !== 'terminated').length + fake.images().filter((each) => each.state !== 'deregistered').length;
    console.log(`  terminated ${instance.instanceId}, deregistered ${image.imageId}, deleted ${deleted.deleted.length} object(s); left in the fake AWS: ${left}`);
  } finally {
    await fake.stop();
  }
}

function step(text: string): void {
  process.stdout.write(`\n▸ ${text}\n`);
}

async function main(): Promise<void> {
  const work = mkdtempSync(path.join(tmpdir(), 'unikernel-demo-'));
  console.log(`pulumi-unikernel demo — working in ${work}`);

  step('Making a sample unikernel disk image');
  const sample = await makeSampleImage(work);
  console.log(`  ${sample.description}`);
  console.log(`  ${sample.imagePath} (${formatBytes(sample.size)})`);

  step('Making a throwaway signing key and certificate (what `unikernel-ami keygen` does)');
  const identity = createSigningIdentity('pulumi-unikernel demo');
  const keyPath = path.join(work, 'demo-pk.pem');
  const certPath = path.join(work, 'demo-cert.pem');
  writeFileSync(keyPath, identity.privateKeyPem, { mode: 0o600 });
  writeFileSync(certPath, identity.certificatePem);
  let ec2Certificate: string;
  if (existsSync(EC2_CERTIFICATE)) {
    ec2Certificate = readFileSync(EC2_CERTIFICATE, 'utf8');
    console.log(`  EC2 certificate: ${EC2_CERTIFICATE} (Amazon's cert-ec2.pem, used for every commercial region)`);
  } else {
    ec2Certificate = createSigningIdentity('stand-in for cert-ec2.pem').certificatePem;
    console.log("  EC2 certificate: Amazon's cert-ec2.pem was not found beside the repository; a stand-in is used for this demo");
  }

  step('Bundling: tar → SHA-1 → gzip -9 → AES-128-CBC → 10 MiB parts → signed manifest');
  const bundleDir = path.join(work, 'bundle');
  mkdirSync(bundleDir);
  const started = Date.now();
  const result = await bundleImage({
    imagePath: sample.imagePath,
    destination: bundleDir,
    privateKey: identity.privateKeyPem,
    userCertificate: identity.certificatePem,
    ec2Certificate,
    accountId: '1234-5678-9012',
    architecture: 'x86_64',
  });
  console.log(`  ${formatBytes(result.imageSize)} image, ${formatBytes(result.storedImageBytes)} of it data (zero blocks stored as holes)`);
  console.log(`  → ${result.parts.length} part(s), ${formatBytes(result.bundledSize)} encrypted, in ${Date.now() - started} ms`);
  for (const part of result.parts) console.log(`    ${path.join(bundleDir, part.filename)}  sha1 ${part.digest}`);
  console.log(`  manifest ${result.manifestPath}`);
  console.log(`  image digest (SHA-1 of the tar stream) ${result.digest}`);

  step('Verifying: signature, part digests, decrypt, gunzip, untar and digest, writing nothing');
  const report = await verifyBundle({ manifestPath: result.manifestPath, privateKey: identity.privateKeyPem, userCertificate: identity.certificatePem });
  console.log(`  OK: ${report.partCount} part(s), digest ${report.digest}, canonical manifest: ${report.canonical ? 'yes' : 'no'}`);

  step('Unbundling into a fresh folder and comparing with the original');
  const restoredDir = path.join(work, 'restored');
  mkdirSync(restoredDir);
  const restored = await unbundleImage({ manifestPath: result.manifestPath, privateKey: identity.privateKeyPem, destination: restoredDir });
  const [before, after] = await Promise.all([sha256(sample.imagePath), sha256(restored.imagePath)]);
  if (before !== after) throw new Error(`restored image differs: ${before} vs ${after}`);
  console.log(`  ${restored.imagePath} is byte-identical to the original (sha256 ${after})`);

  await deployToFakeAws(result.manifestPath);

  console.log('\nDone. Try the CLI on the same files:');
  console.log(`  node dist/provider/cli/main.js verify -m ${result.manifestPath} -k ${keyPath} -c ${certPath}`);
  console.log(`Everything is in ${work}; remove it with: rm -rf ${work}`);
}

main().catch((error: unknown) => {
  console.error(`demo failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
