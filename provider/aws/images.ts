/**
 * Registering an instance-store AMI from a bundle in S3, waiting until it is available, describing
 * it and deregistering it.
 */
import {
  DeregisterImageCommand,
  DescribeImagesCommand,
  EC2Client,
  Image,
  ModifyImageAttributeCommand,
  RegisterImageCommand,
  TagSpecification,
  waitUntilImageAvailable,
} from '@aws-sdk/client-ec2';
import { lookAgain, LOOK_AGAIN_SECONDS, LookAgainOptions, wasCutOff } from './cutOff';
import { AwsInputError, AwsOperationError, awsCall, describeAwsError, errorCode } from './errors';
import { imageId, ImageId, KernelId, RamdiskId } from './ids';
import { findPvGrubKernel } from './kernels';
import { fromTagList, Tags, toTagList } from './tags';
import { waiterParameters, WaitOptions } from './waiting';

export type VirtualizationType = 'paravirtual' | 'hvm';

export interface InstanceStoreMapping {
  /** e.g. /dev/sdb */
  deviceName: string;
  /** e.g. ephemeral0 */
  virtualName: string;
}

export interface RegisterImageOptions {
  ec2: EC2Client;
  /** bucket/prefix/NAME.manifest.xml */
  imageLocation: string;
  name: string;
  description?: string;
  architecture: 'i386' | 'x86_64';
  virtualizationType?: VirtualizationType;
  /** Default for paravirtual images: Amazon's PV-GRUB hd0 kernel for the region and architecture. */
  kernelId?: KernelId;
  ramdiskId?: RamdiskId;
  rootDeviceName?: string;
  blockDeviceMappings?: InstanceStoreMapping[];
  tags?: Tags;
  wait?: WaitOptions;
  signal?: AbortSignal;
  /**
   * The name was made for this registration alone (a suffix new for it): InvalidAMIName.Duplicate
   * then means an earlier attempt of this call registered it (an SDK retry after a lost answer).
   */
  nameIsOwn?: boolean;
  /** How long to look for the AMI by its name after a cut-off call (see cutOff.ts). */
  lookAgain?: LookAgainOptions;
}

export interface ImageSummary {
  imageId: ImageId;
  state: string;
  stateReason?: string;
  name?: string;
  description?: string;
  imageLocation?: string;
  architecture?: string;
  virtualizationType?: string;
  rootDeviceType?: string;
  kernelId?: string;
  ramdiskId?: string;
  tags: Tags;
  rootDeviceName?: string;
  /** EBS-backed images: the snapshot of the root device, and its volume. */
  rootSnapshotId?: string;
  rootVolumeSizeGiB?: number;
  rootVolumeType?: string;
  enaSupport?: boolean;
  bootMode?: string;
  imdsSupport?: string;
}

/** Thrown when an AMI was registered but did not become available: it exists, and has this id. */
export class ImageNotAvailableError extends AwsOperationError {
  constructor(
    readonly imageId: ImageId,
    readonly state: string,
    reason: string,
  ) {
    super(
      'RegisterImage',
      imageId,
      'ImageNotAvailable',
      `AMI ${imageId} was registered but is ${state}, not available: ${reason}`,
      false,
    );
    this.name = 'ImageNotAvailableError';
  }
}

/** RegisterImage cut off by its signal after AWS registered the AMI (found by its name): it exists, and has this id. */
export class ImageRegistrationCutOffError extends ImageNotAvailableError {
  constructor(imageId: ImageId, state: string, cause: string, name: string) {
    super(imageId, state, 'its registration was cut off');
    this.message = `RegisterImage was cut off in flight (${cause}) after AWS registered ${imageId} (${state}), found by its name ${name}`;
    this.name = 'ImageRegistrationCutOffError';
  }
}

/** Why a call ended: the signal's reason when it was aborted, else the error's message. */
export function cutOffCause(error: unknown, signal: AbortSignal | undefined): string {
  const why: unknown = signal?.aborted ? signal.reason : error;
  return why instanceof Error ? why.message : String(why);
}

