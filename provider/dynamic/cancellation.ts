/**
 * Cancellation inside the dynamic-provider plugin. The engine's Cancel is a no-op for dynamic
 * providers, and a second Ctrl-C (or a stop) signals the plugin process: without a handler Node
 * would die mid-operation and leave what it made unrecorded. In the plugin, the first SIGINT or
 * SIGTERM aborts every operation in flight through the same signal as their deadlines, so each ends
 * the way a deadline ends it (a bundle upload suspended and reported with its location, an AMI or
 * instance not yet ready removed or reported with its id, a delete failed and kept in the state),
 * its answer is sent, and then the process exits.
 */
import { progress } from './log';

const controller = new AbortController();
const inFlight = new Set<Promise<unknown>>();
let installed = false;
/** How long the operations in flight get to end after a signal. */
const SETTLE_MS = 30_000;
/** Time for the last answers to leave through gRPC before the process exits. */
const FLUSH_MS = 300;

/** Only in the plugin process: a test runner or a CLI importing this keeps its own signal handling. */
function inPlugin(): boolean {
  return /dynamic-provider/.test(process.argv[1] ?? '');
}

function install(): void {
  if (installed || !inPlugin()) return;
  installed = true;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      progress('pulumi-unikernel', `${signal}: stopping ${inFlight.size} operation(s) in flight, then exiting`);
      controller.abort(new Error(`cancelled (${signal})`));
      const settled = Promise.allSettled([...inFlight]);
      const timeout = new Promise((resolve) => setTimeout(resolve, SETTLE_MS).unref());
      void Promise.race([settled, timeout]).then(() =>
        setTimeout(() => process.exit(signal === 'SIGINT' ? 130 : 143), FLUSH_MS),
      );
    });
  }
}

/** A deadline of `seconds` that a signal to the plugin also ends. */
export function deadline(seconds: number): AbortSignal {
  install();
  return AbortSignal.any([AbortSignal.timeout(seconds * 1000), controller.signal]);
}

/** Runs an operation the signal handler waits for before the process exits. */
export async function tracked<T>(operation: () => Promise<T>): Promise<T> {
  install();
  const running = operation();
  inFlight.add(running);
  try {
    return await running;
  } finally {
    inFlight.delete(running);
  }
}

/** A resource's create, update and delete, each waited for when the plugin is signalled. */
export function trackedOperations<C extends unknown[], U extends unknown[], R extends unknown[], CO, UO, RO>(now: {
  create: (...args: C) => Promise<CO>;
  update: (...args: U) => Promise<UO>;
  remove: (...args: R) => Promise<RO>;
}): {
  create: (...args: C) => Promise<CO>;
  update: (...args: U) => Promise<UO>;
  remove: (...args: R) => Promise<RO>;
} {
  return {
    create: (...args) => tracked(() => now.create(...args)),
    update: (...args) => tracked(() => now.update(...args)),
    remove: (...args) => tracked(() => now.remove(...args)),
  };
}
