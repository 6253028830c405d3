/**
 * Proves tests/helpers/pluginHarness.ts against the real `@pulumi/pulumi/cmd/dynamic-provider` plugin with a toy
 * provider whose "resource" is a file in a temporary folder, so every RPC has an effect the test can check.
 */
import * as assert from 'assert';
import { existsSync, readFileSync, writeFileSync } from 'fs';
import * as net from 'net';
import * as path from 'path';
import * as pulumi from '@pulumi/pulumi';
import {
  PROVIDER_KEY,
  PluginClient,
  PluginRpcError,
  Props,
  UNKNOWN,
  dynamicType,
  livingGroupMembers,
  parseUrn,
  secret,
  serializeProvider,
  startPlugin,
  urn,
  withoutProvider,
} from '../../testing/pluginHarness';
import { REPO_ROOT, temporaryFolder } from '../helpers/tools';

const PROJECT = 'toyproj';
const TYPE = 'toy:File';

interface ToyProvider extends pulumi.dynamic.ResourceProvider {
  greeting?: string;
  tokenLength?: number;
}

/**
 * A file-backed toy resource. Everything it needs is required inside the methods: the object is serialized into
 * `__provider` and rebuilt in the plugin process.
 */
const toyProvider: ToyProvider = {
  async configure(req: pulumi.dynamic.ConfigureRequest): Promise<void> {
    this.greeting = req.config.get('greeting') ?? 'hello';
    this.tokenLength = (req.config.get('apiToken') ?? '').length;
    console.log(`toy: configure greeting=${this.greeting}`);
  },

  async check(_olds: Props, news: Props): Promise<pulumi.dynamic.CheckResult> {
    const { unknownValue } = require('@pulumi/pulumi/runtime/rpc') as typeof import('@pulumi/pulumi/runtime/rpc');
    const failures: pulumi.dynamic.CheckFailure[] = [];
    const name = news.name;
    if (name !== unknownValue && (typeof name !== 'string' || !/^[a-z0-9-]+$/.test(name))) {
      failures.push({ property: 'name', reason: 'name must be lower-case letters, digits and dashes' });
    }
    if (news.size !== undefined && news.size !== unknownValue && typeof news.size !== 'number') {
      failures.push({ property: 'size', reason: 'size must be a number' });
    }
    return { inputs: { ...news, size: news.size ?? 1, nameWasUnknown: name === unknownValue }, failures };
  },

  async diff(_id: string, olds: Props, news: Props): Promise<pulumi.dynamic.DiffResult> {
    const { unknownValue } = require('@pulumi/pulumi/runtime/rpc') as typeof import('@pulumi/pulumi/runtime/rpc');
    if (news.noOpinion === true) {
      return {};
    }
    const replaces = ['name', 'dir'].filter((key) => news[key] === unknownValue || news[key] !== olds[key]);
    const changes = replaces.length > 0 || news.size === unknownValue || news.size !== olds.size;
    return { changes, replaces, deleteBeforeReplace: replaces.length > 0, stables: ['dir'] };
  },

  async create(props: Props): Promise<pulumi.dynamic.CreateResult> {
    const fs = require('fs') as typeof import('fs');
    const nodePath = require('path') as typeof import('path');
    const log = (require('@pulumi/pulumi') as typeof import('@pulumi/pulumi')).log;
    const name = String(props.name);
    console.log(`toy: creating ${name}`);
    console.error(`toy: stderr while creating ${name}`);
    await log.info(`toy: progress ${name}`);
    if (name === 'boom') {
      throw new Error('toy: cannot create boom');
    }
    if (name === 'slow') {
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      return { id: 'toy-slow', outs: {} };
    }
    const file = nodePath.join(String(props.dir), `${name}.txt`);
    fs.writeFileSync(file, 'x'.repeat(Number(props.size ?? 1)));
    const outs = {
      ...props,
      path: file,
      greeting: `${this.greeting} ${name}`,
      tokenLength: this.tokenLength,
      passwordSeen: props.password ?? null,
      passwordType: typeof props.password,
    };
    if (name === 'partial') {
      // The resource exists but did not finish initialising: the engine must record it.
      throw Object.assign(new Error('toy: partial created but not healthy'), {
        id: `toy-${name}`,
        properties: { ...outs, stage: 'written' },
        reasons: ['health check failed', 'second reason'],
      });
    }
    return { id: `toy-${name}`, outs };
  },

  async read(id: string, props: Props): Promise<pulumi.dynamic.ReadResult> {
    const fs = require('fs') as typeof import('fs');
    const file = String(props.path);
    if (!fs.existsSync(file)) {
      return { id: '' };
    }
    const size = fs.readFileSync(file).length;
    return {
      id,
      props: { ...props, size },
      inputs: { dir: props.dir, name: props.name, size },
    };
  },

  async update(_id: string, olds: Props, news: Props): Promise<pulumi.dynamic.UpdateResult> {
    const fs = require('fs') as typeof import('fs');
    const file = String(olds.path);
    fs.writeFileSync(file, 'x'.repeat(Number(news.size ?? 1)));
    return { outs: { ...news, path: file, greeting: `${this.greeting} ${String(news.name)}`, updatedFrom: olds.size } };
  },

  async delete(id: string, props: Props): Promise<void> {
    const fs = require('fs') as typeof import('fs');
    console.log(`toy: deleting ${id} keys=${Object.keys(props).sort().join(',')}`);
    fs.rmSync(String(props.path), { force: true });
  },
};

