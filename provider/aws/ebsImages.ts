/**
 * EBS-backed HVM AMIs: registering one whose root device is a completed snapshot (ENA, boot mode,
 * IMDSv2, architecture, root volume size and type), reading an image and its snapshot back (either
 * may have been deleted out of band), and removing both: deregister, then delete the snapshot.
 */
import { EC2Client, RegisterImageCommand, VolumeType } from '@aws-sdk/client-ec2';
import { LookAgainOptions } from './cutOff';
import { AwsInputError } from './errors';
import { ImageId, SnapshotId } from './ids';
import {
  deregisterImage,
  describeImage,
  imageTagSpecifications,
  ImageSummary,
  nameProblem,
  sendRegisterImage,
  waitForImageAvailable,
} from './images';
import { deleteSnapshot, describeSnapshot, SnapshotSummary } from './snapshots';
import { Tags } from './tags';
import { WaitOptions } from './waiting';
import { isWholeNumber } from '../common/numbers';

export type EbsArchitecture = 'x86_64' | 'arm64';
export type BootMode = 'legacy-bios' | 'uefi' | 'uefi-preferred';
export type RootVolumeType = 'gp3' | 'gp2' | 'io1' | 'io2' | 'standard';

export interface RegisterEbsImageOptions {
  ec2: EC2Client;
  /** The root device's snapshot; it must be completed. */
  snapshotId: SnapshotId;
  name: string;
  description?: string;
  architecture: EbsArchitecture;
  /** Default: uefi for arm64 (the only mode it boots); for x86_64 unset, so the instance type's default (legacy-bios on most). */
  bootMode?: BootMode;
  /** Nitro instance types (t3, m5, c5, …) launch only ENA-enabled AMIs. Default true. */
  enaSupport?: boolean;
  /** 'v2.0': instances launched from the AMI require IMDSv2 tokens (the default); 'optional': leave it to the launch. */
  imdsSupport?: 'v2.0' | 'optional';
  /** Default /dev/xvda. */
  rootDeviceName?: string;
  /** Root volume size in GiB; default the snapshot's size, never smaller. */
  volumeSizeGiB?: number;
  /** Default gp3. */
  volumeType?: RootVolumeType;
  /** Default true. */
  deleteOnTermination?: boolean;
  /** Tags of the AMI. */
  tags?: Tags;
  wait?: WaitOptions;
  signal?: AbortSignal;
  /** The name was made for this registration alone: see RegisterImageOptions.nameIsOwn. */
  nameIsOwn?: boolean;
  /** How long to look for the AMI by its name after a cut-off call (see cutOff.ts). */
  lookAgain?: LookAgainOptions;
}

/** What RegisterImage was sent, after defaults: what a resource records as its inputs. */
export interface EbsImageSettings {
  architecture: EbsArchitecture;
  bootMode?: BootMode;
  enaSupport: boolean;
  imdsSupport: 'v2.0' | 'optional';
  rootDeviceName: string;
  volumeSizeGiB: number;
  volumeType: RootVolumeType;
  deleteOnTermination: boolean;
}

export interface RegisteredEbsImage {
  imageId: ImageId;
  snapshotId: SnapshotId;
  settings: EbsImageSettings;
  /** Set when RegisterImage's answer did not arrive and the AMI was found by its name: how, in words. */
  foundByName?: string;
}

/** Checks the options against the snapshot and fills in the defaults (no AWS call but DescribeSnapshots). */
async function settingsFor(options: RegisterEbsImageOptions): Promise<EbsImageSettings> {
  const problem = nameProblem(options.name);
  if (problem) throw new AwsInputError('name', `AMI name "${options.name}" ${problem}`);
  if (options.description !== undefined && options.description.length > 255)
    throw new AwsInputError('description', 'the description must be at most 255 characters long');
  if (options.architecture !== 'x86_64' && options.architecture !== 'arm64')
    throw new AwsInputError('architecture', `architecture ${String(options.architecture)} is not x86_64 or arm64`);
  if (options.architecture === 'arm64' && options.bootMode === 'legacy-bios')
    throw new AwsInputError('bootMode', 'arm64 instances boot only with uefi');
  const snapshot = await describeSnapshot(options.ec2, options.snapshotId, options.signal);
  if (!snapshot) throw new AwsInputError('snapshotId', `snapshot ${options.snapshotId} does not exist in this region`);
  if (snapshot.state !== 'completed')
    throw new AwsInputError('snapshotId', `snapshot ${options.snapshotId} is ${snapshot.state}, not completed`);
  const snapshotSize = snapshot.volumeSizeGiB ?? 1;
  const volumeSizeGiB = options.volumeSizeGiB ?? snapshotSize;
  if (!isWholeNumber(volumeSizeGiB, snapshotSize)) {
    throw new AwsInputError(
      'volumeSize',
      `root volume size ${volumeSizeGiB} GiB must be a whole number of GiB no smaller than the snapshot (${snapshotSize} GiB)`,
    );
  }
  return {
    architecture: options.architecture,
    bootMode: options.bootMode ?? (options.architecture === 'arm64' ? 'uefi' : undefined),
    enaSupport: options.enaSupport ?? true,
    imdsSupport: options.imdsSupport ?? 'v2.0',
    rootDeviceName: options.rootDeviceName ?? '/dev/xvda',
    volumeSizeGiB,
    volumeType: options.volumeType ?? 'gp3',
    deleteOnTermination: options.deleteOnTermination ?? true,
  };
}

