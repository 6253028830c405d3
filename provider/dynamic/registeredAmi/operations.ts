/**
 * RegisteredAmi's create/read/update/delete, for both sources: a bundle manifest in S3
 * (instance-store, paravirtual) or a raw image written into an EBS snapshot (EBS-backed HVM).
 * Anything AWS made but that never became usable (an AMI that is not available, a snapshot that
 * could not be removed) is reported as a partial failure with its id, so the engine keeps it and a
 * later update or destroy deals with it; any other failure removes what was made.
 */
import { promises as fs } from 'fs';
import { createClients, createEbsClient } from '../../aws/clients';
import { deregisterEbsImage, describeEbsImage, registerEbsImage } from '../../aws/ebsImages';
import { SnapshotUploadError, uploadSnapshot } from '../../aws/ebsUpload';
import { imageId, ImageId, kernelId, ramdiskId, snapshotId, SnapshotId } from '../../aws/ids';
import { deregisterImage, describeImage, ImageNotAvailableError, registerImage, setImageDescription, waitForImageAvailable } from '../../aws/images';
import { deleteSnapshot } from '../../aws/snapshots';
import { AwsInputError } from '../../aws/errors';
import { updateTags } from '../../aws/tags';
import { CheckFailure, PartialFailure, reason } from '../failures';
import { percentReporter, progress } from '../log';
import { awsSettings, currentSettings, resolveRegion, waitOptions } from '../settings';
import { fileSha256 } from '../source';
import { definedOnly, isKnown, isUnknown, UNKNOWN } from '../values';
import { checkAmiInputs, diffAmi, isEbsSource, withDefaults } from './rules';
import { RegisteredAmiInputs, RegisteredAmiOutputs } from './types';

type Props = Record<string, unknown>;
const DEFAULT_TIMEOUT_SECONDS = 1800;

export async function check(_olds: Partial<RegisteredAmiInputs>, news: RegisteredAmiInputs): Promise<{ inputs: RegisteredAmiInputs; failures: CheckFailure[] }> {
  const failures = checkAmiInputs(news);
  if (!isEbsSource(news)) return { inputs: news, failures };
  if (!isKnown(news.imagePath)) return { inputs: { ...news, sourceHash: UNKNOWN }, failures };
  const stats = await fs.stat(news.imagePath as string).catch(() => undefined);
  if (!stats || !stats.isFile() || stats.size === 0) {
    failures.push({ property: 'imagePath', reason: `${news.imagePath} ${!stats ? 'does not exist' : !stats.isFile() ? 'is not a file' : 'is empty'}; give the raw bootable disk image` });
    return { inputs: news, failures };
  }
  return { inputs: { ...news, sourceHash: failures.length === 0 ? await fileSha256(news.imagePath as string) : UNKNOWN }, failures };
}

export function diff(olds: RegisteredAmiOutputs, news: RegisteredAmiInputs) {
  const region = isUnknown(news.region) ? news.region : (news.region ?? currentSettings().region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION);
  return diffAmi(olds, news, region);
}

interface Facts {
  imageId: string;
  region: string;
  state: string;
  tags: Record<string, string>;
  effectiveKernelId?: string;
  snapshotId?: string;
}

function outputs(inputs: RegisteredAmiInputs, facts: Facts): RegisteredAmiOutputs {
  const rest: Props = { ...inputs };
  delete rest.__provider;
  return definedOnly({ ...(rest as unknown as RegisteredAmiInputs), ...facts, rootDeviceType: isEbsSource(inputs) ? ('ebs' as const) : ('instance-store' as const) });
}

export async function create(props: Props): Promise<{ id: string; outs: RegisteredAmiOutputs }> {
  const inputs = props as unknown as RegisteredAmiInputs;
  return isEbsSource(inputs) ? createFromImage(props, inputs) : createFromBundle(props, inputs);
}

