/**
 * Drives the SDK's Node dynamic-provider plugin (`@pulumi/pulumi/cmd/dynamic-provider`) over gRPC, the way the
 * Pulumi engine does, so dynamic providers can be tested end to end without the Pulumi CLI.
 *
 * What the harness does on the engine's behalf (see the shared notes, pulumi-dynamic-providers.md):
 * - launches the plugin in its own process group, in the project directory, with PULUMI_NODEJS_PROJECT,
 *   PULUMI_PROJECT and PULUMI_CONFIG set, and the engine address as the only argument;
 * - sends Configure (stack config in `args`, secrets kept; `variables` with `pulumi-nodejs:config:` keys) before the
 *   first resource call when the test has not done so;
 * - injects `__provider` (the serialized provider text) into every property bag the engine would carry it in;
 * - strips secret wrappers from resource calls, because the plugin answers Configure with acceptSecrets=false;
 * - keeps the unknown sentinel where the engine keeps it (Check and Diff, previews), refuses it where the engine
 *   never sends one (Read, Delete, non-preview Create/Update);
 * - short-circuits Create/Update previews like the engine does for providers without supportsPreview.
 * Results are what the plugin returned (with `__provider`); the engine's re-marking of secret outputs is not done.
 */
import { spawn, ChildProcess } from 'child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'fs';
import { tmpdir } from 'os';
import * as path from 'path';
import * as readline from 'readline';
import * as grpc from '@grpc/grpc-js';
import * as pulumi from '@pulumi/pulumi';
import { unknownValue, specialSigKey, specialSecretSig } from '@pulumi/pulumi/runtime/rpc';
import * as provrpc from '@pulumi/pulumi/proto/provider_grpc_pb';
import * as provproto from '@pulumi/pulumi/proto/provider_pb';
import * as plugproto from '@pulumi/pulumi/proto/plugin_pb';
import * as statusproto from '@pulumi/pulumi/proto/status_pb';
import { Struct, JavaScriptValue } from 'google-protobuf/google/protobuf/struct_pb';
import { Empty } from 'google-protobuf/google/protobuf/empty_pb';

/** The SDK's unknown-value sentinel (`runtime/rpc.unknownValue`), as the engine sends it during previews. */
export const UNKNOWN: string = unknownValue;
/** The property the SDK stores the serialized provider under. */
export const PROVIDER_KEY = '__provider';
/** The package every Node dynamic resource type belongs to; the engine routes it to this plugin. */
export const DYNAMIC_PACKAGE = 'pulumi-nodejs';

/** A property bag as it crosses the wire: plain JSON-like values (undefined keys are dropped). */
export type Props = Record<string, unknown>;

/** The SDK's wire encoding of a secret value (`runtime/rpc.specialSigKey` / `specialSecretSig`). */
export interface SecretValue<T = unknown> {
  [specialSigKey]: typeof specialSecretSig;
  value: T;
}

/** Wraps a value the way the SDK/engine encode secrets on the wire. */
export function secret<T>(value: T): SecretValue<T> {
  return { [specialSigKey]: specialSecretSig, value } as SecretValue<T>;
}

export function isSecret(value: unknown): value is SecretValue {
  return isPlainObject(value) && value[specialSigKey] === specialSecretSig;
}

/** Removes secret wrappers at any depth (what the engine does for providers that do not accept secrets). */
export function stripSecrets(value: unknown): unknown {
  if (isSecret(value)) {
    return stripSecrets(value.value);
  }
  if (Array.isArray(value)) {
    return value.map(stripSecrets);
  }
  if (isPlainObject(value)) {
    const out: Props = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] = stripSecrets(v);
    }
    return out;
  }
  return value;
}

/** A copy of `props` without `__provider` (handy for deepStrictEqual on results). */
export function withoutProvider(props: Props): Props {
  const { [PROVIDER_KEY]: _ignored, ...rest } = props;
  return rest;
}

/** Serializes a provider exactly as `pulumi.dynamic.Resource` does; the text is what lands in `__provider`. */
export async function serializeProvider(provider: pulumi.dynamic.ResourceProvider): Promise<string> {
  const serialized = await pulumi.runtime.serializeFunction(() => provider, { allowSecrets: true });
  return serialized.text;
}

