/**
 * Amazon's PV-GRUB "hd0" kernels (AKIs): paravirtual instance-store images without a partition
 * table boot through them. Their ids differ per region, so they are looked up, never hard-coded.
 */
import { DescribeImagesCommand, EC2Client, Image } from '@aws-sdk/client-ec2';
import { AwsInputError, awsCall } from './errors';
import { kernelId, KernelId } from './ids';

/** The regions that still have paravirtual instances and PV-GRUB kernels; newer regions have none. */
export const PV_REGIONS: readonly string[] = [
  'us-east-1',
  'us-west-1',
  'us-west-2',
  'eu-west-1',
  'eu-central-1',
  'ap-northeast-1',
  'ap-southeast-1',
  'ap-southeast-2',
  'sa-east-1',
  'cn-north-1',
  'us-gov-west-1',
];

const PV_GRUB_HD0 = /^pv-grub-hd0_(\d+(?:\.\d+)*)-(i386|x86_64)\.gz$/;

function versionOf(name: string): number[] {
  return (PV_GRUB_HD0.exec(name)?.[1] ?? '0').split('.').map(Number);
}

function compareVersions(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const difference = (a[i] ?? 0) - (b[i] ?? 0);
    if (difference !== 0) return difference;
  }
  return 0;
}

/** The newest available PV-GRUB hd0 kernel for an architecture among candidate images (pure). */
export function pickPvGrubKernel(images: readonly Image[], architecture: string): Image | undefined {
  return images
    .filter(
      (image) => image.ImageType === 'kernel' && image.State === 'available' && image.Architecture === architecture,
    )
    .filter((image) => PV_GRUB_HD0.exec(image.Name ?? '')?.[2] === architecture)
    .sort((a, b) => compareVersions(versionOf(b.Name ?? ''), versionOf(a.Name ?? '')))[0];
}

export async function findPvGrubKernel(ec2: EC2Client, architecture: string, signal?: AbortSignal): Promise<KernelId> {
  const region = await ec2.config.region();
  const output = await awsCall('DescribeImages', `PV-GRUB kernels in ${region}`, () =>
    ec2.send(
      new DescribeImagesCommand({
        Owners: ['amazon'],
        Filters: [
          { Name: 'image-type', Values: ['kernel'] },
          { Name: 'name', Values: ['pv-grub-hd0_*'] },
          { Name: 'architecture', Values: [architecture] },
        ],
      }),
      { abortSignal: signal },
    ),
  );
  const kernel = pickPvGrubKernel(output.Images ?? [], architecture);
  if (!kernel?.ImageId) {
    const remedy = PV_REGIONS.includes(region)
      ? 'give the kernel id (aki-…) to register with'
      : `${region} has no paravirtual instances: use one of ${PV_REGIONS.join(', ')}, or an EBS-backed HVM image`;
    throw new AwsInputError(
      'kernelId',
      `no PV-GRUB hd0 kernel (pv-grub-hd0_*-${architecture}.gz) is available in ${region}; ${remedy}`,
    );
  }
  return kernelId(kernel.ImageId);
}
