/**
 * Provider-wide settings: stack config passed to `configure` by the plugin, then the environment.
 * Credentials are never read here: the AWS SDK's default chain finds them in the plugin process's
 * environment (or the shared files' profile that `aws:profile` names), so they are never captured
 * into serialized code or written to state.
 */
import type { AssumeRoleSettings } from '../aws/assumeRole';
import type { AwsSettings } from '../aws/clients';
import { parseAssumeRoles } from './assumeRoles';
import { isUnknown } from './values';

export interface ProviderSettings {
  region?: string;
  /** The stack's aws:profile: the shared config profile for region and credentials. */
  profile?: string;
  /** Seconds between polls while waiting for AMIs and instances (tests use a fraction). */
  pollSeconds?: number;
  /** The stack's aws:defaultTags' `tags`: applied to every tagged resource, its own tags winning. */
  defaultTags?: Record<string, string>;
  /** The stack's aws:assumeRoles (or aws:assumeRole): the roles every request is signed as, in order. */
  assumeRoles?: AssumeRoleSettings[];
}

interface ConfigReader {
  get(key: string): string | undefined;
}

const KEY = Symbol.for('pulumi-unikernel.settings');
type Holder = { [KEY]?: ProviderSettings };

/** Kept on globalThis: each serialized provider carries its own copy of this module. */
export function rememberSettings(config: ConfigReader): void {
  const poll = config.get('unikernel:pollSeconds');
  (globalThis as Holder)[KEY] = {
    region: config.get('unikernel:region') ?? config.get('aws:region'),
    profile: config.get('aws:profile') || undefined,
    pollSeconds: poll === undefined ? undefined : Number(poll),
    defaultTags: parseDefaultTags(config.get('aws:defaultTags')),
    assumeRoles: parseAssumeRoles(config.get('aws:assumeRoles'), config.get('aws:assumeRole')),
  };
}

/**
 * aws:defaultTags as @pulumi/aws takes it: `{"tags": {"KEY": "VALUE", …}}` (the engine hands the
 * object over as JSON text). Anything else is refused, so that no resource is made without them.
 */
export function parseDefaultTags(text: string | undefined): Record<string, string> | undefined {
  if (text === undefined || text === '') return undefined;
  const shape = 'aws:defaultTags must be {"tags": {"KEY": "VALUE", …}}, as @pulumi/aws takes it';
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error(`${shape}; it is not JSON: fix it with pulumi config set --path 'aws:defaultTags.tags.KEY' VALUE`);
  }
  const tags = typeof value === 'object' && value !== null ? (value as { tags?: unknown }).tags : undefined;
  if (tags === undefined) return undefined;
  if (typeof tags !== 'object' || tags === null || Array.isArray(tags))
    throw new Error(`${shape}; its "tags" is not an object`);
  const entries = Object.entries(tags);
  const bad = entries.find(([, each]) => typeof each !== 'string');
  if (bad) throw new Error(`${shape}; the value of tag "${bad[0]}" is not a string`);
  const reserved = entries.find(([key]) => key.toLowerCase().startsWith('aws:'));
  if (reserved)
    throw new Error(`aws:defaultTags: tag keys starting with "aws:" are reserved by AWS ("${reserved[0]}")`);
  return Object.fromEntries(entries) as Record<string, string>;
}

export function currentSettings(): ProviderSettings {
  return (globalThis as Holder)[KEY] ?? {};
}

/** The region a resource uses: its own input, else the stack's config, else the environment's. */
export function effectiveRegion(region: string | undefined): string | undefined {
  return region ?? currentSettings().region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
}

/** The region the diff compares: an unknown input (preview) stays unknown. */
export function plannedRegion(region: string | undefined): string | undefined {
  return isUnknown(region) ? region : effectiveRegion(region);
}

export function awsSettings(region: string | undefined): AwsSettings {
  const { profile, assumeRoles } = currentSettings();
  return { region: effectiveRegion(region), profile, assumeRoles };
}

/**
 * Waiter settings within a step's deadline of `timeoutSeconds`: the waiter gives up a little
 * before the deadline aborts everything, so a resource that never got ready is reported with its
 * id (a partial failure) rather than cut off mid-call.
 */
export function waitOptions(timeoutSeconds: number) {
  const poll = currentSettings().pollSeconds ?? 5;
  const margin = Math.min(30, Math.max(poll * 2, timeoutSeconds * 0.1));
  return {
    minDelaySeconds: poll,
    maxDelaySeconds: Math.max(poll, poll * 6),
    maxWaitSeconds: Math.max(poll, timeoutSeconds - margin),
  };
}

/** What every resource records so that `read` and `delete`, which get outputs only, find AWS again. */
export async function resolveRegion(region: string | undefined): Promise<string> {
  const { createS3Client } = await import('../aws/clients.js');
  return createS3Client(awsSettings(region)).config.region();
}
