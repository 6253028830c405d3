/** UnikernelInstance's pure rules: input checks and the diff. */
import { imageId, instanceType } from '../../aws/ids';
import { CheckFailure, FailureList } from '../failures';
import { diffProperties, DiffOutcome, isKnown, isUnknown } from '../values';
import { UnikernelInstanceInputs, UnikernelInstanceOutputs } from './types';

/** EC2 accepts at most 16 KiB of user data (before base64). */
export const MAX_USER_DATA_BYTES = 16 * 1024;

export function checkInstanceInputs(inputs: UnikernelInstanceInputs): CheckFailure[] {
  const list = new FailureList();
  const { failures } = list;
  const attempt = list.attempt.bind(list);
  if (!inputs.imageId) failures.push({ property: 'imageId', reason: 'give the AMI to run (RegisteredAmi.imageId)' });
  else if (isKnown(inputs.imageId)) attempt('imageId', () => imageId(inputs.imageId, 'imageId'));
  if (!inputs.instanceType) failures.push({ property: 'instanceType', reason: 'give the instance type to run: m3.medium, say, for a paravirtual instance-store AMI, t3.micro for an EBS-backed HVM one' });
  else if (isKnown(inputs.instanceType)) attempt('instanceType', () => instanceType(inputs.instanceType, 'instanceType'));
  if (isKnown(inputs.subnetId) && !/^subnet-[0-9a-f]{8,17}$/.test(inputs.subnetId as string)) failures.push({ property: 'subnetId', reason: `"${inputs.subnetId}" is not a subnet id (subnet-…)` });
  const badGroup = isKnown(inputs.securityGroupIds) ? inputs.securityGroupIds?.find((group) => !isUnknown(group) && !/^sg-[0-9a-f]{8,17}$/.test(group)) : undefined;
  if (badGroup !== undefined) failures.push({ property: 'securityGroupIds', reason: `"${badGroup}" is not a security group id (sg-…)` });
  if (isKnown(inputs.userData) && Buffer.byteLength(inputs.userData as string) > MAX_USER_DATA_BYTES) {
    failures.push({ property: 'userData', reason: `is ${Buffer.byteLength(inputs.userData as string)} bytes; EC2 accepts at most ${MAX_USER_DATA_BYTES}` });
  }
  if (isKnown(inputs.httpTokens) && !['required', 'optional'].includes(inputs.httpTokens as string)) failures.push({ property: 'httpTokens', reason: 'must be "required" (IMDSv2) or "optional"' });
  if (isKnown(inputs.timeoutSeconds) && !(Number(inputs.timeoutSeconds) > 0)) failures.push({ property: 'timeoutSeconds', reason: 'must be a positive number of seconds' });
  return failures;
}

const GONE_STATES = new Set(['shutting-down', 'terminated']);
export function isGone(state: string): boolean {
  return GONE_STATES.has(state);
}

export interface InstanceDiff extends DiffOutcome {
  /** Why the instance is replaced, for the user (the dynamic diff has no room for messages). */
  notes: string[];
}

export function diffInstance(olds: UnikernelInstanceOutputs, news: UnikernelInstanceInputs, effectiveRegion: string | undefined): InstanceDiff {
  const withDefaults = <T extends Partial<UnikernelInstanceInputs>>(value: T) => ({ httpTokens: 'required', tags: {}, ...Object.fromEntries(Object.entries(value).filter(([, item]) => item !== undefined)) }) as T;
  const outcome = diffProperties<UnikernelInstanceInputs>(withDefaults(olds), withDefaults(news), {
    replaceOn: ['imageId', 'subnetId', 'userData', 'keyName', 'securityGroupIds', 'httpTokens', 'instanceType'],
    updateOn: ['tags', 'timeoutSeconds'],
  });
  const replaces = [...outcome.replaces];
  const notes: string[] = [];
  if (replaces.includes('instanceType')) {
    notes.push(`instanceType ${olds.instanceType} → ${isUnknown(news.instanceType) ? '(unknown)' : news.instanceType}: the instance is replaced (a type changes only on a stopped instance, and instance-store instances cannot be stopped)`);
  }
  if (effectiveRegion !== undefined && (isUnknown(effectiveRegion) || effectiveRegion !== olds.region)) replaces.push('region');
  if (olds.state !== undefined && olds.state !== 'running') {
    replaces.push('state');
    notes.push(`the instance is ${olds.state}, not running: it is replaced`);
  }
  return { changes: outcome.changes || replaces.length > 0, replaces, notes };
}
