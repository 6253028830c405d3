/**
 * UnikernelInstance adopting an instance that already runs (`adoptInstanceId`), since `pulumi
 * import` and `.get()` never reach dynamic providers: create launches nothing, it checks the
 * instance runs the program's imageId and instanceType, makes its tags the program's, and records
 * it. From then on it is the stack's: refresh reads it, destroy terminates it.
 */
import { createClients } from '../../aws/clients';
import { AwsInputError } from '../../aws/errors';
import { instanceId } from '../../aws/ids';
import { describeInstance, InstanceSummary } from '../../aws/instances';
import { updateTags } from '../../aws/tags';
import { appliedTags } from '../defaultTags';
import { progress } from '../log';
import { awsSettings, resolveRegion } from '../settings';
import { isGone } from './rules';
import { UnikernelInstanceInputs } from './types';

type Props = Record<string, unknown>;

export type AdoptedInstance = InstanceSummary & { region: string; tags: Record<string, string> };

export async function adoptInstance(
  inputs: UnikernelInstanceInputs & Props,
  adopted: string,
): Promise<AdoptedInstance> {
  const region = await resolveRegion(inputs.region);
  const { ec2 } = createClients(awsSettings(region));
  const id = instanceId(adopted, 'adoptInstanceId');
  const instance = await describeInstance(ec2, id);
  if (!instance || isGone(instance.state))
    throw new AwsInputError(
      'adoptInstanceId',
      `adoptInstanceId ${id} is not a live instance in ${region}: give the id of one`,
    );
  if (instance.state !== 'running')
    throw new AwsInputError(
      'adoptInstanceId',
      `adoptInstanceId ${id} is ${instance.state}, not running: adopt a running instance`,
    );
  if (instance.imageId !== inputs.imageId)
    throw new AwsInputError(
      'adoptInstanceId',
      `adoptInstanceId ${id} runs ${instance.imageId ?? 'an unknown AMI'}, not ${inputs.imageId}: give the imageId it runs`,
    );
  if (instance.instanceType !== inputs.instanceType)
    throw new AwsInputError(
      'adoptInstanceId',
      `adoptInstanceId ${id} is of type ${instance.instanceType ?? 'unknown'}, not ${inputs.instanceType}: give the instanceType it is`,
    );
  const tags = appliedTags(inputs.tags);
  await updateTags(ec2, id, instance.tags, tags);
  progress(`UnikernelInstance ${id}`, 'adopted; destroy terminates it');
  // Everything create records for an instance it launched (addresses, DNS names, zone, owner for the ARN).
  return { ...instance, region, instanceId: id, tags };
}
