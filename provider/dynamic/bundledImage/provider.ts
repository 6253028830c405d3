/**
 * The dynamic provider object of BundledImage. Pulumi serializes it into the state, so each method
 * requires its implementation by package name when it runs: nothing (no client, no credential, no
 * machine path) is captured, and the code that runs is the installed package's.
 */
import type * as pulumi from '@pulumi/pulumi';
import type * as Operations from './operations';
import type * as Settings from '../settings';

export const bundledImageProvider: pulumi.dynamic.ResourceProvider = {
  async configure(request) {
    const settings: typeof Settings = require('pulumi-unikernel/dist/provider/dynamic/settings.js');
    settings.rememberSettings(request.config);
  },
  async check(_olds, news) {
    const operations: typeof Operations = require('pulumi-unikernel/dist/provider/dynamic/bundledImage/operations.js');
    return operations.check(news);
  },
  async diff(_id, olds, news) {
    const operations: typeof Operations = require('pulumi-unikernel/dist/provider/dynamic/bundledImage/operations.js');
    return operations.diff(olds, news);
  },
  async create(inputs) {
    const operations: typeof Operations = require('pulumi-unikernel/dist/provider/dynamic/bundledImage/operations.js');
    return operations.create(inputs);
  },
  async read(id, props) {
    const operations: typeof Operations = require('pulumi-unikernel/dist/provider/dynamic/bundledImage/operations.js');
    return operations.read(id, props);
  },
  async update(_id, olds, news) {
    const operations: typeof Operations = require('pulumi-unikernel/dist/provider/dynamic/bundledImage/operations.js');
    return operations.update(olds, news);
  },
  async delete(_id, props) {
    const operations: typeof Operations = require('pulumi-unikernel/dist/provider/dynamic/bundledImage/operations.js');
    await operations.remove(props);
  },
};
