import * as pulumi from '@pulumi/pulumi';
import { unikernelInstanceProvider } from '../provider/dynamic/unikernelInstance/provider';
import { UnikernelInstanceSchema, unikernelInstanceSchema } from '../provider/dynamic/unikernelInstance/types';
import { refuseAwsProvider } from './awsProviderOption';
import { ArgsOf, DeclaredOutputsOf, resourceProps } from './declared';

/** The inputs of a UnikernelInstance, as declared in provider/dynamic/unikernelInstance/types.ts (with their documentation). */
export interface UnikernelInstanceArgs extends ArgsOf<UnikernelInstanceSchema> {}

/** The outputs a UnikernelInstance shows, as declared in provider/dynamic/unikernelInstance/types.ts. */
export interface UnikernelInstance extends DeclaredOutputsOf<UnikernelInstanceSchema> {}

/** An EC2 instance running a unikernel AMI; tags change in place, anything else replaces it. */
export class UnikernelInstance extends pulumi.dynamic.Resource {
  constructor(name: string, args: UnikernelInstanceArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      unikernelInstanceProvider,
      name,
      resourceProps(unikernelInstanceSchema, args),
      refuseAwsProvider('UnikernelInstance', opts),
      'unikernel',
      'UnikernelInstance',
    );
  }
}

/** A component's optional instance (`NAME-instance`), run from the AMI's id, which previews keep known. */
export function componentInstance(
  parent: pulumi.ComponentResource,
  name: string,
  imageId: pulumi.Input<string>,
  args: Omit<UnikernelInstanceArgs, 'imageId' | 'region'> | undefined,
  region: pulumi.Input<string> | undefined,
): UnikernelInstance | undefined {
  return args && new UnikernelInstance(`${name}-instance`, { ...args, imageId, region }, { parent });
}
