/**
 * What EC2 changes on an instance in place: termination protection and shutdown behaviour
 * (ModifyInstanceAttribute, read back with DescribeInstanceAttribute), security groups, detailed
 * monitoring, CPU credits, metadata options, the instance profile (its association replaced), and the instance type of an EBS-backed instance by
 * stop, modify and start.
 */
import {
  AssociateIamInstanceProfileCommand,
  DescribeIamInstanceProfileAssociationsCommand,
  DescribeInstanceAttributeCommand,
  DisassociateIamInstanceProfileCommand,
  DescribeInstanceCreditSpecificationsCommand,
  EC2Client,
  ModifyInstanceAttributeCommand,
  ModifyInstanceCreditSpecificationCommand,
  ModifyInstanceMetadataOptionsCommand,
  MonitorInstancesCommand,
  ReplaceIamInstanceProfileAssociationCommand,
  StartInstancesCommand,
  StopInstancesCommand,
  UnmonitorInstancesCommand,
  waitUntilInstanceStopped,
} from '@aws-sdk/client-ec2';
import { AwsOperationError, awsCall } from './errors';
import { InstanceId } from './ids';
import { describeInstance, InstanceSummary, MetadataOptions, waitForInstanceRunning } from './instances';
import { waiterParameters, WaitOptions } from './waiting';

/** The attributes DescribeInstances does not show. */
export interface InstanceAttributes {
  disableApiTermination?: boolean;
  instanceInitiatedShutdownBehavior?: string;
}

export async function describeInstanceAttributes(
  ec2: EC2Client,
  id: InstanceId,
  signal?: AbortSignal,
): Promise<InstanceAttributes> {
  const ask = (attribute: 'disableApiTermination' | 'instanceInitiatedShutdownBehavior') =>
    awsCall('DescribeInstanceAttribute', id, () =>
      ec2.send(new DescribeInstanceAttributeCommand({ InstanceId: id, Attribute: attribute }), { abortSignal: signal }),
    );
  const termination = await ask('disableApiTermination');
  const shutdown = await ask('instanceInitiatedShutdownBehavior');
  return {
    disableApiTermination: termination.DisableApiTermination?.Value,
    instanceInitiatedShutdownBehavior: shutdown.InstanceInitiatedShutdownBehavior?.Value,
  };
}

/** The CPU credits of a burstable instance, or undefined for another type. */
export async function describeCpuCredits(ec2: EC2Client, id: InstanceId, signal?: AbortSignal) {
  const output = await awsCall('DescribeInstanceCreditSpecifications', id, () =>
    ec2.send(new DescribeInstanceCreditSpecificationsCommand({ InstanceIds: [id] }), { abortSignal: signal }),
  );
  return output.InstanceCreditSpecifications?.find((each) => each.InstanceId === id)?.CpuCredits;
}

export async function setTerminationProtection(ec2: EC2Client, id: InstanceId, on: boolean): Promise<void> {
  await awsCall('ModifyInstanceAttribute', id, () =>
    ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: id, DisableApiTermination: { Value: on } })),
  );
}

export async function setShutdownBehavior(ec2: EC2Client, id: InstanceId, behavior: 'stop' | 'terminate') {
  await awsCall('ModifyInstanceAttribute', id, () =>
    ec2.send(
      new ModifyInstanceAttributeCommand({ InstanceId: id, InstanceInitiatedShutdownBehavior: { Value: behavior } }),
    ),
  );
}

export async function setSecurityGroups(ec2: EC2Client, id: InstanceId, groups: string[]): Promise<void> {
  await awsCall('ModifyInstanceAttribute', id, () =>
    ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: id, Groups: groups })),
  );
}

export async function setMonitoring(ec2: EC2Client, id: InstanceId, on: boolean): Promise<void> {
  await awsCall(on ? 'MonitorInstances' : 'UnmonitorInstances', id, () =>
    ec2.send(
      on ? new MonitorInstancesCommand({ InstanceIds: [id] }) : new UnmonitorInstancesCommand({ InstanceIds: [id] }),
    ),
  );
}

export async function setCpuCredits(ec2: EC2Client, id: InstanceId, credits: 'standard' | 'unlimited') {
  const output = await awsCall('ModifyInstanceCreditSpecification', id, () =>
    ec2.send(
      new ModifyInstanceCreditSpecificationCommand({
        InstanceCreditSpecifications: [{ InstanceId: id, CpuCredits: credits }],
      }),
    ),
  );
  const refused = output.UnsuccessfulInstanceCreditSpecifications?.[0];
  if (refused)
    throw new AwsOperationError(
      'ModifyInstanceCreditSpecification',
      id,
      refused.Error?.Code ?? 'Unsuccessful',
      `EC2 did not set the CPU credits of ${id} to ${credits}: ${refused.Error?.Message ?? 'no reason given'}`,
      false,
    );
}

