/** The pure half of boot verification: built-in failure lines, the user's patterns, the verdict and the tail. */
import { strict as assert } from 'assert';
import { bootPatterns, BUILT_IN_FAILURES, consoleTail, judgeConsole } from '../../provider/aws/bootCheck';
import { AwsInputError } from '../../provider/aws/errors';

/** One line each family prints when it dies, and the failure it must be recognised as. */
const FAILURE_LINES: Array<[string, string]> = [
  ['[    1.234567] Kernel panic - not syncing: VFS: Unable to mount root fs', 'Linux kernel panic'],
  ['Error 15: File not found', 'PV-GRUB error'],
  ['Error 13: Invalid or unsupported executable format', 'PV-GRUB error'],
  ['xc_dom_find_loader: no loader found', "Xen's domain builder refused the kernel"],
  [
    'elf_xen_note_check: ERROR: Will only load images built for the generic loader or Linux images',
    "Xen's domain builder refused the kernel",
  ],
  ['(XEN) Domain 3 crashed: rebooting machine in 5 seconds.', 'Xen crash'],
  ['Solo5: ABORT (bindings/xen/platform.c:42): oops', 'Solo5 abort or panic'],
  ['Solo5: PANIC', 'Solo5 abort or panic'],
  ['panic: unable to allocate memory', 'Nanos panic'],
  ['Fatal error: exception Not_found', 'OCaml (MirageOS) uncaught exception'],
  ['Page fault at linear address 0x0, rip 0x1234, regs 0xdead, sp 0xbeef', 'Mini-OS crash'],
  ['[    0.100000] CRIT: [libkvmplat] <traps.c @ 90> Unhandled trap', 'Unikraft crash'],
  ['Boot failed: not a bootable disk', 'firmware found no bootable device'],
  ['No bootable device.', 'firmware found no bootable device'],
  ['FATAL: No bootable device', 'firmware found no bootable device'],
  ['BdsDxe: No bootable option or device was found.', 'firmware found no bootable device'],
];

/** Lines a healthy boot prints that must not be taken for failures. */
const BENIGN_LINES = [
  'Kernel command line: console=hvc0 panic=10',
  'Booting unikernel, error count 0',
  'mirage: listening on 0.0.0.0:80',
  '(XEN) Xen version 4.2 (starting domain)',
  'Solo5: Xen console: ready',
  'Booting from Hard Disk...',
  'probe: no bootable device among the extra disks, skipping',
];

describe('boot verification: console judgement', () => {
  const patterns = bootPatterns('listening on');

  for (const [line, name] of FAILURE_LINES) {
    it(`recognises "${line.slice(0, 40)}…" as ${name}`, () => {
      const verdict = judgeConsole(`Xen Minimal OS!\r\nbooting\r\n${line}\r\nmore\r\n`, patterns);
      assert.deepEqual(verdict, { kind: 'failed', failure: name, line });
    });
  }

  it('takes none of the healthy lines for a failure, and the marker confirms the boot', () => {
    const text = BENIGN_LINES.join('\r\n');
    assert.deepEqual(judgeConsole(text, patterns), { kind: 'booted', line: 'mirage: listening on 0.0.0.0:80' });
    assert.deepEqual(judgeConsole(text, bootPatterns(undefined)), { kind: 'pending' }, 'no marker: still pending');
    assert.equal(BUILT_IN_FAILURES.length, new Set(FAILURE_LINES.map(([, name]) => name)).size);
  });

  it('a failure after the marker still fails; the earliest failure is the one named', () => {
    const text = 'listening on :80\nFatal error: exception Failure("x")\nKernel panic - not syncing\n';
    assert.deepEqual(judgeConsole(text, patterns), {
      kind: 'failed',
      failure: 'OCaml (MirageOS) uncaught exception',
      line: 'Fatal error: exception Failure("x")',
    });
  });

  it("the user's failure patterns join the built-in ones", () => {
    const own = bootPatterns('up', ['^FATAL: db']);
    assert.deepEqual(judgeConsole('starting\nFATAL: db unreachable\n', own), {
      kind: 'failed',
      failure: 'the pattern /^FATAL: db/',
      line: 'FATAL: db unreachable',
    });
  });

  it('an invalid or empty pattern is an input error naming the input', () => {
    assert.throws(
      () => bootPatterns('a(b'),
      (error: unknown) =>
        error instanceof AwsInputError &&
        error.input === 'bootMarker' &&
        /"a\(b" is not a valid regular expression/.test(error.message),
    );
    assert.throws(
      () => bootPatterns(undefined, ['ok', '*']),
      (error: unknown) => error instanceof AwsInputError && error.input === 'bootFailurePatterns',
    );
    assert.throws(() => bootPatterns(''), /is empty/);
    assert.throws(() => bootPatterns('x'.repeat(1001)), /at most 1000/);
  });

  it('the tail: the last non-empty lines, escape sequences and control characters removed, long lines cut', () => {
    const text = `one\r\n\r\n\x1b[1;31mred\x1b[0m\x07\r\n${'y'.repeat(300)}\r\nlast`;
    assert.deepEqual(consoleTail(text, 3), ['red', `${'y'.repeat(200)}…`, 'last']);
  });
});