/**
 * The type token of a dynamic resource: `pulumi-nodejs:dynamic` + (`/module`) + `:Type`.
 * `dynamicType('unikernel:BundledImage')` and `dynamicType('BundledImage', 'unikernel')` give
 * `pulumi-nodejs:dynamic/unikernel:BundledImage`; a full token is returned unchanged.
 */
export function dynamicType(type: string, module?: string): string {
  if (type.startsWith(`${DYNAMIC_PACKAGE}:`)) {
    return type;
  }
  const colon = type.indexOf(':');
  if (module === undefined && colon >= 0) {
    module = type.slice(0, colon);
    type = type.slice(colon + 1);
  }
  return `${DYNAMIC_PACKAGE}:dynamic${module ? `/${module}` : ''}:${type}`;
}

/** `urn:pulumi:<stack>::<project>::<type token>::<name>`; `type` goes through {@link dynamicType}. */
export function urn(type: string, name: string, options: { stack?: string; project?: string } = {}): string {
  return `urn:pulumi:${options.stack ?? 'stack'}::${options.project ?? 'project'}::${dynamicType(type)}::${name}`;
}

/** The name and (last) type of a URN, as the engine puts them in the request's `name` and `type` fields. */
export function parseUrn(value: string): { type: string; name: string } {
  const parts = value.split('::');
  if (parts.length < 4 || !parts[0].startsWith('urn:pulumi:')) {
    throw new Error(`not a URN: ${value}`);
  }
  const qualifiedType = parts[2];
  return { type: qualifiedType.slice(qualifiedType.lastIndexOf('$') + 1), name: parts.slice(3).join('::') };
}

export interface StartPluginOptions {
  /** The project directory: the plugin's working directory; serialized `require`s resolve from here. */
  cwd: string;
  /** Added to (and overriding) this process's environment; an `undefined` value removes a variable. */
  env?: NodeJS.ProcessEnv;
  /** The project name (PULUMI_NODEJS_PROJECT, PULUMI_PROJECT, unqualified config keys, urn()). Default `project`. */
  project?: string;
  /** The stack name used by `client.urn()`. Default `stack`. */
  stack?: string;
  /**
   * Stack config: exported as PULUMI_CONFIG and sent with Configure before the first resource call if the test
   * does not call `configure()` itself. Keys without a namespace get `<project>:`.
   */
  config?: Record<string, string | SecretValue<string>>;
  /** The serialized provider text to inject as `__provider` (same as calling `withProvider`). */
  provider?: string;
  /** `node` runs the plugin script with this Node; `shim` runs the package's `pulumi-resource-pulumi-nodejs`. */
  launcher?: 'node' | 'shim';
  /** The engine address passed as argv[2]. The plugin never dials it. Default `127.0.0.1:1`. */
  engineAddress?: string;
  /** Deadline of every RPC. Default 120 s. */
  deadlineMs?: number;
  /** How long to wait for the port line. Default 30 s. */
  startupTimeoutMs?: number;
}

export interface ClientOptions {
  /** Serialized provider injected as `__provider`; undefined sends requests without it. */
  provider?: string;
  /** Send secret wrappers as given instead of stripping them like the engine (to observe the plugin's behaviour). */
  keepSecrets?: boolean;
  /** Deadline of every RPC made through this view. */
  deadlineMs?: number;
}

export interface ConfigureResult {
  acceptSecrets: boolean;
  supportsPreview: boolean;
  acceptResources: boolean;
  acceptOutputs: boolean;
  supportsAutonamingConfiguration: boolean;
}

export interface CheckFailure {
  property: string;
  reason: string;
}

export interface CheckResult {
  inputs: Props;
  failures: CheckFailure[];
}

export type DiffChanges = 'DIFF_UNKNOWN' | 'DIFF_NONE' | 'DIFF_SOME';

export interface DiffResult {
  changes: DiffChanges;
  replaces: string[];
  deleteBeforeReplace: boolean;
  /** Always empty from the Node dynamic plugin (it drops them); kept to make that assertable. */
  stables: string[];
  diffs: string[];
}

export interface CreateResult {
  id: string;
  properties: Props;
}

export interface ReadResult {
  id: string;
  properties: Props;
  /** Present only when the provider's `read` returned `inputs`. */
  inputs?: Props;
}

