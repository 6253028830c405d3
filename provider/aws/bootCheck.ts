/**
 * Did the unikernel boot? The pure half of boot verification: the failure lines every unikernel
 * family prints when it dies (built in), the user's boot marker and extra failure patterns, and the
 * judgement of a console text against them. `running` only means the VM started: a panicked kernel
 * is `running` too, so the console (or the status checks) decide.
 */
import { AwsInputError } from './errors';

export interface FailurePattern {
  /** What it recognises, for the message. */
  name: string;
  pattern: RegExp;
}

/**
 * Lines that mean the boot failed, whatever the user says. Each is anchored to how the line is
 * printed, so that a kernel command line such as `panic=10` or a log that mentions an error does not
 * trip them.
 */
export const BUILT_IN_FAILURES: readonly FailurePattern[] = [
  { name: 'Linux kernel panic', pattern: /Kernel panic - not syncing/ },
  { name: 'PV-GRUB error', pattern: /^\s*Error \d+: \S/m },
  {
    name: "Xen's domain builder refused the kernel",
    pattern: /^\s*(?:xc_dom_\w+|elf_xen_\w+): .*(?:ERROR|no loader found|not supported)/m,
  },
  { name: 'Xen crash', pattern: /^\(XEN\) .*(?:Panic on CPU|FATAL|crashed|Fatal)/m },
  { name: 'Solo5 abort or panic', pattern: /Solo5: (?:ABORT|PANIC)\b/ },
  { name: 'Nanos panic', pattern: /^\s*(?:\[[\d.\s]+\]\s*)?panic[:!]/m },
  { name: 'OCaml (MirageOS) uncaught exception', pattern: /Fatal error: exception \S/ },
  { name: 'Mini-OS crash', pattern: /Page fault at linear address|^\s*Do_exit called!?/m },
  { name: 'Unikraft crash', pattern: /\bCRIT: \[/ },
  {
    // SeaBIOS (legacy BIOS) and OVMF's BdsDxe (UEFI) when the root volume has no boot loader.
    name: 'firmware found no bootable device',
    pattern:
      /^\s*(?:Boot failed: not a bootable disk|(?:FATAL: )?No bootable device\b|BdsDxe: No bootable option or device was found)/m,
  },
];

export interface BootPatterns {
  /** Success: the console printed this. Absent: the status checks decide. */
  marker?: RegExp;
  failures: readonly FailurePattern[];
}

/** Longest pattern accepted (a regex is source text the user writes, not data). */
const MAX_PATTERN_LENGTH = 1000;

function compile(source: string, input: string): RegExp {
  if (source.length === 0) throw new AwsInputError(input, 'is empty: give a regular expression, or leave it out');
  if (source.length > MAX_PATTERN_LENGTH)
    throw new AwsInputError(input, `is ${source.length} characters long; at most ${MAX_PATTERN_LENGTH}`);
  try {
    return new RegExp(source, 'm');
  } catch (error) {
    const why = error instanceof Error ? error.message.replace(/^Invalid regular expression: /, '') : String(error);
    throw new AwsInputError(input, `${JSON.stringify(source)} is not a valid regular expression (${why})`);
  }
}

/** The user's marker and extra failure patterns, compiled (an invalid one is an input error naming it). */
export function bootPatterns(
  marker: string | undefined,
  extraFailures: readonly string[] = [],
  names = { marker: 'bootMarker', failures: 'bootFailurePatterns' },
): BootPatterns {
  return {
    marker: marker === undefined ? undefined : compile(marker, names.marker),
    failures: [
      ...BUILT_IN_FAILURES,
      ...extraFailures.map((source) => ({ name: `the pattern /${source}/`, pattern: compile(source, names.failures) })),
    ],
  };
}

export type ConsoleVerdict =
  { kind: 'booted'; line: string } | { kind: 'failed'; failure: string; line: string } | { kind: 'pending' };

function lineAt(text: string, index: number): string {
  const start = text.lastIndexOf('\n', index) + 1;
  const end = text.indexOf('\n', index);
  return printable(text.slice(start, end === -1 ? undefined : end));
}

/** A console line made safe to show: control characters and escape sequences removed, length capped. */
export function printable(line: string): string {
  const cleaned = line
    // eslint-disable-next-line no-control-regex -- removing terminal escape sequences is the point
    .replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '')
    // eslint-disable-next-line no-control-regex -- and the remaining control characters
    .replace(/[\x00-\x08\x0b-\x1f\x7f]/g, '')
    .trimEnd();
  return cleaned.length > 200 ? `${cleaned.slice(0, 200)}…` : cleaned;
}

/**
 * Judges a console text: a failure line anywhere fails the boot (even after the marker: the kernel
 * died after saying it was up); else the marker confirms it; else it is still pending.
 */
export function judgeConsole(text: string, patterns: BootPatterns): ConsoleVerdict {
  let first: { index: number; name: string } | undefined;
  for (const { name, pattern } of patterns.failures) {
    const match = new RegExp(pattern.source, pattern.flags.replace('g', '')).exec(text);
    // An anchored pattern's match may start with the line break before the line: skip to its text.
    const index = match ? match.index + match[0].length - match[0].trimStart().length : -1;
    if (match && (!first || index < first.index)) first = { index, name };
  }
  if (first) return { kind: 'failed', failure: first.name, line: lineAt(text, first.index) };
  if (patterns.marker) {
    const match = patterns.marker.exec(text);
    if (match) return { kind: 'booted', line: lineAt(text, match.index) };
  }
  return { kind: 'pending' };
}

/** The last `count` non-empty lines of a console, printable. */
export function consoleTail(text: string, count = 15): string[] {
  return text
    .split(/\r?\n|\r/)
    .map(printable)
    .filter((line) => line.trim() !== '')
    .slice(-count);
}
