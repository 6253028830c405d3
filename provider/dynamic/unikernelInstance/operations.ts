/**
 * UnikernelInstance's create/read/update/delete. An instance that launches but never reaches
 * running is a partial failure carrying its id; any other failure after launching terminates it.
 */
import { deadline, trackedOperations } from '../cancellation';
import { randomUUID } from 'crypto';
import type { EC2Client } from '@aws-sdk/client-ec2';
import { bootPatterns } from '../../aws/bootCheck';
import { BootOutcome, bootFailureMessage, bootStatusOf, reachability, watchBoot } from '../../aws/bootWatch';
import { createClients } from '../../aws/clients';
import { imageId, instanceId, InstanceId } from '../../aws/ids';
import {
  checkInstanceTypeCanBoot,
  describeInstance,
  instanceArn,
  InstanceNotRunningError,
  InstanceSummary,
  LaunchCutOffError,
  launchOrFind,
  terminateInstance,
  TerminationProtectedError,
  waitForInstanceRunning,
} from '../../aws/instances';
import {
  changeInstanceType,
  describeCpuCredits,
  describeInstanceAttributes,
  setCpuCredits,
  setInstanceProfile,
  setMetadataOptions,
  setMonitoring,
  setSecurityGroups,
  setShutdownBehavior,
  setTerminationProtection,
} from '../../aws/instanceChanges';
import { updateTags } from '../../aws/tags';
import { describeRootVolume, setDeleteOnTermination } from '../../aws/volumes';
import { AwsInputError } from '../../aws/errors';
import {
  appliedTags,
  defaultTags,
  rootVolumeTags,
  rootVolumeTagsDiffer,
  tagOutputs,
  withDefaultTagsChange,
} from '../defaultTags';
import { pulumiReason } from '../remedies';
import { CheckFailure, PartialFailure, reason } from '../failures';
import { progress } from '../log';
import { awsSettings, currentSettings, plannedRegion, resolveRegion, waitOptions } from '../settings';
import { parseInputs, parseOutputs, refreshedInputs } from '../schema';
import { definedOnly } from '../values';
import { adoptInstance } from './adopt';
import { checkInstanceInputs, diffInstance, InPlaceChange, inPlaceChanges, isGone, liveInputs } from './rules';
import { recordedRootVolume, updateRootVolume } from './rootVolume';
import { UnikernelInstanceInputs, UnikernelInstanceOutputs, unikernelInstanceSchema } from './types';

type Props = Record<string, unknown>;
const RESOURCE = 'UnikernelInstance';
const DEFAULT_TIMEOUT_SECONDS = 900;
const DEFAULT_BOOT_TIMEOUT_SECONDS = 600;

export function check(_olds: Props, news: Props): { inputs: Props; failures: CheckFailure[] } {
  return { inputs: news, failures: checkInstanceInputs(news) };
}

export function diff(olds: Props, news: Props) {
  const { notes, ...outcome } = diffInstance(
    olds,
    news,
    plannedRegion(typeof news.region === 'string' ? news.region : undefined),
  );
  for (const note of notes) progress(`UnikernelInstance ${String(olds.instanceId)}`, note);
  const withTags = withDefaultTagsChange(outcome, olds, news.tags);
  return !withTags.changes && rootVolumeTagsDiffer(olds) ? { ...withTags, changes: true } : withTags;
}

type InstanceFacts = Pick<InstanceSummary, 'state' | 'privateIpAddress' | 'publicIpAddress' | 'tags'> &
  Partial<
    Pick<InstanceSummary, 'privateDnsName' | 'publicDnsName' | 'availabilityZone' | 'ownerId' | 'rootDeviceType'>
  > & {
    instanceId: string;
    /** The root EBS volume's tags, when there is one. */
    rootVolumeTags?: Record<string, string>;
  };

function outputs(
  inputs: UnikernelInstanceInputs & Props,
  clientToken: string,
  region: string,
  instance: InstanceFacts,
): UnikernelInstanceOutputs & Props {
  const { __provider: _provider, ...rest } = inputs;
  return definedOnly({
    ...rest,
    instanceId: instance.instanceId,
    region,
    state: instance.state,
    privateIpAddress: instance.privateIpAddress,
    publicIpAddress: instance.publicIpAddress,
    ...tagOutputs(instance.tags, inputs.tags),
    arn: instance.ownerId ? instanceArn(region, instance.ownerId, instance.instanceId) : undefined,
    privateDns: instance.privateDnsName,
    publicDns: instance.publicDnsName,
    availabilityZone: instance.availabilityZone ?? inputs.availabilityZone,
    rootDeviceType: instance.rootDeviceType,
    rootVolumeTags: instance.rootVolumeTags,
    clientToken,
  });
}

