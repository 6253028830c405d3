/**
 * What ships and what runs outside the tests must not reach into them: no module of the product,
 * the testing entry, the examples (the demo) or the bench imports from tests/, and the demo reads
 * no file outside the repository.
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

/** Every module specifier of `import … from`, `export … from`, `import()` and `require()`. */
function specifiers(text: string): string[] {
  const found: string[] = [];
  for (const match of text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|\brequire\s*\(\s*)(['"`])([^'"`]+)\1/g)) found.push(match[2]);
  return found;
}

describe('module boundaries', () => {
  for (const folder of ['provider', 'sdk', 'testing', 'examples', 'bench']) {
    it(`nothing under ${folder}/ imports from tests/`, () => {
      const offenders = sources(path.join(REPO_ROOT, folder)).flatMap((file) =>
        specifiers(readFileSync(file, 'utf8'))
          .filter((specifier) => specifier.startsWith('.') && path.resolve(path.dirname(file), specifier).startsWith(path.join(REPO_ROOT, 'tests') + path.sep))
          .map((specifier) => `${path.relative(REPO_ROOT, file)}: ${specifier}`),
      );
      assert.deepEqual(offenders, []);
    });
  }

  it('the demo names no path outside the repository', () => {
    for (const file of [path.join(REPO_ROOT, 'examples', 'demo.ts'), ...sources(path.join(REPO_ROOT, 'examples', 'demo'))]) {
      const text = readFileSync(file, 'utf8');
      assert.doesNotMatch(text, /shared['"`/]|\.\.['"`],\s*['"`]\.\.['"`],\s*['"`]\.\./, `${path.relative(REPO_ROOT, file)} reaches outside the repository`);
    }
  });
});
