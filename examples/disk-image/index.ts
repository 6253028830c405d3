/**
 * A ready disk image (any unikernel that boots under PV-GRUB or the AKI you give) on EC2, with the
 * Unikernel component wiring bundle → instance-store paravirtual AMI → instance. As in ../mirage,
 * PV runs only on C1, C3, M1, M2 and M3 (the default is m3.medium), in the regions that still have
 * PV. For a raw image with ENA and NVMe drivers (Nanos, or a Unikraft image built with them) use
 * the EBS path instead: `RegisteredAmi` with `imagePath`, on current (Nitro) types in any region.
 *
 * This folder is a Pulumi project of its own: `npm install` here, then
 *
 *   pulumi config set unikernel:imagePath ./app.img
 *   (and bucket, accountId, privateKey, certificatePath, ec2CertificatePath, aws:region as in ../mirage)
 */
import * as pulumi from '@pulumi/pulumi';
import { readFileSync } from 'fs';
import { Unikernel } from 'pulumi-unikernel';

const config = new pulumi.Config('unikernel');

const app = new Unikernel('disk-image-app', {
  imagePath: config.require('imagePath'),
  bucket: config.require('bucket'),
  keyPrefix: config.get('keyPrefix') ?? 'unikernels',
  accountId: config.require('accountId'),
  privateKey: config.requireSecret('privateKey'),
  certificate: readFileSync(config.require('certificatePath'), 'utf8'),
  ec2Certificate: readFileSync(config.require('ec2CertificatePath'), 'utf8'),
  kernelId: config.get('kernelId'),
  ami: { description: 'unikernel from a disk image', tags: { project: pulumi.getProject() } },
  instance: { instanceType: config.get('instanceType') ?? 'm3.medium', tags: { Name: 'disk-image-app' } },
});

export const imageId = app.imageId;
export const instanceId = app.instanceId;
