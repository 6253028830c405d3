/**
 * After a call that makes something was cut off (its answer lost after every retry, or its signal
 * aborted while the request was in flight), AWS may have carried it out, or may still be carrying
 * it out. `lookAgain` looks for what it made by what the caller chose before the call (an AMI name
 * new for it, a RunInstances client token), for a bounded time, with a signal of its own.
 */
import { AwsOperationError } from './errors';

export interface LookAgainOptions {
  /** How long to keep looking. Default 15 seconds (within the 30 s a signalled plugin waits). */
  seconds?: number;
  /** Between looks. Default 1 second. */
  intervalSeconds?: number;
}

export const LOOK_AGAIN_SECONDS = 15;

/**
 * True when `error` ended a call that may have been carried out: an abort, a failed connection or a
 * server error (after the SDK's retries). A refusal or a throttling means AWS did nothing.
 */
export function wasCutOff(error: unknown, signal: AbortSignal | undefined): boolean {
  if (signal?.aborted) return true;
  if (error instanceof AwsOperationError)
    return error.code === 'NetworkingError' || (error.retryable && !/Throttl|RequestLimit|SlowDown/.test(error.code));
  return error instanceof Error && error.name === 'AbortError';
}

/** The first thing `look` finds, looking again every interval until the time is up; undefined if none. */
export async function lookAgain<T>(
  look: (signal: AbortSignal) => Promise<T | undefined>,
  options: LookAgainOptions = {},
): Promise<T | undefined> {
  const seconds = options.seconds ?? LOOK_AGAIN_SECONDS;
  const intervalMs = Math.max(10, (options.intervalSeconds ?? 1) * 1000);
  const until = Date.now() + seconds * 1000;
  for (;;) {
    const remaining = until - Date.now();
    const found = await look(AbortSignal.timeout(Math.max(1000, remaining + 5000))).catch(() => undefined);
    if (found !== undefined) return found;
    if (Date.now() + intervalMs > until) return undefined;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
