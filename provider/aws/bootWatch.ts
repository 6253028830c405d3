/**
 * Boot verification against EC2: after `running`, watch the serial console (GetConsoleOutput, with
 * `Latest` on Nitro types, found through DescribeInstanceTypes' hypervisor; elsewhere the buffer EC2
 * posts late, so polls back off) and, when no boot marker is given, the reachability status checks.
 * Success is the marker, or both checks passing, and where asked a TCP connection to a port on the
 * instance's address (tried at every poll); failure a failure line, an impaired instance check, the
 * instance leaving `running`, no address for the port check, or the deadline.
 */
import {
  DescribeInstanceStatusCommand,
  DescribeInstanceTypesCommand,
  EC2Client,
  GetConsoleOutputCommand,
  _InstanceType,
} from '@aws-sdk/client-ec2';
import { awsCall, describeAwsError, errorCode } from './errors';
import { BootPatterns, consoleTail, judgeConsole } from './bootCheck';
import { describeInstance } from './instances';
import { InstanceId } from './ids';
import { probePort } from './portCheck';

export interface BootWatchOptions {
  ec2: EC2Client;
  instanceId: InstanceId;
  instanceType: string;
  patterns: BootPatterns;
  timeoutSeconds: number;
  /** First delay between polls; later ones grow by half up to `maxPollSeconds`. */
  pollSeconds?: number;
  maxPollSeconds?: number;
  signal?: AbortSignal;
  onProgress?: (message: string) => void;
  /**
   * Also require a TCP connection to this port on the instance's address: the public IP when it has
   * one, else the private one, unless `address` chooses.
   */
  port?: { port: number; address?: 'public' | 'private' };
}

export type BootMethod =
  'console marker' | 'status checks' | 'console marker and TCP port' | 'status checks and TCP port';

export interface BootOutcome {
  verified: boolean;
  method: BootMethod;
  /** When the verdict was reached. */
  at: Date;
  /** What decided, in words that hold no console text (safe for state). */
  summary: string;
  /** The line that decided (a failure line or the marker's), for messages only. */
  line?: string;
  /** The last console lines, for messages only (never state: it may hold anything the kernel printed). */
  tail: string[];
  /** Whether GetConsoleOutput could use Latest (a Nitro type). */
  latest: boolean;
  /** The address and port the TCP check connects to (`host:port`), when one was asked for. */
  port?: string;
}

/** Whether the type runs on Nitro (DescribeInstanceTypes' hypervisor), where `Latest` works. */
export async function supportsLatestConsole(
  ec2: EC2Client,
  instanceType: string,
  signal?: AbortSignal,
): Promise<boolean> {
  const output = await awsCall('DescribeInstanceTypes', instanceType, () =>
    ec2.send(new DescribeInstanceTypesCommand({ InstanceTypes: [instanceType as _InstanceType] }), {
      abortSignal: signal,
    }),
  );
  return output.InstanceTypes?.[0]?.Hypervisor === 'nitro';
}

/** The console text EC2 has for the instance now ('' before anything is posted). */
export async function readConsole(
  ec2: EC2Client,
  instanceId: InstanceId,
  latest: boolean,
  signal?: AbortSignal,
): Promise<string> {
  const output = await awsCall('GetConsoleOutput', instanceId, () =>
    ec2.send(new GetConsoleOutputCommand({ InstanceId: instanceId, Latest: latest || undefined }), {
      abortSignal: signal,
    }),
  );
  return output.Output ? Buffer.from(output.Output, 'base64').toString('utf8') : '';
}

export type ReachabilityStatus = 'ok' | 'impaired' | 'initializing' | 'insufficient-data' | 'not-applicable';

/** The instance and system reachability checks (`not-applicable` when EC2 lists nothing: not running). */
export async function reachability(
  ec2: EC2Client,
  instanceId: InstanceId,
  signal?: AbortSignal,
): Promise<{ instance: ReachabilityStatus; system: ReachabilityStatus }> {
  try {
    const output = await ec2.send(
      new DescribeInstanceStatusCommand({ InstanceIds: [instanceId], IncludeAllInstances: true }),
      { abortSignal: signal },
    );
    const status = output.InstanceStatuses?.[0];
    return {
      instance: (status?.InstanceStatus?.Status ?? 'not-applicable') as ReachabilityStatus,
      system: (status?.SystemStatus?.Status ?? 'not-applicable') as ReachabilityStatus,
    };
  } catch (error) {
    if (errorCode(error) === 'InvalidInstanceID.NotFound')
      return { instance: 'not-applicable', system: 'not-applicable' };
    throw describeAwsError(error, 'DescribeInstanceStatus', instanceId);
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(done, ms);
    function done() {
      signal?.removeEventListener('abort', aborted);
      resolve();
    }
    function aborted() {
      clearTimeout(timer);
      reject(signal?.reason);
    }
    signal?.addEventListener('abort', aborted, { once: true });
  });
}

/** Longest wait for one TCP handshake; a port that drops packets is tried again at the next poll. */
const PROBE_TIMEOUT_MS = 5000;

/** The address the TCP check connects to, or why there is none. */
async function portAddress(
  options: BootWatchOptions,
  want: 'public' | 'private' | undefined,
): Promise<{ host: string } | { missing: string }> {
  const instance = await describeInstance(options.ec2, options.instanceId, options.signal);
  const host =
    want === 'public'
      ? instance?.publicIpAddress
      : want === 'private'
        ? instance?.privateIpAddress
        : (instance?.publicIpAddress ?? instance?.privateIpAddress);
  if (host) return { host };
  return { missing: `the instance has no ${want ?? 'IP'} address to check port ${options.port?.port} on` };
}

