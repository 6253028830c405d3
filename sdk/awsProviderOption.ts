/**
 * These resources are dynamic resources of the `pulumi-nodejs` provider: the engine never hands them
 * an `aws` provider, and silently ignores one given in the `provider` or `providers` option. So that
 * a program does not believe its provider's region, profile or role apply, such an option is refused.
 */
import * as pulumi from '@pulumi/pulumi';

type Options = pulumi.CustomResourceOptions | pulumi.ComponentResourceOptions;
type Providers = Record<string, pulumi.ProviderResource> | pulumi.ProviderResource[];

function packageOf(provider: pulumi.ProviderResource): string | undefined {
  // getPackage() is public at run time but not declared in @pulumi/pulumi's types.
  const withPackage = provider as unknown as { getPackage?: () => string };
  return typeof withPackage.getPackage === 'function' ? withPackage.getPackage() : undefined;
}

/** The options unchanged, or an error when they carry an aws provider. */
export function refuseAwsProvider<O extends Options>(resource: string, opts: O | undefined): O | undefined {
  if (!opts) return opts;
  const single = 'provider' in opts ? opts.provider : undefined;
  // `providers` is declared for components only, but a JavaScript program can give it to any resource.
  const providers = (opts as { providers?: Providers }).providers;
  const listed = providers === undefined ? [] : Array.isArray(providers) ? providers : Object.values(providers);
  const given = [single, ...listed].filter((provider): provider is pulumi.ProviderResource => provider !== undefined);
  if (given.some((provider) => packageOf(provider) === 'aws')) {
    throw new Error(
      `${resource}: an aws provider was given in the provider/providers option, which this resource cannot use (it is a dynamic resource; the engine would ignore it): remove the option, and set the region with the resource's region property or the stack's aws:region config, the profile with aws:profile, and credentials in the environment`,
    );
  }
  return opts;
}
