/**
 * RegisteredAmi from a raw disk image: the image written into an EBS snapshot through the EBS
 * direct APIs, registered as an EBS-backed HVM AMI. A snapshot or AMI that stays behind after a
 * failure (one that could not be removed, an AMI never available) is a partial failure with its id.
 */
import { appliedTags } from '../defaultTags';
import { promises as fs } from 'fs';
import type { EC2Client } from '@aws-sdk/client-ec2';
import { createClients, createEbsClient } from '../../aws/clients';
import { deregisterEbsImage, describeEbsImage, registerEbsImage } from '../../aws/ebsImages';
import { SnapshotUploadError, uploadSnapshot } from '../../aws/ebsUpload';
import { AwsInputError } from '../../aws/errors';
import { fileContainerFormat } from '../../aws/imageFormat';
import { containerRefusal } from '../../aws/containerDisk';
import { imageId, ImageId, snapshotId, SnapshotId } from '../../aws/ids';
import { ImageNotAvailableError, ImageRegistrationCutOffError, waitForImageAvailable } from '../../aws/images';
import { deleteSnapshot, describeSnapshot, findSnapshotOfImage, IMAGE_IDENTITY_TAG } from '../../aws/snapshots';
import { encodeBlockList } from '../../aws/blockList';
import { deadline } from '../cancellation';
import { PartialFailure, reason } from '../failures';
import { percentReporter, progress } from '../log';
import { awsSettings, resolveRegion, waitOptions } from '../settings';
import { hashedFile } from '../source';
import { isKnown, UNKNOWN } from '../values';
import { AmiSourceOperations, LiveAmi } from './source';
import { amiLabel, amiOutputs, DEFAULT_TIMEOUT_SECONDS } from './state';
import { RegisteredAmiInputs, registeredAmiSchema } from './types';

type Props = Record<string, unknown>;

/** The image source's defaults (ENA on, IMDSv2 required, gp3, every block written), as declared. */
const { enaSupport, imdsSupport, volumeType, skipZeroBlocks } = registeredAmiSchema;

function rawImagePathOf(inputs: RegisteredAmiInputs): string {
  if (inputs.rawImagePath === undefined)
    throw new Error(`${amiLabel(inputs.name)}: no rawImagePath (the source is a raw image)`);
  return inputs.rawImagePath;
}

