/**
 * Credentials of an assumed role (or a chain of them, each assumed with the one before): STS
 * AssumeRole through the SDK's `fromTemporaryCredentials`, starting from the default credential chain
 * (or the named profile's). The SDK is loaded only when a role is configured.
 */
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@aws-sdk/types';

export interface AssumeRoleSettings {
  roleArn: string;
  sessionName?: string;
  externalId?: string;
  durationSeconds?: number;
  policy?: string;
  policyArns?: string[];
  sourceIdentity?: string;
  tags?: Record<string, string>;
  transitiveTagKeys?: string[];
}

export interface AssumeRoleChain {
  roles: readonly AssumeRoleSettings[];
  region?: string;
  /** STS's endpoint (like AWS_ENDPOINT_URL_STS); default the SDK's. */
  endpoint?: string;
  /** The profile the first role is assumed from; default the SDK's credential chain. */
  profile?: string;
  /** Or the credentials it is assumed with. */
  source?: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  maxAttempts?: number;
}

/** The credentials the last role of the chain gives. */
export function assumedRoleCredentials(chain: AssumeRoleChain): AwsCredentialIdentityProvider {
  let provider: Promise<AwsCredentialIdentityProvider> | undefined;
  const build = async (): Promise<AwsCredentialIdentityProvider> => {
    const { fromNodeProviderChain, fromTemporaryCredentials } = await import('@aws-sdk/credential-providers');
    let credentials: AwsCredentialIdentity | AwsCredentialIdentityProvider | undefined =
      chain.source ?? (chain.profile === undefined ? undefined : fromNodeProviderChain({ profile: chain.profile }));
    for (const role of chain.roles) {
      credentials = fromTemporaryCredentials({
        masterCredentials: credentials,
        params: {
          RoleArn: role.roleArn,
          RoleSessionName: role.sessionName,
          ExternalId: role.externalId,
          DurationSeconds: role.durationSeconds,
          Policy: role.policy,
          PolicyArns: role.policyArns?.map((arn) => ({ arn })),
          SourceIdentity: role.sourceIdentity,
          Tags: role.tags && Object.entries(role.tags).map(([Key, Value]) => ({ Key, Value })),
          TransitiveTagKeys: role.transitiveTagKeys,
        },
        clientConfig: {
          region: chain.region,
          endpoint: chain.endpoint,
          profile: chain.profile,
          maxAttempts: chain.maxAttempts,
        },
      });
    }
    if (typeof credentials !== 'function') throw new Error('assumedRoleCredentials: no role to assume');
    return credentials;
  };
  return async (): Promise<AwsCredentialIdentity> => {
    provider ??= build();
    return (await provider)();
  };
}
