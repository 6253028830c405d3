/**
 * A model of the Pulumi engine's deployment steps, driving the real dynamic-provider plugin over gRPC
 * (through {@link PluginClient}), so that whole stacks can be previewed, updated, refreshed and
 * destroyed as `pulumi preview/up/refresh/destroy` would, without the Pulumi CLI.
 *
 * What it follows (pulumi-dynamic-providers.md §2.1 and §6, from the engine's step generator and
 * provider plugin code):
 * - **preview** calls Check and Diff only. A dynamic provider answers Configure with
 *   supportsPreview=false, so the engine does not call Create or Update: the planned state of a
 *   created, replaced or updated resource is its checked inputs, and every property the inputs do not
 *   hold is unknown to dependents. The id stays known for an update and a same, and is unknown for a
 *   create or replacement. Unknowns flow into the dependents' Check and Diff as the SDK's sentinel.
 * - **up**: Check, Diff (DIFF_UNKNOWN falls back to the engine's own comparison of old and new inputs,
 *   which is never a replacement), then Create, Update or a replacement. A replacement is
 *   create-before-delete unless Diff or the resource option asks for delete-before-replace; the old
 *   resource is then deleted after every step of the program, in reverse dependency order, with the
 *   resources the program dropped. Delete-before-replace first deletes the dependents that would be
 *   replaced (the engine asks their Diff with the inputs that depend on the replaced resource
 *   unknown), dependents first, then the resource, then creates it; the dependents are created again
 *   at their own step. `retainOnDelete` skips the Delete call and drops the resource from the state.
 *   A create that fails with a partial failure (ErrorResourceInitFailed) keeps the id and properties
 *   in the state, and the deployment stops.
 * - **refresh** calls Read with the state's outputs and inputs; an empty id drops the resource, else
 *   the outputs are replaced, and the inputs too when `read` returned them.
 * - **destroy** deletes in reverse dependency order (retained resources are only forgotten).
 *
 * Each run returns its plan (one step per resource: same, create, update, replace with its kind,
 * delete; and the engine's delete-replaced step of each replaced resource, where the engine puts it,
 * in preview as in up) and the engine's events in the order the plugin was called; AWS calls are recorded by the
 * local AWS (`LocalAws.requests`).
 */
import { isSecret, PluginClient, PluginRpcError, Props, UNKNOWN, secret, withoutProvider } from './pluginHarness';

/** A reference to another resource's output, resolved as the engine resolves `Output`s between resources. */
export interface OutputRef {
  readonly outputOf: string;
  /** `id` for the resource id, else an output property. */
  readonly property: string;
}

/** `output('bundle', 'id')`: the bundle's id as an input of another resource. */
export function output(resource: string, property: string): OutputRef {
  return { outputOf: resource, property };
}

function isOutputRef(value: unknown): value is OutputRef {
  return typeof value === 'object' && value !== null && 'outputOf' in value && 'property' in value;
}

export interface ResourceOptions {
  deleteBeforeReplace?: boolean;
  retainOnDelete?: boolean;
  dependsOn?: string[];
}

/** One resource of a program: what `new SomeResource(name, args, opts)` registers. */
export interface Declaration {
  name: string;
  /** `unikernel:BundledImage` or a full type token. */
  type: string;
  /** The serialized provider text (`__provider`). */
  provider: string;
  /** Plain values or {@link OutputRef}s (top-level or inside lists and objects). */
  inputs: Props;
  /** Inputs the program marks secret (`pulumi.secret`); the engine strips the wrapper for the plugin. */
  secretInputs?: string[];
  options?: ResourceOptions;
}

export interface StateEntry {
  name: string;
  type: string;
  provider: string;
  id: string;
  inputs: Props;
  outputs: Props;
  /** Which resources each input came from (the engine's property dependencies). */
  propertyDependencies: Record<string, string[]>;
  dependencies: string[];
  retainOnDelete: boolean;
}

