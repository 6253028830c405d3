/**
 * Progress for the user: the dynamic-provider plugin passes its stdout to the Pulumi CLI as
 * info messages, so a plain line on stdout is how long steps are reported.
 */
export function progress(resource: string, message: string): void {
  process.stdout.write(`${resource}: ${message}\n`);
}

/** A warning for the user: a line on stderr, which the plugin also passes to the Pulumi CLI. */
export function warning(resource: string, message: string): void {
  process.stderr.write(`${resource}: warning: ${message}\n`);
}

/** A progress reporter that speaks at most every `everyPercent` percent. */
export function percentReporter(
  resource: string,
  label: string,
  everyPercent = 20,
): (done: number, total: number) => void {
  let next = 0;
  return (done, total) => {
    const percent = total > 0 ? Math.floor((done / total) * 100) : 100;
    if (percent >= next) {
      progress(resource, `${label} ${percent}% (${done} of ${total} bytes)`);
      next = percent + everyPercent;
    }
  };
}
