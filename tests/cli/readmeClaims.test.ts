/**
 * What README.md says of the CLI's commands and their common options, held to what `--help` lists:
 * a command the README shows exists, and an option the README says a command takes is in its help.
 */
import { strict as assert } from 'assert';
import { readFileSync } from 'fs';
import * as path from 'path';
import { REPO_ROOT, runCli } from '../helpers/tools';

const README = readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8').replace(/\s+/g, ' ');

/** The command names of `unikernel-ami --help`. */
function commands(): string[] {
  const help = runCli(['--help']).stdout;
  const section = help.slice(help.indexOf('Commands:'));
  return [...section.matchAll(/^ {2}([a-z][a-z-]*)/gm)].map((match) => match[1]).filter((name) => name !== 'help');
}

/** The long options (and short ones) a command's `--help` lists. */
function optionsOf(command: string): Set<string> {
  const help = runCli([command, '--help']).stdout;
  return new Set([...help.matchAll(/(?:^|[\s,])(--?[a-z][a-z0-9-]*)/gm)].map((match) => match[1]));
}

/** The backticked words of the README between two markers (spaces normalized). */
function backticked(from: string, to: string): string[] {
  const start = README.indexOf(from);
  assert.ok(start >= 0, `README.md says "${from}"`);
  const end = README.indexOf(to, start + from.length);
  assert.ok(end >= 0, `README.md says "${to}" after "${from}"`);
  return [...README.slice(start + from.length, end).matchAll(/`([^`]+)`/g)].map((match) => match[1]);
}

describe('README claims about the CLI, against --help', function () {
  this.timeout(120_000);
  const names = commands();
  const options = new Map(names.map((name) => [name, optionsOf(name)]));
  const having = (option: string) => names.filter((name) => options.get(name)!.has(option));

  it('lists every command the README runs, and the README shows every command', () => {
    const shown = new Set([...README.matchAll(/unikernel-ami ([a-z][a-z-]+)/g)].map((match) => match[1]));
    for (const name of names) assert.ok(shown.has(name), `README.md shows unikernel-ami ${name}`);
    assert.ok(names.length >= 14, names.join(' '));
  });

  it('gives --json to every command, --log-file to every one the README does not except, --passphrase-file to those it names', () => {
    assert.deepEqual(having('--json'), names);
    const [withoutLogFile] = backticked('every command but ', ' takes `--log-file');
    assert.deepEqual(
      names.filter((name) => !options.get(name)!.has('--log-file')),
      [withoutLogFile],
    );
    const withPassphrase = backticked('the commands that read or write a private key (', ') take `--passphrase-file');
    assert.deepEqual(having('--passphrase-file').sort(), withPassphrase.sort());
  });

  it("gives upload and delete-bundle the options the README names for each, and the other's not", () => {
    const shared = backticked("ec2-delete-bundle's option names (", '; `upload` also');
    for (const option of shared.map((text) => text.split(' ')[0])) {
      assert.ok(options.get('upload')!.has(option), `upload --help lists ${option}`);
      assert.ok(options.get('delete-bundle')!.has(option), `delete-bundle --help lists ${option}`);
    }
    const uploadOnly = [
      ...backticked('`upload` also ', ', `delete-bundle`'),
      ...backticked('`upload` also takes ', '. - **Upload**'),
    ];
    const deleteOnly = backticked(', `delete-bundle` ', '), plus');
    assert.deepEqual(deleteOnly, ['-p', '-y']);
    for (const option of uploadOnly) {
      assert.ok(options.get('upload')!.has(option), `upload --help lists ${option}`);
      assert.ok(!options.get('delete-bundle')!.has(option), `delete-bundle --help does not list ${option}`);
    }
    for (const option of deleteOnly) {
      assert.ok(options.get('delete-bundle')!.has(option), `delete-bundle --help lists ${option}`);
      assert.ok(!options.get('upload')!.has(option), `upload --help does not list ${option}`);
    }
  });
});
