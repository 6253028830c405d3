/**
 * A small stand-in for the Pulumi engine, enough to show a stack's life without the Pulumi CLI:
 * it drives the real dynamic-provider plugin over gRPC the way the engine does (Check, then Create;
 * Read for refresh; Check, Diff, then Update or Create for an update; Delete), keeps the state, and
 * relays what the providers print, as the CLI would.
 */
import * as pulumi from '@pulumi/pulumi';
import { PluginClient, Props, secret, serializeProvider, withoutProvider } from '../../testing/pluginHarness';

export interface StateEntry {
  type: string;
  name: string;
  provider: string;
  id: string;
  inputs: Props;
  outputs: Props;
}

export class MiniEngine {
  readonly state = new Map<string, StateEntry>();
  private shown = 0;

  constructor(
    private readonly plugin: PluginClient,
    private readonly say: (line: string) => void,
  ) {}

  /** Lines the providers printed since the last call, shown as the Pulumi CLI shows them. */
  relay(): void {
    const lines = this.plugin.output();
    for (const line of lines.slice(this.shown)) this.say(`    │ ${line}`);
    this.shown = lines.length;
  }

  private client(provider: string): PluginClient {
    return this.plugin.withProvider(provider);
  }

  async create(
    type: string,
    name: string,
    provider: pulumi.dynamic.ResourceProvider,
    inputs: Props,
    secretKeys: string[] = [],
  ): Promise<StateEntry> {
    const text = await serializeProvider(provider);
    const client = this.client(text);
    const urn = client.urn(type, name);
    const news = Object.fromEntries(
      Object.entries(inputs).map(([key, value]) => [key, secretKeys.includes(key) ? secret(value) : value]),
    );
    const checked = await client.check(urn, {}, news);
    if (checked.failures.length > 0)
      throw new Error(
        `${name}: ${checked.failures.map((failure) => `${failure.property}: ${failure.reason}`).join('; ')}`,
      );
    const created = await client.create(urn, checked.inputs);
    const entry: StateEntry = {
      type,
      name,
      provider: text,
      id: created.id,
      inputs: withoutProvider(checked.inputs),
      outputs: withoutProvider(created.properties),
    };
    this.state.set(name, entry);
    this.relay();
    return entry;
  }

  /** `pulumi refresh` for one resource: Read with the stored outputs; an empty id means it is gone. */
  async refresh(name: string): Promise<{ gone: boolean; before: Props; after: Props }> {
    const entry = this.require(name);
    const client = this.client(entry.provider);
    const result = await client.read(entry.id, client.urn(entry.type, name), entry.outputs, entry.inputs);
    this.relay();
    const before = entry.outputs;
    if (result.id === '') {
      this.state.delete(name);
      return { gone: true, before, after: {} };
    }
    entry.outputs = withoutProvider(result.properties);
    return { gone: false, before, after: entry.outputs };
  }

  /** `pulumi up` for one resource: Diff the program's inputs against the state, then Update or replace. */
  async up(
    type: string,
    name: string,
    provider: pulumi.dynamic.ResourceProvider,
    inputs: Props,
    secretKeys: string[] = [],
  ): Promise<string> {
    const entry = this.state.get(name);
    if (!entry) {
      await this.create(type, name, provider, inputs, secretKeys);
      return 'created (it was gone)';
    }
    const client = this.client(entry.provider);
    const urn = client.urn(type, name);
    const news = Object.fromEntries(
      Object.entries(inputs).map(([key, value]) => [key, secretKeys.includes(key) ? secret(value) : value]),
    );
    const checked = await client.check(urn, entry.inputs, news);
    const diff = await client.diff(entry.id, urn, entry.outputs, checked.inputs, entry.inputs);
    this.relay();
    if (diff.changes !== 'DIFF_SOME') return 'unchanged';
    if (diff.replaces.length > 0) {
      await this.destroy(name);
      await this.create(type, name, provider, inputs, secretKeys);
      return `replaced (${diff.replaces.join(', ')})`;
    }
    const updated = await client.update(entry.id, urn, entry.outputs, checked.inputs, entry.inputs);
    entry.inputs = withoutProvider(checked.inputs);
    entry.outputs = withoutProvider(updated.properties);
    this.relay();
    return 'updated in place';
  }

  async destroy(name: string): Promise<void> {
    const entry = this.require(name);
    const client = this.client(entry.provider);
    await client.delete(entry.id, client.urn(entry.type, name), entry.outputs, entry.inputs);
    this.state.delete(name);
    this.relay();
  }

  private require(name: string): StateEntry {
    const entry = this.state.get(name);
    if (!entry) throw new Error(`${name} is not in the state`);
    return entry;
  }
}
