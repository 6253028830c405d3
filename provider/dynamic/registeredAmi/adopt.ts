/**
 * RegisteredAmi adopting an AMI that already exists (`adoptImageId`), since `pulumi import` and
 * `.get()` never reach dynamic providers: create registers nothing, it checks the AMI is there and
 * available, makes its description and tags what the program says, and records it. From then on it
 * is the stack's: refresh reads it, destroy deregisters it (an EBS-backed AMI's snapshot stays).
 */
import { appliedTags } from '../defaultTags';
import { createClients } from '../../aws/clients';
import { AwsInputError } from '../../aws/errors';
import { describeImage, setImageDescription } from '../../aws/images';
import { imageId } from '../../aws/ids';
import { updateTags } from '../../aws/tags';
import { progress } from '../log';
import { awsSettings, resolveRegion } from '../settings';
import { definedOnly } from '../values';
import { amiLabel, amiOutputs } from './state';
import { RegisteredAmiInputs, RegisteredAmiOutputs } from './types';

type Props = Record<string, unknown>;

export async function adoptAmi(
  inputs: RegisteredAmiInputs & Props,
  adopted: string,
): Promise<{ id: string; outs: RegisteredAmiOutputs & Props }> {
  const label = amiLabel(inputs.name);
  const region = await resolveRegion(inputs.region);
  const { ec2 } = createClients(awsSettings(region));
  const id = imageId(adopted, 'adoptImageId');
  const image = await describeImage(ec2, id);
  if (!image)
    throw new AwsInputError(
      'adoptImageId',
      `adoptImageId ${id} is not an AMI this account can see in ${region}: give the id of one`,
    );
  if (image.state !== 'available')
    throw new AwsInputError(
      'adoptImageId',
      `adoptImageId ${id} is ${image.state}, not available: adopt an available AMI`,
    );
  if (inputs.description !== undefined && inputs.description !== (image.description ?? ''))
    await setImageDescription(ec2, id, inputs.description);
  const tags = appliedTags(inputs.tags);
  await updateTags(ec2, id, image.tags, tags);
  progress(label, `adopted ${id} (${image.name ?? 'no name'}); destroy deregisters it`);
  const outs = amiOutputs(inputs, {
    imageId: id,
    region,
    state: image.state,
    tags,
    effectiveKernelId: image.kernelId,
    snapshotId: image.rootSnapshotId,
  });
  return {
    id,
    outs: definedOnly({
      ...outs,
      rootDeviceType: image.rootDeviceType === 'ebs' ? ('ebs' as const) : ('instance-store' as const),
      imageName: image.name,
    }),
  };
}