async function createNow(props: Props): Promise<{ id: string; outs: UnikernelInstanceOutputs & Props }> {
  const inputs = parseInputs(unikernelInstanceSchema, props, RESOURCE);
  if (inputs.adoptInstanceId !== undefined) {
    const adopted = await adoptInstance(inputs, inputs.adoptInstanceId);
    return { id: adopted.instanceId, outs: outputs(inputs, `adopted ${adopted.instanceId}`, adopted.region, adopted) };
  }
  const region = await resolveRegion(inputs.region);
  const { ec2 } = createClients(awsSettings(region));
  const timeout = inputs.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS;
  const signal = deadline(timeout);
  // One token per create: the SDK's retries of RunInstances reuse it, so a retried request never
  // launches twice; a replacement gets its own, so EC2 never hands back the instance it replaces.
  const clientToken = randomUUID();
  const { instanceId: id, foundByToken } = await launchOrFind({
    ec2,
    imageId: imageId(inputs.imageId),
    instanceType: inputs.instanceType,
    clientToken,
    keyName: inputs.keyName,
    securityGroupIds: inputs.securityGroupIds,
    subnetId: inputs.subnetId,
    userData: inputs.userData,
    tags: appliedTags(inputs.tags),
    httpTokens: inputs.httpTokens,
    iamInstanceProfile: inputs.iamInstanceProfile,
    associatePublicIpAddress: inputs.associatePublicIpAddress,
    metadataOptions: inputs.metadataOptions,
    availabilityZone: inputs.availabilityZone,
    privateIp: inputs.privateIp,
    instanceInitiatedShutdownBehavior: inputs.instanceInitiatedShutdownBehavior,
    cpuCredits: inputs.creditSpecification?.cpuCredits,
    rootBlockDevice: inputs.rootBlockDevice,
    monitoring: inputs.monitoring,
    placementGroup: inputs.placementGroup,
    disableApiTermination: inputs.disableApiTermination,
    // As @pulumi/aws gives them to the root volume of an instance whose rootBlockDevice has no tags.
    volumeTags: defaultTags(),
    bootPort:
      inputs.verifyBoot === false || inputs.bootPort === undefined
        ? undefined
        : { port: inputs.bootPort, address: inputs.bootPortAddress },
    notice: (message) => progress(`UnikernelInstance of ${inputs.imageId}`, message),
    signal,
  }).catch((error: unknown) => keepCutOffLaunch(refusedInput(error), props, inputs, clientToken, region));
  const label = `UnikernelInstance ${id}`;
  if (foundByToken) progress(label, foundByToken);
  progress(label, `launched from ${inputs.imageId} (${inputs.instanceType}); waiting until it is running`);
  let instance: InstanceSummary;
  try {
    instance = await waitForInstanceRunning(ec2, id, waitOptions(timeout), signal);
    progress(label, `running${instance.publicIpAddress ? ` at ${instance.publicIpAddress}` : ''}`);
  } catch (error) {
    if (error instanceof InstanceNotRunningError) {
      throw new PartialFailure(
        id,
        {
          ...props,
          ...outputs(inputs, clientToken, region, {
            instanceId: id,
            state: error.state,
            tags: appliedTags(inputs.tags),
          }),
        },
        [error.message],
      );
    }
    try {
      await terminateInstance(ec2, id, waitOptions(60));
    } catch (cleanupError) {
      const facts = { instanceId: id, state: 'unknown', tags: appliedTags(inputs.tags) };
      throw new PartialFailure(id, { ...props, ...outputs(inputs, clientToken, region, facts) }, [
        `${reason(error)}; terminating ${id} failed too (${reason(cleanupError)}): destroy or update again to remove it`,
      ]);
    }
    throw error;
  }
  const running = {
    ...outputs(inputs, clientToken, region, { ...instance, rootVolumeTags: rootVolumeTags(instance.rootDeviceType) }),
    ...(await liveRootBlockDevice(ec2, instance, inputs.rootBlockDevice, label)),
  };
  const bootStatus = await verifyBoot(ec2, id, inputs, label, (summary, message) => {
    throw new PartialFailure(id, { ...props, ...running, bootStatus: summary }, [message]);
  });
  return { id, outs: { ...running, bootStatus } };
}