/**
 * The engine's step operations. `replace` stands for the engine's create-replacement and replace
 * steps of one resource (what `pulumi preview` shows as one `+-` line); `delete-replaced` is the
 * delete of the replaced resource, a step of its own: after every step of the program (reverse
 * dependency order) for create-before-delete, and ahead of the replace, dependents first, for
 * delete-before-replace (what `--show-replacement-steps` lists, and `up` runs).
 */
export type StepOp = 'same' | 'create' | 'update' | 'replace' | 'delete' | 'delete-replaced';
export type ReplaceKind = 'create-before-delete' | 'delete-before-replace';

export interface PlannedStep {
  name: string;
  op: StepOp;
  /** For replace: the properties the provider named (empty for a dependent of a delete-before-replace). */
  replaces?: string[];
  replaceKind?: ReplaceKind;
  /** For delete and delete-replaced: the resource is only dropped from the state. */
  retained?: boolean;
}

export interface Plan {
  steps: PlannedStep[];
  /** What the engine did, in order: `create bundle`, `update ami`, `delete instance (replaced)`, … */
  events: string[];
}

export interface RunOptions {
  /** `--target`: only these resources are stepped; the others stay as the state has them. */
  targets?: string[];
}

export interface RefreshStep {
  name: string;
  gone: boolean;
  /** The outputs changed. */
  changed: boolean;
  /** `read` returned inputs, which replaced the stored ones. */
  inputsAdopted: boolean;
}

export class CheckFailedError extends Error {
  constructor(
    readonly resource: string,
    readonly failures: { property: string; reason: string }[],
  ) {
    super(`${resource}: ${failures.map((failure) => `${failure.property}: ${failure.reason}`).join('; ')}`);
    this.name = 'CheckFailedError';
  }
}

/** What a dependent sees of a resource during a run: its id and outputs, unknown where the engine has none. */
interface Planned {
  id: string;
  /** In preview, for a create, replacement or update: the echoed inputs (any other property is unknown). */
  outputs: Props;
}

export class EngineModel {
  /** The stack's state, in the order the engine's snapshot keeps it (each resource after its dependencies). */
  state: StateEntry[] = [];

  /** Called after each event (a create, update or delete done), in order. */
  onEvent: ((event: string) => void) | undefined;

  constructor(
    private readonly plugin: PluginClient,
    options: { onEvent?: (event: string) => void } = {},
  ) {
    this.onEvent = options.onEvent;
  }

  /** The resource of that name (the newest, while a replaced one still waits for its delete). */
  entry(name: string): StateEntry | undefined {
    return [...this.state].reverse().find((each) => each.name === name);
  }

  /** `pulumi preview`: Check and Diff only; the state is not touched. */
  preview(program: Declaration[], options: RunOptions = {}): Promise<Plan> {
    return this.run(program, true, options);
  }

  /** `pulumi up`. */
  up(program: Declaration[], options: RunOptions = {}): Promise<Plan> {
    return this.run(program, false, options);
  }

  /** `pulumi refresh` (of `names` only, as `--target` does, when given). */
  async refresh(names?: string[]): Promise<RefreshStep[]> {
    const steps: RefreshStep[] = [];
    for (const entry of [...this.state]) {
      if (names !== undefined && !names.includes(entry.name)) continue;
      const client = this.client(entry);
      const result = await client.read(entry.id, client.urn(entry.type, entry.name), entry.outputs, entry.inputs);
      if (result.id === '') {
        this.state = this.state.filter((each) => each !== entry);
        steps.push({ name: entry.name, gone: true, changed: true, inputsAdopted: false });
        continue;
      }
      const outputs = withoutProvider(result.properties);
      const changed = JSON.stringify(outputs) !== JSON.stringify(entry.outputs);
      entry.id = result.id;
      entry.outputs = outputs;
      if (result.inputs !== undefined) entry.inputs = withoutProvider(result.inputs);
      steps.push({ name: entry.name, gone: false, changed, inputsAdopted: result.inputs !== undefined });
    }
    return steps;
  }

