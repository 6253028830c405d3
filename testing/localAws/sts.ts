/**
 * STS, as much as assuming a role needs: AssumeRole (Query API, version 2011-06-15) on the roles a
 * test made (`createRoleDirect`), with their external id and maximum session duration, answering
 * temporary credentials (an ASIA… key, a secret and a session token) that every service then accepts
 * until they expire, and only with that token. Errors are STS's ErrorResponse documents.
 */
import { randomBytes } from 'crypto';
import { AwsError } from './errors';
import { LocalAwsState } from './state';
import { el, element, xmlDocument } from './xml';

const STS_NAMESPACE = 'https://sts.amazonaws.com/doc/2011-06-15/';

/** A role that can be assumed: who may is not modelled, only its external id and longest session. */
export interface RoleRecord {
  arn: string;
  roleId: string;
  externalId?: string;
  maxSessionDurationSeconds: number;
}

/** Temporary credentials issued by AssumeRole. */
export interface SessionRecord {
  secretAccessKey: string;
  sessionToken: string;
  expiration: number;
  assumedRoleArn: string;
  roleArn: string;
}

function validation(message: string): AwsError {
  return new AwsError(400, 'ValidationError', message);
}

function constraint(value: string, field: string, rule: string): AwsError {
  return validation(
    `1 validation error detected: Value '${value}' at '${field}' failed to satisfy constraint: ${rule}`,
  );
}

function upperAlphanumeric(length: number): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  return [...randomBytes(length)].map((byte) => alphabet[byte % alphabet.length]).join('');
}

function assumeRole(state: LocalAwsState, params: Record<string, string>, caller: string): string {
  const roleArn = params.RoleArn;
  const sessionName = params.RoleSessionName;
  if (roleArn === undefined)
    throw validation(
      "1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null",
    );
  if (sessionName === undefined)
    throw validation(
      "1 validation error detected: Value null at 'roleSessionName' failed to satisfy constraint: Member must not be null",
    );
  if (!/^[\w+=,.@-]{2,64}$/.test(sessionName))
    throw constraint(sessionName, 'roleSessionName', 'Member must satisfy regular expression pattern: [\\w+=,.@-]*');
  if (roleArn.length < 20 || roleArn.length > 2048)
    throw constraint(roleArn, 'roleArn', 'Member must have length between 20 and 2048');
  const role = state.roles.get(roleArn);
  if (!role || (role.externalId !== undefined && role.externalId !== params.ExternalId)) {
    throw new AwsError(
      403,
      'AccessDenied',
      `User: ${caller} is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`,
    );
  }
  const duration = params.DurationSeconds === undefined ? 3600 : Number(params.DurationSeconds);
  if (!Number.isInteger(duration) || duration < 900 || duration > 43200)
    throw constraint(params.DurationSeconds ?? '', 'durationSeconds', 'Member must have value between 900 and 43200');
  if (duration > role.maxSessionDurationSeconds)
    throw validation('The requested DurationSeconds exceeds the MaxSessionDuration set for this role.');
  const accessKeyId = `ASIA${upperAlphanumeric(16)}`;
  const expiration = Math.floor(state.now() / 1000) * 1000 + duration * 1000;
  const roleName = roleArn.slice(roleArn.lastIndexOf('/') + 1);
  const assumedRoleArn = `arn:aws:sts::${state.config.accountId}:assumed-role/${roleName}/${sessionName}`;
  const session: SessionRecord = {
    secretAccessKey: randomBytes(30).toString('base64'),
    sessionToken: randomBytes(96).toString('base64'),
    expiration,
    assumedRoleArn,
    roleArn,
  };
  state.sessions.set(accessKeyId, session);
  return xmlDocument(
    element(
      'AssumeRoleResponse',
      { xmlns: STS_NAMESPACE },
      el(
        'AssumeRoleResult',
        el('AssumedRoleUser', el('AssumedRoleId', `${role.roleId}:${sessionName}`), el('Arn', assumedRoleArn)),
        el(
          'Credentials',
          el('AccessKeyId', accessKeyId),
          el('SecretAccessKey', session.secretAccessKey),
          el('SessionToken', session.sessionToken),
          el('Expiration', new Date(expiration).toISOString().replace(/\.\d{3}Z$/, 'Z')),
        ),
      ),
      el('ResponseMetadata', el('RequestId', randomBytes(16).toString('hex'))),
    ),
  );
}

/** One STS request; `caller` is the ARN of the credentials that signed it. */
export function handleSts(state: LocalAwsState, params: Record<string, string>, caller: string): string {
  const action = params.Action ?? '';
  if (action === 'AssumeRole') return assumeRole(state, params, caller);
  throw new AwsError(
    400,
    'InvalidAction',
    `Could not find operation ${action || '(none)'} for version ${params.Version ?? 'NO_VERSION_SPECIFIED'}`,
  );
}

export function renderStsError(error: AwsError, requestId: string): string {
  return xmlDocument(
    element(
      'ErrorResponse',
      { xmlns: STS_NAMESPACE },
      el(
        'Error',
        el('Type', error.status >= 500 ? 'Receiver' : 'Sender'),
        el('Code', error.code),
        el('Message', error.message),
      ),
      el('RequestId', requestId),
    ),
  );
}
