/**
 * One owner for each step of a bundle's way to S3, read from the sources: the bundle's file names
 * (`NAME.part.I`, `NAME.manifest.xml`, `NAME.resume.json`) are made only in provider/bundle/parts.ts,
 * and a key prefix is joined to a name only in provider/aws/location.ts and bundleAddress.ts. Every
 * other module asks them (partFileName, objectKey, partKey, manifestKey, resumeKey, …).
 *
 * What counts is code, not comments: a template literal or a `+` that puts a name before a bundle
 * file's suffix, a prefix before a name, or one of parts.ts's file names after a "/" or another
 * interpolation (a key built by hand from the owner's file name). Messages that quote a file name
 * after a space ("… with NAME.resume.json") are words, not keys, and are left alone.
 * The local AWS (testing/localAws) is a model of AWS reading a manifest, not a caller: not checked.
 */
import { strict as assert } from 'assert';
import { readdirSync, readFileSync, statSync } from 'fs';
import * as path from 'path';
import { REPO_ROOT } from '../helpers/tools';

function sources(folder: string): string[] {
  return readdirSync(folder).flatMap((entry) => {
    const at = path.join(folder, entry);
    if (statSync(at).isDirectory()) return sources(at);
    return at.endsWith('.ts') ? [at] : [];
  });
}

/** The text without block comments and `//` comments (a `//` after a colon, as in s3://, is kept). */
export function codeOf(text: string): string {
  return text
    .replace(/\/\*[\s\S]*?\*\//g, (comment) => comment.replace(/[^\n]/g, ' '))
    .split('\n')
    .map((line) => line.replace(/(^|[^:])\/\/.*$/, '$1'))
    .join('\n');
}

interface Rule {
  what: string;
  pattern: RegExp;
  /** Files (relative to the repository) that own the step, each with its reason. */
  owners: Record<string, string>;
}

const FILE_NAMES = '(?:partFileName|manifestFileName|resumeFileName)';

export const RULES: readonly Rule[] = [
  {
    what: 'a bundle file name built by hand',
    // `${name}.part.${i}`, `${name}.manifest.xml`, `${name}.resume.json`, or name + '.manifest.xml'
    pattern: /\}\.(?:part\.|manifest\.xml|resume\.json)|\+\s*['"`]\.(?:part\.|manifest\.xml|resume\.json)/,
    owners: {
      'provider/bundle/parts.ts': 'the owner of the bundle file names',
      'provider/bundle/folderPartStore.ts':
        'the hidden temporary (.NAME.PID-HEX.part.I.tmp) a part is written to before its rename: no bundle file',
    },
  },
  {
    what: 'a key prefix joined to a name by hand',
    // `${location.keyPrefix}${name}`, `${keyPrefix}name`, `${prefix}${name}`, keyPrefix + name, name + keyPrefix
    // (a bare `prefix` only when another interpolation follows: tar and id prefixes are no key prefixes)
    pattern:
      /[kK]eyPrefix\}(?:\$\{|[\w.-])|\b[pP]refix\}\$\{|(?:\b[pP]refix|[kK]eyPrefix)\s*\+\s*[\w'"`]|\+\s*(?:[\w.]*[kK]eyPrefix|[pP]refix)\b/,
    owners: {
      'provider/aws/location.ts': 'the owner of key prefixes (objectKey, subLocation)',
      'provider/aws/bundleAddress.ts': "the owner of a bundle's keys",
    },
  },
  {
    what: "a key built from parts.ts's file name by hand",
    // `${folder}/${manifestFileName(name)}`, `${prefix}${partFileName(…)}`, prefix + resumeFileName(…)
    pattern: new RegExp(`[/}]\\$\\{\\s*${FILE_NAMES}\\(|\\+\\s*${FILE_NAMES}\\(|${FILE_NAMES}\\([^)]*\\)\\s*\\+`),
    // No owner: bundleAddress.ts joins through objectKey, as every other caller may.
    owners: {},
  },
];

/** Each place where `text` (a file's code) breaks a rule, as `rule: line`. */
export function breaches(relative: string, text: string): string[] {
  const lines = codeOf(text).split('\n');
  const found: string[] = [];
  for (const rule of RULES) {
    if (relative in rule.owners) continue;
    lines.forEach((line, index) => {
      if (rule.pattern.test(line)) found.push(`${relative}:${index + 1}: ${rule.what}: ${line.trim()}`);
    });
  }
  return found;
}

describe('package: one owner for bundle file names and S3 keys', function () {
  const files = ['provider', 'sdk'].flatMap((folder) => sources(path.join(REPO_ROOT, folder)));

  it('product code builds bundle file names only in parts.ts and joins keys only in location.ts / bundleAddress.ts', () => {
    assert.ok(files.length > 50, `the sources were found (${files.length})`);
    const found = files.flatMap((file) => breaches(path.relative(REPO_ROOT, file), readFileSync(file, 'utf8')));
    assert.deepEqual(found, []);
  });

  it('each owner named is a file that exists and does what the rule checks', () => {
    for (const rule of RULES) {
      for (const owner of Object.keys(rule.owners)) {
        const text = codeOf(readFileSync(path.join(REPO_ROOT, owner), 'utf8'));
        assert.ok(rule.pattern.test(text), `${owner} is named as an owner of "${rule.what}" but does none`);
      }
    }
  });

  it('the rules catch a key built by hand and leave messages and the owners’ callers alone', () => {
    const caught = (code: string) => breaches('provider/aws/elsewhere.ts', code).length;
    // Built by hand: each is caught.
    assert.equal(caught('const key = `${location.keyPrefix}${name}.part.${index}`;'), 2);
    assert.equal(caught('const key = `${prefix}${name}.manifest.xml`;'), 2);
    assert.equal(caught("const key = prefix + name + '.resume.json';"), 2);
    assert.equal(caught('const key = `${folder}/${manifestFileName(name)}`;'), 1);
    assert.equal(caught('const key = keyPrefix + partFileName(name, 0, 1);'), 2);
    assert.equal(caught('const record = `${base}${resumeFileName(name)}`;'), 1);
    // The owners asked, a message quoting a file name, a comment: none is caught.
    assert.equal(caught('const key = partKey(address, index, count);'), 0);
    assert.equal(caught('const key = objectKey(location, part.filename);'), 0);
    assert.equal(caught('const m = `the parts stay in ${where} with ${resumeFileName(name)}`;'), 0);
    assert.equal(caught("throw new Error('give BUCKET/KEY.manifest.xml');"), 0);
    assert.equal(caught('// a key is `${prefix}${name}.part.0`'), 0);
    assert.equal(caught('const url = `s3://${bucket}/${key}`; // s3://bucket/prefix'), 0);
  });
});
