/**
 * Instances' addresses and the TCP ports a booted unikernel listens on. With `loopbackAddresses`,
 * every instance's private and public addresses are in 127.0.0.0/8 (127.31.x.y and 127.54.x.y), so
 * a port a test scripted (`scriptConsole(…, { ports })`) is really listened on there once the
 * instance runs, and any other port is refused by the kernel, as a closed port on EC2 is. Listeners
 * are bound by timers set at launch (unref'd, so they never keep a process alive) and closed when the
 * instance is terminated, when a connection arrives after it stopped running, and at `stop()`.
 */
import { randomInt } from 'crypto';
import { createServer, Server, Socket } from 'net';
import type { InstanceRecord, LocalAwsState } from './state';

export interface InstanceAddresses {
  privateIp: string;
  publicIp: string;
}

/**
 * An instance's addresses: the private one given at launch, else one from its launch index; the
 * public one from the index it got at its last start (a stopped and started instance gets a new one).
 */
export function instanceAddresses(state: LocalAwsState, instance: InstanceRecord): InstanceAddresses {
  const given = instance.settings.privateIp;
  if (state.config.loopbackAddresses) {
    const low = (index: number) => {
      const shifted = (index + state.ports.base) & 0xffff;
      return `${(shifted >> 8) & 255}.${shifted & 255}`;
    };
    return {
      privateIp: given ?? `127.31.${low(instance.addressIndex)}`,
      publicIp: `127.54.${low(instance.settings.publicAddressIndex)}`,
    };
  }
  const index = instance.addressIndex;
  const publicIndex = instance.settings.publicAddressIndex;
  return {
    privateIp: given ?? `172.31.${(index >> 8) & 255}.${index & 255}`,
    publicIp: `54.${160 + ((publicIndex >> 16) & 63)}.${(publicIndex >> 8) & 255}.${publicIndex & 255}`,
  };
}

/** Retry delay while the bundle's boot is still being worked out. */
const SETTLE_POLL_MS = 20;

export class InstancePorts {
  /**
   * Where this local AWS's loopback addresses start, at random: two local AWSes on one machine (test
   * processes side by side) then rarely hand out the same address. Zero for the AWS-like addresses.
   */
  readonly base: number;
  private readonly servers = new Map<string, Server[]>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly sockets = new Set<Socket>();

  constructor(private readonly state: LocalAwsState) {
    this.base = state.config.loopbackAddresses ? randomInt(0, 0x10000) : 0;
  }

  /**
   * At launch and at each start: once the instance runs and its boot says so, listen on the ports its
   * script names (a started instance has a new public address, so what listened before is closed).
   */
  schedule(instance: InstanceRecord): void {
    if (!this.state.config.loopbackAddresses) return;
    this.close(instance.instanceId);
    const runningAt = instance.timeline.filter((entry) => entry.state === 'running').at(-1)?.at;
    if (runningAt === undefined) return;
    this.later(runningAt - this.state.now(), () => this.openWhenSettled(instance, runningAt));
  }

  private later(ms: number, action: () => void): void {
    const timer = setTimeout(
      () => {
        this.timers.delete(timer);
        action();
      },
      Math.max(0, ms),
    );
    timer.unref();
    this.timers.add(timer);
  }

  private openWhenSettled(instance: InstanceRecord, runningAt: number): void {
    const record = this.state.consoles.get(instance.instanceId);
    if (!record) return;
    if (!record.settled) {
      this.later(SETTLE_POLL_MS, () => this.openWhenSettled(instance, runningAt));
      return;
    }
    if (!record.listen || record.listen.ports.length === 0) return;
    const { ports, afterMs } = record.listen;
    this.later(runningAt + afterMs - this.state.now(), () => this.open(instance, ports));
  }

  private running(instance: InstanceRecord): boolean {
    return this.state.instanceState(instance).state === 'running';
  }

  private open(instance: InstanceRecord, ports: readonly number[]): void {
    if (!this.running(instance) || this.servers.has(instance.instanceId)) return;
    const { privateIp, publicIp } = instanceAddresses(this.state, instance);
    const servers: Server[] = [];
    for (const host of [privateIp, publicIp]) {
      for (const port of ports) {
        const server = createServer((socket) => {
          this.sockets.add(socket);
          socket.on('close', () => this.sockets.delete(socket));
          socket.on('error', () => socket.destroy());
          // The unikernel is gone: nothing answers any more.
          if (!this.running(instance)) {
            socket.destroy();
            this.close(instance.instanceId);
            return;
          }
          socket.end();
        });
        // A port the host already uses cannot be modelled: the instance then simply does not listen on it.
        server.on('error', () => server.close());
        server.listen(port, host);
        server.unref();
        servers.push(server);
      }
    }
    this.servers.set(instance.instanceId, servers);
  }

  /** The instance stopped running: nothing listens on its addresses any more. */
  close(instanceId: string): void {
    for (const server of this.servers.get(instanceId) ?? []) server.close();
    this.servers.delete(instanceId);
  }

  async closeAll(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const socket of this.sockets) socket.destroy();
    const closing = [...this.servers.values()]
      .flat()
      .map((server) => new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve())));
    this.servers.clear();
    await Promise.all(closing);
  }
}
