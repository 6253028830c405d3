/** What each of RegisteredAmi's sources does with AWS: the operations that differ between them. */
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { CheckFailure } from '../failures';
import type { RegisteredAmiInputs, RegisteredAmiOutputs } from './types';

type Props = Record<string, unknown>;

/** What refresh found: undefined when the AMI is gone. */
export interface LiveAmi {
  state: string;
  description?: string;
  tags?: Record<string, string>;
  name?: string;
}

export interface AmiSourceOperations {
  /** Check's file work, after the pure checks (`failures`); returns the inputs to store. */
  prepare(news: Props, failures: CheckFailure[]): Promise<Props>;
  /** `imageName`: the name to register the AMI under (name, plus its suffix unless exactName). */
  create(
    props: Props,
    inputs: RegisteredAmiInputs & Props,
    imageName: string,
  ): Promise<{ id: string; outs: RegisteredAmiOutputs & Props }>;
  read(ec2: EC2Client, id: string, olds: RegisteredAmiOutputs): Promise<LiveAmi | undefined>;
  remove(ec2: EC2Client, id: string, olds: RegisteredAmiOutputs, signal: AbortSignal): Promise<void>;
}
