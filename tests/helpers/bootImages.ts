/**
 * Bootable instance-store images for the boot tests: a real PV-GRUB disk image of a kernel (the
 * product's image builder) or a hand-made ext2 file system (mke2fs -d, for menus PV-GRUB cannot
 * follow), bundled for the local AWS's own EC2 certificate, uploaded and registered.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'fs';
import { createHash } from 'crypto';
import * as path from 'path';
import { createClients } from '../../provider/aws/clients';
import { parseBucketArgument } from '../../provider/aws/location';
import { registerAndWait } from '../../provider/aws/images';
import { uploadBundle } from '../../provider/aws/upload';
import { bundleImage } from '../../provider/bundle/bundle';
import { buildKernelImage } from '../../provider/image/build';
import { LocalAws } from '../../testing/localAws';
import { testPki } from './pki';
import { run } from './tools';

export function sha256Of(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/** An ext2 image (8 MiB) of `files` (path under the root → content), made by the real mke2fs. */
export function ext2Image(dir: string, name: string, files: Record<string, Buffer | string>): string {
  const root = path.join(dir, `${name}.root`);
  for (const [file, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    writeFileSync(path.join(root, file), content);
  }
  const imagePath = path.join(dir, `${name}.img`);
  run('mke2fs', ['-q', '-F', '-t', 'ext2', '-O', 'none,filetype,sparse_super', '-d', root, imagePath, '8M']);
  return imagePath;
}

export async function kernelImage(dir: string, kernelPath: string, name: string): Promise<string> {
  const outPath = path.join(dir, `${name}.img`);
  await buildKernelImage({ kernelPath, outPath });
  return outPath;
}

/** Bundles for the local AWS's certificate, uploads into `bucket` (created if need be), registers with PV-GRUB. */
export async function registerBootable(
  local: LocalAws,
  dir: string,
  imagePath: string,
  bucket: string,
): Promise<string> {
  const imageLocation = await uploadBootable(local, dir, imagePath, bucket);
  const registered = await registerAndWait({
    ec2: createClients({ ...local.clientConfig() }).ec2,
    imageLocation,
    name: `${path.basename(imagePath)}-${Date.now()}`,
    architecture: 'x86_64',
    wait: { minDelaySeconds: 0.02, maxDelaySeconds: 0.1, maxWaitSeconds: 10 },
  });
  return registered.imageId;
}

/** Bundles for the local AWS's certificate and uploads into `bucket` (created if need be); returns the image location. */
export async function uploadBootable(local: LocalAws, dir: string, imagePath: string, bucket: string): Promise<string> {
  const pki = testPki();
  const name = path.basename(imagePath);
  const destination = path.join(dir, `${name}.bundle`);
  mkdirSync(destination, { recursive: true });
  const bundle = await bundleImage({
    imagePath,
    destination,
    privateKey: pki.user.key,
    userCertificate: pki.user.cert,
    ec2Certificate: local.ec2Certificate,
    accountId: local.accountId,
    architecture: 'x86_64',
  });
  try {
    local.createBucket(bucket, { objectOwnership: 'ObjectWriter' });
  } catch {
    // already there
  }
  const upload = await uploadBundle({
    s3: createClients({ ...local.clientConfig() }).s3,
    manifestPath: bundle.manifestPath,
    location: parseBucketArgument(`${bucket}/${name}`),
  });
  return upload.imageLocation;
}