export interface UpdateResult {
  properties: Props;
}

export interface PreviewOptions {
  /** A preview step: unknowns allowed. */
  preview?: boolean;
  /**
   * With `preview`, the engine does not call Create/Update on a provider whose Configure answered
   * supportsPreview=false (the dynamic plugin does) and echoes the inputs instead; the harness does the same.
   * `rawRpc` sends the request anyway, to observe what the plugin itself would do with `preview=true`.
   */
  rawRpc?: boolean;
}

/** The contents of a `pulumirpc.ErrorResourceInitFailed` detail: the resource exists but failed to initialise. */
export interface PartialFailure {
  id: string;
  properties: Props;
  reasons: string[];
  inputs?: Props;
}

/** A failed RPC. `message` is the status message the plugin sent (what the engine shows the user). */
export class PluginRpcError extends Error {
  constructor(
    readonly rpc: string,
    readonly code: grpc.status,
    message: string,
    readonly partial?: PartialFailure,
  ) {
    super(message);
    this.name = 'PluginRpcError';
  }

  get codeName(): string {
    return grpc.status[this.code] ?? String(this.code);
  }
}

export interface OutputLine {
  stream: 'stdout' | 'stderr';
  line: string;
}

const DEFAULT_DEADLINE_MS = 120_000;
const DEFAULT_STARTUP_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 3_000;
const MAX_MESSAGE_BYTES = 400 * 1024 * 1024;
const PARTIAL_FAILURE_TYPE = 'pulumirpc.ErrorResourceInitFailed';

/** Process groups still alive; killed on exit even if a test forgot `stop()`. */
const liveGroups = new Set<number>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) {
    return;
  }
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const pgid of liveGroups) {
      killGroup(pgid, 'SIGKILL');
    }
  });
}

function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

/** State shared by every view of one plugin process. */
class PluginProcess {
  readonly lines: OutputLine[] = [];
  readonly exited: Promise<void>;
  exitStatus: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  client: provrpc.ResourceProviderClient | undefined;
  port = 0;
  /** What the plugin answered to Configure; the engine uses it to decide secrets and previews. */
  protocol: ConfigureResult | undefined;
  configured: Promise<ConfigureResult> | undefined;
  private lineWaiters: Array<() => void> = [];

  constructor(
    readonly child: ChildProcess,
    readonly project: string,
    readonly stack: string,
    readonly config: Record<string, string | SecretValue<string>>,
  ) {
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitStatus = { code, signal };
        if (child.pid !== undefined) {
          liveGroups.delete(child.pid);
        }
        this.changed();
        resolve();
      });
    });
  }

  addLine(entry: OutputLine): void {
    this.lines.push(entry);
    this.changed();
  }

  onChange(waiter: () => void): () => void {
    this.lineWaiters.push(waiter);
    return () => {
      this.lineWaiters = this.lineWaiters.filter((w) => w !== waiter);
    };
  }

  /** Wakes every waiter (new output, port line, exit). */
  changed(): void {
    for (const waiter of [...this.lineWaiters]) {
      waiter();
    }
  }
}

const linkedProjects = new Map<string, string>();

/**
 * A scratch project folder whose `node_modules/<name>` is a symbolic link to the package at
 * `packageRoot`, made once per process and removed at exit. Serialized providers `require` their
 * package by name from the plugin's working directory, so this is where to run the providers of a
 * package's own checkout, which no install has put into a `node_modules`.
 */
export function linkedProject(packageRoot: string): string {
  const root = path.resolve(packageRoot);
  const known = linkedProjects.get(root);
  if (known !== undefined) {
    return known;
  }
  const manifest: unknown = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
  const name = typeof manifest === 'object' && manifest !== null && 'name' in manifest ? manifest.name : undefined;
  if (typeof name !== 'string' || name === '') {
    throw new Error(`${path.join(root, 'package.json')} names no package`);
  }
  const project = mkdtempSync(path.join(tmpdir(), 'linked-project-'));
  mkdirSync(path.dirname(path.join(project, 'node_modules', name)), { recursive: true });
  symlinkSync(root, path.join(project, 'node_modules', name), 'dir');
  process.once('exit', () => rmSync(project, { recursive: true, force: true }));
  linkedProjects.set(root, project);
  return project;
}

