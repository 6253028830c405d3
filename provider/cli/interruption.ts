/**
 * What a run stopped by Ctrl-C, SIGTERM or its own --timeout says, per command, in words that are
 * true of what it leaves: an upload keeps its parts for resuming, a local bundle or unbundle removes
 * what it wrote. A command not listed says only that it stopped. One line of the table a command.
 */

/** Why the run stopped: a signal from the user, or the command's own deadline. */
export type StopCause = 'signal' | 'timeout';

const LEFT_BEHIND: Record<string, string> = {
  bundle: 'every file this run had written was removed',
  unbundle: 'every file this run had written was removed',
  verify: 'nothing was written',
  image: 'every file this run had written was removed',
  upload:
    'the objects it had uploaded were kept in S3 for resuming: run the same upload again to finish (objects already there are skipped), or remove them with unikernel-ami delete-bundle',
  'delete-bundle':
    'the objects it had deleted stay deleted and the rest are still in S3: run the same delete-bundle again to finish',
};

/** True for the errors an aborted signal (the user's, or a deadline's) makes operations throw. */
export function isStopError(error: unknown): boolean {
  return error instanceof Error && (error.name === 'AbortError' || error.name === 'TimeoutError');
}

export function stoppedMessage(command: string, cause: StopCause, timeoutOption = '--timeout'): string {
  const what = cause === 'signal' ? 'interrupted' : `timed out (${timeoutOption})`;
  const left = LEFT_BEHIND[command];
  return left ? `${what}; ${left}` : what;
}
