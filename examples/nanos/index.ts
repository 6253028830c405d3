/**
 * A raw disk image with ENA and NVMe drivers (what Nanos's `ops build` makes) on a current (Nitro)
 * instance type, with the Unikernel component's EBS path: the image is written into an EBS snapshot through
 * the EBS direct APIs (no S3 bucket, no signing keys), registered as an HVM AMI, and run. A new image
 * uploads only the 512 KiB blocks that changed. Any region works.
 *
 * This folder is a Pulumi project of its own: `npm install` here, then
 *
 *   pulumi config set aws:region eu-north-1
 *   pulumi config set unikernel:rawImagePath ./app.img     # raw (qcow2/VMDK/VHD/VDI need qemu-img)
 *   pulumi config set unikernel:encrypted true             # optional
 *   pulumi up
 */
import * as pulumi from '@pulumi/pulumi';
import { Unikernel } from 'pulumi-unikernel';

const config = new pulumi.Config('unikernel');

const arm64 = config.get('architecture') === 'arm64';

const app = new Unikernel('nanos-app', {
  rawImagePath: config.require('rawImagePath'),
  architecture: arm64 ? 'arm64' : 'x86_64',
  ami: {
    // Nanos boots with legacy BIOS on x86_64 and UEFI on arm64.
    bootMode: arm64 ? 'uefi' : 'legacy-bios',
    encrypted: config.getBoolean('encrypted') ?? false,
    description: 'Nanos unikernel from a raw disk image',
    tags: { project: pulumi.getProject() },
  },
  instance: { instanceType: config.get('instanceType') ?? 't3.micro', tags: { Name: 'nanos-app' } },
});

export const imageId = app.imageId;
export const snapshotId = app.snapshotId;
export const instanceId = app.instanceId;
