/**
 * A Xen PV unikernel on EC2: the kernel the build produced → a PV-GRUB disk image, bundled into
 * S3 → an instance-store paravirtual AMI → an instance running it.
 *
 * The kernel must be Xen PV: MirageOS 3.8 or older built with `mirage configure -t xen`, or a
 * Mini-OS-based or Unikraft Xen PV kernel. MirageOS 3.9 and later build a PVH kernel with `-t xen`,
 * which PV-GRUB cannot boot (the kernel check refuses it); MirageOS 4 has no working EC2 path today.
 * PV runs only on C1, C3, M1, M2 and M3 (the default is m3.medium), and only in the regions that
 * still have PV: us-east-1, us-west-1, us-west-2, eu-west-1, eu-central-1, ap-northeast-1,
 * ap-southeast-1, ap-southeast-2, sa-east-1, cn-north-1 and us-gov-west-1.
 *
 * This folder is a Pulumi project of its own: `npm install` here, then
 *
 *   pulumi config set unikernel:kernelPath ./mir-app.xen
 *   pulumi config set unikernel:bucket my-unikernel-bundles
 *   pulumi config set unikernel:accountId 123456789012
 *   pulumi config set --secret unikernel:privateKey "$(cat pk.pem)"
 *   pulumi config set unikernel:certificatePath cert.pem
 *   pulumi config set unikernel:ec2CertificatePath cert-ec2.pem   # the region's, from ec2-ami-tools
 *   pulumi config set aws:region us-east-1
 */
import * as pulumi from '@pulumi/pulumi';
import { readFileSync } from 'fs';
import { BundledImage, RegisteredAmi, UnikernelInstance } from 'pulumi-unikernel';

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

// Wired through the ids, which a preview keeps known when a resource only changes in place: the
// bundle's id is its manifest location, the AMI's its image id.
const ami = new RegisteredAmi('mirage-ami', {
  manifestLocation: bundle.id,
  name: config.get('amiName') ?? `mirage-${stack}`,
  description: 'Xen PV unikernel (PV-GRUB)',
  tags: { project: pulumi.getProject(), stack },
});

const instance = new UnikernelInstance('mirage-instance', {
  imageId: ami.id,
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
