/**
 * Each provider object goes into the state as serialized code: it must serialize, load back and
 * work, and its text must hold no secret, credential, key material or machine-specific path.
 */
import { strict as assert } from 'assert';
import * as pulumi from '@pulumi/pulumi';
import * as rpc from '@pulumi/pulumi/runtime/rpc';
import * as path from 'path';
import requireFromString from 'require-from-string';
import { bundledImageProvider } from '../../provider/dynamic/bundledImage/provider';
import { registeredAmiProvider } from '../../provider/dynamic/registeredAmi/provider';
import { unikernelInstanceProvider } from '../../provider/dynamic/unikernelInstance/provider';
import { UNKNOWN } from '../../provider/dynamic/values';
import { checkoutProject, REPO_ROOT } from '../helpers/tools';
import { SERIALIZED_MODULE_PATHS } from '../package/modulePaths';

const providers: Array<[string, pulumi.dynamic.ResourceProvider]> = [
  ['BundledImage', bundledImageProvider],
  ['RegisteredAmi', registeredAmiProvider],
  ['UnikernelInstance', unikernelInstanceProvider],
];

describe('provider serialization', function () {
  this.timeout(30_000);
  const cwd = process.cwd();
  before(() => process.chdir(checkoutProject()));
  after(() => process.chdir(cwd));

  it('agrees with the SDK on the unknown sentinel', () => {
    assert.equal(UNKNOWN, rpc.unknownValue);
  });

  for (const [name, provider] of providers) {
    it(`serializes ${name} into small, clean code that loads back and works`, async () => {
      process.env.AWS_SECRET_ACCESS_KEY = 'secret-in-the-environment';
      const { text, containsSecrets } = await pulumi.runtime.serializeFunction(() => provider, { allowSecrets: true });
      assert.equal(containsSecrets, false);
      assert.ok(text.length < 8_000, `${text.length} characters`);
      assert.ok(!text.includes(REPO_ROOT), 'no absolute path of this machine');
      assert.ok(!/\/(home|root|tmp|work)\//.test(text), 'no absolute path at all');
      assert.ok(!text.includes('secret-in-the-environment') && !text.includes('PRIVATE KEY'), 'no secret');
      assert.match(
        text,
        /require\('pulumi-unikernel\/dist\/provider\/dynamic\//,
        'the implementation is required by package name',
      );
      const loaded = (requireFromString(text) as { handler: () => pulumi.dynamic.ResourceProvider }).handler();
      assert.equal(typeof loaded.create, 'function');
      assert.equal(typeof loaded.delete, 'function');
      const checked = await loaded.check?.({}, {});
      assert.ok(
        checked?.failures && checked.failures.length > 0,
        'check runs from the loaded code and reports the empty inputs',
      );
    });
  }

  it('requires only the pinned module paths, which every stack in use holds: each provider its settings and operations', async () => {
    const required = new Set<string>();
    for (const [name, provider] of providers) {
      const { text } = await pulumi.runtime.serializeFunction(() => provider, { allowSecrets: true });
      // The text run as the plugin runs it, with a require that records what it is asked for.
      const requested: string[] = [];
      const record = (request: string): unknown => {
        requested.push(request);
        return require(path.join(REPO_ROOT, request.replace(/^pulumi-unikernel\//, '')));
      };
      const module: { handler?: () => pulumi.dynamic.ResourceProvider } = {};
      new Function('exports', 'require', text)(module, record);
      const loaded = module.handler!();
      await loaded.configure!({ config: { get: () => undefined } } as never);
      await loaded.check!({}, {});
      const folder = name.charAt(0).toLowerCase() + name.slice(1);
      assert.deepEqual(
        new Set(requested),
        new Set([
          'pulumi-unikernel/dist/provider/dynamic/settings.js',
          `pulumi-unikernel/dist/provider/dynamic/${folder}/operations.js`,
        ]),
        name,
      );
      for (const each of requested) required.add(each);
    }
    assert.deepEqual(
      [...required].sort(),
      [...SERIALIZED_MODULE_PATHS].sort(),
      'the pinned list is exactly what the providers require',
    );
  });
});