/** Starts the dynamic-provider plugin and connects a client to it. */
export async function startPlugin(options: StartPluginOptions): Promise<PluginClient> {
  installExitHook();
  const cwd = path.resolve(options.cwd);
  const project = options.project ?? 'project';
  const config = qualifyConfig(options.config ?? {}, project);
  const engineAddress = options.engineAddress ?? '127.0.0.1:1';
  const env: NodeJS.ProcessEnv = { ...process.env, ...options.env };
  env.PULUMI_NODEJS_PROJECT = project;
  env.PULUMI_PROJECT = project;
  if (options.config !== undefined) {
    env.PULUMI_CONFIG = JSON.stringify(stripSecrets(config));
  }
  for (const key of Object.keys(env)) {
    if (env[key] === undefined) {
      delete env[key];
    }
  }

  const [command, args] =
    options.launcher === 'shim'
      ? [
          path.join(path.dirname(resolvePulumi('@pulumi/pulumi/package.json', cwd)), 'pulumi-resource-pulumi-nodejs'),
          [engineAddress],
        ]
      : [process.execPath, [resolvePulumi('@pulumi/pulumi/cmd/dynamic-provider/index.js', cwd), engineAddress]];
  // detached: a new session and process group, so stop() can kill the whole group (the shim does not exec node).
  const child = spawn(command, args, { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const pid = child.pid;
  if (pid === undefined) {
    const error = await new Promise<Error>((resolve) => child.once('error', resolve));
    throw new Error(`could not start the dynamic-provider plugin: ${error.message}`);
  }
  liveGroups.add(pid);
  // A forgotten plugin must not keep the test runner alive; the exit hook kills it.
  child.unref();

  const proc = new PluginProcess(child, project, options.stack ?? 'stack', config);
  const stdout = readline.createInterface({ input: child.stdout! });
  const stderr = readline.createInterface({ input: child.stderr! });
  let portLine: string | undefined;
  stdout.on('line', (line) => {
    if (portLine === undefined) {
      portLine = line;
      proc.changed();
    } else {
      proc.addLine({ stream: 'stdout', line });
    }
  });
  stderr.on('line', (line) => proc.addLine({ stream: 'stderr', line }));
  (child.stdout as unknown as { unref?: () => void }).unref?.();
  (child.stderr as unknown as { unref?: () => void }).unref?.();

  try {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          finish(
            new Error(
              `the plugin did not print its port within ${options.startupTimeoutMs ?? DEFAULT_STARTUP_TIMEOUT_MS} ms`,
            ),
          ),
        options.startupTimeoutMs ?? DEFAULT_STARTUP_TIMEOUT_MS,
      );
      const unsubscribe = proc.onChange(check);
      function finish(error: Error | undefined, value?: number): void {
        clearTimeout(timer);
        unsubscribe();
        if (error) {
          reject(error);
        } else {
          resolve(value!);
        }
      }
      function check(): void {
        if (portLine !== undefined) {
          const value = Number(portLine.trim());
          if (Number.isInteger(value) && value > 0 && value < 65536) {
            finish(undefined, value);
          } else {
            finish(new Error(`the plugin's first stdout line is not a port: ${JSON.stringify(portLine)}`));
          }
        } else if (proc.exitStatus) {
          const output = proc.lines.map((l) => l.line).join('\n');
          finish(
            new Error(`the plugin exited (${JSON.stringify(proc.exitStatus)}) before printing its port:\n${output}`),
          );
        }
      }
      check();
    });
    proc.port = port;
    proc.client = new provrpc.ResourceProviderClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
      'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
    });
  } catch (error) {
    await stopProcess(proc);
    throw error;
  }
  return new PluginClient(proc, { provider: options.provider, deadlineMs: options.deadlineMs ?? DEFAULT_DEADLINE_MS });
}

function resolvePulumi(request: string, cwd: string): string {
  try {
    return require.resolve(request, { paths: [cwd] });
  } catch {
    return require.resolve(request);
  }
}

function qualifyConfig(
  config: Record<string, string | SecretValue<string>>,
  project: string,
): Record<string, string | SecretValue<string>> {
  const out: Record<string, string | SecretValue<string>> = {};
  for (const [key, value] of Object.entries(config)) {
    out[key.includes(':') ? key : `${project}:${key}`] = value;
  }
  return out;
}

