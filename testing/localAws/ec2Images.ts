/**
 * RegisterImage (from a bundle manifest in the local S3, or with the root device on an EBS snapshot),
 * DescribeImages and DeregisterImage.
 */
import { parseManifest } from '../../provider/bundle/manifestParse';
import { Manifest } from '../../provider/bundle/manifest';
import { AwsError } from './errors';
import { checkImageId, Ec2Action, Ec2Context, imagesNotFound, lookUpImage, paginate } from './ec2Context';
import { filters, invalidValue, passesFilters, required, scalarList, structList, tagSpecifications } from './ec2Params';
import { lookUpSnapshot, snapshotsNotFound } from './ec2Snapshots';
import { Bucket, LocalAwsState, ImageRecord, StoredObject, TimelineEntry } from './state';
import { LocalBlockDeviceMapping, ImageState } from './types';
import { el, items, opt, XmlContent } from './xml';

const ARCHITECTURES = ['i386', 'x86_64', 'arm64'];
const VIRTUALIZATION_TYPES = ['paravirtual', 'hvm'] as const;
const BOOT_MODES = ['legacy-bios', 'uefi', 'uefi-preferred'];
const VOLUME_TYPES = ['standard', 'io1', 'io2', 'gp2', 'gp3', 'sc1', 'st1'];
const IMAGE_NAME = /^[A-Za-z0-9()[\] ./\-'@_]{3,128}$/;
/** Canned ACLs under which EC2 may read a bundle object. */
const READABLE_BY_EC2 = ['aws-exec-read', 'public-read', 'public-read-write', 'authenticated-read'];

const IMAGE_FILTERS = [
  'architecture',
  'block-device-mapping.snapshot-id',
  'description',
  'hypervisor',
  'image-id',
  'image-type',
  'is-public',
  'kernel-id',
  'manifest-location',
  'name',
  'owner-alias',
  'owner-id',
  'ramdisk-id',
  'root-device-name',
  'root-device-type',
  'state',
  'virtualization-type',
];

function invalidManifest(message: string): AwsError {
  return new AwsError(400, 'InvalidManifest', message);
}

/** Whether EC2 may read this object of a bundle (the tools upload with aws-exec-read for that reason). */
export function readableByEc2(bucket: Bucket, object: StoredObject): boolean {
  return bucket.ownership !== 'BucketOwnerEnforced' && object.acl !== undefined && READABLE_BY_EC2.includes(object.acl);
}

function s3Url(bucket: string, key: string): string {
  return `http://s3.amazonaws.com:80/${bucket}/${key}`;
}

function readManifest(
  state: LocalAwsState,
  location: string,
): { manifest: Manifest; bucket: string; key: string; object: StoredObject } {
  const slash = location.indexOf('/');
  if (slash <= 0 || slash === location.length - 1) {
    throw invalidValue(
      'ImageLocation',
      location,
      `Invalid value '${location}' for ImageLocation: expecting bucket/path/name.manifest.xml`,
    );
  }
  const bucketName = location.slice(0, slash);
  const key = location.slice(slash + 1);
  const bucket = state.buckets.get(bucketName);
  const object = bucket?.objects.get(key);
  if (!bucket || !object) throw invalidManifest(`HTTP 404 (Not Found) response for URL ${s3Url(bucketName, key)}`);
  if (!readableByEc2(bucket, object))
    throw invalidManifest(`HTTP 403 (Forbidden) response for URL ${s3Url(bucketName, key)}`);
  try {
    return { manifest: parseManifest(object.body.toString('utf8')).manifest, bucket: bucketName, key, object };
  } catch (error) {
    throw invalidManifest(`Invalid AMI manifest: ${error instanceof Error ? error.message : String(error)}`);
  }
}

function givenMappings(context: Ec2Context): LocalBlockDeviceMapping[] {
  return structList(context.params, 'BlockDeviceMapping').map((mapping) => {
    const deviceName = mapping.DeviceName;
    if (!deviceName)
      throw new AwsError(
        400,
        'MissingParameter',
        'The request must contain the parameter BlockDeviceMapping.N.DeviceName',
      );
    const ebs: Record<string, string> = {};
    for (const [name, value] of Object.entries(mapping)) if (name.startsWith('Ebs.')) ebs[name.slice(4)] = value;
    return {
      deviceName,
      virtualName: mapping.VirtualName,
      noDevice: mapping.NoDevice !== undefined ? true : undefined,
      ebs: Object.keys(ebs).length > 0 ? ebs : undefined,
    };
  });
}

function blockDeviceMappings(context: Ec2Context, manifest: Manifest): LocalBlockDeviceMapping[] {
  const given = givenMappings(context);
  if (given.length > 0) return given;
  return (manifest.machineConfiguration.blockDeviceMappings ?? [])
    .filter((mapping) => mapping.virtual !== 'ami' && mapping.virtual !== 'root')
    .map((mapping) => ({
      deviceName: mapping.device.startsWith('/dev/') ? mapping.device : `/dev/${mapping.device}`,
      virtualName: mapping.virtual,
    }));
}

function checkKernel(state: LocalAwsState, kernelId: string | undefined, virtualizationType: string): void {
  if (kernelId === undefined) return;
  if (virtualizationType === 'hvm')
    throw new AwsError(400, 'InvalidParameterCombination', 'Kernel and ramdisk ids cannot be specified for HVM images');
  if (!/^aki-/.test(kernelId)) throw invalidValue('KernelId', kernelId);
  const kernel = lookUpImage(state, kernelId);
  if (!kernel || kernel.imageType !== 'kernel' || state.imageState(kernel).state !== 'available')
    throw imagesNotFound([kernelId]);
}

function imageTimeline(context: Ec2Context, now: number): TimelineEntry<ImageState>[] {
  const { state, faults, request } = context;
  const timeline: TimelineEntry<ImageState>[] = [{ at: now, state: 'pending' }];
  if (faults.takeResourceFault(request, 'stuckPending')) return timeline;
  const failure = faults.takeResourceFault(request, 'imageFails');
  const ready = now + state.config.imagePendingMs;
  if (failure) {
    const code = failure.code ?? 'Client.InvalidManifest';
    timeline.push({
      at: ready,
      state: 'failed',
      reason: { code, message: failure.message ?? `${code}: the image could not be registered` },
    });
  } else {
    timeline.push({ at: ready, state: 'available' });
  }
  return timeline;
}

function checkName(name: string): void {
  if (!IMAGE_NAME.test(name)) {
    throw new AwsError(
      400,
      'InvalidAMIName.Malformed',
      "AMI names must be between 3 and 128 characters long, and may contain letters, numbers, '(', ')', '[', ']', ' ', '.', '/', '-', ''', '@' and '_'",
    );
  }
}

function checkDuplicate(state: LocalAwsState, name: string): void {
  const duplicate = [...state.images.values()].find(
    (image) => !image.seeded && image.name === name && state.imageState(image).state !== 'deregistered',
  );
  if (duplicate)
    throw new AwsError(
      400,
      'InvalidAMIName.Duplicate',
      `AMI name ${name} is already in use by AMI ${duplicate.imageId}`,
    );
}

function hiddenAfterCreate(context: Ec2Context, imageId: string): void {
  const hiding = context.faults.takeResourceFault(context.request, 'notFoundAfterCreate');
  if (hiding) context.state.hide(imageId, hiding.forMs, hiding.forCalls);
}

/** The EBS mappings after EC2's checks and defaults: each snapshot completed, volumes no smaller than their snapshot. */
function ebsMappings(state: LocalAwsState, mappings: LocalBlockDeviceMapping[]): LocalBlockDeviceMapping[] {
  return mappings.map((mapping) => {
    if (!mapping.ebs) return mapping;
    const ebs = { ...mapping.ebs };
    const volumeType = ebs.VolumeType ?? 'gp2';
    if (!VOLUME_TYPES.includes(volumeType)) throw invalidValue('BlockDeviceMapping.Ebs.VolumeType', volumeType);
    ebs.VolumeType = volumeType;
    ebs.DeleteOnTermination = ebs.DeleteOnTermination ?? 'true';
    if (ebs.SnapshotId !== undefined) {
      const snapshot = lookUpSnapshot(state, ebs.SnapshotId);
      if (!snapshot) throw snapshotsNotFound([ebs.SnapshotId]);
      const current = state.snapshotState(snapshot).state;
      if (current !== 'completed')
        throw new AwsError(
          400,
          'IncorrectState',
          `Snapshot '${snapshot.snapshotId}' is ${current}; an image can be registered only from a completed snapshot.`,
        );
      const size = ebs.VolumeSize === undefined ? snapshot.volumeSizeGiB : Number(ebs.VolumeSize);
      if (!Number.isInteger(size) || size < snapshot.volumeSizeGiB) {
        throw new AwsError(
          400,
          'InvalidBlockDeviceMapping',
          `Volume of size ${ebs.VolumeSize}GB is smaller than snapshot '${snapshot.snapshotId}', expect size >= ${snapshot.volumeSizeGiB}GB`,
        );
      }
      ebs.VolumeSize = String(size);
      ebs.Encrypted = String(snapshot.encrypted);
    }
    return { ...mapping, ebs };
  });
}

/** RegisterImage without ImageLocation: an EBS-backed image whose root device is a snapshot. */
function registerFromSnapshot(context: Ec2Context, name: string, description: string | undefined): XmlContent {
  const { state, params } = context;
  const rootDeviceName = params.RootDeviceName;
  if (rootDeviceName === undefined)
    throw new AwsError(
      400,
      'MissingParameter',
      'The request must contain the parameter ImageLocation or RootDeviceName',
    );
  const mappings = ebsMappings(state, givenMappings(context));
  const root = mappings.find((mapping) => mapping.deviceName === rootDeviceName);
  const rootSnapshotId = root?.ebs?.SnapshotId;
  if (rootSnapshotId === undefined) {
    throw new AwsError(
      400,
      'InvalidBlockDeviceMapping',
      `The root device ${rootDeviceName} must be mapped to an EBS snapshot (BlockDeviceMapping.N.Ebs.SnapshotId)`,
    );
  }
  const architecture = params.Architecture ?? 'i386';
  if (!ARCHITECTURES.includes(architecture)) throw invalidValue('Architecture', architecture);
  const virtualizationType = VIRTUALIZATION_TYPES.find((type) => type === (params.VirtualizationType ?? 'paravirtual'));
  if (!virtualizationType) throw invalidValue('VirtualizationType', params.VirtualizationType ?? '');
  const kernelId = params.KernelId;
  checkKernel(state, kernelId, virtualizationType);
  if (params.RamdiskId !== undefined) throw imagesNotFound([params.RamdiskId]);
  const bootMode = params.BootMode;
  if (bootMode !== undefined && !BOOT_MODES.includes(bootMode)) throw invalidValue('BootMode', bootMode);
  if (bootMode === 'legacy-bios' && architecture === 'arm64')
    throw new AwsError(400, 'InvalidParameterCombination', 'The arm64 architecture supports only the uefi boot mode.');
  const imdsSupport = params.ImdsSupport;
  if (imdsSupport !== undefined && imdsSupport !== 'v2.0') throw invalidValue('ImdsSupport', imdsSupport);
  const enaSupport = params.EnaSupport;
  if (enaSupport !== undefined && enaSupport !== 'true' && enaSupport !== 'false')
    throw invalidValue('EnaSupport', enaSupport);
  const tags = tagSpecifications(params, 'image', ['snapshot']);
  checkDuplicate(state, name);

  const imageId = state.newId('ami');
  const now = state.now();
  state.images.set(imageId, {
    imageId,
    name,
    description,
    location: `${state.config.accountId}/${name}`,
    ownerId: state.config.accountId,
    isPublic: false,
    imageType: 'machine',
    architecture,
    virtualizationType,
    kernelId,
    rootDeviceName,
    blockDeviceMappings: mappings,
    tags,
    creationDate: new Date(now).toISOString(),
    timeline: imageTimeline(context, now),
    seeded: false,
    rootDeviceType: 'ebs',
    rootSnapshotId,
    enaSupport: enaSupport === 'true',
    bootMode,
    imdsSupport,
  });
  hiddenAfterCreate(context, imageId);
  return el('imageId', imageId);
}

export const registerImage: Ec2Action = (context) => {
  const { state, params } = context;
  const name = required(params, 'Name');
  checkName(name);
  const description = params.Description;
  if (description !== undefined && description.length > 255)
    throw invalidValue('Description', description, 'The description must be at most 255 characters long');
  if (params.ImageLocation === undefined) return registerFromSnapshot(context, name, description);
  const location = required(params, 'ImageLocation');
  const { manifest, bucket, key, object } = readManifest(state, location);
  const owner = manifest.image.user.replace(/-/g, '');
  if (owner !== state.config.accountId) {
    throw invalidManifest(
      `The manifest at ${location} belongs to account ${owner}, not to the registering account ${state.config.accountId}`,
    );
  }
  const manifestArchitecture = manifest.machineConfiguration.architecture;
  const architecture = params.Architecture ?? manifestArchitecture ?? 'i386';
  if (!ARCHITECTURES.includes(architecture)) throw invalidValue('Architecture', architecture);
  if (
    params.Architecture !== undefined &&
    manifestArchitecture !== undefined &&
    params.Architecture !== manifestArchitecture
  ) {
    throw invalidValue(
      'Architecture',
      architecture,
      `The architecture '${architecture}' does not match the manifest's architecture '${manifestArchitecture}'`,
    );
  }
  const virtualizationType = VIRTUALIZATION_TYPES.find((type) => type === (params.VirtualizationType ?? 'paravirtual'));
  if (!virtualizationType) throw invalidValue('VirtualizationType', params.VirtualizationType ?? '');
  const kernelId = params.KernelId ?? manifest.machineConfiguration.kernelId;
  checkKernel(state, kernelId, virtualizationType);
  const ramdiskId = params.RamdiskId ?? manifest.machineConfiguration.ramdiskId;
  if (ramdiskId !== undefined) throw imagesNotFound([ramdiskId]);
  const mappings = blockDeviceMappings(context, manifest);
  const tags = tagSpecifications(params, 'image', ['snapshot']);
  checkDuplicate(state, name);

  const imageType = manifest.image.type;
  const imageId = state.newId(imageType === 'kernel' ? 'aki' : imageType === 'ramdisk' ? 'ari' : 'ami');
  const now = state.now();
  const keyPrefix = key.slice(0, key.lastIndexOf('/') + 1);
  const image: ImageRecord = {
    imageId,
    name,
    description,
    location,
    ownerId: state.config.accountId,
    isPublic: false,
    imageType,
    architecture,
    virtualizationType,
    kernelId,
    rootDeviceName: params.RootDeviceName ?? '/dev/sda1',
    blockDeviceMappings: mappings,
    tags,
    creationDate: new Date(now).toISOString(),
    timeline: imageTimeline(context, now),
    seeded: false,
    bundle: {
      bucket,
      manifestKey: key,
      manifestMd5: object.md5,
      parts: manifest.image.parts.map((part) => ({ key: keyPrefix + part.filename, sha1: part.digest.toLowerCase() })),
    },
    rootDeviceType: 'instance-store',
    enaSupport: false,
  };
  state.images.set(imageId, image);
  hiddenAfterCreate(context, imageId);
  return el('imageId', imageId);
};

export function tagSet(tags: ReadonlyMap<string, string>): XmlContent {
  // EC2 leaves tagSet out entirely when a resource has no tags.
  return tags.size === 0
    ? undefined
    : items('tagSet', [...tags], ([key, value]) => [el('key', key), el('value', value)]);
}

function renderImage(state: LocalAwsState, image: ImageRecord): XmlContent {
  const current = state.imageState(image);
  return [
    el('imageId', image.imageId),
    el('imageLocation', image.location),
    el('imageState', current.state),
    el('imageOwnerId', image.ownerId),
    el('creationDate', image.creationDate),
    el('isPublic', image.isPublic),
    el('architecture', image.architecture),
    el('imageType', image.imageType),
    opt('kernelId', image.kernelId),
    opt('ramdiskId', image.ramdiskId),
    opt('imageOwnerAlias', image.ownerAlias),
    el('name', image.name),
    opt('description', image.description),
    el('rootDeviceType', image.rootDeviceType),
    el('rootDeviceName', image.rootDeviceName),
    items('blockDeviceMapping', image.blockDeviceMappings, (mapping) => [
      el('deviceName', mapping.deviceName),
      opt('virtualName', mapping.virtualName),
      mapping.noDevice ? el('noDevice', '') : undefined,
      mapping.ebs
        ? el(
            'ebs',
            Object.entries(mapping.ebs).map(([name, value]) => el(name.charAt(0).toLowerCase() + name.slice(1), value)),
          )
        : undefined,
    ]),
    el('virtualizationType', image.virtualizationType),
    tagSet(image.tags),
    el('hypervisor', 'xen'),
    image.enaSupport ? el('enaSupport', true) : undefined,
    current.reason
      ? el('stateReason', el('code', current.reason.code), el('message', current.reason.message))
      : undefined,
    el('platformDetails', 'Linux/UNIX'),
    el('usageOperation', 'RunInstances'),
    opt('bootMode', image.bootMode),
    opt('imdsSupport', image.imdsSupport),
  ];
}

function ownerMatches(image: ImageRecord, owner: string, accountId: string): boolean {
  if (owner === 'self') return image.ownerId === accountId;
  if (owner === 'amazon' || owner === 'aws-marketplace') return image.ownerAlias === owner;
  return image.ownerId === owner;
}

export const describeImages: Ec2Action = (context) => {
  const { state, params } = context;
  const ids = scalarList(params, 'ImageId');
  const owners = scalarList(params, 'Owner');
  const filterList = filters(params);
  let candidates: ImageRecord[];
  if (ids.length > 0) {
    ids.forEach(checkImageId);
    const missing: string[] = [];
    candidates = [];
    for (const id of ids) {
      const image = lookUpImage(state, id);
      if (!image) missing.push(id);
      else if (state.imageState(image).state !== 'deregistered') candidates.push(image);
    }
    if (missing.length > 0) throw imagesNotFound(missing);
  } else {
    candidates = [...state.images.values()].filter(
      (image) => state.imageState(image).state !== 'deregistered' && !state.isHidden(image.imageId, false),
    );
  }
  const selected = candidates.filter((image) => {
    if (owners.length > 0 && !owners.some((owner) => ownerMatches(image, owner, state.config.accountId))) return false;
    const fields: Record<string, string[]> = {
      architecture: [image.architecture],
      'block-device-mapping.snapshot-id': image.blockDeviceMappings.flatMap((mapping) =>
        mapping.ebs?.SnapshotId === undefined ? [] : [mapping.ebs.SnapshotId],
      ),
      description: image.description === undefined ? [] : [image.description],
      hypervisor: ['xen'],
      'image-id': [image.imageId],
      'image-type': [image.imageType],
      'is-public': [String(image.isPublic)],
      'kernel-id': image.kernelId === undefined ? [] : [image.kernelId],
      'manifest-location': [image.location],
      name: [image.name],
      'owner-alias': image.ownerAlias === undefined ? [] : [image.ownerAlias],
      'owner-id': [image.ownerId],
      'ramdisk-id': image.ramdiskId === undefined ? [] : [image.ramdiskId],
      'root-device-name': [image.rootDeviceName],
      'root-device-type': [image.rootDeviceType],
      state: [state.imageState(image).state],
      'virtualization-type': [image.virtualizationType],
    };
    return passesFilters(filterList, fields, image.tags, IMAGE_FILTERS);
  });
  const { page, nextToken } = paginate(context, selected, ids.length > 0);
  return [items('imagesSet', page, (image) => renderImage(state, image)), opt('nextToken', nextToken)];
};

/** The image a modifying action names: owned, known and not deregistered. */
function ownImage(context: Ec2Context, id: string): ImageRecord {
  const image = lookUpImage(context.state, id);
  if (!image) throw imagesNotFound([id]);
  if (image.seeded) throw new AwsError(400, 'AuthFailure', `Not authorized for image:${id}`);
  return image;
}

/** Only the description and the public ('all') launch permission are modelled. */
export const modifyImageAttribute: Ec2Action = (context) => {
  const { state, params } = context;
  const id = required(params, 'ImageId');
  const image = ownImage(context, id);
  const current = state.imageState(image).state;
  if (current === 'deregistered') throw imagesNotFound([id]);
  if (current === 'pending')
    throw new AwsError(
      400,
      'InvalidAMIID.Unavailable',
      `The AMI ID '${id}' is currently pending and may not be used for this operation`,
    );
  const description = params['Description.Value'] ?? (params.Attribute === 'description' ? params.Value : undefined);
  const added = structList(params, 'LaunchPermission.Add').map((permission) => permission.Group);
  const removed = structList(params, 'LaunchPermission.Remove').map((permission) => permission.Group);
  if (description === undefined && added.length === 0 && removed.length === 0) {
    throw new AwsError(
      400,
      'InvalidParameterCombination',
      'The local EC2 models only the Description attribute and the "all" launch permission group',
    );
  }
  if ([...added, ...removed].some((group) => group !== 'all')) {
    throw new AwsError(
      400,
      'InvalidParameterCombination',
      'The local EC2 models only the "all" launch permission group',
    );
  }
  if (description !== undefined) image.description = description;
  if (added.length > 0) image.isPublic = true;
  if (removed.length > 0) image.isPublic = false;
  return el('return', true);
};

export const deregisterImage: Ec2Action = (context) => {
  const { state, params } = context;
  const id = required(params, 'ImageId');
  const image = ownImage(context, id);
  if (state.imageState(image).state === 'deregistered')
    throw new AwsError(400, 'InvalidAMIID.Unavailable', `The image id '[${id}]' is no longer available`);
  image.timeline = [
    ...image.timeline.filter((entry) => entry.at <= state.now()),
    { at: state.now(), state: 'deregistered' },
  ];
  return el('return', true);
};
