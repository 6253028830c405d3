/**
 * The stack's assume-role settings, as @pulumi/aws names them: `aws:assumeRoles` (a list, each role
 * assumed with the one before) or `aws:assumeRole` (one role, the older provider's key), each
 * `{"roleArn": …, "sessionName"?, "externalId"?, "duration"? ("1h", "15m"), "policy"?, "policyArns"?,
 * "sourceIdentity"?, "tags"?, "transitiveTagKeys"?}`. The engine hands objects over as JSON text.
 * Anything else is refused with the shape to give (pure).
 */
import type { AssumeRoleSettings } from '../aws/assumeRole';

const SHAPE = 'give {"roleArn": "arn:aws:iam::ACCOUNT:role/NAME", "sessionName"?, "externalId"?, "duration"? ("1h")}';
const FIELDS = new Set([
  'roleArn',
  'sessionName',
  'externalId',
  'duration',
  'policy',
  'policyArns',
  'sourceIdentity',
  'tags',
  'transitiveTagKeys',
]);

function refuse(key: string, why: string): never {
  throw new Error(`${key}: ${why}; ${SHAPE}`);
}

/** A Go duration as @pulumi/aws takes it ("1h", "15m", "1h30m", "900s"), in whole seconds. */
export function durationSeconds(text: string, key: string): number {
  const match = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(text);
  if (!match || text === '') refuse(key, `"duration" ${JSON.stringify(text)} is not a duration such as "1h" or "15m"`);
  const [, hours, minutes, seconds] = match.map((part) => Number(part ?? 0));
  const total = hours * 3600 + minutes * 60 + seconds;
  if (total < 900 || total > 43200) refuse(key, `"duration" ${text} must be from 15m to 12h`);
  return total;
}

function strings(value: unknown, field: string, key: string): string[] {
  if (!Array.isArray(value) || value.some((each) => typeof each !== 'string'))
    refuse(key, `"${field}" must be a list of strings`);
  return value as string[]; // checked just above: every item is a string
}

function role(value: unknown, key: string): AssumeRoleSettings {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) refuse(key, 'each role must be an object');
  const fields = value as Record<string, unknown>; // an object, checked above
  const unknown = Object.keys(fields).find((field) => !FIELDS.has(field));
  if (unknown !== undefined) refuse(key, `"${unknown}" is not a setting of a role`);
  const text = (field: string): string | undefined => {
    const each = fields[field];
    if (each === undefined) return undefined;
    if (typeof each !== 'string' || each === '') refuse(key, `"${field}" must be a non-empty string`);
    return each;
  };
  const roleArn = text('roleArn');
  if (roleArn === undefined || !/^arn:aws[\w-]*:iam::\d{12}:role\/.+$/.test(roleArn))
    refuse(key, `"roleArn" ${JSON.stringify(roleArn ?? null)} is not a role ARN`);
  const sessionName = text('sessionName');
  if (sessionName !== undefined && !/^[\w+=,.@-]{2,64}$/.test(sessionName))
    refuse(key, `"sessionName" ${JSON.stringify(sessionName)} must be 2 to 64 of letters, digits and +=,.@_-`);
  const duration = text('duration');
  const tags = fields.tags;
  if (
    tags !== undefined &&
    (typeof tags !== 'object' || tags === null || Object.values(tags).some((each) => typeof each !== 'string'))
  )
    refuse(key, '"tags" must be an object of strings');
  return {
    roleArn,
    sessionName,
    externalId: text('externalId'),
    durationSeconds: duration === undefined ? undefined : durationSeconds(duration, key),
    policy: text('policy'),
    policyArns: fields.policyArns === undefined ? undefined : strings(fields.policyArns, 'policyArns', key),
    sourceIdentity: text('sourceIdentity'),
    tags: tags as Record<string, string> | undefined, // checked above: an object of strings
    transitiveTagKeys:
      fields.transitiveTagKeys === undefined ? undefined : strings(fields.transitiveTagKeys, 'transitiveTagKeys', key),
  };
}

function json(text: string, key: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return refuse(key, 'it is not JSON');
  }
}

/** The roles to assume, in order; undefined when neither key is set. */
export function parseAssumeRoles(
  list: string | undefined,
  single: string | undefined,
): AssumeRoleSettings[] | undefined {
  const given = (text: string | undefined) => text !== undefined && text !== '' && text !== 'null';
  if (given(list) && given(single))
    throw new Error('aws:assumeRoles and aws:assumeRole are both set: keep one (assumeRoles, a list, is the newer)');
  if (given(list)) {
    const value = json(list as string, 'aws:assumeRoles'); // given() checked it is a string
    if (!Array.isArray(value)) refuse('aws:assumeRoles', 'it must be a list of roles');
    return value.map((each) => role(each, 'aws:assumeRoles'));
  }
  if (given(single)) return [role(json(single as string, 'aws:assumeRole'), 'aws:assumeRole')]; // as above
  return undefined;
}
