/**
 * The demo's stand-in for the Pulumi engine: the engine model of pulumi-unikernel/testing
 * (testing/engineModel.ts), which drives the real dynamic-provider plugin over gRPC in the steps the
 * engine takes (preview with Check and Diff only; up with create-before-delete replacements; refresh
 * adopting what `read` returns; destroy in reverse dependency order), with a per-resource face for
 * the demo's story (`pulumi up --target`, `pulumi refresh --target`), and relays what the providers
 * print, as the CLI would.
 */
import * as pulumi from '@pulumi/pulumi';
import { Declaration, EngineModel, output, OutputRef, Plan, PlannedStep } from '../../testing/engineModel';
import { PluginClient, Props, serializeProvider } from '../../testing/pluginHarness';

export { output };
export type { OutputRef };

export interface StateEntry {
  type: string;
  name: string;
  provider: string;
  id: string;
  inputs: Props;
  outputs: Props;
}

export class MiniEngine {
  private readonly model: EngineModel;
  /** The program: every resource declared so far, in declaration order. */
  private readonly program = new Map<string, Declaration>();
  private shown = 0;

  constructor(
    private readonly plugin: PluginClient,
    private readonly say: (line: string) => void,
  ) {
    this.model = new EngineModel(plugin);
  }

  /** Calls `watcher` after each create, update or delete the engine does. */
  watch(watcher: ((event: string) => void) | undefined): void {
    this.model.onEvent = watcher;
  }

  /** The state, by resource name. */
  get state(): Map<string, StateEntry> {
    return new Map(this.model.state.map((entry) => [entry.name, entry]));
  }

  /** Lines the providers printed since the last call, shown as the Pulumi CLI shows them. */
  relay(): void {
    const lines = this.plugin.output();
    for (const line of lines.slice(this.shown)) this.say(`    │ ${line}`);
    this.shown = lines.length;
  }

  /** Declares (or changes) a resource of the program; inputs may hold `output(name, property)` references. */
  async declare(
    type: string,
    name: string,
    provider: pulumi.dynamic.ResourceProvider,
    inputs: Props,
    secretKeys: string[] = [],
  ): Promise<void> {
    this.program.set(name, {
      name,
      type,
      provider: await serializeProvider(provider),
      inputs,
      secretInputs: secretKeys,
    });
  }

  /** Declares a resource and runs `pulumi up --target` on it: Check, then Create. */
  async create(
    type: string,
    name: string,
    provider: pulumi.dynamic.ResourceProvider,
    inputs: Props,
    secretKeys: string[] = [],
  ): Promise<StateEntry> {
    await this.declare(type, name, provider, inputs, secretKeys);
    try {
      await this.model.up([...this.program.values()], { targets: [name] });
    } finally {
      this.relay();
    }
    return this.require(name);
  }

  /** `pulumi refresh --target` of one resource: Read with the stored outputs; an empty id means it is gone. */
  async refresh(name: string): Promise<{ gone: boolean; before: Props; after: Props }> {
    const before = this.require(name).outputs;
    const [step] = await this.model.refresh([name]);
    this.relay();
    return { gone: step.gone, before, after: step.gone ? {} : this.require(name).outputs };
  }

  /** `pulumi up --target` of one resource with these inputs: Diff against the state, then Update, replace or create. */
  async up(
    type: string,
    name: string,
    provider: pulumi.dynamic.ResourceProvider,
    inputs: Props,
    secretKeys: string[] = [],
  ): Promise<string> {
    await this.declare(type, name, provider, inputs, secretKeys);
    const plan = await this.model.up([...this.program.values()], { targets: [name] });
    this.relay();
    const step = plan.steps.find((each) => each.name === name);
    return step ? describeStep(step) : 'not in the program';
  }

  /** `pulumi preview` of the whole program: the plan, one line per step (a replacement adds its delete-replaced). */
  async preview(): Promise<string[]> {
    const plan = await this.model.preview([...this.program.values()]);
    this.relay();
    return plan.steps.map((step) => `${step.name}: ${describeStep(step)}`);
  }

  /** `pulumi up` of the whole program. */
  async upAll(): Promise<Plan> {
    try {
      return await this.model.up([...this.program.values()]);
    } finally {
      this.relay();
    }
  }

  /** `pulumi destroy --target` of one resource. */
  async destroy(name: string): Promise<void> {
    this.program.delete(name);
    await this.model.up([...this.program.values()], { targets: [name] }).finally(() => this.relay());
  }

  private require(name: string): StateEntry {
    const entry = this.model.entry(name);
    if (!entry) throw new Error(`${name} is not in the state`);
    return entry;
  }
}

function describeStep(step: PlannedStep): string {
  switch (step.op) {
    case 'same':
      return 'unchanged';
    case 'update':
      return 'updated in place';
    case 'create':
      return 'created (it was gone)';
    case 'replace':
      return `replaced, ${step.replaceKind} (${(step.replaces ?? []).join(', ')})`;
    case 'delete':
      return step.retained ? 'dropped from the state (retained)' : 'deleted';
    case 'delete-replaced':
      return step.retained ? 'the replaced one dropped from the state (retained)' : 'the replaced one deleted';
  }
}
