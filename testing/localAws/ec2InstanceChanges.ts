/**
 * What changes a live instance, as EC2 does it: StopInstances and StartInstances (stopping →
 * stopped, pending → running; an instance-store instance cannot be stopped), ModifyInstanceAttribute
 * (the type and user data only while stopped), DescribeInstanceAttribute, Monitor/UnmonitorInstances,
 * ModifyInstanceCreditSpecification and ModifyInstanceMetadataOptions.
 */
import { findInstanceType } from './catalog';
import { startBoot } from './ec2Console';
import { Ec2Action, lookUpImage, lookUpInstance } from './ec2Context';
import { checkCompatibility, checkGroupIds, namedInstances, stateXml, USER_SHUTDOWN } from './ec2Instances';
import { invalidValue, required, scalarList, structList } from './ec2Params';
import { AwsError } from './errors';
import { InstanceRecord, LocalAwsState } from './state';
import { InstanceStateName } from './types';
import { modifyDeleteOnTermination } from './ec2Volumes';
import { el, items, XmlContent } from './xml';

function ids(params: Readonly<Record<string, string>>): string[] {
  const list = scalarList(params, 'InstanceId');
  if (list.length === 0)
    throw new AwsError(400, 'MissingParameter', 'The request must contain the parameter InstanceId');
  return list;
}

function stateChanges(
  changes: readonly { instance: InstanceRecord; previous: InstanceStateName; current: InstanceStateName }[],
): XmlContent {
  return items('instancesSet', changes, (change) => [
    el('instanceId', change.instance.instanceId),
    stateXml('currentState', change.current),
    stateXml('previousState', change.previous),
  ]);
}

/** The instance, if it is stopped; otherwise EC2's refusal of a change that needs it stopped. */
function stopped(state: LocalAwsState, instance: InstanceRecord): void {
  if (state.instanceState(instance).state !== 'stopped')
    throw new AwsError(
      400,
      'IncorrectInstanceState',
      `The instance '${instance.instanceId}' is not in the 'stopped' state.`,
    );
}

function notTerminated(state: LocalAwsState, instance: InstanceRecord): void {
  const current = state.instanceState(instance).state;
  if (current === 'shutting-down' || current === 'terminated')
    throw new AwsError(
      400,
      'IncorrectInstanceState',
      `The instance '${instance.instanceId}' is not in a state from which it can be modified.`,
    );
}

export const stopInstances: Ec2Action = (context) => {
  const { state } = context;
  const instances = namedInstances(state, ids(context.params));
  for (const instance of instances) {
    const current = state.instanceState(instance).state;
    if (instance.rootDeviceType !== 'ebs')
      throw new AwsError(
        400,
        'UnsupportedOperation',
        `The instance '${instance.instanceId}' does not have an 'ebs' root device type and cannot be stopped.`,
      );
    if (current === 'pending')
      throw new AwsError(
        400,
        'IncorrectInstanceState',
        `Instance '${instance.instanceId}' cannot be stopped as it has never reached the 'running' state.`,
      );
    if (current === 'shutting-down' || current === 'terminated')
      throw new AwsError(
        400,
        'IncorrectInstanceState',
        `This instance '${instance.instanceId}' is not in a state from which it can be stopped.`,
      );
  }
  const now = state.now();
  const changes = instances.map((instance) => {
    const previous = state.instanceState(instance).state;
    if (previous === 'running') {
      instance.timeline = [
        ...instance.timeline.filter((entry) => entry.at <= now),
        { at: now, state: 'stopping', reason: USER_SHUTDOWN },
        { at: now + state.config.instanceShuttingDownMs, state: 'stopped', reason: USER_SHUTDOWN },
      ];
    }
    return { instance, previous, current: state.instanceState(instance).state };
  });
  return stateChanges(changes);
};