async function createFromBundle(props: Props, inputs: RegisteredAmiInputs): Promise<{ id: string; outs: RegisteredAmiOutputs }> {
  const label = `RegisteredAmi ${inputs.name}`;
  const region = await resolveRegion(inputs.region);
  const { ec2 } = createClients(awsSettings(region));
  const timeout = inputs.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS;
  const signal = AbortSignal.timeout(timeout * 1000);
  const registered = await registerImage({
    ec2,
    imageLocation: inputs.manifestLocation as string,
    name: inputs.name,
    description: inputs.description,
    architecture: inputs.architecture === 'i386' ? 'i386' : 'x86_64',
    virtualizationType: inputs.virtualizationType ?? 'paravirtual',
    kernelId: inputs.kernelId === undefined ? undefined : kernelId(inputs.kernelId),
    ramdiskId: inputs.ramdiskId === undefined ? undefined : ramdiskId(inputs.ramdiskId),
    blockDeviceMappings: inputs.blockDeviceMappings,
    tags: inputs.tags,
    signal,
  });
  progress(label, `registered ${registered.imageId}${registered.kernelId ? ` (kernel ${registered.kernelId})` : ''}; waiting until it is available`);
  const facts = { imageId: registered.imageId, region, effectiveKernelId: registered.kernelId };
  try {
    const image = await waitForImageAvailable(ec2, registered.imageId, waitOptions(timeout), signal);
    progress(label, `${image.imageId} is available`);
    return { id: image.imageId, outs: outputs(inputs, { ...facts, state: image.state, tags: image.tags }) };
  } catch (error) {
    if (error instanceof ImageNotAvailableError) {
      throw new PartialFailure(registered.imageId, { ...props, ...outputs(inputs, { ...facts, state: error.state, tags: inputs.tags ?? {} }) }, [error.message]);
    }
    await deregisterImage(ec2, registered.imageId).catch((cleanupError: unknown) => {
      throw new PartialFailure(registered.imageId, { ...props, ...outputs(inputs, { ...facts, state: 'unknown', tags: inputs.tags ?? {} }) }, [`${reason(error)}; deregistering ${registered.imageId} failed too (${reason(cleanupError)})`]);
    });
    throw error;
  }
}

async function createFromImage(props: Props, inputs: RegisteredAmiInputs): Promise<{ id: string; outs: RegisteredAmiOutputs }> {
  const label = `RegisteredAmi ${inputs.name}`;
  const region = await resolveRegion(inputs.region);
  const settings = awsSettings(region);
  const { ec2 } = createClients(settings);
  const timeout = inputs.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS;
  const signal = AbortSignal.timeout(timeout * 1000);
  const effective = withDefaults(inputs);
  if ((await fileSha256(inputs.imagePath as string)) !== inputs.sourceHash) {
    throw new AwsInputError('imagePath', `${inputs.imagePath} changed since it was checked; run the update again`);
  }
  const uploading = percentReporter(label, 'writing the EBS snapshot');
  progress(label, `writing ${inputs.imagePath} into a new EBS snapshot (EBS direct APIs)`);
  let snapshot: SnapshotId;
  try {
    const uploaded = await uploadSnapshot({
      ebs: createEbsClient(settings),
      ec2,
      imagePath: inputs.imagePath as string,
      volumeSizeGiB: inputs.volumeSize,
      description: `${inputs.name}: root volume of an EBS-backed unikernel AMI`,
      tags: inputs.tags,
      skipZeroBlocks: effective.skipZeroBlocks,
      wait: waitOptions(timeout),
      signal,
      onProgress: (event) => uploading(event.bytesDone, event.totalBytes),
    });
    snapshot = uploaded.snapshotId;
  } catch (error) {
    if (error instanceof SnapshotUploadError && error.snapshotRemains) {
      const facts = { imageId: '', region, state: 'snapshot incomplete', tags: inputs.tags ?? {}, snapshotId: error.snapshotId };
      throw new PartialFailure(error.snapshotId, { ...props, ...outputs(inputs, facts) }, [error.message]);
    }
    throw error;
  }
  progress(label, `snapshot ${snapshot} completed; registering the AMI`);
  let registered: ImageId;
  try {
    registered = (
      await registerEbsImage({
        ec2,
        snapshotId: snapshot,
        name: inputs.name,
        description: inputs.description,
        architecture: effective.architecture === 'arm64' ? 'arm64' : 'x86_64',
        bootMode: inputs.bootMode,
        enaSupport: effective.enaSupport,
        imdsSupport: effective.imdsSupport,
        volumeSizeGiB: inputs.volumeSize,
        volumeType: effective.volumeType,
        tags: inputs.tags,
        signal,
      })
    ).imageId;
  } catch (error) {
    await removeSnapshotOrReport(ec2, snapshot, props, inputs, region, error);
    throw error;
  }
  const facts = { imageId: registered, region, snapshotId: snapshot };
  try {
    const image = await waitForImageAvailable(ec2, registered, waitOptions(timeout), signal);
    progress(label, `${image.imageId} is available (EBS-backed, hvm, root ${snapshot})`);
    return { id: image.imageId, outs: outputs(inputs, { ...facts, state: image.state, tags: image.tags }) };
  } catch (error) {
    if (error instanceof ImageNotAvailableError) {
      throw new PartialFailure(registered, { ...props, ...outputs(inputs, { ...facts, state: error.state, tags: inputs.tags ?? {} }) }, [error.message]);
    }
    await deregisterEbsImage(ec2, registered, snapshot).catch((cleanupError: unknown) => {
      throw new PartialFailure(registered, { ...props, ...outputs(inputs, { ...facts, state: 'unknown', tags: inputs.tags ?? {} }) }, [`${reason(error)}; removing ${registered} and ${snapshot} failed too (${reason(cleanupError)})`]);
    });
    throw error;
  }
}