export function nameProblem(name: string): string | undefined {
  if (name.length < 3 || name.length > 128) return 'must be 3 to 128 characters long';
  if (!/^[A-Za-z0-9()[\] ./\-'@_]+$/.test(name))
    return "may contain only letters, digits, spaces and ( ) [ ] . / - ' @ _";
  return undefined;
}

function summarize(image: Image): ImageSummary {
  const root = image.BlockDeviceMappings?.find((mapping) => mapping.DeviceName === image.RootDeviceName)?.Ebs;
  return {
    imageId: image.ImageId as ImageId,
    state: image.State ?? 'unknown',
    stateReason: image.StateReason?.Message,
    name: image.Name,
    description: image.Description,
    imageLocation: image.ImageLocation,
    architecture: image.Architecture,
    virtualizationType: image.VirtualizationType,
    rootDeviceType: image.RootDeviceType,
    kernelId: image.KernelId,
    ramdiskId: image.RamdiskId,
    tags: fromTagList(image.Tags),
    rootDeviceName: image.RootDeviceName,
    rootSnapshotId: root?.SnapshotId,
    rootVolumeSizeGiB: root?.VolumeSize,
    rootVolumeType: root?.VolumeType,
    enaSupport: image.EnaSupport,
    bootMode: image.BootMode,
    imdsSupport: image.ImdsSupport,
  };
}

/** The image, or undefined when AWS says it does not exist (deregistered, or never was). */
export async function describeImage(
  ec2: EC2Client,
  id: ImageId,
  signal?: AbortSignal,
): Promise<ImageSummary | undefined> {
  try {
    const output = await ec2.send(new DescribeImagesCommand({ ImageIds: [id] }), { abortSignal: signal });
    const image = output.Images?.[0];
    return image && image.State !== 'deregistered' ? summarize(image) : undefined;
  } catch (error) {
    if (errorCode(error) === 'InvalidAMIID.NotFound' || errorCode(error) === 'InvalidAMIID.Unavailable')
      return undefined;
    throw describeAwsError(error, 'DescribeImages', id);
  }
}

export async function waitForImageAvailable(
  ec2: EC2Client,
  id: ImageId,
  wait?: WaitOptions,
  signal?: AbortSignal,
): Promise<ImageSummary> {
  try {
    await waitUntilImageAvailable(
      waiterParameters(ec2, wait, { maxWaitSeconds: 1800, minDelaySeconds: 5, maxDelaySeconds: 30 }, signal),
      { ImageIds: [id] },
    );
  } catch (error) {
    if (signal?.aborted) throw error;
    const image = await describeImage(ec2, id, signal).catch(() => undefined);
    const reason = image?.stateReason ?? (image ? 'it did not become available in time' : 'AWS does not find it');
    throw new ImageNotAvailableError(id, image?.state ?? 'unknown', reason);
  }
  const image = await describeImage(ec2, id, signal);
  if (!image) throw new ImageNotAvailableError(id, 'unknown', 'it vanished after becoming available');
  return image;
}

/** RegisterImage's tags for the new image (none when there are none). */
export function imageTagSpecifications(tags: Tags | undefined): TagSpecification[] | undefined {
  return tags && Object.keys(tags).length > 0 ? [{ ResourceType: 'image', Tags: toTagList(tags) }] : undefined;
}

/** The id RegisterImage answered with; an answer without one is a retryable failure naming `source`. */
export function registeredImageId(answered: string | undefined, source: string): ImageId {
  if (!answered)
    throw new AwsOperationError('RegisterImage', source, 'NoImageId', 'RegisterImage returned no image id', true);
  return imageId(answered);
}

export interface RegisteredImage {
  imageId: ImageId;
  kernelId?: KernelId;
  /** Set when RegisterImage's answer did not arrive and the AMI was found by its name: how, in words. */
  foundByName?: string;
}

/** The account's own AMI of that name (unique per account and region), or undefined. */
export async function findOwnImageByName(
  ec2: EC2Client,
  name: string,
  signal?: AbortSignal,
): Promise<ImageSummary | undefined> {
  const output = await awsCall('DescribeImages', name, () =>
    ec2.send(new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: 'name', Values: [name] }] }), {
      abortSignal: signal,
    }),
  );
  const image = output.Images?.find((each) => each.Name === name && each.State !== 'deregistered');
  return image && summarize(image);
}

/** One RegisterImage call, as `sendRegisterImage` needs it to tell its own AMI from another. */
export interface RegisterCall {
  ec2: EC2Client;
  name: string;
  nameIsOwn?: boolean;
  signal?: AbortSignal;
  lookAgain?: LookAgainOptions;
  /** What is registered: the manifest's location (BUCKET/KEY) or the root snapshot's id. */
  source: string;
  /** Whether an AMI found by the name is the one this call registers (its manifest or root snapshot). */
  registers: (image: ImageSummary) => boolean;
}

/**
 * RegisterImage has no client token, so an AMI whose registration's answer never arrived is found by
 * its name. A Duplicate of a name the call made for itself is its own earlier attempt (the SDK
 * retried after a lost answer): the AMI of that name is the result when it registers the same
 * source. A call cut off otherwise (its connection failed after every retry, or its signal aborted
 * it in flight) is looked for by name for a bounded time: when only the answer was lost, what is
 * found is the result; when the signal ended it, what is found is thrown as an ImageNotAvailableError
 * carrying its id (it exists: the caller records or removes it); when nothing is found, the error
 * says so and names the name.
 */
