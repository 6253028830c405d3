/**
 * Runs async tasks with at most `limit` in flight, stopping at the first failure. Written here
 * because it is a dozen lines and the maintained pool libraries (p-limit, p-map) are ESM-only,
 * which CommonJS output and Pulumi's function serialization cannot load.
 */
export async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  task: (item: T, index: number) => Promise<void>,
  signal?: AbortSignal,
): Promise<void> {
  if (limit < 1) throw new RangeError('concurrency must be at least 1');
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      signal?.throwIfAborted();
      const index = next++;
      try {
        await task(items[index], index);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  const workers = Array.from({ length: Math.min(limit, items.length) }, worker);
  const results = await Promise.allSettled(workers);
  const rejection = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (rejection) throw rejection.reason;
}

/** An AbortSignal that fires on the caller's signal or when `ms` have passed, whichever is first. */
export function withDeadline(signal: AbortSignal | undefined, ms: number | undefined): AbortSignal | undefined {
  const signals = [signal, ms === undefined ? undefined : AbortSignal.timeout(ms)].filter(
    (s): s is AbortSignal => s !== undefined,
  );
  if (signals.length === 0) return undefined;
  return signals.length === 1 ? signals[0] : AbortSignal.any(signals);
}
