/** The frame every subcommand runs in: output, Ctrl-C as cancellation, one line and exit 1 on failure. */
import { describeFailure } from './inputs';
import { isStopError, stoppedMessage } from './interruption';
import { Output, OutputOptions } from './output';

export async function runCommand(
  command: string,
  options: OutputOptions,
  files: Record<string, string | undefined>,
  body: (output: Output, signal: AbortSignal) => Promise<void>,
  optionNames?: Record<string, string>,
): Promise<void> {
  let output: Output;
  try {
    output = new Output(options);
  } catch (error) {
    process.stderr.write(`unikernel-ami ${command}: ${describeFailure(error, files)}\n`);
    process.exitCode = 1;
    return;
  }
  const controller = new AbortController();
  const interrupt = () => controller.abort();
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  try {
    output.log(`unikernel-ami ${command} started`);
    await body(output, controller.signal);
  } catch (error) {
    const cause = controller.signal.aborted ? 'signal' : 'timeout';
    output.error(
      `unikernel-ami ${command}: ${isStopError(error) ? stoppedMessage(command, cause) : describeFailure(error, files, optionNames, cause)}`,
    );
    process.exitCode = controller.signal.aborted ? 130 : 1;
  } finally {
    output.progress.done();
    output.close();
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
  }
}
