/**
 * The layer rule, as docs/ARCHITECTURE.md states it: each folder imports only the layers below it,
 * nothing that ships or runs outside the tests imports from tests/, and the demo reads no file
 * outside the repository.
 */
import { strict as assert } from 'assert';
import { readdirSync, readFileSync, statSync } from 'fs';
import * as path from 'path';
import { REPO_ROOT } from '../helpers/tools';

function sources(folder: string): string[] {
  return readdirSync(folder).flatMap((entry) => {
    const at = path.join(folder, entry);
    if (statSync(at).isDirectory()) return entry === 'node_modules' ? [] : sources(at);
    return at.endsWith('.ts') ? [at] : [];
  });
}

/** Every module specifier of `import … from`, `export … from`, `import '…'`, `import()` and `require()`. */
function specifiers(text: string): string[] {
  const found: string[] = [];
  for (const match of text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|\bimport\s+|\brequire\s*\(\s*)(['"`])([^'"`]+)\1/g))
    found.push(match[2]);
  return found;
}

/**
 * The folders each layer may import besides its own (paths relative to the repository).
 * `provider/common` (what the layers share: input errors and remedies, the atomic file, the image
 * size limit, errno checks) imports nothing of the project, and any layer may import it.
 */
const MAY_IMPORT: Record<string, readonly string[]> = {
  // What every layer shares (the whole-number rule, input errors and remedies); it imports nothing of the project.
  'provider/common': [],
  'provider/bundle': ['provider/common', 'provider/packageInfo.ts'],
  'provider/image': ['provider/common', 'provider/packageInfo.ts'],
  'provider/aws': ['provider/common', 'provider/bundle', 'provider/packageInfo.ts'],
  'provider/dynamic': [
    'provider/common',
    'provider/bundle',
    'provider/image',
    'provider/aws',
    'provider/packageInfo.ts',
  ],
  // The CLI's local-aws command serves the local AWS (loaded only when that command runs).
  'provider/cli': [
    'provider/common',
    'provider/bundle',
    'provider/image',
    'provider/aws',
    'provider/packageInfo.ts',
    'testing/localAws',
  ],
  sdk: ['provider/common', 'provider/bundle', 'provider/aws', 'provider/dynamic'],
  testing: ['provider/common', 'provider/bundle'],
};

function layerOf(relative: string): string | undefined {
  return Object.keys(MAY_IMPORT).find((layer) => relative === layer || relative.startsWith(`${layer}/`));
}

describe('module boundaries', () => {
  for (const [layer, allowed] of Object.entries(MAY_IMPORT)) {
    it(`${layer}/ imports only ${allowed.join(', ')}`, () => {
      const offenders = sources(path.join(REPO_ROOT, layer)).flatMap((file) =>
        specifiers(readFileSync(file, 'utf8'))
          .filter((specifier) => specifier.startsWith('.'))
          .map((specifier) =>
            path.relative(REPO_ROOT, path.resolve(path.dirname(file), specifier)).replace(/\.js$/, ''),
          )
          .filter((target) => {
            if (layerOf(target) === layer || target.startsWith(`${layer}/`)) return false;
            return !allowed.some((each) => target === each.replace(/\.ts$/, '') || target.startsWith(`${each}/`));
          })
          .map((target) => `${path.relative(REPO_ROOT, file)} imports ${target}`),
      );
      assert.deepEqual(offenders, []);
    });
  }

  for (const folder of ['provider', 'sdk', 'testing', 'examples', 'bench']) {
    it(`nothing under ${folder}/ imports from tests/`, () => {
      const offenders = sources(path.join(REPO_ROOT, folder)).flatMap((file) =>
        specifiers(readFileSync(file, 'utf8'))
          .filter(
            (specifier) =>
              specifier.startsWith('.') &&
              path.resolve(path.dirname(file), specifier).startsWith(path.join(REPO_ROOT, 'tests') + path.sep),
          )
          .map((specifier) => `${path.relative(REPO_ROOT, file)}: ${specifier}`),
      );
      assert.deepEqual(offenders, []);
    });
  }

  it('the demo names no path outside the repository', () => {
    for (const file of [
      path.join(REPO_ROOT, 'examples', 'demo.ts'),
      ...sources(path.join(REPO_ROOT, 'examples', 'demo')),
    ]) {
      const text = readFileSync(file, 'utf8');
      assert.doesNotMatch(
        text,
        /shared['"`/]|\.\.['"`],\s*['"`]\.\.['"`],\s*['"`]\.\./,
        `${path.relative(REPO_ROOT, file)} reaches outside the repository`,
      );
    }
  });
});
