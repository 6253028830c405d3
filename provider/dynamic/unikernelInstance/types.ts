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
  /** Set by check: makes a retried launch return the same instance instead of a second one. */
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