async function stopProcess(proc: PluginProcess): Promise<void> {
  proc.client?.close();
  const pid = proc.child.pid;
  if (pid === undefined) {
    return;
  }
  if (!proc.exitStatus) {
    killGroup(pid, 'SIGTERM');
    const timer = setTimeout(() => killGroup(pid, 'SIGKILL'), STOP_GRACE_MS);
    await proc.exited;
    clearTimeout(timer);
  }
  // The leader is gone; make sure nothing else in its group survived (e.g. node under the shim).
  const giveUp = Date.now() + STOP_GRACE_MS;
  while (livingGroupMembers(pid).length > 0 && Date.now() < giveUp) {
    killGroup(pid, 'SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  liveGroups.delete(pid);
}

/**
 * Processes of a process group that are still running (zombies excluded: where PID 1 does not reap orphans,
 * a killed grandchild stays in the table as a zombie and `kill(-pgid, 0)` keeps succeeding). Linux /proc only;
 * elsewhere it returns [].
 */
export function livingGroupMembers(pgid: number): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const members: number[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) {
      continue;
    }
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // "pid (comm) state ppid pgrp ...": comm may contain spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === pgid && fields[0] !== 'Z' && fields[0] !== 'X') {
      members.push(Number(entry));
    }
  }
  return members;
}

type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: grpc.Metadata,
  options: Partial<grpc.CallOptions>,
  callback: (error: grpc.ServiceError | null, response: Res) => void,
) => grpc.ClientUnaryCall;

/**
 * A client bound to one plugin process. Views made with `withProvider`/`withOptions` share the process, its
 * output and its Configure state; `stop()` on any of them stops the process.
 */
export class PluginClient {
  constructor(
    private readonly proc: PluginProcess,
    private readonly options: ClientOptions,
  ) {}

  /** A view that injects this serialized provider as `__provider`. */
  withProvider(providerText: string): PluginClient {
    return this.withOptions({ provider: providerText });
  }

  withOptions(options: ClientOptions): PluginClient {
    return new PluginClient(this.proc, { ...this.options, ...options });
  }

  get provider(): string | undefined {
    return this.options.provider;
  }

  get port(): number {
    return this.proc.port;
  }

  /** The plugin's process id (also its process group id). */
  get pid(): number {
    return this.proc.child.pid!;
  }

  get project(): string {
    return this.proc.project;
  }

  /** A URN in this plugin's project and stack (see the module-level {@link urn}). */
  urn(type: string, name: string): string {
    return urn(type, name, { project: this.proc.project, stack: this.proc.stack });
  }

  /** Every stdout/stderr line after the port line: what the user would see. */
  output(): string[] {
    return this.proc.lines.map((entry) => entry.line);
  }

  outputLines(): OutputLine[] {
    return [...this.proc.lines];
  }

