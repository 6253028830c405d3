import * as pulumi from '@pulumi/pulumi';
import { bundledImageProvider } from '../provider/dynamic/bundledImage/provider';
import { BundledImageSchema, bundledImageSchema } from '../provider/dynamic/bundledImage/types';
import { refuseAwsProvider } from './awsProviderOption';
import { ArgsOf, DeclaredOutputsOf, resourceProps } from './declared';

/** The inputs of a BundledImage, as declared in provider/dynamic/bundledImage/types.ts (with their documentation). */
export interface BundledImageArgs extends ArgsOf<BundledImageSchema> {}

/** The outputs a BundledImage shows, as declared in provider/dynamic/bundledImage/types.ts. */
export interface BundledImage extends DeclaredOutputsOf<BundledImageSchema> {}

/**
 * An EC2 instance-store bundle in S3: the image (or a kernel built into one) bundled exactly as
 * ec2-bundle-image does, and uploaded. Replaced when the image's content or any bundle parameter
 * changes; refresh reports a manifest or part missing or altered in S3. Registered as a paravirtual
 * AMI (the usual case), it boots on C1, C3, M1, M2 and M3 only, in the regions that still have PV.
 */
export class BundledImage extends pulumi.dynamic.Resource {
  constructor(name: string, args: BundledImageArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      bundledImageProvider,
      name,
      resourceProps(bundledImageSchema, args),
      refuseAwsProvider('BundledImage', opts),
      'unikernel',
      'BundledImage',
    );
  }
}
