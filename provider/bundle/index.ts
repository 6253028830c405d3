/** The bundler core: pure, streaming, with no AWS and no Pulumi in it. */
export { InputError } from '../common/errors';
export type { Remedy } from '../common/remedy';
export * from './constants';
export * from './errors';
export { bundleImage, BUNDLER, readBundleKeys } from './bundle';
export type { BundleOptions, BundleProgress, BundleResult, BundleTestHooks } from './bundle';
export { createGzipStage, GZIP_MODES, ParallelGzip } from './parallelGzip';
export type { GzipMode, ParallelGzipOptions } from './parallelGzip';
export { verifyBundle, unbundleImage } from './unbundle';
export type { BundleReport, ReadBundleOptions, UnbundleOptions, UnbundleResult } from './unbundle';
export * from './manifest';
export { parseManifest } from './manifestParse';
export type { ParsedManifest } from './manifestParse';
export * from './parameters';
export { partFileName, manifestFileName, encryptedLength, partCount } from './parts';
export { createSigningIdentity } from './identity';
export type { SigningIdentity } from './identity';
