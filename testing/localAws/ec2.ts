/** The EC2 Query API: action dispatch, the small actions, and the response and error envelopes. */
import { bootModesOf, INSTANCE_TYPES, InstanceTypeInfo, nvmeSupportOf, requiresEna } from './catalog';
import { AwsError } from './errors';
import {
  Ec2Action,
  Ec2Context,
  imagesNotFound,
  instancesNotFound,
  lookUpImage,
  lookUpInstance,
  paginate,
} from './ec2Context';
import { deregisterImage, describeImages, modifyImageAttribute, registerImage } from './ec2Images';
import { describeInstances, runInstances, terminateInstances } from './ec2Instances';
import { describeInstanceStatus, getConsoleOutput } from './ec2Console';
import {
  describeInstanceAttribute,
  describeInstanceCreditSpecifications,
  modifyInstanceAttribute,
  modifyInstanceCreditSpecification,
  modifyInstanceMetadataOptions,
  monitorInstances,
  startInstances,
  stopInstances,
  unmonitorInstances,
} from './ec2InstanceChanges';
import {
  associateIamInstanceProfile,
  describeIamInstanceProfileAssociations,
  disassociateIamInstanceProfile,
  replaceIamInstanceProfileAssociation,
} from './ec2ProfileAssociations';
import { deleteSnapshot, describeSnapshots, lookUpSnapshot, snapshotsNotFound } from './ec2Snapshots';
import { describeVolumes, describeVolumesModifications, modifyVolume, volumeNotFound } from './ec2Volumes';
import { describeSubnets } from './ec2Subnets';
import { describeTags, volumeTagsOf } from './ec2Tags';
import { checkTag, filters, passesFilters, scalarList, structList } from './ec2Params';
import { el, element, items, opt, xmlDocument } from './xml';

const EC2_NAMESPACE = 'http://ec2.amazonaws.com/doc/2016-11-15/';
const MAX_TAGS = 50;

/** The tag map of a resource id, after checking that the caller may tag it. */
function taggable(context: Ec2Context, id: string): Map<string, string> {
  const { state } = context;
  if (/^(ami|aki|ari)-/.test(id)) {
    const image = lookUpImage(state, id);
    if (!image || state.imageState(image).state === 'deregistered') throw imagesNotFound([id]);
    if (image.seeded)
      throw new AwsError(403, 'UnauthorizedOperation', 'You are not authorized to perform this operation.');
    return image.tags;
  }
  if (/^i-/.test(id)) {
    const instance = lookUpInstance(state, id);
    if (!instance) throw instancesNotFound([id]);
    return instance.tags;
  }
  if (/^vol-/.test(id)) {
    const tags = volumeTagsOf(state, id);
    if (!tags) throw volumeNotFound(id);
    return tags;
  }
  if (/^snap-/.test(id)) {
    const snapshot = lookUpSnapshot(state, id);
    if (!snapshot) throw snapshotsNotFound([id]);
    return snapshot.tags;
  }
  throw new AwsError(400, 'InvalidID', `The ID '${id}' is not valid`);
}

function resourceIds(context: Ec2Context): string[] {
  const ids = scalarList(context.params, 'ResourceId');
  if (ids.length === 0)
    throw new AwsError(400, 'MissingParameter', 'The request must contain the parameter ResourceId');
  return ids;
}

const createTags: Ec2Action = (context) => {
  const targets = resourceIds(context).map((id) => taggable(context, id));
  const tags = structList(context.params, 'Tag').map((tag) => ({ key: tag.Key ?? '', value: tag.Value ?? '' }));
  if (tags.length === 0) throw new AwsError(400, 'MissingParameter', 'The request must contain the parameter Tag');
  tags.forEach((tag) => checkTag(tag.key, tag.value));
  for (const target of targets) {
    const keys = new Set([...target.keys(), ...tags.map((tag) => tag.key)]);
    if (keys.size > MAX_TAGS)
      throw new AwsError(
        400,
        'TagLimitExceeded',
        `The maximum number of tags (${MAX_TAGS}) for the resource has been exceeded`,
      );
  }
  for (const target of targets) for (const tag of tags) target.set(tag.key, tag.value);
  return el('return', true);
};

const deleteTags: Ec2Action = (context) => {
  const targets = resourceIds(context).map((id) => taggable(context, id));
  const tags = structList(context.params, 'Tag');
  for (const target of targets) {
    if (tags.length === 0) {
      target.clear();
      continue;
    }
    for (const tag of tags) {
      const key = tag.Key ?? '';
      if (tag.Value === undefined || target.get(key) === tag.Value) target.delete(key);
    }
  }
  return el('return', true);
};

const INSTANCE_TYPE_FILTERS = [
  'burstable-performance-supported',
  'current-generation',
  'hypervisor',
  'instance-type',
  'processor-info.supported-architecture',
  'supported-root-device-type',
  'supported-virtualization-type',
];

