/**
 * A MirageOS-style unikernel on EC2: the Xen kernel the build produced → a PV-GRUB disk image,
 * bundled into S3 → an instance-store AMI → an instance running it.
 *
 *   pulumi config set unikernel:kernelPath ./mir-app.xen
 *   pulumi config set unikernel:bucket my-unikernel-bundles
 *   pulumi config set unikernel:accountId 123456789012
 *   pulumi config set --secret unikernel:privateKey "$(cat pk.pem)"
 *   pulumi config set unikernel:certificatePath cert.pem
 *   pulumi config set unikernel:ec2CertificatePath cert-ec2.pem
 *   pulumi config set aws:region us-east-1
 */
import * as pulumi from '@pulumi/pulumi';
import { readFileSync } from 'fs';
import { BundledImage, RegisteredAmi, UnikernelInstance } from '../../sdk';

const config = new pulumi.Config('unikernel');
const stack = pulumi.getStack();

const bundle = new BundledImage('mirage-bundle', {
  kernelPath: config.require('kernelPath'),
  kernelCommandLine: config.get('kernelCommandLine'),
  imageSize: config.get('imageSize'),
  bucket: config.require('bucket'),
  keyPrefix: config.get('keyPrefix') ?? `unikernels/${stack}`,
  accountId: config.require('accountId'),
  privateKey: config.requireSecret('privateKey'),
  certificate: readFileSync(config.require('certificatePath'), 'utf8'),
  ec2Certificate: readFileSync(config.require('ec2CertificatePath'), 'utf8'),
  createBucket: config.getBoolean('createBucket'),
});

const ami = new RegisteredAmi('mirage-ami', {
  manifestLocation: bundle.manifestLocation,
  manifestEtag: bundle.manifestEtag,
  name: config.get('amiName') ?? `mirage-${stack}`,
  description: 'MirageOS unikernel (Xen PV, PV-GRUB)',
  tags: { project: pulumi.getProject(), stack },
});

const instance = new UnikernelInstance('mirage-instance', {
  imageId: ami.imageId,
  instanceType: config.get('instanceType') ?? 'm3.medium',
  keyName: config.get('keyName'),
  subnetId: config.get('subnetId'),
  securityGroupIds: config.getObject<string[]>('securityGroupIds'),
  tags: { Name: `mirage-${stack}` },
});

export const manifestLocation = bundle.manifestLocation;
export const imageId = ami.imageId;
export const instanceId = instance.instanceId;
export const publicIp = instance.publicIpAddress;
