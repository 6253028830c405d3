/** UnikernelInstance: one EC2 instance running an AMI. */
export interface UnikernelInstanceInputs {
  imageId: string;
  instanceType: string;
  keyName?: string;
  securityGroupIds?: string[];
  subnetId?: string;
  userData?: string;
  tags?: Record<string, string>;
  /** IMDSv2 is required unless this says "optional". */
  httpTokens?: 'required' | 'optional';
  region?: string;
  /** Deadline for launching (and for terminating), in seconds (default 900). */
  timeoutSeconds?: number;
  /** Set by create (one per launch): a retried RunInstances returns the same instance. */
  clientToken?: string;
}

export interface UnikernelInstanceOutputs extends UnikernelInstanceInputs {
  instanceId: string;
  region: string;
  state: string;
  privateIpAddress?: string;
  publicIpAddress?: string;
  tags: Record<string, string>;
  clientToken: string;
}