export const startInstances: Ec2Action = (context) => {
  const { state } = context;
  const instances = namedInstances(state, ids(context.params));
  for (const instance of instances) {
    const current = state.instanceState(instance).state;
    if (current !== 'stopped' && current !== 'pending' && current !== 'running')
      throw new AwsError(
        400,
        'IncorrectInstanceState',
        `The instance '${instance.instanceId}' is not in a state from which it can be started.`,
      );
  }
  const now = state.now();
  const changes = instances.map((instance) => {
    const previous = state.instanceState(instance).state;
    if (previous === 'stopped') {
      instance.timeline = [
        ...instance.timeline.filter((entry) => entry.at <= now),
        { at: now, state: 'pending', reason: { code: 'pending', message: 'pending' } },
        { at: now + state.config.instancePendingMs, state: 'running' },
      ];
      // A new public address, and the unikernel boots again: its console starts over.
      instance.settings.publicAddressIndex = state.nextAddressIndex();
      const image = lookUpImage(state, instance.imageId) ?? state.images.get(instance.imageId);
      if (image) startBoot(state, instance, image);
      state.ports.schedule(instance);
    }
    return { instance, previous, current: state.instanceState(instance).state };
  });
  return stateChanges(changes);
};

function booleanValue(name: string, value: string): boolean {
  if (value !== 'true' && value !== 'false') throw invalidValue(name, value);
  return value === 'true';
}

/** ModifyInstanceAttribute: one attribute per request, in the structured form the SDKs send. */
export const modifyInstanceAttribute: Ec2Action = (context) => {
  const { state, params } = context;
  const [instance] = namedInstances(state, [required(params, 'InstanceId')]);
  const groups = scalarList(params, 'GroupId');
  const given = [
    'InstanceType.Value',
    'DisableApiTermination.Value',
    'InstanceInitiatedShutdownBehavior.Value',
    'UserData.Value',
  ].filter((name) => params[name] !== undefined);
  if (groups.length > 0) given.push('GroupId');
  if (params['BlockDeviceMapping.1.DeviceName'] !== undefined) given.push('BlockDeviceMapping');
  if (given.length === 0)
    throw new AwsError(
      400,
      'InvalidParameterCombination',
      'No attributes specified (the local AWS models InstanceType, DisableApiTermination, InstanceInitiatedShutdownBehavior, UserData, GroupId and BlockDeviceMapping).',
    );
  if (given.length > 1)
    throw new AwsError(
      400,
      'InvalidParameterCombination',
      'Fields for multiple attribute types specified: ' + given.join(', '),
    );
  notTerminated(state, instance);
  const { settings } = instance;
  switch (given[0]) {
    case 'InstanceType.Value': {
      stopped(state, instance);
      const type = params['InstanceType.Value'];
      const image = state.images.get(instance.imageId);
      if (!image)
        throw new AwsError(400, 'InvalidAMIID.NotFound', `The image id '[${instance.imageId}]' does not exist`);
      instance.bootMode = checkCompatibility(image, type);
      instance.instanceType = type;
      const burstable = findInstanceType(type)?.burstable === true;
      settings.cpuCredits = burstable
        ? (settings.cpuCredits ?? (type.startsWith('t2.') ? 'standard' : 'unlimited'))
        : undefined;
      break;
    }
    case 'DisableApiTermination.Value':
      settings.disableApiTermination = booleanValue('DisableApiTermination', params['DisableApiTermination.Value']);
      break;
    case 'InstanceInitiatedShutdownBehavior.Value': {
      const value = params['InstanceInitiatedShutdownBehavior.Value'];
      if (value !== 'stop' && value !== 'terminate') throw invalidValue('InstanceInitiatedShutdownBehavior', value);
      if (instance.rootDeviceType !== 'ebs')
        throw new AwsError(
          400,
          'InvalidParameterCombination',
          'The attribute instanceInitiatedShutdownBehavior can only be used for elastic images.',
        );
      settings.shutdownBehavior = value;
      break;
    }
    case 'UserData.Value': {
      stopped(state, instance);
      instance.userData = Buffer.from(params['UserData.Value'], 'base64');
      break;
    }
    case 'GroupId': {
      checkGroupIds(groups);
      const missing = groups.find((id) => !instance.securityGroupIds.includes(id) && !state.securityGroups.has(id));
      if (missing !== undefined)
        throw new AwsError(400, 'InvalidGroup.NotFound', `The security group '${missing}' does not exist`);
      instance.securityGroupIds = [...groups];
      break;
    }
    case 'BlockDeviceMapping':
      modifyDeleteOnTermination(instance, params);
      break;
  }
  return el('return', true);
};