  /** `pulumi destroy`: every resource, in reverse dependency order. */
  async destroy(): Promise<Plan> {
    const plan: Plan = { steps: [], events: [] };
    for (const entry of [...this.state].reverse()) {
      await this.deleteEntry(entry, plan, '');
      plan.steps.push({ name: entry.name, op: 'delete', retained: entry.retainOnDelete || undefined });
    }
    return plan;
  }

  private client(entry: { provider: string }): PluginClient {
    return this.plugin.withProvider(entry.provider);
  }

  private urn(declaration: { type: string; name: string; provider: string }): string {
    return this.client(declaration).urn(declaration.type, declaration.name);
  }

  private event(plan: Plan, text: string): void {
    plan.events.push(text);
    this.onEvent?.(text);
  }

  private async run(program: Declaration[], preview: boolean, options: RunOptions): Promise<Plan> {
    const plan: Plan = { steps: [], events: [] };
    const planned = new Map<string, Planned>();
    /** The entries the program's steps kept or made; every other one is deleted at the end. */
    const current = new Set<StateEntry>();
    /** Dependents a delete-before-replace deleted (or, in preview, would delete) ahead of their step. */
    const deletedAhead = new Set<string>();
    /** The entries a delete-before-replace deleted (or, in preview, would delete): not deleted again at the end. */
    const condemned = new Set<StateEntry>();
    const seen = new Set<string>();
    for (const declaration of program) {
      if (seen.has(declaration.name)) throw new Error(`${declaration.name} is declared twice`);
      seen.add(declaration.name);
      if (options.targets !== undefined && !options.targets.includes(declaration.name)) {
        // Not targeted: left as the state has it (and not created when it is not there).
        const kept = this.entry(declaration.name);
        if (kept !== undefined) {
          current.add(kept);
          planned.set(declaration.name, { id: kept.id, outputs: kept.outputs });
        }
        continue;
      }
      const { inputs, propertyDependencies } = this.resolve(declaration, planned, preview, seen);
      const urnValue = this.urn(declaration);
      const client = this.client(declaration);
      const old = deletedAhead.has(declaration.name) ? undefined : this.entry(declaration.name);
      const checked = await client.check(urnValue, old ? this.withProvider(old.inputs, old) : {}, inputs);
      if (checked.failures.length > 0) throw new CheckFailedError(declaration.name, checked.failures);
      const newInputs = checked.inputs;
      const retainOnDelete = declaration.options?.retainOnDelete === true;
      const dependencies = [
        ...new Set([...Object.values(propertyDependencies).flat(), ...(declaration.options?.dependsOn ?? [])]),
      ];
      const made = (id: string, outputs: Props): StateEntry => ({
        name: declaration.name,
        type: declaration.type,
        provider: declaration.provider,
        id,
        inputs: withoutProvider(newInputs),
        outputs: withoutProvider(outputs),
        propertyDependencies,
        dependencies,
        retainOnDelete,
      });

      if (old === undefined) {
        const step: PlannedStep = deletedAhead.has(declaration.name)
          ? { name: declaration.name, op: 'replace', replaces: [], replaceKind: 'delete-before-replace' }
          : { name: declaration.name, op: 'create' };
        plan.steps.push(step);
        planned.set(
          declaration.name,
          await this.create(declaration, urnValue, newInputs, preview, plan, made, current),
        );
        continue;
      }

      const diff = await client.diff(old.id, urnValue, this.withProvider(old.outputs, old), newInputs, old.inputs);
      const op: StepOp =
        diff.changes === 'DIFF_SOME'
          ? diff.replaces.length > 0
            ? 'replace'
            : 'update'
          : diff.changes === 'DIFF_UNKNOWN' && !sameInputs(old.inputs, withoutProvider(newInputs))
            ? 'update'
            : 'same';
      if (op === 'same') {
        plan.steps.push({ name: declaration.name, op });
        if (!preview) {
          old.retainOnDelete = retainOnDelete;
          old.propertyDependencies = propertyDependencies;
          old.dependencies = dependencies;
        }
        current.add(old);
        planned.set(declaration.name, { id: old.id, outputs: old.outputs });
      } else if (op === 'update') {
        current.add(old);
        plan.steps.push({ name: declaration.name, op });
        if (preview) {
          planned.set(declaration.name, { id: old.id, outputs: withoutProvider(newInputs) });
        } else {
          const updated = await client.update(
            old.id,
            urnValue,
            this.withProvider(old.outputs, old),
            newInputs,
            old.inputs,
          );
          this.event(plan, `update ${declaration.name} ${old.id}`);
          Object.assign(old, made(old.id, updated.properties));
          planned.set(declaration.name, { id: old.id, outputs: old.outputs });
        }
      } else {
        const deleteFirst = diff.deleteBeforeReplace || declaration.options?.deleteBeforeReplace === true;
        plan.steps.push({
          name: declaration.name,
          op,
          replaces: diff.replaces,
          replaceKind: deleteFirst ? 'delete-before-replace' : 'create-before-delete',
        });
        if (deleteFirst) {
          // The engine's steps: delete-replaced of each dependent (reverse dependency order), then of
          // the resource, then its replace and create-replacement.
          const dependents = await this.dependentReplacements(old);
          const replaceStep = plan.steps.pop()!;
          for (const dependent of [...[...dependents].reverse(), old]) {
            if (dependent !== old) deletedAhead.add(dependent.name);
            condemned.add(dependent);
            plan.steps.push(deleteReplaced(dependent));
            if (!preview)
              await this.deleteEntry(
                dependent,
                plan,
                dependent === old ? ' (delete-before-replace)' : ' (delete-before-replace of a dependency)',
              );
          }
          plan.steps.push(replaceStep);
        }
        planned.set(
          declaration.name,
          await this.create(declaration, urnValue, newInputs, preview, plan, made, current),
        );
      }
    }
    // The resources the program no longer declares, and the old halves of create-before-delete
    // replacements: deleted last, in reverse dependency order.
    for (const entry of [...this.state].reverse()) {
      const dropped = !seen.has(entry.name);
      if (current.has(entry) || condemned.has(entry)) continue;
      if (options.targets !== undefined && !options.targets.includes(entry.name)) continue;
      plan.steps.push(
        dropped
          ? { name: entry.name, op: 'delete', retained: entry.retainOnDelete || undefined }
          : deleteReplaced(entry),
      );
      if (!preview) await this.deleteEntry(entry, plan, dropped ? '' : ' (replaced)');
    }
    return plan;
  }

