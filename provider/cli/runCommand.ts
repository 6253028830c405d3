/** The frame every subcommand runs in: output, Ctrl-C as cancellation, one line and exit 1 on failure. */
import { describeFailure } from './inputs';
import { Output, OutputOptions } from './output';

export async function runCommand(
  command: string,
  options: OutputOptions,
  files: Record<string, string | undefined>,
  body: (output: Output, signal: AbortSignal) => Promise<void>,
  optionNames?: Record<string, string>,
): Promise<void> {
  const output = new Output(options);
  const controller = new AbortController();
  const interrupt = () => controller.abort();
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  try {
    output.log(`unikernel-ami ${command} started`);
    await body(output, controller.signal);
  } catch (error) {
    output.error(`unikernel-ami ${command}: ${describeFailure(error, files, optionNames)}`);
    process.exitCode = controller.signal.aborted ? 130 : 1;
  } finally {
    output.progress.done();
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
  }
}
