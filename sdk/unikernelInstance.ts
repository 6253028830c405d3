import * as pulumi from '@pulumi/pulumi';
import { unikernelInstanceProvider } from '../provider/dynamic/unikernelInstance/provider';

export interface UnikernelInstanceArgs {
  imageId: pulumi.Input<string>;
  /**
   * A type that can boot the AMI, checked against the region's DescribeInstanceTypes before launch.
   * A paravirtual instance-store AMI boots on C1, C3, M1, M2 and M3 only (e.g. m3.medium); an
   * instance-store HVM AMI also on D2, I2, R3 and X1; an EBS-backed HVM AMI on current (Nitro)
   * types such as t3.micro.
   */
  instanceType: pulumi.Input<string>;
  keyName?: pulumi.Input<string>;
  securityGroupIds?: pulumi.Input<pulumi.Input<string>[]>;
  subnetId?: pulumi.Input<string>;
  userData?: pulumi.Input<string>;
  tags?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /** IMDSv2 is required unless this is "optional". */
  httpTokens?: pulumi.Input<'required' | 'optional'>;
  region?: pulumi.Input<string>;
  timeoutSeconds?: pulumi.Input<number>;
}

/** An EC2 instance running a unikernel AMI; tags change in place, anything else replaces it. */
export class UnikernelInstance extends pulumi.dynamic.Resource {
  declare readonly instanceId: pulumi.Output<string>;
  declare readonly state: pulumi.Output<string>;
  declare readonly region: pulumi.Output<string>;
  declare readonly privateIpAddress: pulumi.Output<string | undefined>;
  declare readonly publicIpAddress: pulumi.Output<string | undefined>;
  declare readonly tags: pulumi.Output<Record<string, string>>;

  constructor(name: string, args: UnikernelInstanceArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      unikernelInstanceProvider,
      name,
      { ...args, instanceId: undefined, state: undefined, region: args.region, privateIpAddress: undefined, publicIpAddress: undefined, tags: args.tags, clientToken: undefined },
      opts,
      'unikernel',
      'UnikernelInstance',
    );
  }
}