  /** Create (or, in preview, the engine's echo of the inputs with an unknown id). */
  private async create(
    declaration: Declaration,
    urnValue: string,
    inputs: Props,
    preview: boolean,
    plan: Plan,
    made: (id: string, outputs: Props) => StateEntry,
    current: Set<StateEntry>,
  ): Promise<Planned> {
    const client = this.client(declaration);
    if (preview) return { id: UNKNOWN, outputs: withoutProvider(inputs) };
    try {
      const created = await client.create(urnValue, inputs);
      const entry = made(created.id, created.properties);
      this.state.push(entry);
      current.add(entry);
      this.event(plan, `create ${declaration.name} ${created.id}`);
      return { id: entry.id, outputs: entry.outputs };
    } catch (error) {
      if (error instanceof PluginRpcError && error.partial !== undefined) {
        // The engine keeps what a partial failure reports, so that the next run can find it.
        const entry = made(error.partial.id, error.partial.properties);
        this.state.push(entry);
        current.add(entry);
        this.event(plan, `create ${declaration.name} ${error.partial.id} failed partway (kept in the state)`);
      }
      throw error;
    }
  }

  private async deleteEntry(entry: StateEntry, plan: Plan, why: string): Promise<void> {
    if (entry.retainOnDelete) {
      this.event(plan, `retain ${entry.name} ${entry.id}${why}`);
    } else {
      const client = this.client(entry);
      await client.delete(entry.id, client.urn(entry.type, entry.name), entry.outputs, entry.inputs);
      this.event(plan, `delete ${entry.name} ${entry.id}${why}`);
    }
    this.state = this.state.filter((each) => each !== entry);
  }