export async function watchBoot(options: BootWatchOptions): Promise<BootOutcome> {
  const { ec2, instanceId, patterns, signal } = options;
  const latest = await supportsLatestConsole(ec2, options.instanceType, signal);
  const base = patterns.marker ? 'console marker' : 'status checks';
  const method: BootMethod = options.port ? `${base} and TCP port` : base;
  const deadline = Date.now() + options.timeoutSeconds * 1000;
  const maxDelay = (options.maxPollSeconds ?? 30) * 1000;
  let delay = (options.pollSeconds ?? 5) * 1000;
  let text = '';
  /** What confirmed the boot so far (the marker or the checks), waiting for the port. */
  let confirmed: { summary: string; line?: string } | undefined;
  let target: string | undefined;
  let lastProbe: string | undefined;
  const outcome = (verified: boolean, summary: string, line?: string): BootOutcome => ({
    verified,
    method,
    at: new Date(),
    summary,
    line,
    tail: consoleTail(text),
    latest,
    port: target,
  });
  options.onProgress?.(
    (patterns.marker
      ? `watching the console for /${patterns.marker.source}/${latest ? '' : ' (EC2 posts the console of a Xen type minutes late)'}`
      : 'waiting for the reachability status checks') +
      (options.port ? `, and for a TCP connection on port ${options.port.port}` : ''),
  );
  for (;;) {
    text = (await readConsole(ec2, instanceId, latest, signal)) || text;
    const verdict = judgeConsole(text, patterns);
    if (verdict.kind === 'failed')
      return outcome(false, `the console shows a failure (${verdict.failure})`, verdict.line);
    if (verdict.kind === 'booted' && !confirmed)
      confirmed = { summary: `the console printed the boot marker /${patterns.marker?.source}/`, line: verdict.line };
    if (confirmed && !options.port) return outcome(true, confirmed.summary, confirmed.line);
    const checks = await reachability(ec2, instanceId, signal);
    if (checks.instance === 'impaired') return outcome(false, 'the instance reachability check failed (impaired)');
    if (checks.system === 'impaired') return outcome(false, 'the system reachability check failed (impaired)');
    if (!patterns.marker && !confirmed && checks.instance === 'ok' && checks.system === 'ok')
      confirmed = { summary: 'the system and instance reachability checks passed' };
    if (checks.instance === 'not-applicable') {
      const instance = await describeInstance(ec2, instanceId, signal);
      if (!instance || instance.state !== 'running')
        return outcome(false, `the instance is ${instance?.state ?? 'gone'}, not running`);
    }
    if (options.port && target === undefined) {
      const address = await portAddress(options, options.port.address);
      if ('missing' in address) return outcome(false, address.missing);
      target = `${address.host}:${options.port.port}`;
    }
    if (options.port && target !== undefined && lastProbe !== 'open') {
      const host = target.slice(0, target.lastIndexOf(':'));
      const wait = Math.max(1, Math.min(PROBE_TIMEOUT_MS, deadline - Date.now()));
      const probe = await probePort(host, options.port.port, wait, signal);
      // An attempt the deadline cut short says less than the one before it.
      const cut =
        !probe.open && wait < PROBE_TIMEOUT_MS && lastProbe !== undefined && probe.reason.startsWith('no answer');
      if (!cut) lastProbe = probe.open ? 'open' : probe.reason;
      if (probe.open) options.onProgress?.(`${target} accepted a TCP connection`);
    }
    if (confirmed && (!options.port || lastProbe === 'open'))
      return outcome(
        true,
        options.port ? `${confirmed.summary}, and ${target} accepted a TCP connection` : confirmed.summary,
        confirmed.line,
      );
    const left = deadline - Date.now();
    if (left <= 0) {
      const within = `within ${options.timeoutSeconds} s`;
      const primary = confirmed
        ? confirmed.summary
        : patterns.marker
          ? `no boot marker /${patterns.marker.source}/ on the console ${within}`
          : `the reachability checks did not pass ${within}`;
      const port =
        options.port && lastProbe !== 'open'
          ? `${confirmed ? ', but' : ';'} nothing accepted a TCP connection on ${target} ${within} (last attempt: ${lastProbe})`
          : '';
      return outcome(false, `${primary}${port}`, confirmed?.line);
    }
    await sleep(Math.min(delay, left), signal);
    delay = Math.min(maxDelay, delay * 1.5);
  }
}

/** What a verdict records (state, or the CLI's JSON): never the console text, which may hold anything. */
export function bootStatusOf(outcome: BootOutcome): Record<string, string> {
  return {
    result: outcome.verified ? 'verified' : 'not verified',
    method: outcome.method,
    at: outcome.at.toISOString(),
    summary: outcome.summary,
    ...(outcome.port === undefined ? {} : { port: outcome.port }),
  };
}

/** The message of a boot that was not verified: what decided, then the console's last lines. */
export function bootFailureMessage(instanceId: string, outcome: BootOutcome): string {
  const console =
    outcome.tail.length > 0
      ? `; last console lines:\n    ${outcome.tail.join('\n    ')}`
      : outcome.latest
        ? '; the console is empty'
        : '; the console is empty (EC2 posts the console of a Xen type minutes late)';
  return `instance ${instanceId} is running but its boot was not verified: ${outcome.summary}${console}`;
}
