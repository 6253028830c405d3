/**
 * The serial console and the status checks: each instance's boot is worked out at launch, then served
 * by GetConsoleOutput and DescribeInstanceStatus. An instance-store PV image sealed for the local
 * AWS's EC2 certificate gets PV-GRUB's work on the real bundle (the kernel's own output scripted by
 * its digest or for the image). For any other image, what a test scripted for the image decides;
 * without a script, a bundle the local AWS cannot open boots nothing (empty console, unreachable) and
 * an EBS HVM image gets its firmware's verdict on the root snapshot's first sectors (firmware.ts).
 */
import { findInstanceType } from './catalog';
import { bootBundle } from './bundleBoot';
import { FIRMWARE_LOOKS_AT_BYTES, firmwareBoot } from './firmware';
import { AwsError } from './errors';
import { checkInstanceId, Ec2Action, instancesNotFound, lookUpInstance, paginate } from './ec2Context';
import { filters, invalidValue, passesFilters, required, scalarList } from './ec2Params';
import { ConsoleRecord, ConsoleScript, ImageRecord, InstanceRecord, LocalAwsState } from './state';
import { STATE_CODES } from './ec2Instances';
import { el, items, opt, XmlContent } from './xml';

/** GetConsoleOutput returns the last 64 KB. */
const CONSOLE_BYTES = 64 * 1024;

function scriptFor(state: LocalAwsState, key: string) {
  return state.consoleScripts.get(key);
}

function listening(script: ConsoleScript | undefined): ConsoleRecord['listen'] {
  return script?.ports ? { ports: [...script.ports], afterMs: script.listenAfterMs ?? 0 } : undefined;
}

/** The first bytes of the image's root snapshot (blocks never written read as zeros), if it has one. */
function rootVolumeStart(state: LocalAwsState, image: ImageRecord): Buffer | undefined {
  const snapshot = image.rootSnapshotId === undefined ? undefined : state.snapshots.get(image.rootSnapshotId);
  if (!snapshot) return undefined;
  return snapshot.blocks.get(0)?.subarray(0, FIRMWARE_LOOKS_AT_BYTES) ?? Buffer.alloc(FIRMWARE_LOOKS_AT_BYTES);
}

/** Works out what the instance's console will show; the bundle is read in the background. */
export function startBoot(state: LocalAwsState, instance: InstanceRecord, image: ImageRecord): void {
  const record: ConsoleRecord = { lines: [], reachable: true, settled: false };
  state.consoles.set(instance.instanceId, record);
  const imageScript = scriptFor(state, `image:${image.imageId}`);
  const scripted = () => {
    record.lines = [...(imageScript?.lines ?? [])];
    record.reachable = imageScript?.reachable ?? true;
    record.listen = listening(imageScript);
    record.settled = true;
  };
  const bootsNothing = (lines: string[]) => {
    record.lines = lines;
    record.reachable = false;
    record.listen = undefined;
    record.settled = true;
  };
  const volumeStart = image.virtualizationType === 'hvm' ? rootVolumeStart(state, image) : undefined;
  if (!imageScript && volumeStart) {
    const firmware = firmwareBoot(volumeStart, instance.bootMode === 'uefi' ? 'uefi' : 'legacy-bios');
    if (firmware.kind === 'no-bootable-device') bootsNothing(firmware.lines);
    else scripted();
    return;
  }
  const kernel = instance.kernelId ? state.images.get(instance.kernelId) : undefined;
  const ec2Key = state.ec2Key;
  if (!image.bundle || image.virtualizationType !== 'paravirtual' || !kernel?.seeded) {
    scripted();
    return;
  }
  // A bundle the local AWS cannot open (sealed for a certificate it does not hold, or unreadable)
  // boots nothing that it can vouch for: empty console, unreachable; only a script says otherwise.
  const unopened = () => (imageScript ? scripted() : bootsNothing([]));
  if (!ec2Key) {
    unopened();
    return;
  }
  bootBundle(state, image.bundle, ec2Key, kernel.name, image.architecture).then(
    (outcome) => {
      if (outcome.kind !== 'booted') {
        unopened();
        return;
      }
      const { boot } = outcome;
      const kernelScript = boot.kernelSha256 ? scriptFor(state, `kernel:${boot.kernelSha256}`) : undefined;
      const script = kernelScript ?? imageScript;
      record.lines = boot.kernelSha256 ? [...boot.lines, ...(script?.lines ?? [])] : boot.lines;
      record.reachable = boot.kernelSha256 !== undefined && (script?.reachable ?? true);
      record.listen = boot.kernelSha256 ? listening(script) : undefined;
      record.settled = true;
    },
    () => unopened(),
  );
}

/** When the instance last started running (a stopped and started instance boots again). */
function runningSince(state: LocalAwsState, instance: InstanceRecord): number | undefined {
  const now = state.now();
  return instance.timeline.filter((entry) => entry.state === 'running' && entry.at <= now).pop()?.at;
}

