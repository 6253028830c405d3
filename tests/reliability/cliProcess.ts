/**
 * Runs the real CLI in a child process with a watchdog: a run that has not ended by itself after
 * `patienceMs` gets SIGTERM (as a user's Ctrl-C or a service manager would), then SIGKILL. The result
 * says which was needed, so a test can tell "refused at once" from "hung" and "ignored the signal".
 */
import { spawn } from 'child_process';
import { CLI } from '../helpers/tools';

export interface WatchedRun {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** The run had not ended by itself and was sent SIGTERM. */
  neededSigterm: boolean;
  /** It then ignored SIGTERM too and was killed. */
  neededSigkill: boolean;
}

export function runCliWatched(
  args: string[],
  options: {
    env?: NodeJS.ProcessEnv;
    cwd?: string;
    patienceMs?: number;
    /** Told the child's pid once it is started. */
    onStart?: (pid: number) => void;
  } = {},
): Promise<WatchedRun> {
  const patienceMs = options.patienceMs ?? 20_000;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: options.cwd,
      // A variable given as undefined is removed from the child's environment.
      env: Object.fromEntries(
        Object.entries({ ...process.env, ...options.env }).filter(([, value]) => value !== undefined),
      ),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (child.pid !== undefined) options.onStart?.(child.pid);
    let stdout = '';
    let stderr = '';
    let neededSigterm = false;
    let neededSigkill = false;
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const term = setTimeout(() => {
      neededSigterm = true;
      child.kill('SIGTERM');
    }, patienceMs);
    const kill = setTimeout(() => {
      neededSigkill = true;
      child.kill('SIGKILL');
    }, patienceMs + 5_000);
    child.on('error', reject);
    child.on('close', (status, signal) => {
      clearTimeout(term);
      clearTimeout(kill);
      resolve({ status, signal, stdout, stderr, neededSigterm, neededSigkill });
    });
  });
}

/** The environment that points the CLI's AWS SDK at a local AWS, and nowhere else. */
export function localAwsEnv(local: {
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
}): NodeJS.ProcessEnv {
  return {
    AWS_ENDPOINT_URL: local.endpoint,
    AWS_REGION: local.region,
    AWS_ACCESS_KEY_ID: local.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: local.credentials.secretAccessKey,
    AWS_PROFILE: '',
  };
}
