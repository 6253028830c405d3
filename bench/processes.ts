/**
 * Child processes for the benchmark: plain runs (checks, not timed) and measured runs (wall time, CPU
 * time and peak RSS of the whole process tree), both cancellable so that Ctrl-C ends everything the
 * benchmark started and leaves no process behind.
 *
 * Peak RSS is the kernel's ru_maxrss over the waited-for descendants of a wrapper: the largest RSS any
 * single process of the tree reached (not a sum), measured the same way for our CLI and for the shell
 * pipeline. The preferred wrapper is GNU time (Debian package `time`), whose own footprint is ~1 MB. The
 * fallback is a python3 wrapper around getrusage(RUSAGE_CHILDREN); Linux records the parent's RSS in
 * a child's ru_maxrss when the child execs, so with python3 every figure has python's own RSS (~14 MB)
 * as a floor. The floor of the wrapper in use is measured and reported.
 */
import { ChildProcess, spawn, spawnSync } from 'child_process';
import { createHash } from 'crypto';
import { promises as fs } from 'fs';
import * as path from 'path';

export class BenchAborted extends Error {
  constructor() {
    super('interrupted');
  }
}

export interface ProcessResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd?: string;
  signal: AbortSignal;
  /** Extra file descriptors opened for writing by the child, as pipes we read back (fd 3 onwards). */
  extraOutputs?: number;
}

/** Ends the child's whole process group (it was spawned detached, as a group leader) when `signal` aborts. */
function endGroupOnAbort(child: ChildProcess, signal: AbortSignal): () => void {
  const onAbort = () => {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        // the group is already gone
      }
    }
  };
  signal.addEventListener('abort', onAbort, { once: true });
  return () => signal.removeEventListener('abort', onAbort);
}

/**
 * Runs a command in its own process group (so that cancelling can end the whole tree by its group id)
 * and collects its output. Never throws on a non-zero exit: callers decide.
 */
export function runProcess(argv: string[], options: RunOptions): Promise<ProcessResult & { extra: string[] }> {
  const [command, ...args] = argv;
  if (command === undefined) throw new Error('runProcess: empty command');
  options.signal.throwIfAborted();
  const extraCount = options.extraOutputs ?? 0;
  const child = spawn(command, args, {
    cwd: options.cwd,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe', ...Array.from({ length: extraCount }, () => 'pipe' as const)],
  });
  const collect = (index: number): Promise<string> =>
    new Promise((resolve) => {
      const stream = child.stdio[index];
      if (!stream) return resolve('');
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('error', () => resolve(Buffer.concat(chunks).toString('utf8')));
      stream.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    });
  const outputs = Promise.all([
    collect(1),
    collect(2),
    ...Array.from({ length: extraCount }, (_, i) => collect(3 + i)),
  ]);
  const release = endGroupOnAbort(child, options.signal);
  return new Promise((resolve, reject) => {
    child.once('error', (error) => {
      release();
      reject(new Error(`cannot run ${command}: ${error.message}`));
    });
    child.once('close', (status, signal) => {
      release();
      outputs.then(([stdout, stderr, ...extra]) => {
        if (options.signal.aborted) reject(new BenchAborted());
        else resolve({ status, signal, stdout, stderr, extra });
      }, reject);
    });
  });
}

/** Runs a command and fails with its stderr unless it exits with status 0. */
export async function runChecked(argv: string[], options: RunOptions): Promise<string> {
  const result = await runProcess(argv, options);
  if (result.status !== 0) {
    throw new Error(
      `${argv.join(' ')} failed (${result.signal ?? `status ${result.status}`}): ${result.stderr.trim()}`,
    );
  }
  return result.stdout;
}

export interface Measurement {
  wallSeconds: number;
  /** ru_maxrss of the process tree, in KiB (the kernel's unit). */
  peakRssKiB: number;
  userSeconds: number;
  systemSeconds: number;
  stdout: string;
}

export interface Meter {
  /** How peak RSS is measured, for the report. */
  description: string;
  /** Peak RSS the wrapper reports for `true`: no figure can be below it. */
  floorKiB: number;
  measure(argv: string[], options: RunOptions): Promise<Measurement>;
}

const PYTHON_WRAPPER = `
import json, os, resource, subprocess, sys
status = subprocess.call(sys.argv[1:])
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
with os.fdopen(3, 'w') as report:
    json.dump({'status': status, 'maxrss': usage.ru_maxrss, 'user': usage.ru_utime, 'system': usage.ru_stime}, report)
`;

function isGnuTime(): boolean {
  const probe = spawnSync('/usr/bin/time', ['--version'], { encoding: 'utf8' });
  return probe.status === 0 && /GNU Time/i.test(`${probe.stdout}${probe.stderr}`);
}

