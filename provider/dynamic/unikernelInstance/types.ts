/**
 * UnikernelInstance, declared once: one EC2 instance running an AMI. The doc comments are the
 * sdk's (UnikernelInstanceArgs and the resource's outputs). Declaration order is the order of the
 * diff's `replaces`.
 */
import { kinds, shared, InputsOf, OutputsOf, property } from '../schema';

const { strings, numbers, oneOf, listOf } = kinds;

export const unikernelInstanceSchema = {
  imageId: property(strings, { input: 'required', output: 'always', change: 'replace' }),
  subnetId: property(strings, { input: 'optional', output: 'maybe', change: 'replace' }),
  userData: property(strings, { input: 'optional', output: 'maybe', change: 'replace' }),
  keyName: property(strings, { input: 'optional', output: 'maybe', change: 'replace' }),
  securityGroupIds: property(listOf(strings), { input: 'optional', output: 'maybe', change: 'replace' }),
  /** IMDSv2 is required unless this is "optional". */
  httpTokens: property(oneOf(['required', 'optional']), {
    input: 'optional',
    output: 'maybe',
    change: 'replace',
    default: 'required',
  }),
  /**
   * A type that can boot the AMI, checked against the region's DescribeInstanceTypes before launch.
   * A paravirtual instance-store AMI boots on C1, C3, M1, M2 and M3 only (e.g. m3.medium); an
   * instance-store HVM AMI also on D2, I2, R3 and X1; an EBS-backed HVM AMI on current (Nitro)
   * types such as t3.micro.
   */
  instanceType: property(strings, { input: 'required', output: 'always', change: 'replace' }),
  tags: shared.tags,
  /** Deadline for launching (and for terminating), in seconds (default 900). */
  timeoutSeconds: property(numbers, { input: 'optional', output: 'maybe', change: 'update' }),
  /** Compared with the effective region (the input, else the provider's): a move replaces. */
  region: shared.region,
  /**
   * Take over a running instance (i-…) instead of launching one: create checks it runs imageId as
   * instanceType and makes its tags the program's; refresh reads it; destroy terminates it.
   */
  adoptInstanceId: property(strings, { input: 'optional', output: 'maybe', change: 'replace' }),
  /** The instance's id. */
  instanceId: property(strings, { output: 'always', change: 'none', resource: 'declared' }),
  /** running; or what refresh found instead (a replacement follows). */
  state: property(strings, { output: 'always', change: 'none', resource: 'declared' }),
  privateIpAddress: property(strings, { output: 'maybe', change: 'none', resource: 'declared' }),
  publicIpAddress: property(strings, { output: 'maybe', change: 'none', resource: 'declared' }),
  /** Set by create (one per launch): a retried RunInstances returns the same instance. */
  clientToken: property(strings, { output: 'always', change: 'none', resource: 'reserved' }),
};

export type UnikernelInstanceSchema = typeof unikernelInstanceSchema;
export type UnikernelInstanceInputs = InputsOf<UnikernelInstanceSchema>;
export type UnikernelInstanceOutputs = OutputsOf<UnikernelInstanceSchema>;
