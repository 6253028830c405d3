/**
 * The dynamic provider objects Pulumi serializes into the state. Each method requires the
 * resource's operations by package name when it runs, so the serialized text is a few lines that
 * capture nothing but the module name: no client, no credential, no machine path, and the code that
 * runs is the installed package's.
 */
import type * as pulumi from '@pulumi/pulumi';
import type * as Settings from './settings';

type Props = Record<string, unknown>;

/**
 * The six operations every resource module exports, in the engine's argument order (each module
 * types its own inputs and outputs; the plugin hands over plain objects).
 */
export interface ResourceOperations {
  check(olds: Props, news: Props): Promise<pulumi.dynamic.CheckResult> | pulumi.dynamic.CheckResult;
  diff(olds: Props, news: Props): pulumi.dynamic.DiffResult;
  create(props: Props): Promise<pulumi.dynamic.CreateResult>;
  read(id: string, props: Props): Promise<pulumi.dynamic.ReadResult>;
  update(id: string, olds: Props, news: Props): Promise<pulumi.dynamic.UpdateResult>;
  remove(id: string, props: Props): Promise<void>;
}

export function dynamicProvider(resourceFolder: string): pulumi.dynamic.ResourceProvider {
  const operations = (): ResourceOperations =>
    require(`pulumi-unikernel/dist/provider/dynamic/${resourceFolder}/operations.js`);
  return {
    async configure(request) {
      const settings: typeof Settings = require('pulumi-unikernel/dist/provider/dynamic/settings.js');
      settings.rememberSettings(request.config);
    },
    async check(olds, news) {
      return operations().check(olds, news);
    },
    async diff(_id, olds, news) {
      return operations().diff(olds, news);
    },
    async create(inputs) {
      return operations().create(inputs);
    },
    async read(id, props) {
      return operations().read(id, props);
    },
    async update(id, olds, news) {
      return operations().update(id, olds, news);
    },
    async delete(id, props) {
      await operations().remove(id, props);
    },
  };
}