export async function setMetadataOptions(ec2: EC2Client, id: InstanceId, options: Required<MetadataOptions>) {
  await awsCall('ModifyInstanceMetadataOptions', id, () =>
    ec2.send(
      new ModifyInstanceMetadataOptionsCommand({
        InstanceId: id,
        HttpTokens: options.httpTokens,
        HttpEndpoint: options.httpEndpoint,
        HttpPutResponseHopLimit: options.httpPutResponseHopLimit,
        InstanceMetadataTags: options.instanceMetadataTags,
      }),
    ),
  );
}

/**
 * Changes the type of an EBS-backed instance: stop, wait for stopped, modify, start, wait for
 * running. A failed modify starts the instance again with its old type before throwing, so the
 * instance is never left stopped by a refused type.
 */
export async function changeInstanceType(
  ec2: EC2Client,
  id: InstanceId,
  type: string,
  wait?: WaitOptions,
  signal?: AbortSignal,
  onProgress?: (message: string) => void,
): Promise<InstanceSummary> {
  await awsCall('StopInstances', id, () =>
    ec2.send(new StopInstancesCommand({ InstanceIds: [id] }), { abortSignal: signal }),
  );
  onProgress?.('stopping, to change its type');
  try {
    await waitUntilInstanceStopped(
      waiterParameters(ec2, wait, { maxWaitSeconds: 900, minDelaySeconds: 5, maxDelaySeconds: 15 }, signal),
      { InstanceIds: [id] },
    );
  } catch (error) {
    if (signal?.aborted) throw error;
    const instance = await describeInstance(ec2, id, signal).catch(() => undefined);
    throw new AwsOperationError(
      'StopInstances',
      id,
      'NotStopped',
      `instance ${id} is ${instance?.state ?? 'in an unknown state'}, not stopped, after waiting; its type was not changed`,
      true,
    );
  }
  let modifyError: unknown;
  try {
    await awsCall('ModifyInstanceAttribute', id, () =>
      ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: id, InstanceType: { Value: type } }), {
        abortSignal: signal,
      }),
    );
    onProgress?.(`type set to ${type}; starting`);
  } catch (error) {
    modifyError = error;
    onProgress?.(`the type change was refused; starting it again with its old type`);
  }
  await awsCall('StartInstances', id, () =>
    ec2.send(new StartInstancesCommand({ InstanceIds: [id] }), { abortSignal: signal }),
  );
  const running = await waitForInstanceRunning(ec2, id, wait, signal);
  if (modifyError !== undefined) throw modifyError;
  return running;
}

/** The profile as the EC2 API names it: an ARN as Arn, a name as Name. */
function profileSpecification(profile: string): { Arn: string } | { Name: string } {
  return profile.startsWith('arn:') ? { Arn: profile } : { Name: profile };
}

/**
 * Sets the instance profile of a running instance in place: the instance's active association is
 * replaced, or one made when there is none, or removed when `profile` is undefined.
 */
export async function setInstanceProfile(
  ec2: EC2Client,
  id: InstanceId,
  profile: string | undefined,
  signal?: AbortSignal,
): Promise<void> {
  const described = await awsCall('DescribeIamInstanceProfileAssociations', id, () =>
    ec2.send(
      new DescribeIamInstanceProfileAssociationsCommand({
        Filters: [
          { Name: 'instance-id', Values: [id] },
          { Name: 'state', Values: ['associated'] },
        ],
      }),
      { abortSignal: signal },
    ),
  );
  const associationId = described.IamInstanceProfileAssociations?.find((each) => each.InstanceId === id)?.AssociationId;
  if (profile === undefined) {
    if (associationId === undefined) return;
    await awsCall('DisassociateIamInstanceProfile', id, () =>
      ec2.send(new DisassociateIamInstanceProfileCommand({ AssociationId: associationId }), { abortSignal: signal }),
    );
  } else if (associationId === undefined) {
    await awsCall('AssociateIamInstanceProfile', id, () =>
      ec2.send(
        new AssociateIamInstanceProfileCommand({ InstanceId: id, IamInstanceProfile: profileSpecification(profile) }),
        { abortSignal: signal },
      ),
    );
  } else {
    await awsCall('ReplaceIamInstanceProfileAssociation', id, () =>
      ec2.send(
        new ReplaceIamInstanceProfileAssociationCommand({
          AssociationId: associationId,
          IamInstanceProfile: profileSpecification(profile),
        }),
        { abortSignal: signal },
      ),
    );
  }
}
