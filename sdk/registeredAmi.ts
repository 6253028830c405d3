import * as pulumi from '@pulumi/pulumi';
import { registeredAmiProvider } from '../provider/dynamic/registeredAmi/provider';
import { RegisteredAmiSchema, registeredAmiSchema } from '../provider/dynamic/registeredAmi/types';
import { refuseAwsProvider } from './awsProviderOption';
import { ArgsOf, DeclaredOutputsOf, resourceProps } from './declared';

/** The inputs of a RegisteredAmi, as declared in provider/dynamic/registeredAmi/types.ts (with their documentation). */
export interface RegisteredAmiArgs extends ArgsOf<RegisteredAmiSchema> {}

/** The outputs a RegisteredAmi shows, as declared in provider/dynamic/registeredAmi/types.ts. */
export interface RegisteredAmi extends DeclaredOutputsOf<RegisteredAmiSchema> {}

/**
 * An AMI: instance-store from a bundle manifest, or EBS-backed from a raw image. Description and
 * tags change in place; anything else registers a new one.
 */
export class RegisteredAmi extends pulumi.dynamic.Resource {
  constructor(name: string, args: RegisteredAmiArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      registeredAmiProvider,
      name,
      resourceProps(registeredAmiSchema, args),
      refuseAwsProvider('RegisteredAmi', opts),
      'unikernel',
      'RegisteredAmi',
    );
  }
}