export const fromImage: AmiSourceOperations = {
  /** Check's file work: the image must be a non-empty file; its SHA-256 is the sourceHash (unknown until it is known). */
  async prepare(news, failures) {
    const path = news.rawImagePath;
    if (!isKnown(path) || typeof path !== 'string') return { ...news, sourceHash: UNKNOWN };
    const stats = await fs.stat(path).catch(() => undefined);
    if (!stats || !stats.isFile() || stats.size === 0) {
      failures.push({
        property: 'rawImagePath',
        reason: `${path} ${!stats ? 'does not exist' : !stats.isFile() ? 'is not a file' : 'is empty'}; give the raw bootable disk image`,
      });
      return news;
    }
    const handle = await fs.open(path, 'r');
    const format = await fileContainerFormat(handle, stats.size).finally(() => handle.close());
    // A container is read in place through qemu-nbd (rawImage.ts); without qemu-img and qemu-nbd, refused with the command.
    const refusal = format && containerRefusal('rawImagePath', path, format);
    if (refusal) {
      failures.push({ property: 'rawImagePath', reason: refusal.message });
      return { ...news, sourceHash: UNKNOWN };
    }
    if (failures.length > 0) return { ...news, sourceHash: UNKNOWN };
    try {
      const { identity, hashed } = await hashedFile(path, 'rawImagePath');
      return { ...news, sourceHash: identity, blockList: encodeBlockList(hashed) };
    } catch (error) {
      if (!(error instanceof AwsInputError)) throw error;
      failures.push({ property: 'rawImagePath', reason: error.message });
      return { ...news, sourceHash: UNKNOWN };
    }
  },

  async create(props, inputs, imageName) {
    const label = amiLabel(inputs.name);
    const region = await resolveRegion(inputs.region);
    const settings = awsSettings(region);
    const { ec2 } = createClients(settings);
    const timeout = inputs.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS;
    const signal = deadline(timeout);
    let snapshot: SnapshotId;
    let blockList: string;
    try {
      const parent = await parentSnapshot(ec2, inputs, signal);
      ({ snapshotId: snapshot, blockList } = await writeSnapshot(ec2, settings, inputs, signal, timeout, parent));
    } catch (error) {
      if (error instanceof SnapshotUploadError && error.snapshotRemains) {
        const facts = {
          imageId: '',
          region,
          state: 'snapshot incomplete',
          tags: appliedTags(inputs.tags),
          snapshotId: error.snapshotId,
        };
        throw new PartialFailure(error.snapshotId, { ...props, ...amiOutputs(inputs, facts) }, [error.message]);
      }
      throw error;
    }
    progress(label, `snapshot ${snapshot} completed; registering the AMI`);
    let registered: ImageId;
    try {
      const result = await registerEbsImage({
        ec2,
        snapshotId: snapshot,
        name: imageName,
        description: inputs.description,
        architecture: inputs.architecture === 'arm64' ? 'arm64' : 'x86_64',
        bootMode: inputs.bootMode,
        enaSupport: inputs.enaSupport ?? enaSupport.default,
        imdsSupport: inputs.imdsSupport ?? imdsSupport.default,
        volumeSizeGiB: inputs.volumeSize,
        volumeType: inputs.volumeType ?? volumeType.default,
        tags: appliedTags(inputs.tags),
        signal,
        nameIsOwn: inputs.exactName !== true,
        lookAgain: { intervalSeconds: waitOptions(timeout).minDelaySeconds },
      });
      if (result.foundByName) progress(label, result.foundByName);
      registered = result.imageId;
    } catch (error) {
      if (error instanceof ImageRegistrationCutOffError) {
        // Cut off by a signal after AWS registered it: the AMI and its snapshot exist, and the state keeps both.
        const facts = {
          imageId: error.imageId,
          region,
          snapshotId: snapshot,
          blockList,
          state: `${error.state}, registration cut off`,
        };
        throw new PartialFailure(
          error.imageId,
          { ...props, ...amiOutputs(inputs, { ...facts, tags: appliedTags(inputs.tags) }) },
          [
            `${error.message}; it is kept in the state with snapshot ${snapshot}: the next up replaces it (a refresh before it finds the AMI available and keeps it), destroy removes both`,
          ],
        );
      }
      await removeSnapshotOrReport(ec2, snapshot, props, inputs, region, error);
      throw error;
    }
    const facts = { imageId: registered, region, snapshotId: snapshot, blockList };
    try {
      const image = await waitForImageAvailable(ec2, registered, waitOptions(timeout), signal);
      progress(label, `${image.imageId} is available (EBS-backed, hvm, root ${snapshot})`);
      return { id: image.imageId, outs: amiOutputs(inputs, { ...facts, state: image.state, tags: image.tags }) };
    } catch (error) {
      if (error instanceof ImageNotAvailableError) {
        throw new PartialFailure(
          registered,
          { ...props, ...amiOutputs(inputs, { ...facts, state: error.state, tags: appliedTags(inputs.tags) }) },
          [error.message],
        );
      }
      await deregisterEbsImage(ec2, registered, snapshot).catch((cleanupError: unknown) => {
        throw new PartialFailure(
          registered,
          { ...props, ...amiOutputs(inputs, { ...facts, state: 'unknown', tags: appliedTags(inputs.tags) }) },
          [`${reason(error)}; removing ${registered} and ${snapshot} failed too (${reason(cleanupError)})`],
        );
      });
      throw error;
    }
  },

  /** Half gone is drift, not absence: the next update replaces it, and the delete removes what is left. */
  async read(ec2, _id, olds): Promise<LiveAmi | undefined> {
    const snapshot = snapshotOf(olds.snapshotId);
    if (!olds.imageId) {
      // Only the snapshot was made (the AMI was never registered).
      return (await describeSnapshot(ec2, snapshot)) ? { state: 'deregistered outside Pulumi' } : undefined;
    }
    const live = await describeEbsImage(ec2, imageId(olds.imageId), snapshot);
    if (live.missing.length === 2) return undefined;
    const image = live.image;
    const state = live.missing.includes('image')
      ? 'deregistered outside Pulumi'
      : live.missing.includes('snapshot')
        ? 'snapshot deleted outside Pulumi'
        : (image?.state ?? 'unknown');
    return { state, description: image?.description, tags: image?.tags, name: image?.name };
  },

  async remove(ec2, _id, olds, signal) {
    const snapshot = snapshotOf(olds.snapshotId);
    const removed = olds.imageId
      ? await deregisterEbsImage(ec2, imageId(olds.imageId), snapshot, signal)
      : { imageDeregistered: false, snapshotDeleted: await deleteSnapshot(ec2, snapshot, signal) };
    progress(
      amiLabel(olds.name),
      `${removed.imageDeregistered ? `deregistered ${olds.imageId}, ` : ''}${removed.snapshotDeleted ? `deleted snapshot ${olds.snapshotId}` : `snapshot ${olds.snapshotId} was already gone`}`,
    );
  },
};