/** A launch input refused before anything was launched, in Pulumi's words and named by its property. */
function refusedInput(error: unknown): unknown {
  if (!(error instanceof AwsInputError) || !error.remedy) return error;
  return new Error(`${error.input}: ${pulumiReason(error)}`, { cause: error });
}

/**
 * The root volume of an EBS-backed instance as recorded: the live one (DescribeVolumes), what the
 * program gives over it; nothing for an instance-store one. A failed read leaves the given fields
 * only (refresh reads it again).
 */
async function liveRootBlockDevice(
  ec2: EC2Client,
  instance: InstanceSummary,
  given: Props | undefined,
  label: string,
): Promise<{ rootBlockDevice?: Props }> {
  if (instance.rootDeviceType !== 'ebs' || instance.rootDeviceName === undefined) return {};
  try {
    const live = await describeRootVolume(ec2, instance.instanceId, instance.rootDeviceName);
    return live ? { rootBlockDevice: { ...recordedRootVolume(live), ...definedOnly(given ?? {}) } } : {};
  } catch (error) {
    progress(label, `its root volume could not be read (${reason(error)}); refresh records it`);
    return {};
  }
}

/**
 * RunInstances cut off by a signal after EC2 started the instance: it exists, and the state keeps its
 * id, with a state that is not `running`, so that the next up replaces it (its boot was never checked).
 */
function keepCutOffLaunch(
  error: unknown,
  props: Props,
  inputs: UnikernelInstanceInputs & Props,
  clientToken: string,
  region: string,
): never {
  if (!(error instanceof LaunchCutOffError)) throw error;
  const facts = {
    instanceId: error.instanceId,
    state: `${error.state}, launch cut off`,
    tags: appliedTags(inputs.tags),
  };
  // Recorded as not verified, so that a refresh (which finds it running) does not make it look booted.
  const bootStatus = {
    result: 'not verified',
    at: new Date().toISOString(),
    summary: 'its launch was cut off before its boot was checked',
  };
  throw new PartialFailure(error.instanceId, { ...props, ...outputs(inputs, clientToken, region, facts), bootStatus }, [
    `${error.message}; it is kept in the state: the next up replaces it (even after a refresh), destroy terminates it`,
  ]);
}

/**
 * Boot verification after running: the status it ends in (for state), or `fail` with the status and
 * a message holding the console's last lines (shown, never stored). The instance is kept either way.
 */
async function verifyBoot(
  ec2: EC2Client,
  id: InstanceId,
  inputs: UnikernelInstanceInputs,
  label: string,
  fail: (status: Record<string, string>, message: string) => never,
): Promise<Record<string, string>> {
  if (inputs.verifyBoot === false)
    return { result: 'not checked', at: new Date().toISOString(), summary: 'verifyBoot is false' };
  const timeoutSeconds = inputs.bootTimeoutSeconds ?? DEFAULT_BOOT_TIMEOUT_SECONDS;
  let outcome: BootOutcome;
  try {
    outcome = await watchBoot({
      ec2,
      instanceId: id,
      instanceType: inputs.instanceType,
      patterns: bootPatterns(inputs.bootMarker, inputs.bootFailurePatterns),
      timeoutSeconds,
      pollSeconds: currentSettings().pollSeconds ?? 5,
      // A signal to the plugin stops the watch too: the instance is then kept in the state, not lost.
      signal: deadline(timeoutSeconds + 120),
      onProgress: (message) => progress(label, message),
      port: inputs.bootPort === undefined ? undefined : { port: inputs.bootPort, address: inputs.bootPortAddress },
    });
  } catch (error) {
    const summary = `verification could not finish: ${reason(error)}`;
    return fail(
      { result: 'not verified', at: new Date().toISOString(), summary },
      `instance ${id} is running but its boot was not verified: ${summary}; the instance is kept`,
    );
  }
  const status = bootStatusOf(outcome);
  if (!outcome.verified)
    return fail(
      status,
      `${bootFailureMessage(id, outcome)}\n(the instance is kept: fix the image and run up again, which replaces it)`,
    );
  progress(label, `boot verified: ${outcome.summary}`);
  return status;
}

