/**
 * Provider-wide settings: stack config passed to `configure` by the plugin, then the environment.
 * Credentials are never read here: the AWS SDK's default chain finds them in the plugin process's
 * environment, so they are never captured into serialized code or written to state.
 */
import type { AwsSettings } from '../aws/clients';

export interface ProviderSettings {
  region?: string;
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
    pollSeconds: poll === undefined ? undefined : Number(poll),
  };
}

export function currentSettings(): ProviderSettings {
  return (globalThis as Holder)[KEY] ?? {};
}

export function awsSettings(region: string | undefined): AwsSettings {
  return { region: region ?? currentSettings().region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION };
}

export function waitOptions(timeoutSeconds: number) {
  const poll = currentSettings().pollSeconds ?? 5;
  return { minDelaySeconds: poll, maxDelaySeconds: Math.max(poll, poll * 6), maxWaitSeconds: timeoutSeconds };
}

/** What every resource records so that `read` and `delete`, which get outputs only, find AWS again. */
export async function resolveRegion(region: string | undefined): Promise<string> {
  const { createS3Client } = await import('../aws/clients.js');
  return createS3Client(awsSettings(region)).config.region();
}