export const getConsoleOutput: Ec2Action = (context) => {
  const { state, params } = context;
  const id = required(params, 'InstanceId');
  const instance = lookUpInstance(state, id);
  if (!instance) throw instancesNotFound([id]);
  const latest = params.Latest === 'true';
  if (params.Latest !== undefined && params.Latest !== 'true' && params.Latest !== 'false')
    throw invalidValue('Latest', params.Latest);
  if (latest && findInstanceType(instance.instanceType)?.hypervisor !== 'nitro') {
    throw new AwsError(
      400,
      'UnsupportedOperation',
      `The instance type ${instance.instanceType} does not support retrieving the latest console output. It is supported on instance types built on the Nitro System.`,
    );
  }
  const since = runningSince(state, instance);
  const record = state.consoles.get(instance.instanceId);
  const posted =
    since !== undefined && record?.settled === true && (latest || state.now() >= since + state.config.consolePostMs);
  const text = posted && record.lines.length > 0 ? `${record.lines.join('\r\n')}\r\n` : '';
  const bytes = Buffer.from(text, 'utf8');
  const tail = bytes.length > CONSOLE_BYTES ? bytes.subarray(bytes.length - CONSOLE_BYTES) : bytes;
  return [
    el('instanceId', instance.instanceId),
    el('timestamp', new Date(state.now()).toISOString()),
    tail.length > 0 ? el('output', tail.toString('base64')) : undefined,
  ];
};

type CheckStatus = 'ok' | 'impaired' | 'initializing' | 'not-applicable';

function summary(status: CheckStatus, impairedSince?: number): XmlContent {
  if (status === 'not-applicable') return [el('status', status)];
  const detail = status === 'ok' ? 'passed' : status === 'impaired' ? 'failed' : 'initializing';
  return [
    el('status', status),
    items('details', [detail], (value) => [
      el('name', 'reachability'),
      el('status', value),
      impairedSince === undefined ? undefined : el('impairedSince', new Date(impairedSince).toISOString()),
    ]),
  ];
}

function statuses(state: LocalAwsState, instance: InstanceRecord) {
  const since = runningSince(state, instance);
  const current = state.instanceState(instance).state;
  if (current !== 'running' || since === undefined)
    return { system: 'not-applicable' as CheckStatus, instance: 'not-applicable' as CheckStatus };
  const checkedAt = since + state.config.statusCheckMs;
  if (state.now() < checkedAt)
    return { system: 'initializing' as CheckStatus, instance: 'initializing' as CheckStatus };
  const record = state.consoles.get(instance.instanceId);
  if (state.impaired.has(instance.instanceId) || (record?.settled && !record.reachable))
    return { system: 'ok' as CheckStatus, instance: 'impaired' as CheckStatus, impairedSince: checkedAt };
  return { system: 'ok' as CheckStatus, instance: (record?.settled === false ? 'initializing' : 'ok') as CheckStatus };
}

const STATUS_FILTERS = ['availability-zone', 'instance-state-name', 'instance-status.status', 'system-status.status'];

export const describeInstanceStatus: Ec2Action = (context) => {
  const { state, params } = context;
  const ids = scalarList(params, 'InstanceId');
  ids.forEach(checkInstanceId);
  const includeAll = params.IncludeAllInstances === 'true';
  const missing = ids.filter((id) => !lookUpInstance(state, id));
  if (missing.length > 0) throw instancesNotFound(missing);
  const candidates =
    ids.length > 0
      ? ids.map((id) => state.instances.get(id) as InstanceRecord)
      : [...state.instances.values()].filter(
          (instance) => !state.instanceGone(instance) && !state.isHidden(instance.instanceId, false),
        );
  const filterList = filters(params);
  const selected = candidates.filter((instance) => {
    const current = state.instanceState(instance).state;
    if (!includeAll && current !== 'running') return false;
    const checks = statuses(state, instance);
    const fields: Record<string, string[]> = {
      'availability-zone': [instance.settings.availabilityZone],
      'instance-state-name': [current],
      'instance-status.status': [checks.instance],
      'system-status.status': [checks.system],
    };
    return passesFilters(filterList, fields, new Map(), STATUS_FILTERS);
  });
  const { page, nextToken } = paginate(context, selected, ids.length > 0);
  return [
    items('instanceStatusSet', page, (instance) => {
      const current = state.instanceState(instance).state;
      const checks = statuses(state, instance);
      return [
        el('instanceId', instance.instanceId),
        el('availabilityZone', instance.settings.availabilityZone),
        el('instanceState', el('code', STATE_CODES[current]), el('name', current)),
        el('systemStatus', summary(checks.system)),
        el('instanceStatus', summary(checks.instance, checks.impairedSince)),
      ];
    }),
    opt('nextToken', nextToken),
  ];
};