function renderInstanceType(info: InstanceTypeInfo) {
  return [
    el('instanceType', info.instanceType),
    el('currentGeneration', info.currentGeneration),
    el('freeTierEligible', info.instanceType === 't2.micro' || info.instanceType === 't3.micro'),
    items('supportedUsageClasses', ['on-demand', 'spot'], (usage) => usage),
    items('supportedRootDeviceTypes', info.rootDeviceTypes, (type) => type),
    items('supportedVirtualizationTypes', info.virtualizationTypes, (type) => type),
    el('bareMetal', false),
    el('hypervisor', info.hypervisor),
    el(
      'processorInfo',
      items('supportedArchitectures', info.architectures, (architecture) => architecture),
      el('manufacturer', info.architectures.includes('arm64') ? 'AWS' : 'Intel'),
    ),
    el('vCpuInfo', el('defaultVCpus', info.vcpus)),
    el('memoryInfo', el('sizeInMiB', info.memoryMiB)),
    el('instanceStorageSupported', info.instanceStorageGb !== undefined),
    info.instanceStorageGb !== undefined
      ? el('instanceStorageInfo', el('totalSizeInGB', info.instanceStorageGb))
      : undefined,
    el('burstablePerformanceSupported', info.burstable),
    items('supportedBootModes', bootModesOf(info), (mode) => mode),
    el('networkInfo', el('enaSupport', requiresEna(info) ? 'required' : 'unsupported')),
    el('ebsInfo', el('nvmeSupport', nvmeSupportOf(info))),
  ];
}

const describeInstanceTypes: Ec2Action = (context) => {
  const names = scalarList(context.params, 'InstanceType');
  const unknown = names.filter((name) => !INSTANCE_TYPES.some((info) => info.instanceType === name));
  if (unknown.length > 0) {
    throw new AwsError(
      400,
      'InvalidInstanceType',
      `The following supplied instance types do not exist: [${unknown.join(', ')}]`,
    );
  }
  const filterList = filters(context.params);
  const selected = INSTANCE_TYPES.filter((info) => {
    if (names.length > 0 && !names.includes(info.instanceType)) return false;
    const fields: Record<string, string[]> = {
      'burstable-performance-supported': [String(info.burstable)],
      'current-generation': [String(info.currentGeneration)],
      hypervisor: [info.hypervisor],
      'instance-type': [info.instanceType],
      'processor-info.supported-architecture': info.architectures,
      'supported-root-device-type': info.rootDeviceTypes,
      'supported-virtualization-type': info.virtualizationTypes,
    };
    return passesFilters(filterList, fields, new Map(), INSTANCE_TYPE_FILTERS);
  });
  const { page, nextToken } = paginate(context, selected, false, 100);
  return [items('instanceTypeSet', page, renderInstanceType), opt('nextToken', nextToken)];
};

const ACTIONS: Record<string, Ec2Action> = {
  RegisterImage: registerImage,
  DescribeImages: describeImages,
  DeregisterImage: deregisterImage,
  ModifyImageAttribute: modifyImageAttribute,
  CreateTags: createTags,
  DeleteTags: deleteTags,
  DescribeTags: describeTags,
  DescribeSubnets: describeSubnets,
  DescribeInstanceTypes: describeInstanceTypes,
  RunInstances: runInstances,
  DescribeInstances: describeInstances,
  TerminateInstances: terminateInstances,
  StopInstances: stopInstances,
  StartInstances: startInstances,
  ModifyInstanceAttribute: modifyInstanceAttribute,
  DescribeInstanceAttribute: describeInstanceAttribute,
  MonitorInstances: monitorInstances,
  UnmonitorInstances: unmonitorInstances,
  ModifyInstanceCreditSpecification: modifyInstanceCreditSpecification,
  DescribeInstanceCreditSpecifications: describeInstanceCreditSpecifications,
  ModifyInstanceMetadataOptions: modifyInstanceMetadataOptions,
  AssociateIamInstanceProfile: associateIamInstanceProfile,
  ReplaceIamInstanceProfileAssociation: replaceIamInstanceProfileAssociation,
  DisassociateIamInstanceProfile: disassociateIamInstanceProfile,
  DescribeIamInstanceProfileAssociations: describeIamInstanceProfileAssociations,
  GetConsoleOutput: getConsoleOutput,
  DescribeInstanceStatus: describeInstanceStatus,
  DescribeSnapshots: describeSnapshots,
  DeleteSnapshot: deleteSnapshot,
  DescribeVolumes: describeVolumes,
  ModifyVolume: modifyVolume,
  DescribeVolumesModifications: describeVolumesModifications,
};

/** Runs an action and returns the response document. */
export function handleEc2(context: Ec2Context): string {
  const action = context.params.Action ?? '';
  const handler = Object.prototype.hasOwnProperty.call(ACTIONS, action) ? ACTIONS[action] : undefined;
  if (!handler)
    throw new AwsError(400, 'InvalidAction', `The action ${action || '(none)'} is not valid for this web service.`);
  if (context.params.DryRun === 'true')
    throw new AwsError(412, 'DryRunOperation', 'Request would have succeeded, but DryRun flag is set.');
  const content = handler(context);
  return xmlDocument(
    element(`${action}Response`, { xmlns: EC2_NAMESPACE }, el('requestId', context.request.requestId), content),
  );
}

export function renderEc2Error(error: AwsError, requestId: string): string {
  return xmlDocument(
    el(
      'Response',
      el('Errors', el('Error', el('Code', error.code), el('Message', error.message))),
      el('RequestID', requestId),
    ),
  );
}
