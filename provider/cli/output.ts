/** Where the CLI's words go: the terminal (stderr for messages, stdout for results) and an optional log file. */
import { closeSync, constants, openSync, writeSync } from 'fs';
import { isErrnoException } from '../common/errors';
import { CliInputError } from './inputs';
import { ProgressSink, silentProgress, TerminalProgress } from './progress';

const LOG_FILE_PROBLEMS: Record<string, string> = {
  ENOENT: 'its folder does not exist; create it or give another path',
  ENOTDIR: 'a part of its folder path is a file, not a folder; give a path in an existing folder',
  EISDIR: 'is a directory; give a file path',
  EACCES: 'cannot be written (permission denied); give a path you can write to',
  EPERM: 'cannot be written (operation not permitted); give a path you can write to',
  EROFS: 'is on a read-only file system; give a path you can write to',
  ENXIO: 'is a FIFO with no reader; give a regular file',
  ENOSPC: 'cannot be written (no space left on the device); free some space or give another path',
};

/** Opens the log file for appending, without blocking (a FIFO with no reader is refused at once). */
function openLogFile(logFile: string): number {
  try {
    return openSync(logFile, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NONBLOCK, 0o644);
  } catch (error) {
    const code = isErrnoException(error) ? error.code : undefined;
    const problem = (code && LOG_FILE_PROBLEMS[code]) ?? `cannot be written (${code ?? String(error)})`;
    throw new CliInputError(`--log-file ${logFile}: ${problem}`);
  }
}

export interface OutputOptions {
  json?: boolean;
  logFile?: string;
}

export class Output {
  readonly progress: ProgressSink;
  /** The open log file; closed (undefined) after `close` or after a write to it failed. */
  private logFd: number | undefined;

  /** Opens the log file first: one that cannot be written is refused (CliInputError) before anything runs. */
  constructor(
    private readonly options: OutputOptions,
    private readonly stdout: NodeJS.WriteStream = process.stdout,
    private readonly stderr: NodeJS.WriteStream = process.stderr,
  ) {
    if (options.logFile) this.logFd = openLogFile(options.logFile);
    this.progress = !options.json && stderr.isTTY ? new TerminalProgress(stderr) : silentProgress;
  }

  /** A line for the log file only: milestones that the terminal shows as a progress bar. */
  log(line: string): void {
    if (this.logFd === undefined) return;
    try {
      writeSync(this.logFd, `${new Date().toISOString()} ${line}\n`);
    } catch (error) {
      // A log that fails mid-run (a full disk) must not fail the command: say so once, and stop logging.
      this.close();
      const code = isErrnoException(error) ? error.code : String(error);
      this.stderr.write(`warning: --log-file ${this.options.logFile}: writing failed (${code}); logging stopped\n`);
    }
  }

  close(): void {
    if (this.logFd !== undefined) closeSync(this.logFd);
    this.logFd = undefined;
  }

  /** A human-readable result line: stdout unless --json, and the log file. */
  info(line: string): void {
    this.log(line);
    if (!this.options.json) this.stdout.write(`${line}\n`);
  }

  /** The machine-readable summary of --json, also kept in the log file. */
  result(summary: object): void {
    const text = JSON.stringify(summary, null, 2);
    this.log(`result ${JSON.stringify(summary)}`);
    if (this.options.json) this.stdout.write(`${text}\n`);
  }

  error(line: string): void {
    this.progress.done();
    this.log(`error ${line}`);
    this.stderr.write(`${line}\n`);
  }
}
