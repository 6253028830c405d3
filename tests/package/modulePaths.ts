/**
 * The module paths that every stack's state holds: each serialized provider `require`s one of them
 * when the engine runs it (up, refresh, destroy). Renaming any of them breaks every existing stack,
 * so they are pinned here, checked against what serialization writes and against the installed
 * package's exports.
 */
export const SERIALIZED_MODULE_PATHS: readonly string[] = [
  'pulumi-unikernel/dist/provider/dynamic/settings.js',
  'pulumi-unikernel/dist/provider/dynamic/bundledImage/operations.js',
  'pulumi-unikernel/dist/provider/dynamic/registeredAmi/operations.js',
  'pulumi-unikernel/dist/provider/dynamic/unikernelInstance/operations.js',
];
