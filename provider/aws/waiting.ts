/** Waiter settings shared by image and instance waits (the SDK's waiters do the polling). */
export interface WaitOptions {
  /** Give up after this many seconds. */
  maxWaitSeconds?: number;
  /** Polling delays, in seconds (the SDK backs off between them). */
  minDelaySeconds?: number;
  maxDelaySeconds?: number;
}

export function waiterParameters<C>(
  client: C,
  options: WaitOptions | undefined,
  defaults: Required<WaitOptions>,
  signal?: AbortSignal,
) {
  const minDelay = options?.minDelaySeconds ?? defaults.minDelaySeconds;
  return {
    client,
    maxWaitTime: options?.maxWaitSeconds ?? defaults.maxWaitSeconds,
    minDelay,
    maxDelay: Math.max(minDelay, options?.maxDelaySeconds ?? defaults.maxDelaySeconds),
    abortSignal: signal,
  };
}