/**
 * Writes the image into a snapshot: a child of `parent` with only the blocks that changed when the
 * state has the parent and its block list, else the whole image (the upload says which, and why).
 */
/**
 * What check handed over from the previous image (see withParentImage): a completed snapshot of it,
 * found by its identity tag, with its blocks; or undefined (a full upload), saying why.
 */
async function parentSnapshot(
  ec2: EC2Client,
  inputs: RegisteredAmiInputs,
  signal: AbortSignal,
): Promise<{ snapshotId: string; blockList: string } | undefined> {
  const { parentSourceHash, parentBlockList } = inputs;
  if (parentSourceHash === undefined || parentBlockList === undefined) return undefined;
  const found = await findSnapshotOfImage(ec2, parentSourceHash, signal);
  if (!found) {
    progress(
      amiLabel(inputs.name),
      'no completed snapshot of the previous image was found: the whole image is uploaded',
    );
    return undefined;
  }
  return { snapshotId: found.snapshotId, blockList: parentBlockList };
}

/**
 * Check's hand-over to a replacement: when rawImagePath's content changed, the previous image's identity
 * and blocks (the last inputs' sourceHash and blockList), so that create writes only what differs.
 */
export function withParentImage(olds: Props, inputs: Props): Props {
  const { parentSourceHash: _given, parentBlockList: _givenList, ...rest } = inputs;
  const changed =
    typeof olds.sourceHash === 'string' &&
    typeof olds.blockList === 'string' &&
    typeof rest.sourceHash === 'string' &&
    isKnown(rest.sourceHash) &&
    rest.sourceHash !== olds.sourceHash;
  return changed ? { ...rest, parentSourceHash: olds.sourceHash, parentBlockList: olds.blockList } : rest;
}

async function writeSnapshot(
  ec2: EC2Client,
  settings: ReturnType<typeof awsSettings>,
  inputs: RegisteredAmiInputs,
  signal: AbortSignal,
  timeout: number,
  parent?: { snapshotId: string; blockList?: string },
) {
  const label = amiLabel(inputs.name);
  const rawImagePath = rawImagePathOf(inputs);
  const { identity, hashed } = await hashedFile(rawImagePath, 'rawImagePath');
  if (identity !== inputs.sourceHash)
    throw new AwsInputError('rawImagePath', `${rawImagePath} changed since it was checked; run the update again`);
  const uploading = percentReporter(label, 'writing the EBS snapshot');
  progress(label, `writing ${rawImagePath} into a new EBS snapshot (EBS direct APIs)`);
  return uploadSnapshot({
    ebs: createEbsClient(settings),
    ec2,
    imagePath: rawImagePath,
    // A container's blocks, hashed by check in this process, are reused: the upload reads its guest once.
    hashed,
    expectedIdentity: identity,
    parent,
    volumeSizeGiB: inputs.volumeSize,
    description: `${inputs.name}: root volume of an EBS-backed unikernel AMI`,
    tags: { ...appliedTags(inputs.tags), [IMAGE_IDENTITY_TAG]: identity },
    skipZeroBlocks: inputs.skipZeroBlocks ?? skipZeroBlocks.default,
    encrypted: inputs.encrypted,
    kmsKeyArn: inputs.kmsKeyArn,
    wait: waitOptions(timeout),
    signal,
    onNotice: (message) => progress(label, message),
    onProgress: (event) => uploading(event.bytesDone, event.totalBytes),
  });
}

function snapshotOf(id: string | undefined): SnapshotId {
  if (id === undefined) throw new Error('an EBS-backed RegisteredAmi without its snapshot id in the state');
  return snapshotId(id);
}

async function removeSnapshotOrReport(
  ec2: EC2Client,
  snapshot: SnapshotId,
  props: Props,
  inputs: RegisteredAmiInputs & Props,
  region: string,
  cause: unknown,
): Promise<void> {
  try {
    await deleteSnapshot(ec2, snapshot);
  } catch (cleanupError) {
    const facts = {
      imageId: '',
      region,
      state: 'not registered',
      tags: appliedTags(inputs.tags),
      snapshotId: snapshot,
    };
    throw new PartialFailure(snapshot, { ...props, ...amiOutputs(inputs, facts) }, [
      `registering failed (${reason(cause)}) and deleting snapshot ${snapshot} failed too (${reason(cleanupError)})`,
    ]);
  }
}
