/**
 * Options that make no sense together, or only with another: refused before the command runs, with
 * one line naming both, instead of one of them being silently ignored. A rule is one line of the table.
 */
import { Command } from 'commander';

interface OptionRule {
  command: string;
  /** `conflicts`: none of `options` may be given with `other`; `requires`: each of `options` needs `other`. */
  kind: 'conflicts' | 'requires';
  /** Commander's attribute names (camelCase). */
  options: readonly string[];
  other: string;
  /** What to do, in the CLI's words. */
  remedy: string;
}

export const OPTION_RULES: readonly OptionRule[] = [
  {
    command: 'bundle',
    kind: 'conflicts',
    options: ['destination'],
    other: 'bucket',
    remedy: '-b bundles straight into S3 and -d into a folder; give one of them',
  },
  {
    command: 'bundle',
    kind: 'requires',
    options: ['acl', 'concurrency', 'createBucket', 'region'],
    other: 'bucket',
    remedy: 'it applies only to bundling into S3; add -b/--bucket or leave it out',
  },
  {
    command: 'delete-bundle',
    kind: 'conflicts',
    options: ['manifest'],
    other: 'prefix',
    remedy: '-m deletes the bundle its manifest lists and -p the one stored under that name; give one of them',
  },
];

/** True when the user gave the option (on the command line or otherwise), not when it holds its default. */
function given(command: Command, key: string): boolean {
  const source = command.getOptionValueSource(key);
  return source !== undefined && source !== 'default';
}

function optionName(command: Command, key: string): string {
  const option = command.options.find((candidate) => candidate.attributeName() === key);
  return option ? [option.short, option.long].filter(Boolean).join('/') : `--${key}`;
}

/** The first rule `command`'s options break, as one line; undefined when they break none. */
export function brokenOptionRule(command: Command): string | undefined {
  for (const rule of OPTION_RULES) {
    if (rule.command !== command.name()) continue;
    const other = given(command, rule.other);
    for (const key of rule.options) {
      if (!given(command, key)) continue;
      if (rule.kind === 'conflicts' && other)
        return `${optionName(command, key)} cannot be given with ${optionName(command, rule.other)}: ${rule.remedy}`;
      if (rule.kind === 'requires' && !other)
        return `${optionName(command, key)} needs ${optionName(command, rule.other)}: ${rule.remedy}`;
    }
  }
  return undefined;
}

/** A preAction hook: refuses the command (exit 1, one line) when its options break a rule. */
export function checkOptionRules(_program: Command, actionCommand: Command): void {
  const broken = brokenOptionRule(actionCommand);
  if (broken) actionCommand.error(`${actionCommand.name()}: ${broken}`, { code: 'unikernel-ami.optionRule' });
}
