/**
 * A ready disk image (any unikernel that boots under PV-GRUB or the AKI you give) on EC2, with the
 * Unikernel component wiring bundle → AMI → instance.
 *
 *   pulumi config set unikernel:imagePath ./app.img
 *   (and bucket, accountId, privateKey, certificatePath, ec2CertificatePath as in ../mirage)
 */
import * as pulumi from '@pulumi/pulumi';
import { readFileSync } from 'fs';
import { Unikernel } from '../../sdk';

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
