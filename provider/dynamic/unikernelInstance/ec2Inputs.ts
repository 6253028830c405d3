/**
 * The checks of UnikernelInstance's inputs that mean what `aws.ec2.Instance`'s do (pure): one
 * failure per property, naming the value at fault and what it takes.
 */
import { FailureList } from '../failures';
import { PlannedOf } from '../schema';
import { isKnown, isUnknown } from '../values';
import { unikernelInstanceSchema } from './types';

type Planned = PlannedOf<typeof unikernelInstanceSchema>;
type Fields = Record<string, unknown>;

const INSTANCE_PROFILE_NAME = /^[\w+=,.@-]{1,128}$/;
const INSTANCE_PROFILE_ARN = /^arn:aws(-[a-z]+)*:iam::\d{12}:instance-profile\/([\w+=,.@/-]*\/)?[\w+=,.@-]{1,128}$/;
const ZONE = /^([a-z]{2}(-[a-z]+)+-\d+)[a-z]$/;
const VOLUME_TYPES = ['gp2', 'gp3', 'io1', 'io2', 'st1', 'sc1', 'standard'];

/** Burstable types (T2, T3, T3a, T4g): the only ones with CPU credits. */
export function isBurstable(instanceType: string): boolean {
  return /^t\d[a-z]*\./.test(instanceType);
}

function isIpv4(value: string): boolean {
  const parts = value.split('.');
  return parts.length === 4 && parts.every((part) => /^(0|[1-9]\d{0,2})$/.test(part) && Number(part) <= 255);
}

function wholeIn(value: unknown, low: number, high: number): boolean {
  return typeof value === 'number' && Number.isInteger(value) && value >= low && value <= high;
}

/** The first problem of an object input's fields, or undefined: unknown fields, then each field's rule. */
function fieldProblem(
  value: Fields,
  rules: Record<string, (field: unknown) => string | undefined>,
): string | undefined {
  const extra = Object.keys(value).find((key) => !(key in rules));
  if (extra !== undefined) return `has no field "${extra}" (it takes ${Object.keys(rules).join(', ')})`;
  for (const [key, rule] of Object.entries(rules)) {
    const field = value[key];
    if (field === undefined || isUnknown(field)) continue;
    const problem = rule(field);
    if (problem) return `${key} ${problem}`;
  }
  return undefined;
}

function choice(choices: readonly string[]) {
  return (field: unknown) =>
    typeof field === 'string' && choices.includes(field)
      ? undefined
      : `is ${JSON.stringify(field)}; give ${choices.map((each) => `"${each}"`).join(' or ')}`;
}

function flag(field: unknown): string | undefined {
  return typeof field === 'boolean' ? undefined : `is ${JSON.stringify(field)}; give true or false`;
}

export function metadataOptionsProblem(value: Fields): string | undefined {
  return fieldProblem(value, {
    httpTokens: choice(['required', 'optional']),
    httpEndpoint: choice(['enabled', 'disabled']),
    httpPutResponseHopLimit: (field) =>
      wholeIn(field, 1, 64) ? undefined : `is ${JSON.stringify(field)}; give a whole number from 1 to 64`,
    instanceMetadataTags: choice(['enabled', 'disabled']),
  });
}

