/**
 * `npm run demo`: the main job end to end on this machine, with nothing to set up.
 * It makes a sample unikernel disk image, a throwaway signing key, bundles the image exactly as
 * ec2-bundle-image would (into a temporary folder), verifies the bundle, restores the image from it
 * and checks that it is byte-identical. Nothing leaves the machine.
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

const EC2_CERTIFICATE = path.resolve(__dirname, '..', '..', '..', 'shared', 'data', 'ec2-certs', 'cert-ec2.pem');

function sha256(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(file).on('data', (chunk) => hash.update(chunk)).on('error', reject).on('end', () => resolve(hash.digest('hex')));
  });
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

  console.log('\nDone. Try the CLI on the same files:');
  console.log(`  node dist/provider/cli/main.js verify -m ${result.manifestPath} -k ${keyPath} -c ${certPath}`);
  console.log(`Everything is in ${work}; remove it with: rm -rf ${work}`);
}

main().catch((error: unknown) => {
  console.error(`demo failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