const ATTRIBUTES = [
  'instanceType',
  'kernel',
  'ramdisk',
  'userData',
  'disableApiTermination',
  'instanceInitiatedShutdownBehavior',
  'rootDeviceName',
  'blockDeviceMapping',
  'productCodes',
  'sourceDestCheck',
  'groupSet',
  'ebsOptimized',
  'sriovNetSupport',
  'enaSupport',
  'enclaveOptions',
  'disableApiStop',
];

export const describeInstanceAttribute: Ec2Action = (context) => {
  const { state, params } = context;
  const id = required(params, 'InstanceId');
  const attribute = required(params, 'Attribute');
  if (!ATTRIBUTES.includes(attribute))
    throw invalidValue(
      'Attribute',
      attribute,
      `Value (${attribute}) for parameter attribute is invalid. Unknown attribute.`,
    );
  const [instance] = namedInstances(state, [id]);
  const { settings } = instance;
  const value = (name: string, content: string | boolean | undefined) =>
    content === undefined ? el(name) : el(name, el('value', content));
  const answers: Record<string, () => XmlContent> = {
    instanceType: () => value('instanceType', instance.instanceType),
    kernel: () => value('kernel', instance.kernelId),
    ramdisk: () => value('ramdisk', instance.ramdiskId),
    userData: () => value('userData', instance.userData?.toString('base64')),
    disableApiTermination: () => value('disableApiTermination', settings.disableApiTermination),
    instanceInitiatedShutdownBehavior: () => value('instanceInitiatedShutdownBehavior', settings.shutdownBehavior),
    rootDeviceName: () => value('rootDeviceName', instance.rootDeviceName),
    blockDeviceMapping: () =>
      items('blockDeviceMapping', settings.rootVolume ? [settings.rootVolume] : [], (volume) => [
        el('deviceName', instance.rootDeviceName),
        el('ebs', el('volumeId', volume.volumeId), el('deleteOnTermination', volume.deleteOnTermination)),
      ]),
    productCodes: () => el('productCodes'),
    sourceDestCheck: () => value('sourceDestCheck', true),
    groupSet: () => items('groupSet', instance.securityGroupIds, (groupId) => [el('groupId', groupId)]),
    ebsOptimized: () => value('ebsOptimized', false),
    sriovNetSupport: () => el('sriovNetSupport'),
    enaSupport: () => value('enaSupport', lookUpImage(state, instance.imageId)?.enaSupport ?? false),
    enclaveOptions: () => el('enclaveOptions', el('enabled', false)),
    disableApiStop: () => value('disableApiStop', false),
  };
  return [el('instanceId', instance.instanceId), answers[attribute]()];
};

function monitoring(enable: boolean): Ec2Action {
  return (context) => {
    const { state } = context;
    const instances = namedInstances(state, ids(context.params));
    instances.forEach((instance) => notTerminated(state, instance));
    for (const instance of instances) instance.settings.monitoring = enable ? 'enabled' : 'disabled';
    return items('instancesSet', instances, (instance) => [
      el('instanceId', instance.instanceId),
      el('monitoring', el('state', enable ? 'pending' : 'disabling')),
    ]);
  };
}