function rejection(promise: Promise<unknown>): Promise<PluginRpcError> {
  return promise.then(
    () => assert.fail('expected the RPC to fail'),
    (error: unknown) => {
      assert.ok(error instanceof PluginRpcError, `not a PluginRpcError: ${String(error)}`);
      return error;
    },
  );
}

describe('pulumi: plugin harness against the real dynamic-provider plugin', function () {
  this.timeout(60_000);

  let providerText: string;
  let plugin: PluginClient | undefined;
  let client: PluginClient;
  let engine: net.Server;
  let engineConnections = 0;
  let folder: { dir: string; cleanup: () => void };
  const fileUrn = urn(TYPE, 'alpha', { project: PROJECT, stack: 'dev' });
  let created: { id: string; properties: Props };
  let createdInputs: Props;

  before(async function () {
    folder = temporaryFolder('plugin-harness');
    engine = net.createServer((socket) => {
      engineConnections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => engine.listen(0, '127.0.0.1', resolve));
    const { port } = engine.address() as net.AddressInfo;
    providerText = await serializeProvider(toyProvider);
    plugin = await startPlugin({
      cwd: REPO_ROOT,
      project: PROJECT,
      stack: 'dev',
      engineAddress: `127.0.0.1:${port}`,
      config: { greeting: 'bonjour', apiToken: secret('tok-123456') },
      env: { PULUMI_NODEJS_ENGINE: undefined },
    });
    client = plugin.withProvider(providerText);
  });

  after(async function () {
    await plugin?.stop();
    await new Promise<void>((resolve) => engine?.close(() => resolve()));
    folder?.cleanup();
  });

  it('builds type tokens and URNs like dynamic.Resource and the engine', function () {
    assert.strictEqual(dynamicType('unikernel:BundledImage'), 'pulumi-nodejs:dynamic/unikernel:BundledImage');
    assert.strictEqual(dynamicType('BundledImage', 'unikernel'), 'pulumi-nodejs:dynamic/unikernel:BundledImage');
    assert.strictEqual(dynamicType('Resource'), 'pulumi-nodejs:dynamic:Resource');
    assert.strictEqual(
      urn('unikernel:BundledImage', 'img'),
      'urn:pulumi:stack::project::pulumi-nodejs:dynamic/unikernel:BundledImage::img',
    );
    assert.strictEqual(client.urn(TYPE, 'alpha'), fileUrn);
    assert.deepStrictEqual(parseUrn(fileUrn), { type: 'pulumi-nodejs:dynamic/toy:File', name: 'alpha' });
    assert.match(providerText, /exports\.handler/);
  });

  it('GetPluginInfo reports the installed SDK version, 3.248.0', async function () {
    const pkg = require('@pulumi/pulumi/package.json') as { version: string };
    assert.deepStrictEqual(await client.getPluginInfo(), { version: '3.248.0' });
    assert.strictEqual(pkg.version, '3.248.0');
  });

  it('Configure: the plugin accepts no secrets, no previews and no resource references', async function () {
    const protocol = await client.configure({ greeting: 'bonjour', apiToken: secret('tok-123456') });
    assert.deepStrictEqual(protocol, {
      acceptSecrets: false,
      supportsPreview: false,
      acceptResources: false,
      acceptOutputs: false,
      supportsAutonamingConfiguration: false,
    });
  });

  it('Check: failures come back as CheckFailure; the checked inputs carry __provider again', async function () {
    const bad = await client.check(fileUrn, {}, { dir: folder.dir, name: 'Not Valid', size: 'big' });
    assert.deepStrictEqual(bad.failures, [
      { property: 'name', reason: 'name must be lower-case letters, digits and dashes' },
      { property: 'size', reason: 'size must be a number' },
    ]);

    const good = await client.check(fileUrn, {}, { dir: folder.dir, name: 'alpha', size: 3 });
    assert.deepStrictEqual(good.failures, []);
    assert.strictEqual(good.inputs[PROVIDER_KEY], providerText);
    assert.deepStrictEqual(withoutProvider(good.inputs), {
      dir: folder.dir,
      name: 'alpha',
      size: 3,
      nameWasUnknown: false,
    });
    createdInputs = good.inputs;
  });

  it('Create: config from Configure reaches the provider (secret unwrapped); outputs carry __provider', async function () {
    created = await client.create(fileUrn, createdInputs);
    assert.strictEqual(created.id, 'toy-alpha');
    const file = path.join(folder.dir, 'alpha.txt');
    assert.strictEqual(readFileSync(file, 'utf8'), 'xxx');
    assert.strictEqual(created.properties[PROVIDER_KEY], providerText);
    assert.strictEqual(created.properties.greeting, 'bonjour alpha');
    assert.strictEqual(created.properties.tokenLength, 'tok-123456'.length);
    assert.strictEqual(created.properties.path, file);
  });

  it('output(): console.log, console.error and pulumi.log.info lines from the provider reach the user', async function () {
    await client.waitForOutput('toy: creating alpha');
    await client.waitForOutput('toy: stderr while creating alpha');
    // With no engine connection, pulumi.log falls back to the console with its own prefix.
    await client.waitForOutput('info: [runtime] toy: progress alpha');
    // stdout and stderr are separate pipes: their relative order is not preserved, so look lines up by stream.
    const streamOf = (text: string): string | undefined =>
      client.outputLines().find((entry) => entry.line === text)?.stream;
    assert.strictEqual(streamOf('toy: creating alpha'), 'stdout');
    assert.strictEqual(streamOf('toy: stderr while creating alpha'), 'stderr');
    assert.strictEqual(streamOf('info: [runtime] toy: progress alpha'), 'stdout');
    // configure() ran once, when the provider text was first loaded, not at the Configure RPC.
    assert.deepStrictEqual(
      client.output().filter((line) => line.startsWith('toy: configure')),
      ['toy: configure greeting=bonjour'],
    );
    assert.ok(!client.output().some((line) => /^\d+$/.test(line)), 'the port line is not part of output()');
  });

  it('Read: gets the state (not the inputs) and returns refreshed state and inputs', async function () {
    const clean = await client.read(created.id, fileUrn, withoutProvider(created.properties), createdInputs);
    assert.strictEqual(clean.id, created.id);
    assert.deepStrictEqual(clean.properties, created.properties);
    assert.deepStrictEqual(clean.inputs, { dir: folder.dir, name: 'alpha', size: 3, [PROVIDER_KEY]: providerText });

    writeFileSync(path.join(folder.dir, 'alpha.txt'), 'xxxxx'); // drift made outside Pulumi
    const drifted = await client.read(created.id, fileUrn, created.properties);
    assert.strictEqual(drifted.properties.size, 5);
    assert.strictEqual(drifted.inputs?.size, 5);
    writeFileSync(path.join(folder.dir, 'alpha.txt'), 'xxx');
  });

  it('Diff: DIFF_NONE, DIFF_SOME with replaces and deleteBeforeReplace, DIFF_UNKNOWN; stables are dropped', async function () {
    const olds = withoutProvider(created.properties);
    const same = await client.diff(created.id, fileUrn, olds, createdInputs, createdInputs);
    assert.deepStrictEqual(same, {
      changes: 'DIFF_NONE',
      replaces: [],
      deleteBeforeReplace: false,
      stables: [],
      diffs: [],
    });

    const resized = await client.diff(created.id, fileUrn, olds, { ...withoutProvider(createdInputs), size: 4 });
    assert.deepStrictEqual(resized, {
      changes: 'DIFF_SOME',
      replaces: [],
      deleteBeforeReplace: false,
      stables: [],
      diffs: [],
    });

    const renamed = await client.diff(created.id, fileUrn, olds, { ...withoutProvider(createdInputs), name: 'beta' });
    assert.deepStrictEqual(renamed, {
      changes: 'DIFF_SOME',
      replaces: ['name'],
      deleteBeforeReplace: true,
      stables: [], // the provider said ['dir']; the plugin does not forward it
      diffs: [],
    });

    const noOpinion = await client.diff(created.id, fileUrn, olds, {
      ...withoutProvider(createdInputs),
      noOpinion: true,
    });
    assert.strictEqual(noOpinion.changes, 'DIFF_UNKNOWN');
  });

  it('Update: olds are the state, news the checked inputs; outputs carry __provider', async function () {
    const news = { ...withoutProvider(createdInputs), size: 4 };
    const updated = await client.update(created.id, fileUrn, created.properties, news, createdInputs);
    assert.strictEqual(readFileSync(path.join(folder.dir, 'alpha.txt'), 'utf8'), 'xxxx');
    assert.strictEqual(updated.properties.updatedFrom, 3);
    assert.strictEqual(updated.properties.size, 4);
    assert.strictEqual(updated.properties.greeting, 'bonjour alpha');
    assert.strictEqual(updated.properties[PROVIDER_KEY], providerText);
    created = { id: created.id, properties: updated.properties };
  });

  it('Delete: the provider gets the state outputs only; a later Read reports the resource gone with id ""', async function () {
    await client.delete(created.id, fileUrn, withoutProvider(created.properties), createdInputs);
    assert.ok(!existsSync(path.join(folder.dir, 'alpha.txt')));
    const line = await client.waitForOutput('toy: deleting toy-alpha');
    const keys = line.slice(line.indexOf('keys=') + 5).split(',');
    assert.ok(keys.includes('path') && keys.includes('greeting') && keys.includes(PROVIDER_KEY), line);

    const gone = await client.read(created.id, fileUrn, created.properties);
    assert.strictEqual(gone.id, '');
    assert.deepStrictEqual(gone.properties, { [PROVIDER_KEY]: providerText });
  });

  it('Create that throws a plain error: gRPC UNKNOWN with the message, no partial state', async function () {
    const error = await rejection(client.create(client.urn(TYPE, 'boom'), { dir: folder.dir, name: 'boom' }));
    assert.strictEqual(error.code, 2);
    assert.strictEqual(error.codeName, 'UNKNOWN');
    assert.strictEqual(error.rpc, 'Create');
    assert.strictEqual(error.message, 'toy: cannot create boom');
    assert.strictEqual(error.partial, undefined);
  });

  it('Create that throws { id, properties, reasons }: a partial failure decoded from the status details', async function () {
    const partialUrn = client.urn(TYPE, 'partial');
    const error = await rejection(client.create(partialUrn, { dir: folder.dir, name: 'partial', size: 2 }));
    assert.strictEqual(error.code, 2);
    assert.strictEqual(error.message, 'toy: partial created but not healthy');
    assert.ok(error.partial, 'ErrorResourceInitFailed detail expected');
    assert.strictEqual(error.partial.id, 'toy-partial');
    assert.deepStrictEqual(error.partial.reasons, ['health check failed', 'second reason']);
    assert.strictEqual(error.partial.properties.stage, 'written');
    // The properties are packed as given; spreading the inputs kept __provider, so the engine can delete it later.
    assert.strictEqual(error.partial.properties[PROVIDER_KEY], providerText);
    assert.strictEqual(error.partial.inputs, undefined);

    assert.ok(existsSync(path.join(folder.dir, 'partial.txt')));
    await client.delete(error.partial.id, partialUrn, error.partial.properties);
    assert.ok(!existsSync(path.join(folder.dir, 'partial.txt')));
  });

  it('Preview: unknowns reach check and diff as the sentinel; Create/Update previews never reach the plugin', async function () {
    const previewUrn = client.urn(TYPE, 'preview');
    const checked = await client.check(previewUrn, {}, { dir: folder.dir, name: UNKNOWN, size: UNKNOWN });
    assert.deepStrictEqual(checked.failures, []);
    assert.strictEqual(checked.inputs.name, UNKNOWN);
    assert.strictEqual(checked.inputs.nameWasUnknown, true);

    const olds = { dir: folder.dir, name: 'preview', size: 1, path: path.join(folder.dir, 'preview.txt') };
    const diff = await client.diff('toy-preview', previewUrn, olds, { dir: folder.dir, name: UNKNOWN, size: 1 });
    assert.deepStrictEqual([diff.changes, diff.replaces, diff.deleteBeforeReplace], ['DIFF_SOME', ['name'], true]);

    // The plugin answered supportsPreview=false, so the engine (and the harness) echo the inputs.
    const echoed = await client.create(
      previewUrn,
      { dir: folder.dir, name: 'preview', size: UNKNOWN },
      { preview: true },
    );
    assert.deepStrictEqual(echoed, {
      id: '',
      properties: { dir: folder.dir, name: 'preview', size: UNKNOWN, [PROVIDER_KEY]: providerText },
    });
    const updatedEcho = await client.update('toy-preview', previewUrn, olds, { ...olds, size: UNKNOWN }, undefined, {
      preview: true,
    });
    assert.strictEqual(updatedEcho.properties.size, UNKNOWN);
    assert.ok(!client.output().includes('toy: creating preview'));
    assert.ok(!existsSync(path.join(folder.dir, 'preview.txt')));

    // Sent anyway, preview=true is ignored by the plugin: the provider really creates.
    const raw = await client.create(
      previewUrn,
      { dir: folder.dir, name: 'preview', size: 2 },
      { preview: true, rawRpc: true },
    );
    assert.strictEqual(raw.id, 'toy-preview');
    await client.waitForOutput('toy: creating preview');
    assert.ok(existsSync(path.join(folder.dir, 'preview.txt')));
    await client.delete(raw.id, previewUrn, raw.properties);

    // Outside previews the engine never sends unknowns; the harness refuses to.
    await assert.rejects(client.create(previewUrn, { dir: folder.dir, name: UNKNOWN }), /never sends unknown/);
  });

  it('Secrets: stripped before the plugin like the engine does (acceptSecrets=false); sent raw, they pass through wrapped', async function () {
    const secretUrn = client.urn(TYPE, 'secret');
    const inputs = { dir: folder.dir, name: 'secret', password: secret('hunter2') };
    const checked = await client.check(secretUrn, {}, inputs);
    assert.strictEqual(checked.inputs.password, 'hunter2');
    const stripped = await client.create(secretUrn, inputs);
    assert.strictEqual(stripped.properties.passwordType, 'string');
    assert.strictEqual(stripped.properties.passwordSeen, 'hunter2');
    await client.delete(stripped.id, secretUrn, stripped.properties);

    // The plugin itself does not unwrap secrets in resource calls (only in Configure).
    const raw = await client.withOptions({ keepSecrets: true }).create(secretUrn, inputs);
    assert.strictEqual(raw.properties.passwordType, 'object');
    assert.deepStrictEqual(raw.properties.passwordSeen, secret('hunter2'));
    await client.delete(raw.id, secretUrn, raw.properties);
  });

  it('A request without __provider fails, as import and Resource.get do', async function () {
    assert.ok(plugin);
    const error = await rejection(plugin.read('toy-x', client.urn(TYPE, 'x'), { path: '/nonexistent' }));
    assert.strictEqual(error.codeName, 'UNKNOWN');
    assert.match(error.message, /code must be a string/);
    // Check, Diff, Read and Delete also print the error and its stack to stderr.
    await client.waitForOutput(/code must be a string/);
  });

  it('Deadlines: a call that takes longer than the deadline rejects with DEADLINE_EXCEEDED', async function () {
    const hurried = client.withOptions({ deadlineMs: 300 });
    const error = await rejection(hurried.create(client.urn(TYPE, 'slow'), { dir: folder.dir, name: 'slow' }));
    assert.strictEqual(error.codeName, 'DEADLINE_EXCEEDED');
  });

  it('The plugin never dials the engine address it is given', function () {
    assert.strictEqual(engineConnections, 0);
  });
});

describe('pulumi: plugin harness process handling', function () {
  this.timeout(60_000);

  it('through the package shim, stop() kills the whole process group (sh and node)', async function () {
    const plugin = await startPlugin({ cwd: REPO_ROOT, launcher: 'shim' });
    try {
      assert.deepStrictEqual(await plugin.getPluginInfo(), { version: '3.248.0' });
      assert.strictEqual(livingGroupMembers(plugin.pid).length, 2, 'sh and node');
    } finally {
      await plugin.stop();
    }
    assert.deepStrictEqual(livingGroupMembers(plugin.pid), [], 'no process of the plugin group may survive stop()');
    await plugin.stop(); // idempotent
  });

  it('a plugin that exits before printing its port fails startPlugin with its output', async function () {
    await assert.rejects(
      startPlugin({ cwd: REPO_ROOT, env: { NODE_OPTIONS: '--require=/nonexistent/preload.js' } }),
      /exited .* before printing its port/s,
    );
  });
});