export function rootBlockDeviceProblem(value: Fields): string | undefined {
  const fields = fieldProblem(value, {
    volumeSize: (field) =>
      wholeIn(field, 1, 65536) ? undefined : `is ${JSON.stringify(field)}; give whole GiB from 1 to 65536`,
    volumeType: choice(VOLUME_TYPES),
    iops: (field) => (wholeIn(field, 100, 256000) ? undefined : `is ${JSON.stringify(field)}; give 100 to 256000`),
    throughput: (field) =>
      wholeIn(field, 125, 2000) ? undefined : `is ${JSON.stringify(field)}; give 125 to 2000 MiB/s`,
    encrypted: flag,
    kmsKeyId: (field) => (typeof field === 'string' && field !== '' ? undefined : 'must be a KMS key id or ARN'),
    deleteOnTermination: flag,
  });
  if (fields) return fields;
  const type = value.volumeType;
  const knownType = typeof type === 'string' ? type : undefined;
  if (value.iops !== undefined && !isUnknown(type) && !['gp3', 'io1', 'io2'].includes(knownType ?? 'gp2'))
    return `iops is given for volumeType ${knownType ?? 'gp2 (the default)'}; it applies to gp3, io1 and io2 only`;
  if ((knownType === 'io1' || knownType === 'io2') && value.iops === undefined)
    return `volumeType ${knownType} needs iops`;
  if (value.throughput !== undefined && !isUnknown(type) && knownType !== 'gp3')
    return `throughput is given for volumeType ${knownType ?? 'gp2 (the default)'}; it applies to gp3 only`;
  if (value.kmsKeyId !== undefined && value.encrypted !== true && !isUnknown(value.encrypted))
    return 'kmsKeyId is given without encrypted: true; set encrypted to true or remove kmsKeyId';
  return undefined;
}

export function creditSpecificationProblem(value: Fields, instanceType: unknown): string | undefined {
  const fields = fieldProblem(value, { cpuCredits: choice(['standard', 'unlimited']) });
  if (fields) return fields;
  if (typeof instanceType === 'string' && !isUnknown(instanceType) && !isBurstable(instanceType))
    return `applies to burstable (T) types only, and ${instanceType} is not one: remove it or choose a T type`;
  return undefined;
}

/** The inputs named as `aws.ec2.Instance` names them: one failure per property. */
export function checkEc2Inputs(list: FailureList, inputs: Planned): void {
  const { iamInstanceProfile, availabilityZone, privateIp, placementGroup, region } = inputs;
  if (
    isKnown(iamInstanceProfile) &&
    !INSTANCE_PROFILE_NAME.test(iamInstanceProfile) &&
    !INSTANCE_PROFILE_ARN.test(iamInstanceProfile)
  )
    list.fail(
      'iamInstanceProfile',
      `"${iamInstanceProfile}" is neither an instance profile name nor its ARN (arn:aws:iam::ACCOUNT:instance-profile/NAME)`,
    );
  if (isKnown(availabilityZone)) {
    const zone = ZONE.exec(availabilityZone);
    if (!zone) list.fail('availabilityZone', `"${availabilityZone}" is not an availability zone (such as us-east-1a)`);
    else if (isKnown(region) && zone[1] !== region)
      list.fail('availabilityZone', `${availabilityZone} is not in the region ${region}: give a zone of ${region}`);
  }
  if (isKnown(privateIp) && !isIpv4(privateIp))
    list.fail('privateIp', `"${privateIp}" is not an IPv4 address (such as 172.31.0.10)`);
  if (isKnown(placementGroup) && (placementGroup.length === 0 || placementGroup.length > 255))
    list.fail('placementGroup', 'must be a placement group name of 1 to 255 characters');
  const behaviour = inputs.instanceInitiatedShutdownBehavior;
  if (isKnown(behaviour) && behaviour !== 'stop' && behaviour !== 'terminate')
    list.fail('instanceInitiatedShutdownBehavior', `is "${behaviour}"; give "stop" or "terminate"`);
  const metadata = inputs.metadataOptions;
  if (isKnown(metadata)) {
    list.fail('metadataOptions', metadataOptionsProblem(metadata));
    const tokens = metadata.httpTokens;
    if (isKnown(inputs.httpTokens) && typeof tokens === 'string' && !isUnknown(tokens) && tokens !== inputs.httpTokens)
      list.fail(
        'httpTokens',
        `is "${inputs.httpTokens}" but metadataOptions.httpTokens is "${tokens}": remove httpTokens (deprecated), metadataOptions holds it`,
      );
  }
  if (isKnown(inputs.rootBlockDevice)) list.fail('rootBlockDevice', rootBlockDeviceProblem(inputs.rootBlockDevice));
  if (isKnown(inputs.creditSpecification))
    list.fail('creditSpecification', creditSpecificationProblem(inputs.creditSpecification, inputs.instanceType));
}