export async function sendRegisterImage(
  call: RegisterCall,
  send: () => Promise<{ ImageId?: string }>,
): Promise<{ imageId: ImageId; foundByName?: string }> {
  try {
    const output = await awsCall('RegisterImage', call.source, send);
    return { imageId: registeredImageId(output.ImageId, call.source) };
  } catch (error) {
    const mine = (image: ImageSummary | undefined) => (image && call.registers(image) ? image : undefined);
    if (errorCode(error) === 'InvalidAMIName.Duplicate' && call.nameIsOwn === true) {
      const found = await findOwnImageByName(call.ec2, call.name, call.signal);
      if (mine(found)) {
        return {
          imageId: found!.imageId,
          foundByName: `RegisterImage's answer was lost and its retry found the name taken by ${found!.imageId}, which registers ${call.source}: that AMI is this create's`,
        };
      }
      throw new AwsOperationError(
        'RegisterImage',
        call.source,
        'InvalidAMIName.Duplicate',
        `RegisterImage of ${call.source}: the name ${call.name}, made for this create, is taken by ${found?.imageId ?? 'an AMI not found'}, which does not register ${call.source}; run the update again (a new name is chosen)`,
        false,
      );
    }
    if (!wasCutOff(error, call.signal)) throw error;
    const cause = cutOffCause(error, call.signal);
    const seconds = call.lookAgain?.seconds ?? LOOK_AGAIN_SECONDS;
    const found = await lookAgain(
      async (signal) => mine(await findOwnImageByName(call.ec2, call.name, signal)),
      call.lookAgain,
    );
    if (!found) {
      throw new AwsOperationError(
        'RegisterImage',
        call.source,
        'RegistrationCutOff',
        `RegisterImage of ${call.source} was cut off (${cause}) and no AMI named ${call.name} was found in ${seconds} s: nothing was recorded; if an AMI of that name appears, deregister it`,
        false,
      );
    }
    if (call.signal?.aborted) {
      throw new ImageRegistrationCutOffError(found.imageId, found.state, cause, call.name);
    }
    return {
      imageId: found.imageId,
      foundByName: `RegisterImage was cut off (${cause}); the AMI it registered, ${found.imageId}, was found by its name`,
    };
  }
}

/** RegisterImage only; `registerAndWait` also waits for `available`. */
export async function registerImage(options: RegisterImageOptions): Promise<RegisteredImage> {
  const problem = nameProblem(options.name);
  if (problem) throw new AwsInputError('name', `AMI name "${options.name}" ${problem}`);
  const virtualizationType = options.virtualizationType ?? 'paravirtual';
  const kernel =
    options.kernelId ??
    (virtualizationType === 'paravirtual'
      ? await findPvGrubKernel(options.ec2, options.architecture, options.signal)
      : undefined);
  const sent = await sendRegisterImage(
    {
      ec2: options.ec2,
      name: options.name,
      nameIsOwn: options.nameIsOwn,
      signal: options.signal,
      lookAgain: options.lookAgain,
      source: options.imageLocation,
      registers: (image) => image.imageLocation === options.imageLocation,
    },
    () =>
      options.ec2.send(
        new RegisterImageCommand({
          ImageLocation: options.imageLocation,
          Name: options.name,
          Description: options.description,
          Architecture: options.architecture,
          VirtualizationType: virtualizationType,
          KernelId: kernel,
          RamdiskId: options.ramdiskId,
          RootDeviceName: options.rootDeviceName ?? '/dev/sda1',
          BlockDeviceMappings: options.blockDeviceMappings?.map((mapping) => ({
            DeviceName: mapping.deviceName,
            VirtualName: mapping.virtualName,
          })),
          TagSpecifications: imageTagSpecifications(options.tags),
        }),
        { abortSignal: options.signal },
      ),
  );
  return { imageId: sent.imageId, kernelId: kernel, foundByName: sent.foundByName };
}

export async function registerAndWait(options: RegisterImageOptions): Promise<ImageSummary> {
  const registered = await registerImage(options);
  return waitForImageAvailable(options.ec2, registered.imageId, options.wait, options.signal);
}

/** Deregisters; returns false when the image was already gone. */
export async function deregisterImage(ec2: EC2Client, id: ImageId, signal?: AbortSignal): Promise<boolean> {
  try {
    await ec2.send(new DeregisterImageCommand({ ImageId: id }), { abortSignal: signal });
    return true;
  } catch (error) {
    if (errorCode(error) === 'InvalidAMIID.NotFound' || errorCode(error) === 'InvalidAMIID.Unavailable') return false;
    throw describeAwsError(error, 'DeregisterImage', id);
  }
}

export async function setImageDescription(
  ec2: EC2Client,
  id: ImageId,
  description: string,
  signal?: AbortSignal,
): Promise<void> {
  await awsCall('ModifyImageAttribute', id, () =>
    ec2.send(new ModifyImageAttributeCommand({ ImageId: id, Description: { Value: description } }), {
      abortSignal: signal,
    }),
  );
}
