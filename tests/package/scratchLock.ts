/**
 * A package-lock.json for a scratch project, cut from this repository's own lock: the packages that
 * the project's dependencies reach, at the versions (and integrity) this repository installed. With
 * it `npm ci --offline` installs from the npm cache that `npm ci` filled, with no registry request;
 * npm itself still checks every range against the versions locked here.
 */
export interface LockEntry {
  version?: string;
  resolved?: string;
  integrity?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  dev?: boolean;
  peer?: boolean;
  devOptional?: boolean;
  optional?: boolean;
  [field: string]: unknown;
}

export interface Lockfile {
  name?: string;
  version?: string;
  lockfileVersion: number;
  requires?: boolean;
  packages: Record<string, LockEntry>;
}

const NODE_MODULES = 'node_modules/';

/** Where Node finds `name` from the package installed at `from` ('' is the project itself). */
export function resolveInLock(packages: Record<string, LockEntry>, from: string, name: string): string | undefined {
  let base = from;
  for (;;) {
    const candidate = `${base ? `${base}/` : ''}${NODE_MODULES}${name}`;
    if (packages[candidate]) return candidate;
    if (!base) return undefined;
    base = base.slice(0, base.lastIndexOf(NODE_MODULES)).replace(/\/$/, '');
  }
}

function requiredNames(entry: LockEntry): string[] {
  const optionalPeers = new Set(
    Object.entries(entry.peerDependenciesMeta ?? {})
      .filter(([, meta]) => meta.optional)
      .map(([name]) => name),
  );
  return [
    ...Object.keys(entry.dependencies ?? {}),
    ...Object.keys(entry.optionalDependencies ?? {}),
    ...Object.keys(entry.peerDependencies ?? {}).filter((name) => !optionalPeers.has(name)),
  ];
}

/**
 * The lock of a project named `name` whose dependencies are `dependencies`; `added` are entries for
 * packages that are not in `source` (a packed tarball), keyed by their path in node_modules.
 */
export function scratchLock(
  source: Lockfile,
  name: string,
  dependencies: Record<string, string>,
  added: Record<string, LockEntry> = {},
): Lockfile {
  const from: Record<string, LockEntry> = { ...source.packages, ...added };
  const packages: Record<string, LockEntry> = { '': { name, version: '1.0.0', dependencies } };
  const queue: string[] = [''];
  while (queue.length > 0) {
    const at = queue.shift()!;
    const entry = at === '' ? packages[''] : from[at];
    for (const required of requiredNames(entry)) {
      const found = resolveInLock(from, at, required);
      if (found === undefined) {
        if (entry.optionalDependencies?.[required] !== undefined) continue;
        throw new Error(
          `${at || name} needs ${required}, which the repository lock does not hold: run npm install in the repository`,
        );
      }
      if (packages[found]) continue;
      const { dev: _dev, peer: _peer, devOptional: _devOptional, ...copy } = from[found];
      packages[found] = copy;
      queue.push(found);
    }
  }
  return { name, version: '1.0.0', lockfileVersion: 3, requires: true, packages };
}