  /**
   * Waits until an output line matches. Output arrives over pipes, independently of gRPC responses, so a line
   * printed during a call may show up slightly after the call returns.
   */
  waitForOutput(match: string | RegExp, timeoutMs = 5_000): Promise<string> {
    const test = (line: string): boolean => (typeof match === 'string' ? line.includes(match) : match.test(line));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          finish(
            new Error(
              `no output line matched ${String(match)} within ${timeoutMs} ms; output:\n${this.output().join('\n')}`,
            ),
          ),
        timeoutMs,
      );
      const unsubscribe = this.proc.onChange(check);
      const proc = this.proc;
      function finish(error: Error | undefined, line?: string): void {
        clearTimeout(timer);
        unsubscribe();
        if (error) {
          reject(error);
        } else {
          resolve(line!);
        }
      }
      function check(): void {
        const found = proc.lines.find((entry) => test(entry.line));
        if (found) {
          finish(undefined, found.line);
        } else if (proc.exitStatus) {
          finish(new Error(`the plugin exited (${JSON.stringify(proc.exitStatus)}) before printing ${String(match)}`));
        }
      }
      check();
    });
  }

  /** Resolves when the process has exited. */
  exited(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return this.proc.exited.then(() => this.proc.exitStatus!);
  }

  /**
   * Sends `signal` to the plugin process alone (as a user's Ctrl-C reaching it, or the engine
   * stopping it), leaving the process to handle it; `stop()` still ends the group.
   */
  signal(signal: NodeJS.Signals): void {
    this.proc.child.kill(signal);
  }

  /** Kills the plugin's process group and waits for the process to exit. Idempotent. */
  stop(): Promise<void> {
    return stopProcess(this.proc);
  }

  async getPluginInfo(): Promise<{ version: string }> {
    const response = await this.unary<Empty, plugproto.PluginInfo>(
      'GetPluginInfo',
      this.rpc().getPluginInfo,
      new Empty(),
    );
    return { version: response.getVersion() };
  }

  /**
   * Sends Configure as the engine does for the default `pulumi-nodejs` provider: `args` holds the whole stack
   * config with namespaced keys (unqualified keys get `<project>:`), secrets still wrapped; `variables` holds the
   * same values unwrapped under `pulumi-nodejs:config:<key>`.
   */
  configure(config: Record<string, string | SecretValue<string>>): Promise<ConfigureResult> {
    const promise = this.sendConfigure(qualifyConfig(config, this.proc.project));
    this.proc.configured = promise;
    return promise;
  }

  async check(urnValue: string, olds: Props, news: Props): Promise<CheckResult> {
    await this.ensureConfigured();
    const request = new provproto.CheckRequest();
    this.setNameAndType(request, urnValue);
    // Olds are the last inputs: empty on create, carrying __provider otherwise.
    request.setOlds(this.toStruct(Object.keys(olds).length > 0 ? this.inject(olds) : olds, { unknowns: true }));
    request.setNews(this.toStruct(this.inject(news), { unknowns: true }));
    const response = await this.unary('Check', this.rpc().check, request);
    return {
      inputs: fromStruct(response.getInputs()),
      failures: response.getFailuresList().map((f) => ({ property: f.getProperty(), reason: f.getReason() })),
    };
  }

  /** `olds` are the last outputs (state), `news` the checked inputs, `oldInputs` the last inputs. */
  async diff(id: string, urnValue: string, olds: Props, news: Props, oldInputs?: Props): Promise<DiffResult> {
    await this.ensureConfigured();
    const request = new provproto.DiffRequest();
    request.setId(id);
    this.setNameAndType(request, urnValue);
    request.setOlds(this.toStruct(this.inject(olds), { unknowns: true }));
    request.setNews(this.toStruct(this.inject(news), { unknowns: true }));
    if (oldInputs !== undefined) {
      request.setOldInputs(this.toStruct(this.inject(oldInputs), { unknowns: true }));
    }
    const response = await this.unary('Diff', this.rpc().diff, request);
    return {
      changes: diffChangesName(response.getChanges()),
      replaces: response.getReplacesList(),
      deleteBeforeReplace: response.getDeletebeforereplace(),
      stables: response.getStablesList(),
      diffs: response.getDiffsList(),
    };
  }

  async create(urnValue: string, properties: Props, options: PreviewOptions = {}): Promise<CreateResult> {
    const protocol = await this.ensureConfigured();
    const props = this.inject(properties);
    if (options.preview && !options.rawRpc && !protocol.supportsPreview) {
      return { id: '', properties: this.engineEcho(props) };
    }
    const request = new provproto.CreateRequest();
    this.setNameAndType(request, urnValue);
    request.setProperties(this.toStruct(props, { unknowns: options.preview === true }));
    request.setPreview(options.preview === true);
    const response = await this.unary('Create', this.rpc().create, request);
    return { id: response.getId(), properties: fromStruct(response.getProperties()) };
  }

  /** `properties` are the last outputs (state), `inputs` the last inputs (sent on refresh). */
  async read(id: string, urnValue: string, properties: Props, inputs?: Props): Promise<ReadResult> {
    await this.ensureConfigured();
    const request = new provproto.ReadRequest();
    request.setId(id);
    this.setNameAndType(request, urnValue);
    request.setProperties(this.toStruct(this.inject(properties), { unknowns: false }));
    if (inputs !== undefined) {
      request.setInputs(this.toStruct(this.inject(inputs), { unknowns: false }));
    }
    const response = await this.unary('Read', this.rpc().read, request);
    const result: ReadResult = { id: response.getId(), properties: fromStruct(response.getProperties()) };
    if (response.hasInputs()) {
      result.inputs = fromStruct(response.getInputs());
    }
    return result;
  }

  /** `olds` are the last outputs (state), `news` the checked inputs, `oldInputs` the last inputs. */
  async update(
    id: string,
    urnValue: string,
    olds: Props,
    news: Props,
    oldInputs?: Props,
    options: PreviewOptions = {},
  ): Promise<UpdateResult> {
    const protocol = await this.ensureConfigured();
    const newProps = this.inject(news);
    if (options.preview && !options.rawRpc && !protocol.supportsPreview) {
      return { properties: this.engineEcho(newProps) };
    }
    const request = new provproto.UpdateRequest();
    request.setId(id);
    this.setNameAndType(request, urnValue);
    request.setOlds(this.toStruct(this.inject(olds), { unknowns: false }));
    request.setNews(this.toStruct(newProps, { unknowns: options.preview === true }));
    if (oldInputs !== undefined) {
      request.setOldInputs(this.toStruct(this.inject(oldInputs), { unknowns: false }));
    }
    request.setPreview(options.preview === true);
    const response = await this.unary('Update', this.rpc().update, request);
    return { properties: fromStruct(response.getProperties()) };
  }

  /** `properties` are the last outputs (state), `oldInputs` the last inputs (the plugin does not pass them on). */
  async delete(id: string, urnValue: string, properties: Props, oldInputs?: Props): Promise<void> {
    await this.ensureConfigured();
    const request = new provproto.DeleteRequest();
    request.setId(id);
    this.setNameAndType(request, urnValue);
    request.setProperties(this.toStruct(this.inject(properties), { unknowns: false }));
    if (oldInputs !== undefined) {
      request.setOldInputs(this.toStruct(this.inject(oldInputs), { unknowns: false }));
    }
    await this.unary('Delete', this.rpc().delete, request);
  }

  private async sendConfigure(config: Record<string, string | SecretValue<string>>): Promise<ConfigureResult> {
    const request = new provproto.ConfigureRequest();
    request.setArgs(Struct.fromJavaScript(toJavaScriptMap(config)));
    const variables = request.getVariablesMap();
    for (const [key, value] of Object.entries(config)) {
      variables.set(`${DYNAMIC_PACKAGE}:config:${key}`, String(stripSecrets(value)));
    }
    request.setAcceptsecrets(true);
    request.setAcceptresources(true);
    request.setSendsOldInputs(true);
    request.setSendsOldInputsToDelete(true);
    const response = await this.unary('Configure', this.rpc().configure, request);
    const protocol: ConfigureResult = {
      acceptSecrets: response.getAcceptsecrets(),
      supportsPreview: response.getSupportspreview(),
      acceptResources: response.getAcceptresources(),
      acceptOutputs: response.getAcceptoutputs(),
      supportsAutonamingConfiguration: response.getSupportsAutonamingConfiguration(),
    };
    this.proc.protocol = protocol;
    return protocol;
  }

  /** The engine configures the provider (with the stack config) before any resource call. */
  private ensureConfigured(): Promise<ConfigureResult> {
    if (!this.proc.configured) {
      this.proc.configured = this.sendConfigure(this.proc.config);
    }
    return this.proc.configured;
  }

  private rpc(): provrpc.ResourceProviderClient {
    if (!this.proc.client || this.proc.exitStatus) {
      throw new Error(
        `the plugin is not running${this.proc.exitStatus ? ` (exited: ${JSON.stringify(this.proc.exitStatus)})` : ''}`,
      );
    }
    return this.proc.client;
  }

  private unary<Req, Res>(name: string, method: UnaryMethod<Req, Res>, request: Req): Promise<Res> {
    const client = this.rpc();
    const deadline = Date.now() + (this.options.deadlineMs ?? DEFAULT_DEADLINE_MS);
    return new Promise((resolve, reject) => {
      method.call(client, request, new grpc.Metadata(), { deadline }, (error, response) => {
        if (error) {
          reject(toPluginError(name, error));
        } else {
          resolve(response);
        }
      });
    });
  }

  private setNameAndType(
    request: { setUrn(v: string): unknown; setName(v: string): unknown; setType(v: string): unknown },
    urnValue: string,
  ): void {
    const { name, type } = parseUrn(urnValue);
    request.setUrn(urnValue);
    request.setName(name);
    request.setType(type);
  }

  /** Adds `__provider` where the engine would carry it, unless the caller set the key (or no provider is bound). */
  private inject(props: Props): Props {
    if (this.options.provider === undefined || PROVIDER_KEY in props) {
      return props;
    }
    return { ...props, [PROVIDER_KEY]: this.options.provider };
  }

  /** The engine's answer to a Create/Update preview on a provider without preview support: the inputs. */
  private engineEcho(props: Props): Props {
    return fromStruct(this.toStruct(props, { unknowns: true }));
  }

  private toStruct(props: Props, options: { unknowns: boolean }): Struct {
    const value = this.options.keepSecrets || this.proc.protocol?.acceptSecrets ? props : stripSecrets(props);
    if (!options.unknowns && containsUnknown(value)) {
      throw new Error('the engine never sends unknown values in this request (only Check/Diff and previews)');
    }
    return Struct.fromJavaScript(toJavaScriptMap(value as Props));
  }
}