export const monitorInstances = monitoring(true);
export const unmonitorInstances = monitoring(false);

export const modifyInstanceCreditSpecification: Ec2Action = (context) => {
  const { state, params } = context;
  const requests = structList(params, 'InstanceCreditSpecification');
  if (requests.length === 0)
    throw new AwsError(400, 'MissingParameter', 'The request must contain the parameter InstanceCreditSpecification');
  const done: string[] = [];
  const refused: { id: string; code: string; message: string }[] = [];
  for (const request of requests) {
    const id = request.InstanceId ?? '';
    const credits = request.CpuCredits;
    if (credits !== 'standard' && credits !== 'unlimited') throw invalidValue('CpuCredits', credits ?? '');
    const instance = lookUpInstance(state, id);
    if (!instance) {
      refused.push({ id, code: 'InvalidInstanceID.NotFound', message: `The instance ID '${id}' does not exist` });
    } else if (findInstanceType(instance.instanceType)?.burstable !== true) {
      refused.push({
        id,
        code: 'InvalidInstanceID',
        message: `The instance '${id}' is not a burstable performance instance.`,
      });
    } else {
      instance.settings.cpuCredits = credits;
      done.push(id);
    }
  }
  return [
    items('successfulInstanceCreditSpecificationSet', done, (id) => [el('instanceId', id)]),
    items('unsuccessfulInstanceCreditSpecificationSet', refused, (each) => [
      el('instanceId', each.id),
      el('error', el('code', each.code), el('message', each.message)),
    ]),
  ];
};

export const modifyInstanceMetadataOptions: Ec2Action = (context) => {
  const { state, params } = context;
  const [instance] = namedInstances(state, [required(params, 'InstanceId')]);
  notTerminated(state, instance);
  const choice = <V extends string>(name: string, choices: readonly V[]): V | undefined => {
    const value = params[name];
    if (value === undefined) return undefined;
    const found = choices.find((each) => each === value);
    if (found === undefined) throw invalidValue(name, value);
    return found;
  };
  const tokens = choice('HttpTokens', ['required', 'optional'] as const);
  const endpoint = choice('HttpEndpoint', ['enabled', 'disabled'] as const);
  const tags = choice('InstanceMetadataTags', ['enabled', 'disabled'] as const);
  const hopText = params.HttpPutResponseHopLimit;
  const hops = hopText === undefined ? undefined : Number(hopText);
  if (hops !== undefined && !(Number.isInteger(hops) && hops >= 1 && hops <= 64))
    throw invalidValue('HttpPutResponseHopLimit', hopText ?? '');
  const { settings } = instance;
  if (tokens) instance.httpTokens = tokens;
  if (endpoint) settings.httpEndpoint = endpoint;
  if (tags) settings.instanceMetadataTags = tags;
  if (hops !== undefined) settings.httpPutResponseHopLimit = hops;
  return [
    el('instanceId', instance.instanceId),
    el(
      'instanceMetadataOptions',
      el('state', 'pending'),
      el('httpTokens', instance.httpTokens),
      el('httpPutResponseHopLimit', settings.httpPutResponseHopLimit),
      el('httpEndpoint', settings.httpEndpoint),
      el('httpProtocolIpv6', 'disabled'),
      el('instanceMetadataTags', settings.instanceMetadataTags),
    ),
  ];
};

/** DescribeInstanceCreditSpecifications by instance id: burstable instances only, as EC2 lists them. */
export const describeInstanceCreditSpecifications: Ec2Action = (context) => {
  const { state } = context;
  const instances = namedInstances(state, scalarList(context.params, 'InstanceId'));
  const burstable = instances.filter((instance) => instance.settings.cpuCredits !== undefined);
  return items('instanceCreditSpecificationSet', burstable, (instance) => [
    el('instanceId', instance.instanceId),
    el('cpuCredits', instance.settings.cpuCredits),
  ]);
};