interface WrapperReport {
  status: number;
  maxRssKiB: number;
  userSeconds: number;
  systemSeconds: number;
}

type Wrapper = (argv: string[], options: RunOptions) => Promise<{ result: ProcessResult; report: WrapperReport }>;

function gnuTimeWrapper(scratch: string): Wrapper {
  let counter = 0;
  return async (argv, options) => {
    const reportFile = path.join(scratch, `.time-${process.pid}-${counter++}.txt`);
    const result = await runProcess(['/usr/bin/time', '-f', '%x %M %U %S', '-o', reportFile, ...argv], options);
    const text = await fs.readFile(reportFile, 'utf8');
    await fs.rm(reportFile, { force: true });
    const lastLine = text.trim().split('\n').pop() ?? '';
    const [status, maxRss, user, system] = lastLine.split(' ').map(Number);
    if ([status, maxRss, user, system].some((value) => value === undefined || Number.isNaN(value))) {
      throw new Error(`unexpected GNU time report: ${text}`);
    }
    return {
      result,
      report: { status: status ?? -1, maxRssKiB: maxRss ?? 0, userSeconds: user ?? 0, systemSeconds: system ?? 0 },
    };
  };
}

function pythonWrapper(): Wrapper {
  return async (argv, options) => {
    const result = await runProcess(['python3', '-c', PYTHON_WRAPPER, ...argv], { ...options, extraOutputs: 1 });
    const raw = result.extra[0] ?? '';
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      throw new Error(`the python3 measuring wrapper failed (${result.stderr.trim() || raw})`);
    }
    const record = parsed as Record<string, unknown>;
    const numberOf = (key: string): number => {
      const value = record[key];
      if (typeof value !== 'number') throw new Error(`the python3 measuring wrapper gave no ${key}`);
      return value;
    };
    return {
      result,
      report: {
        status: numberOf('status'),
        maxRssKiB: numberOf('maxrss'),
        userSeconds: numberOf('user'),
        systemSeconds: numberOf('system'),
      },
    };
  };
}

export type MeterChoice = 'auto' | 'gnu-time' | 'python';

/** The meter asked for; `auto` is GNU time when installed, else python3. */
export async function createMeter(scratch: string, signal: AbortSignal, choice: MeterChoice = 'auto'): Promise<Meter> {
  const gnu = choice === 'gnu-time' || (choice === 'auto' && isGnuTime());
  const wrap = gnu ? gnuTimeWrapper(scratch) : pythonWrapper();
  const measure = async (argv: string[], options: RunOptions): Promise<Measurement> => {
    const started = process.hrtime.bigint();
    const { result, report } = await wrap(argv, options);
    const wallSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (result.status !== 0 || report.status !== 0) {
      throw new Error(`${argv.join(' ')} failed (status ${report.status}): ${result.stderr.trim()}`);
    }
    return {
      wallSeconds,
      peakRssKiB: report.maxRssKiB,
      userSeconds: report.userSeconds,
      systemSeconds: report.systemSeconds,
      stdout: result.stdout,
    };
  };
  const floor = await measure(['true'], { signal });
  return {
    description: gnu
      ? 'GNU time %M (ru_maxrss of the largest single process in the tree)'
      : 'python3 getrusage(RUSAGE_CHILDREN).ru_maxrss (largest single process in the tree; floor = python3 RSS). ' +
        'For exact small figures install GNU time: apt-get install time',
    floorKiB: floor.peakRssKiB,
    measure,
  };
}

/** SHA-1 and length of a command's standard output, hashed as it streams (for tar streams of images). */
export function hashOutput(argv: string[], options: RunOptions): Promise<{ sha1: string; bytes: number }> {
  const [command, ...args] = argv;
  if (command === undefined) throw new Error('hashOutput: empty command');
  options.signal.throwIfAborted();
  const child = spawn(command, args, { cwd: options.cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const hash = createHash('sha1');
  let bytes = 0;
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    hash.update(chunk);
    bytes += chunk.length;
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const release = endGroupOnAbort(child, options.signal);
  return new Promise((resolve, reject) => {
    child.once('error', (error) => {
      release();
      reject(new Error(`cannot run ${command}: ${error.message}`));
    });
    child.once('close', (status, signal) => {
      release();
      if (options.signal.aborted) reject(new BenchAborted());
      else if (status !== 0)
        reject(new Error(`${argv.join(' ')} failed (${signal ?? `status ${status}`}): ${stderr.trim()}`));
      else resolve({ sha1: hash.digest('hex'), bytes });
    });
  });
}