async function removeSnapshotOrReport(ec2: ReturnType<typeof createClients>['ec2'], snapshot: SnapshotId, props: Props, inputs: RegisteredAmiInputs, region: string, cause: unknown): Promise<void> {
  try {
    await deleteSnapshot(ec2, snapshot);
  } catch (cleanupError) {
    const facts = { imageId: '', region, state: 'not registered', tags: inputs.tags ?? {}, snapshotId: snapshot };
    throw new PartialFailure(snapshot, { ...props, ...outputs(inputs, facts) }, [`registering failed (${reason(cause)}) and deleting snapshot ${snapshot} failed too (${reason(cleanupError)})`]);
  }
}

export async function read(id: string, props: Props) {
  const olds = props as unknown as RegisteredAmiOutputs;
  const { ec2 } = createClients(awsSettings(olds.region));
  let state: string;
  let image;
  if (olds.snapshotId) {
    const live = await describeEbsImage(ec2, imageId(olds.imageId || 'ami-00000000'), snapshotId(olds.snapshotId));
    if (live.missing.length === 2) return { id: '' };
    image = live.image;
    // Half gone is drift, not absence: the next update replaces it, and the delete removes what is left.
    state = live.missing.includes('image') ? 'deregistered outside Pulumi' : live.missing.includes('snapshot') ? 'snapshot deleted outside Pulumi' : (image?.state ?? 'unknown');
  } else {
    image = await describeImage(ec2, imageId(id));
    if (!image) return { id: '' };
    state = image.state;
  }
  const refreshed: RegisteredAmiOutputs = definedOnly({ ...olds, state, description: image?.description ?? olds.description, tags: image?.tags ?? olds.tags, name: image?.name ?? olds.name });
  const { imageId: _id, state: _state, effectiveKernelId: _kernel, snapshotId: _snapshot, rootDeviceType: _root, ...inputs } = refreshed;
  return { id, props: { ...props, ...refreshed }, inputs };
}

export async function update(id: string, olds: Props, news: Props) {
  const before = olds as unknown as RegisteredAmiOutputs;
  const inputs = news as unknown as RegisteredAmiInputs;
  const { ec2 } = createClients(awsSettings(before.region));
  const image = imageId(id) as ImageId;
  if ((inputs.description ?? '') !== (before.description ?? '')) await setImageDescription(ec2, image, inputs.description ?? '');
  await updateTags(ec2, image, before.tags ?? {}, inputs.tags ?? {});
  const facts = { imageId: id, region: before.region, state: before.state, tags: inputs.tags ?? {}, effectiveKernelId: before.effectiveKernelId, snapshotId: before.snapshotId };
  return { outs: outputs(inputs, facts) };
}

export async function remove(id: string, props: Props): Promise<void> {
  const olds = props as unknown as RegisteredAmiOutputs;
  const { ec2 } = createClients(awsSettings(olds.region));
  const signal = AbortSignal.timeout((olds.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS) * 1000);
  const label = `RegisteredAmi ${olds.name}`;
  if (olds.snapshotId) {
    const removed = olds.imageId
      ? await deregisterEbsImage(ec2, imageId(olds.imageId), snapshotId(olds.snapshotId), signal)
      : { imageDeregistered: false, snapshotDeleted: await deleteSnapshot(ec2, snapshotId(olds.snapshotId), signal) };
    progress(label, `${removed.imageDeregistered ? `deregistered ${olds.imageId}, ` : ''}${removed.snapshotDeleted ? `deleted snapshot ${olds.snapshotId}` : `snapshot ${olds.snapshotId} was already gone`}`);
    return;
  }
  const removed = await deregisterImage(ec2, imageId(id), signal);
  progress(label, removed ? `deregistered ${id}` : `${id} was already gone`);
}