export async function read(id: string, props: Props) {
  const olds = parseOutputs(unikernelInstanceSchema, props, RESOURCE);
  const { ec2 } = createClients(awsSettings(olds.region));
  const instance = await describeInstance(ec2, instanceId(id));
  if (!instance || isGone(instance.state)) return { id: '' };
  const checks = instance.state === 'running' ? await reachability(ec2, instanceId(id)) : undefined;
  if (checks?.instance === 'impaired')
    progress(`UnikernelInstance ${id}`, 'its instance reachability check is impaired: the next up replaces it');
  const attributes = await describeInstanceAttributes(ec2, instanceId(id));
  const cpuCredits = olds.creditSpecification ? await describeCpuCredits(ec2, instanceId(id)) : undefined;
  const rootVolume =
    instance.rootDeviceType === 'ebs' && instance.rootDeviceName !== undefined
      ? await describeRootVolume(ec2, instanceId(id), instance.rootDeviceName)
      : undefined;
  // The root volume's tags, as @pulumi/aws reads rootBlockDevice.tagsAll: a change made outside shows as drift.
  const volumeTags = rootVolume?.tags;
  const hasPublicIp = instance.state === 'running' ? instance.hasPublicIp : undefined;
  const refreshed = {
    ...olds,
    // Only an impaired check is recorded: a healthy instance's state stays as create left it.
    statusCheck: checks?.instance === 'impaired' ? checks.instance : undefined,
    state: instance.state,
    ...tagOutputs(instance.tags, olds.tags),
    privateIpAddress: instance.privateIpAddress,
    publicIpAddress: instance.publicIpAddress,
    privateDns: instance.privateDnsName ?? olds.privateDns,
    publicDns: instance.publicDnsName ?? olds.publicDns,
    rootVolumeTags: volumeTags ?? olds.rootVolumeTags,
    ...liveInputs(olds, {
      ...instance,
      ...attributes,
      cpuCredits,
      hasPublicIp,
      rootVolume: rootVolume && recordedRootVolume(rootVolume),
    }),
  };
  return {
    id,
    props: definedOnly({ ...props, ...refreshed }),
    inputs: definedOnly(refreshedInputs(unikernelInstanceSchema, refreshed)),
  };
}

async function updateNow(id: string, olds: Props, news: Props) {
  const before = parseOutputs(unikernelInstanceSchema, olds, RESOURCE);
  const inputs = parseInputs(unikernelInstanceSchema, news, RESOURCE);
  const { ec2 } = createClients(awsSettings(before.region));
  const instance = instanceId(id);
  const label = `UnikernelInstance ${id}`;
  const tags = appliedTags(inputs.tags);
  const changes = inPlaceChanges(before, inputs);
  // DescribeInstances at most once, and only when a change needs the root device or volume.
  let described: Promise<InstanceSummary | undefined> | undefined;
  const live = () => (described ??= describeInstance(ec2, instance));
  const needsDevice = changes.some((each) => each.kind === 'rootVolume' || each.kind === 'deleteOnTermination');
  const rootDeviceName = needsDevice ? (await live())?.rootDeviceName : undefined;
  // The root volume first: EC2 may refuse it (one modification at a time, four a day), and then nothing else is changed.
  const volumeChange = changes.find((each) => each.kind === 'rootVolume');
  let rootBlockDevice: Props | undefined =
    before.rootBlockDevice || inputs.rootBlockDevice
      ? { ...before.rootBlockDevice, ...definedOnly(inputs.rootBlockDevice ?? {}) }
      : undefined;
  if (volumeChange) {
    const timeout = inputs.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS;
    const live = await updateRootVolume({
      ec2,
      instance,
      rootDeviceName: rootDeviceName ?? '(unknown)',
      change: volumeChange.value,
      wait: waitOptions(timeout),
      signal: deadline(timeout),
      progress: (message) => progress(label, message),
    });
    if (live) rootBlockDevice = { ...live, ...definedOnly(inputs.rootBlockDevice ?? {}) };
  }
  await updateTags(ec2, instance, before.tagsAll ?? before.tags ?? {}, tags);
  const volumeTags = await keepRootVolumeTags(ec2, live, before, label);
  for (const change of changes.filter((each) => each.kind !== 'instanceType' && each.kind !== 'rootVolume')) {
    await changeInPlace(ec2, instance, change, rootDeviceName);
    progress(
      label,
      change.value === undefined ? `${change.kind} removed` : `${change.kind} set to ${JSON.stringify(change.value)}`,
    );
  }
  // What only create and refresh learn (the boot's verdict, the ARN, names, zone) stays as it was.
  const { bootStatus, statusCheck, arn, privateDns, publicDns, availabilityZone, rootDeviceType } = before;
  const kept = definedOnly({
    bootStatus,
    statusCheck,
    arn,
    privateDns,
    publicDns,
    availabilityZone,
    rootDeviceType,
    rootVolumeTags: volumeTags,
  });
  const typeChange = changes.find((each) => each.kind === 'instanceType');
  if (!typeChange)
    return {
      outs: definedOnly({
        ...outputs(inputs, before.clientToken, before.region, { ...before, tags, rootVolumeTags: volumeTags }),
        ...kept,
        rootBlockDevice,
      }),
    };
  const timeout = inputs.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS;
  // A type that cannot boot the AMI is refused before the instance is stopped.
  for (const note of await checkInstanceTypeCanBoot(ec2, imageId(inputs.imageId), inputs.instanceType))
    progress(label, note);
  progress(label, `changing its type from ${before.instanceType} to ${inputs.instanceType}: stop, modify, start`);
  const running = await changeInstanceType(
    ec2,
    instance,
    inputs.instanceType,
    waitOptions(timeout),
    deadline(timeout),
    (message) => progress(label, message),
  );
  // Started again: new addresses, and the unikernel booted again, so its boot is verified again.
  const outs = definedOnly({
    ...kept,
    ...outputs(inputs, before.clientToken, before.region, { ...running, rootVolumeTags: volumeTags }),
    rootBlockDevice,
  });
  const status = await verifyBoot(ec2, instance, inputs, label, (summary, message) => {
    throw new PartialFailure(id, { ...news, ...outs, bootStatus: summary }, [message]);
  });
  return { outs: { ...outs, bootStatus: status } };
}