function diffChangesName(value: provproto.DiffResponse.DiffChanges): DiffChanges {
  switch (value) {
    case provproto.DiffResponse.DiffChanges.DIFF_NONE:
      return 'DIFF_NONE';
    case provproto.DiffResponse.DiffChanges.DIFF_SOME:
      return 'DIFF_SOME';
    default:
      return 'DIFF_UNKNOWN';
  }
}

function toPluginError(rpcName: string, error: grpc.ServiceError): PluginRpcError {
  return new PluginRpcError(rpcName, error.code, error.details, decodePartialFailure(error.metadata));
}

/** Decodes `grpc-status-details-bin` (a google.rpc.Status) and unpacks a `pulumirpc.ErrorResourceInitFailed`. */
export function decodePartialFailure(metadata: grpc.Metadata | undefined): PartialFailure | undefined {
  for (const raw of metadata?.get('grpc-status-details-bin') ?? []) {
    const bytes = typeof raw === 'string' ? Buffer.from(raw, 'base64') : raw;
    const status = statusproto.Status.deserializeBinary(new Uint8Array(bytes));
    for (const detail of status.getDetailsList()) {
      const failure = detail.unpack(provproto.ErrorResourceInitFailed.deserializeBinary, PARTIAL_FAILURE_TYPE);
      if (failure) {
        const partial: PartialFailure = {
          id: failure.getId(),
          properties: fromStruct(failure.getProperties()),
          reasons: failure.getReasonsList(),
        };
        if (failure.hasInputs()) {
          partial.inputs = fromStruct(failure.getInputs());
        }
        return partial;
      }
    }
  }
  return undefined;
}