/** RegisterImage of an HVM AMI whose root device is the snapshot; `registerEbsImageAndWait` also waits for available. */
export async function registerEbsImage(options: RegisterEbsImageOptions): Promise<RegisteredEbsImage> {
  const settings = await settingsFor(options);
  const sent = await sendRegisterImage(
    {
      ec2: options.ec2,
      name: options.name,
      nameIsOwn: options.nameIsOwn,
      signal: options.signal,
      lookAgain: options.lookAgain,
      source: options.snapshotId,
      registers: (image) => image.rootSnapshotId === options.snapshotId,
    },
    () =>
      options.ec2.send(
        new RegisterImageCommand({
          Name: options.name,
          Description: options.description,
          Architecture: settings.architecture,
          VirtualizationType: 'hvm',
          RootDeviceName: settings.rootDeviceName,
          BlockDeviceMappings: [
            {
              DeviceName: settings.rootDeviceName,
              Ebs: {
                SnapshotId: options.snapshotId,
                VolumeSize: settings.volumeSizeGiB,
                VolumeType: settings.volumeType as VolumeType,
                DeleteOnTermination: settings.deleteOnTermination,
              },
            },
          ],
          EnaSupport: settings.enaSupport,
          BootMode: settings.bootMode,
          ImdsSupport: settings.imdsSupport === 'v2.0' ? 'v2.0' : undefined,
          TagSpecifications: imageTagSpecifications(options.tags),
        }),
        { abortSignal: options.signal },
      ),
  );
  return { imageId: sent.imageId, snapshotId: options.snapshotId, settings, foundByName: sent.foundByName };
}

export async function registerEbsImageAndWait(
  options: RegisterEbsImageOptions,
): Promise<ImageSummary & { settings: EbsImageSettings }> {
  const registered = await registerEbsImage(options);
  const image = await waitForImageAvailable(options.ec2, registered.imageId, options.wait, options.signal);
  return { ...image, settings: registered.settings };
}

export interface EbsImageState {
  /** Undefined when the AMI is gone (deregistered out of band). */
  image?: ImageSummary;
  /** Undefined when the snapshot is gone (deleted out of band). */
  snapshot?: SnapshotSummary;
  /** What is gone, for a refresh to report as drift: empty when both exist. */
  missing: Array<'image' | 'snapshot'>;
  /** Set when the AMI's root device no longer names this snapshot. */
  rootSnapshotMismatch?: string;
}

/** The AMI and its root snapshot as AWS has them now. */
export async function describeEbsImage(
  ec2: EC2Client,
  id: ImageId,
  snapshot: SnapshotId,
  signal?: AbortSignal,
): Promise<EbsImageState> {
  const [image, snapshotSummary] = await Promise.all([
    describeImage(ec2, id, signal),
    describeSnapshot(ec2, snapshot, signal),
  ]);
  const missing: EbsImageState['missing'] = [];
  if (!image) missing.push('image');
  if (!snapshotSummary) missing.push('snapshot');
  const rootSnapshotMismatch =
    image && image.rootSnapshotId !== snapshot
      ? `the root device of ${id} is ${image.rootSnapshotId ?? 'not a snapshot'}, not ${snapshot}`
      : undefined;
  return { image, snapshot: snapshotSummary, missing, rootSnapshotMismatch };
}

export interface RemovedEbsImage {
  /** False when the AMI was already gone. */
  imageDeregistered: boolean;
  /** False when the snapshot was already gone. */
  snapshotDeleted: boolean;
}

/** Deregisters the AMI, then deletes its snapshot (EC2 refuses to delete the root snapshot of a registered AMI). */
export async function deregisterEbsImage(
  ec2: EC2Client,
  id: ImageId,
  snapshot: SnapshotId,
  signal?: AbortSignal,
): Promise<RemovedEbsImage> {
  const imageDeregistered = await deregisterImage(ec2, id, signal);
  const snapshotDeleted = await deleteSnapshot(ec2, snapshot, signal);
  return { imageDeregistered, snapshotDeleted };
}
