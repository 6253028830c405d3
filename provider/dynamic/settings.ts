/**
 * Provider-wide settings: stack config passed to `configure` by the plugin, then the environment.
 * Credentials are never read here: the AWS SDK's default chain finds them in the plugin process's
 * environment (or the shared files' profile that `aws:profile` names), so they are never captured
 * into serialized code or written to state.
 */
import type { AwsSettings } from '../aws/clients';
import { isUnknown } from './values';

export interface ProviderSettings {
  region?: string;
  /** The stack's aws:profile: the shared config profile for region and credentials. */
  profile?: string;
  /** Seconds between polls while waiting for AMIs and instances (tests use a fraction). */
  pollSeconds?: number;
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
  };
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
  return { region: effectiveRegion(region), profile: currentSettings().profile };
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