function fromStruct(struct: Struct | undefined): Props {
  return struct ? (struct.toJavaScript() as Props) : {};
}

function containsUnknown(value: unknown): boolean {
  if (value === unknownValue) {
    return true;
  }
  if (Array.isArray(value)) {
    return value.some(containsUnknown);
  }
  if (isPlainObject(value)) {
    return Object.values(value).some(containsUnknown);
  }
  return false;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return false;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Converts to what Struct.fromJavaScript accepts: undefined object keys dropped, undefined array items as null. */
function toJavaScriptMap(props: Props): { [key: string]: JavaScriptValue } {
  const out: { [key: string]: JavaScriptValue } = {};
  for (const [key, value] of Object.entries(props)) {
    if (value !== undefined) {
      out[key] = toJavaScriptValue(value, key);
    }
  }
  return out;
}

function toJavaScriptValue(value: unknown, where: string): JavaScriptValue {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') {
    return value;
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) {
      throw new Error(`${where}: ${value} cannot cross the wire`);
    }
    return value;
  }
  if (Array.isArray(value)) {
    return value.map((item, i) => (item === undefined ? null : toJavaScriptValue(item, `${where}[${i}]`)));
  }
  if (isPlainObject(value)) {
    const out: { [key: string]: JavaScriptValue } = {};
    for (const [key, item] of Object.entries(value)) {
      if (item !== undefined) {
        out[key] = toJavaScriptValue(item, `${where}.${key}`);
      }
    }
    return out;
  }
  throw new Error(
    `${where}: a ${typeof value === 'object' ? (value.constructor?.name ?? 'object') : typeof value} is not a plain JSON value`,
  );
}
