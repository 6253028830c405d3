/** UnikernelInstance's pure rules: input checks and the diff. */
import { bootPatterns } from '../../aws/bootCheck';
import { imageId, instanceId, instanceType } from '../../aws/ids';
import { CheckFailure, FailureList } from '../failures';
import { positiveSecondsProblem, regionMoves, wholeNumberProblem } from '../inputRules';
import { defaultsOf, keysWhere, parsePlanned, PlannedOf, withDefaults } from '../schema';
import { diffProperties, DiffOutcome, isKnown, isUnknown } from '../values';
import { unikernelInstanceSchema } from './types';

type Props = Record<string, unknown>;

/** EC2 accepts at most 16 KiB of user data (before base64). */
export const MAX_USER_DATA_BYTES = 16 * 1024;

export function checkInstanceInputs(props: Props): CheckFailure[] {
  const list = new FailureList();
  const { planned: inputs, failures } = parsePlanned(unikernelInstanceSchema, props);
  for (const failure of failures) list.fail(failure.property, failure.reason);
  const { imageId: image, instanceType: type, subnetId, securityGroupIds, userData, httpTokens } = inputs;
  if (!image) list.fail('imageId', 'give the AMI to run (RegisteredAmi.imageId)');
  else if (isKnown(image)) list.attempt('imageId', () => imageId(image, 'imageId'));
  if (!type)
    list.fail(
      'instanceType',
      'give the instance type to run: m3.medium, say, for a paravirtual instance-store AMI, t3.micro for an EBS-backed HVM one',
    );
  else if (isKnown(type)) list.attempt('instanceType', () => instanceType(type, 'instanceType'));
  if (isKnown(subnetId) && !/^subnet-[0-9a-f]{8,17}$/.test(subnetId))
    list.fail('subnetId', `"${subnetId}" is not a subnet id (subnet-…)`);
  const badGroup = isKnown(securityGroupIds)
    ? securityGroupIds.find(
        (group) => !isUnknown(group) && !(typeof group === 'string' && /^sg-[0-9a-f]{8,17}$/.test(group)),
      )
    : undefined;
  if (badGroup !== undefined) list.fail('securityGroupIds', `"${String(badGroup)}" is not a security group id (sg-…)`);
  if (isKnown(userData) && Buffer.byteLength(userData) > MAX_USER_DATA_BYTES) {
    list.fail('userData', `is ${Buffer.byteLength(userData)} bytes; EC2 accepts at most ${MAX_USER_DATA_BYTES}`);
  }
  if (isKnown(httpTokens) && !['required', 'optional'].includes(httpTokens))
    list.fail('httpTokens', 'must be "required" (IMDSv2) or "optional"');
  list.fail('timeoutSeconds', positiveSecondsProblem(inputs.timeoutSeconds));
  checkBootInputs(list, inputs);
  const adopted = inputs.adoptInstanceId;
  if (isKnown(adopted)) list.attempt('adoptInstanceId', () => instanceId(adopted, 'adoptInstanceId'));
  return list.failures;
}

/** Boot verification's inputs: valid regular expressions, a positive deadline, nothing given that is switched off. */
function checkBootInputs(list: FailureList, inputs: PlannedOf<typeof unikernelInstanceSchema>): void {
  const { verifyBoot, bootMarker, bootFailurePatterns, bootTimeoutSeconds, bootPort, bootPortAddress } = inputs;
  if (isKnown(bootMarker)) list.attempt('bootMarker', () => bootPatterns(bootMarker));
  if (isKnown(bootFailurePatterns)) {
    const known = bootFailurePatterns.filter((each): each is string => typeof each === 'string' && !isUnknown(each));
    if (known.length !== bootFailurePatterns.filter((each) => !isUnknown(each)).length)
      list.fail('bootFailurePatterns', 'must be a list of regular expressions (strings)');
    else list.attempt('bootFailurePatterns', () => bootPatterns(undefined, known));
  }
  list.fail('bootTimeoutSeconds', positiveSecondsProblem(bootTimeoutSeconds));
  list.fail('bootPort', wholeNumberProblem(bootPort, 1, 65535, 'a TCP port'));
  if (isKnown(bootPortAddress) && !['public', 'private'].includes(bootPortAddress))
    list.fail('bootPortAddress', 'must be "public" or "private"');
  else if (bootPortAddress !== undefined && bootPort === undefined)
    list.fail('bootPortAddress', 'is given without bootPort: give the port to check, or remove it');
  if (verifyBoot === false) {
    const given = (
      ['bootMarker', 'bootFailurePatterns', 'bootTimeoutSeconds', 'bootPort', 'bootPortAddress'] as const
    ).filter((key) => inputs[key] !== undefined);
    for (const key of given) list.fail(key, 'is given but verifyBoot is false: remove it, or turn verifyBoot on');
  }
}

const GONE_STATES = new Set(['shutting-down', 'terminated']);
export function isGone(state: string): boolean {
  return GONE_STATES.has(state);
}

export interface InstanceDiff extends DiffOutcome {
  /** Why the instance is replaced, for the user (the dynamic diff has no room for messages). */
  notes: string[];
}

const DEFAULTS = defaultsOf(unikernelInstanceSchema);
/** Replacing properties compared as given; the region is compared as it takes effect, below. */
const REPLACE_ON = keysWhere(unikernelInstanceSchema, (property) => property.change === 'replace').filter(
  (key) => key !== 'region',
);
const UPDATE_ON = keysWhere(unikernelInstanceSchema, (property) => property.change === 'update');

/** `effectiveRegion`: the region the new inputs would use, unknown in preview, undefined if none is configured. */
export function diffInstance(olds: Props, news: Props, effectiveRegion: string | undefined): InstanceDiff {
  const outcome = diffProperties(withDefaults(olds, DEFAULTS), withDefaults(news, DEFAULTS), {
    replaceOn: REPLACE_ON,
    updateOn: UPDATE_ON,
  });
  const replaces = [...outcome.replaces];
  const notes: string[] = [];
  if (replaces.includes('instanceType')) {
    notes.push(
      `instanceType ${String(olds.instanceType)} → ${isUnknown(news.instanceType) ? '(unknown)' : String(news.instanceType)}: the instance is replaced (a type changes only on a stopped instance, and instance-store instances cannot be stopped)`,
    );
  }
  if (regionMoves(typeof olds.region === 'string' ? olds.region : undefined, effectiveRegion)) replaces.push('region');
  if (olds.state !== undefined && olds.state !== 'running') {
    replaces.push('state');
    notes.push(`the instance is ${String(olds.state)}, not running: it is replaced`);
  }
  const boot = olds.bootStatus as Record<string, unknown> | undefined;
  if (boot?.result === 'not verified') {
    replaces.push('bootStatus');
    notes.push(`its boot was not verified (${String(boot.summary)}): the instance is replaced`);
  }
  if (olds.statusCheck === 'impaired') {
    replaces.push('statusCheck');
    notes.push('its instance reachability check is impaired: the instance is replaced');
  }
  return { changes: outcome.changes || replaces.length > 0, replaces, notes };
}
