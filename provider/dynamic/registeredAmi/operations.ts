/**
 * RegisteredAmi's provider operations: one resource with two sources, a bundle manifest in S3
 * (`fromBundle`, instance-store) or a raw image written into an EBS snapshot (`fromImage`,
 * EBS-backed HVM). The inputs (or the state) name the source; check, create, read and delete are
 * the source's, diff and update are shared.
 */
import { appliedTags, tagOutputs, withDefaultTagsChange } from '../defaultTags';
import { deadline, trackedOperations } from '../cancellation';
import { createClients } from '../../aws/clients';
import { imageId, snapshotId } from '../../aws/ids';
import { setImageDescription } from '../../aws/images';
import { updateTags } from '../../aws/tags';
import { randomBytes } from 'crypto';
import { CheckFailure, PartialFailure } from '../failures';
import { awsSettings, plannedRegion } from '../settings';
import { parseInputs, parseOutputs, refreshedInputs } from '../schema';
import { definedOnly } from '../values';
import { fromBundle } from './fromBundle';
import { fromImage, withParentImage } from './fromImage';
import { adoptAmi } from './adopt';
import { checkAmiInputs, diffAmi, registeredName, sourceOf, withCurrentNames } from './rules';
import { AmiSourceOperations } from './source';
import { amiLabel, amiOutputs, DEFAULT_TIMEOUT_SECONDS } from './state';
import { warning } from '../log';
import { RegisteredAmiOutputs, registeredAmiSchema } from './types';

type Props = Record<string, unknown>;
const RESOURCE = 'RegisteredAmi';
const SOURCES: Record<'bundle' | 'image', AmiSourceOperations> = { bundle: fromBundle, image: fromImage };

export async function check(olds: Props, given: Props): Promise<{ inputs: Props; failures: CheckFailure[] }> {
  const { props: news, renamed, both } = withCurrentNames(given);
  if (renamed)
    warning(
      amiLabel(String(news.name)),
      'imagePath is deprecated and will be removed: rename it to rawImagePath (the AMI does not change)',
    );
  if (both)
    return {
      inputs: given,
      failures: [{ property: 'imagePath', reason: 'is the former name of rawImagePath: give rawImagePath only' }],
    };
  const failures = checkAmiInputs(news);
  const inputs = await SOURCES[sourceOf(news)].prepare(news, failures);
  return { inputs: sourceOf(news) === 'image' ? withParentImage(olds, inputs) : inputs, failures };
}

export function diff(olds: Props, news: Props) {
  const outcome = diffAmi(
    withCurrentNames(olds).props,
    withCurrentNames(news).props,
    plannedRegion(typeof news.region === 'string' ? news.region : undefined),
  );
  return withDefaultTagsChange(outcome, olds, news.tags);
}

/**
 * Registers the AMI under its own name (name plus a suffix new for each AMI, unless exactName), so
 * that a replacement can be registered while the AMI it replaces still runs the instances.
 */
async function createNow(props: Props): Promise<{ id: string; outs: RegisteredAmiOutputs & Props }> {
  const inputs = parseInputs(registeredAmiSchema, props, RESOURCE);
  if (inputs.adoptImageId !== undefined) return adoptAmi(inputs, inputs.adoptImageId);
  const imageName = registeredName(inputs, randomBytes(4).toString('hex'));
  try {
    const { id, outs } = await SOURCES[sourceOf(props)].create(props, inputs, imageName);
    return { id, outs: { ...outs, imageName } };
  } catch (error) {
    if (error instanceof PartialFailure) error.properties.imageName = imageName;
    throw error;
  }
}

export async function read(id: string, props: Props) {
  const olds = parseOutputs(registeredAmiSchema, withCurrentNames(props).props, RESOURCE);
  const { ec2 } = createClients(awsSettings(olds.region));
  const live = await SOURCES[sourceOf(olds)].read(ec2, id, olds);
  if (!live) return { id: '' };
  const refreshed = definedOnly({
    ...olds,
    state: live.state,
    description: live.description ?? olds.description,
    ...(live.tags ? tagOutputs(live.tags, olds.tags) : {}),
    // The AMI keeps the name it was registered under: the input stays what the program gave.
    imageName: live.name ?? olds.imageName,
  });
  return {
    id,
    props: { ...withCurrentNames(props).props, ...refreshed },
    inputs: refreshedInputs(registeredAmiSchema, refreshed),
  };
}

async function updateNow(id: string, olds: Props, news: Props) {
  const before = parseOutputs(registeredAmiSchema, olds, RESOURCE);
  const inputs = parseInputs(registeredAmiSchema, news, RESOURCE);
  const { ec2 } = createClients(awsSettings(before.region));
  const image = imageId(id);
  if ((inputs.description ?? '') !== (before.description ?? ''))
    await setImageDescription(ec2, image, inputs.description ?? '');
  const tags = appliedTags(inputs.tags);
  const tagsBefore = before.tagsAll ?? before.tags ?? {};
  await updateTags(ec2, image, tagsBefore, tags);
  // The EBS snapshot this resource wrote under its AMI (not an adopted AMI's) carries the same tags, and its
  // content tag: kept in step.
  if (before.snapshotId !== undefined && before.adoptImageId === undefined)
    await updateTags(ec2, snapshotId(before.snapshotId), tagsBefore, tags);
  const facts = {
    imageId: image,
    region: before.region,
    state: before.state,
    tags,
    effectiveKernelId: before.effectiveKernelId,
    snapshotId: before.snapshotId,
    blockList: before.blockList,
  };
  return { outs: definedOnly({ ...amiOutputs(inputs, facts), imageName: before.imageName }) };
}

async function removeNow(id: string, props: Props): Promise<void> {
  const olds = parseOutputs(registeredAmiSchema, props, RESOURCE);
  const { ec2 } = createClients(awsSettings(olds.region));
  const signal = deadline(olds.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS);
  await SOURCES[sourceOf(olds)].remove(ec2, id, olds, signal);
}

// Creates, updates and deletes are waited for when the plugin is signalled (see ../cancellation).
export const { create, update, remove } = trackedOperations({
  create: createNow,
  update: updateNow,
  remove: removeNow,
});
