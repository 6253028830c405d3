/** Where the CLI's words go: the terminal (stderr for messages, stdout for results) and an optional log file. */
import { appendFileSync } from 'fs';
import { ProgressSink, silentProgress, TerminalProgress } from './progress';

export interface OutputOptions {
  json?: boolean;
  logFile?: string;
}

export class Output {
  readonly progress: ProgressSink;

  constructor(
    private readonly options: OutputOptions,
    private readonly stdout: NodeJS.WriteStream = process.stdout,
    private readonly stderr: NodeJS.WriteStream = process.stderr,
  ) {
    this.progress = !options.json && stderr.isTTY ? new TerminalProgress(stderr) : silentProgress;
  }

  /** A line for the log file only: milestones that the terminal shows as a progress bar. */
  log(line: string): void {
    if (this.options.logFile) appendFileSync(this.options.logFile, `${new Date().toISOString()} ${line}\n`);
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