  /**
   * The engine's dependent replacements for a delete-before-replace of `replaced`: each resource in
   * the state whose inputs depend on it is asked Diff with those inputs unknown; those that would be
   * replaced are deleted first, and so on down the graph. Returned in dependency order.
   */
  private async dependentReplacements(replaced: StateEntry): Promise<StateEntry[]> {
    const result: StateEntry[] = [];
    const queue = [replaced];
    while (queue.length > 0) {
      const current = queue.shift()!;
      for (const candidate of this.state) {
        if (candidate === replaced || result.includes(candidate)) continue;
        const properties = Object.entries(candidate.propertyDependencies)
          .filter(([, from]) => from.includes(current.name))
          .map(([property]) => property);
        if (properties.length === 0) continue;
        const news = { ...candidate.inputs };
        for (const property of properties) news[property] = UNKNOWN;
        const client = this.client(candidate);
        const urnValue = client.urn(candidate.type, candidate.name);
        const diff = await client.diff(
          candidate.id,
          urnValue,
          this.withProvider(candidate.outputs, candidate),
          news,
          candidate.inputs,
        );
        if (diff.replaces.length > 0) {
          result.push(candidate);
          queue.push(candidate);
        }
      }
    }
    return this.state.filter((entry) => result.includes(entry));
  }

  private withProvider(props: Props, entry: { provider: string }): Props {
    return { ...props, __provider: entry.provider };
  }

  /** The program's inputs with every reference resolved (unknown in preview where the engine has no value). */
  private resolve(
    declaration: Declaration,
    planned: Map<string, Planned>,
    preview: boolean,
    declared: Set<string>,
  ): { inputs: Props; propertyDependencies: Record<string, string[]> } {
    const propertyDependencies: Record<string, string[]> = {};
    const visit = (value: unknown, property: string): unknown => {
      if (isOutputRef(value)) {
        const from = planned.get(value.outputOf);
        if (from === undefined || !declared.has(value.outputOf))
          throw new Error(`${declaration.name}.${property}: ${value.outputOf} is not declared before it`);
        propertyDependencies[property] = [...new Set([...(propertyDependencies[property] ?? []), value.outputOf])];
        const resolved = value.property === 'id' ? from.id : from.outputs[value.property];
        if (resolved === undefined) return preview ? UNKNOWN : undefined;
        return resolved;
      }
      if (Array.isArray(value)) return value.map((item) => visit(item, property));
      if (typeof value === 'object' && value !== null && !isSecret(value)) {
        return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, visit(item, property)]));
      }
      return value;
    };
    const inputs: Props = {};
    for (const [property, value] of Object.entries(declaration.inputs)) {
      const resolved = visit(value, property);
      if (resolved === undefined) continue;
      inputs[property] = declaration.secretInputs?.includes(property) ? secret(resolved) : resolved;
    }
    return { inputs, propertyDependencies };
  }
}

/** The engine's delete-replaced step of an old resource. */
function deleteReplaced(entry: StateEntry): PlannedStep {
  return { name: entry.name, op: 'delete-replaced', retained: entry.retainOnDelete || undefined };
}

/** The engine's own comparison of old and new inputs when the provider answers DIFF_UNKNOWN. */
function sameInputs(olds: Props, news: Props): boolean {
  return JSON.stringify(sortKeys(olds)) === JSON.stringify(sortKeys(news));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((key) => [key, sortKeys((value as Record<string, unknown>)[key])]),
    );
  }
  return value;
}