/**
 * The root EBS volume's tags kept in step with the defaults (CreateTags and DeleteTags on the
 * volume, as @pulumi/aws updates rootBlockDevice.tagsAll); what it holds afterwards.
 */
async function keepRootVolumeTags(
  ec2: EC2Client,
  live: () => Promise<InstanceSummary | undefined>,
  before: { rootDeviceType?: string; rootVolumeTags?: Record<string, string> },
  label: string,
): Promise<Record<string, string> | undefined> {
  const wanted = rootVolumeTags(before.rootDeviceType);
  if (wanted === undefined || !rootVolumeTagsDiffer(before)) return before.rootVolumeTags;
  const volume = (await live())?.rootVolumeId;
  if (volume === undefined) return before.rootVolumeTags;
  await updateTags(ec2, volume, before.rootVolumeTags ?? {}, wanted);
  progress(label, `root volume ${volume} tagged with the stack's default tags`);
  return wanted;
}

/** One in-place change other than the type (which stops and starts the instance) and the root volume (made first). */
async function changeInPlace(
  ec2: EC2Client,
  id: InstanceId,
  change: InPlaceChange,
  rootDeviceName: string | undefined,
): Promise<void> {
  switch (change.kind) {
    case 'deleteOnTermination':
      if (rootDeviceName === undefined)
        throw new Error(
          `rootBlockDevice: instance ${id} has no root device name, so deleteOnTermination cannot be set`,
        );
      return setDeleteOnTermination(ec2, id, rootDeviceName, change.value);
    case 'disableApiTermination':
      return setTerminationProtection(ec2, id, change.value);
    case 'instanceInitiatedShutdownBehavior':
      return setShutdownBehavior(ec2, id, change.value);
    case 'securityGroupIds':
      return setSecurityGroups(ec2, id, change.value);
    case 'monitoring':
      return setMonitoring(ec2, id, change.value);
    case 'creditSpecification':
      return setCpuCredits(ec2, id, change.value);
    case 'metadataOptions':
      return setMetadataOptions(ec2, id, change.value);
    case 'iamInstanceProfile':
      return setInstanceProfile(ec2, id, change.value);
    case 'instanceType':
    case 'rootVolume':
      throw new Error(`unreachable: ${change.kind} is changed apart`);
  }
}

async function removeNow(id: string, props: Props): Promise<void> {
  const olds = parseOutputs(unikernelInstanceSchema, props, RESOURCE);
  const { ec2 } = createClients(awsSettings(olds.region));
  const timeout = olds.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS;
  progress(`UnikernelInstance ${id}`, 'terminating');
  try {
    await terminateInstance(ec2, instanceId(id), waitOptions(timeout), deadline(timeout));
  } catch (error) {
    if (!(error instanceof TerminationProtectedError)) throw error;
    throw new Error(
      `instance ${id} has termination protection (disableApiTermination is true), so EC2 refuses to terminate it; it is still running and still in the stack: set disableApiTermination to false and run pulumi up, then destroy`,
      { cause: error },
    );
  }
  progress(`UnikernelInstance ${id}`, 'terminated');
}

// Creates, updates and deletes are waited for when the plugin is signalled (see ../cancellation).
export const { create, update, remove } = trackedOperations({
  create: createNow,
  update: updateNow,
  remove: removeNow,
});
