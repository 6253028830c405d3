/**
 * RegisteredAmi's create/read/update/delete. An AMI that registers but never becomes available is
 * reported as a partial failure with its id, so the engine keeps it and a later update or destroy
 * deals with it; any other failure after registering deregisters what was made.
 */
import { createClients } from '../../aws/clients';
import { imageId, ImageId, kernelId, ramdiskId } from '../../aws/ids';
import { deregisterImage, describeImage, ImageNotAvailableError, registerImage, setImageDescription, waitForImageAvailable } from '../../aws/images';
import { updateTags } from '../../aws/tags';
import { CheckFailure, PartialFailure } from '../failures';
import { progress } from '../log';
import { awsSettings, currentSettings, resolveRegion, waitOptions } from '../settings';
import { definedOnly, isUnknown } from '../values';
import { checkAmiInputs, diffAmi } from './rules';
import { RegisteredAmiInputs, RegisteredAmiOutputs } from './types';

type Props = Record<string, unknown>;
const DEFAULT_TIMEOUT_SECONDS = 1800;

export function check(_olds: Partial<RegisteredAmiInputs>, news: RegisteredAmiInputs): { inputs: RegisteredAmiInputs; failures: CheckFailure[] } {
  return { inputs: news, failures: checkAmiInputs(news) };
}

export function diff(olds: RegisteredAmiOutputs, news: RegisteredAmiInputs) {
  const region = isUnknown(news.region) ? news.region : (news.region ?? currentSettings().region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION);
  return diffAmi(olds, news, region);
}

function outputs(inputs: RegisteredAmiInputs, id: string, region: string, state: string, effectiveKernelId: string | undefined, tags: Record<string, string>): RegisteredAmiOutputs {
  const { ...rest } = inputs;
  delete (rest as Props).__provider;
  return definedOnly({ ...rest, imageId: id, region, state, effectiveKernelId, tags });
}

export async function create(props: Props): Promise<{ id: string; outs: RegisteredAmiOutputs }> {
  const inputs = props as unknown as RegisteredAmiInputs;
  const label = `RegisteredAmi ${inputs.name}`;
  const region = await resolveRegion(inputs.region);
  const { ec2 } = createClients(awsSettings(region));
  const timeout = inputs.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS;
  const signal = AbortSignal.timeout(timeout * 1000);
  const registered = await registerImage({
    ec2,
    imageLocation: inputs.manifestLocation,
    name: inputs.name,
    description: inputs.description,
    architecture: inputs.architecture ?? 'x86_64',
    virtualizationType: inputs.virtualizationType ?? 'paravirtual',
    kernelId: inputs.kernelId === undefined ? undefined : kernelId(inputs.kernelId),
    ramdiskId: inputs.ramdiskId === undefined ? undefined : ramdiskId(inputs.ramdiskId),
    blockDeviceMappings: inputs.blockDeviceMappings,
    tags: inputs.tags,
    signal,
  });
  progress(label, `registered ${registered.imageId}${registered.kernelId ? ` (kernel ${registered.kernelId})` : ''}; waiting until it is available`);
  try {
    const image = await waitForImageAvailable(ec2, registered.imageId, waitOptions(timeout), signal);
    progress(label, `${image.imageId} is available`);
    return { id: image.imageId, outs: outputs(inputs, image.imageId, region, image.state, registered.kernelId, image.tags) };
  } catch (error) {
    if (error instanceof ImageNotAvailableError) {
      throw new PartialFailure(registered.imageId, { ...props, ...outputs(inputs, registered.imageId, region, error.state, registered.kernelId, inputs.tags ?? {}) }, [error.message]);
    }
    await deregisterImage(ec2, registered.imageId).catch(() => undefined);
    throw error;
  }
}

export async function read(id: string, props: Props) {
  const olds = props as unknown as RegisteredAmiOutputs;
  const { ec2 } = createClients(awsSettings(olds.region));
  const image = await describeImage(ec2, imageId(id));
  if (!image) return { id: '' };
  const refreshed: RegisteredAmiOutputs = { ...olds, state: image.state, description: image.description ?? olds.description, tags: image.tags, name: image.name ?? olds.name };
  const { imageId: _id, state: _state, effectiveKernelId: _kernel, ...inputs } = refreshed;
  return { id, props: definedOnly({ ...props, ...refreshed }), inputs: definedOnly(inputs) };
}

export async function update(id: string, olds: Props, news: Props) {
  const before = olds as unknown as RegisteredAmiOutputs;
  const inputs = news as unknown as RegisteredAmiInputs;
  const { ec2 } = createClients(awsSettings(before.region));
  const image = imageId(id) as ImageId;
  if ((inputs.description ?? '') !== (before.description ?? '')) await setImageDescription(ec2, image, inputs.description ?? '');
  await updateTags(ec2, image, before.tags ?? {}, inputs.tags ?? {});
  return { outs: outputs(inputs, id, before.region, before.state, before.effectiveKernelId, inputs.tags ?? {}) };
}

export async function remove(id: string, props: Props): Promise<void> {
  const olds = props as unknown as RegisteredAmiOutputs;
  const { ec2 } = createClients(awsSettings(olds.region));
  const removed = await deregisterImage(ec2, imageId(id), AbortSignal.timeout((olds.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS) * 1000));
  progress(`RegisteredAmi ${olds.name}`, removed ? `deregistered ${id}` : `${id} was already gone`);
}
