import { ImageInputError } from '../../provider/image/errors';
import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import { readFileSync } from 'fs';
import * as path from 'path';
import { gzipSync } from 'zlib';
import { ElfFormatError, parseElf, readNotes } from '../../provider/image/elf';
import { inspectXenKernel, parseCNumber, parseXenGuestString, XEN_ELFNOTE } from '../../provider/image/xenKernel';
import { buildXenKernel, KERNEL_BASE, xenKernelBytes, XenKernelOptions } from '../../testing/xenKernel';
import { temporaryFolder } from '../helpers/tools';

const KERNEL = 'k.xen';

function refused(pattern: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof ImageInputError, `expected a ImageInputError, got ${String(error)}`);
    assert.equal(error.input, 'kernel');
    assert.ok(error.message.startsWith(KERNEL), `the message starts with the kernel path: ${error.message}`);
    assert.match(error.message, pattern);
    return true;
  };
}

const inspect = (options: XenKernelOptions) => inspectXenKernel(xenKernelBytes(options), KERNEL);

describe('ELF reader', () => {
  it('reads the header, segments and named sections of an x86-64 kernel', () => {
    const elf = parseElf(xenKernelBytes());
    assert.equal(elf.elfClass, 64);
    assert.equal(elf.machine, 62);
    assert.equal(elf.entry, KERNEL_BASE + 0x400n);
    assert.deepEqual(
      elf.segments.map((segment) => segment.type),
      [1, 4],
    );
    assert.deepEqual(
      elf.sections.map((section) => section.name),
      ['', '.text', '.note.Xen', '.data', '.shstrtab'],
    );
  });

  it('reads a 32-bit kernel', () => {
    const elf = parseElf(xenKernelBytes({ variant: 'i386' }));
    assert.equal(elf.elfClass, 32);
    assert.equal(elf.machine, 3);
    assert.equal(elf.segments[0].vaddr, KERNEL_BASE);
  });

  it('agrees with readelf on the notes and the entry point', function () {
    const folder = temporaryFolder('elf');
    try {
      for (const variant of ['pv', 'i386'] as const) {
        const file = buildXenKernel(folder.dir, { variant, fileName: `${variant}.xen` });
        const readelf = spawnSync('readelf', ['-n', '--wide', file], { encoding: 'utf8' });
        if (readelf.error) {
          console.log('      skipped: readelf (binutils) is not installed');
          this.skip();
        }
        const header = spawnSync('readelf', ['-h', file], { encoding: 'utf8' });
        const theirs = [...readelf.stdout.matchAll(/^\s+(\S+)\s+(0x[0-9a-f]+)\s/gm)].map(
          (match) => `${match[1]} ${Number(match[2])}`,
        );
        const bytes = xenKernelBytes({ variant });
        const elf = parseElf(bytes);
        const noteSegment = elf.segments.find((segment) => segment.type === 4)!;
        const ours = readNotes(bytes, noteSegment.offset, noteSegment.fileSize).map(
          (note) => `${note.name} ${note.desc.length}`,
        );
        assert.deepEqual(ours, theirs);
        assert.match(header.stdout, new RegExp(`Entry point address:\\s+0x${elf.entry.toString(16)}\\b`));
      }
    } finally {
      folder.cleanup();
    }
  });

  it('reports truncation instead of reading past the end', () => {
    const bytes = xenKernelBytes();
    assert.throws(
      () => parseElf(bytes.subarray(0, 40)),
      (error: unknown) => error instanceof ElfFormatError && /ELF header .* beyond the end/.test(error.message),
    );
    assert.throws(() => readNotes(bytes, 0x100, 0x100000), /beyond the end of the file/);
    const broken = Buffer.from(bytes);
    broken.writeUInt32LE(0x7fffffff, 0x100 + 4); // the first note's description size
    assert.throws(() => readNotes(broken, 0x100, 0xdc), /runs past its end/);
    const badClass = Buffer.from(bytes);
    badClass[4] = 3;
    assert.throws(() => parseElf(badClass), /unknown ELF class 3/);
  });
});

describe('Xen kernel check', () => {
  it('accepts a PV kernel with notes in a PT_NOTE segment and reports what Xen will do', () => {
    const info = inspect({});
    assert.equal(info.architecture, 'x86_64');
    assert.equal(info.source, 'PT_NOTE');
    assert.equal(info.guestOs, 'unikernel-fixture');
    assert.equal(info.xenVersion, 'xen-3.0');
    assert.equal(info.loader, 'generic');
    assert.equal(info.entry, KERNEL_BASE + 0x400n);
    assert.equal(info.kernelStart, KERNEL_BASE);
    assert.equal(info.hypercallPage, KERNEL_BASE + 0x1000n);
    assert.deepEqual(info.fields, [
      'GUEST_OS',
      'GUEST_VERSION',
      'XEN_VERSION',
      'LOADER',
      'PAE_MODE',
      'VIRT_BASE',
      'PADDR_OFFSET',
      'ENTRY',
      'HYPERCALL_PAGE',
    ]);
  });

  it('falls back to SHT_NOTE sections, as Xen does', () => {
    assert.equal(inspect({ variant: 'section-notes' }).source, 'SHT_NOTE');
  });

  it('accepts the legacy __xen_guest string of Mini-OS-based kernels', () => {
    const info = inspect({ variant: 'legacy' });
    assert.equal(info.source, '__xen_guest');
    assert.equal(info.guestOs, 'unikernel-fixture');
    assert.equal(info.hypercallPage, KERNEL_BASE + 0x1000n, 'HYPERCALL_PAGE is a page number above VIRT_BASE');
    assert.equal(info.kernelStart, KERNEL_BASE);
  });

  it('accepts a 32-bit PAE kernel, "yes" or "bimodal"', () => {
    assert.equal(inspect({ variant: 'i386' }).architecture, 'i386');
    assert.equal(inspect({ variant: 'i386', notes: { paeMode: 'bimodal' } }).elfClass, 32);
  });

  it('accepts GUEST_OS "linux" without a LOADER note, as Xen does', () => {
    assert.equal(inspect({ notes: { loader: null, guestOs: 'linux' } }).guestOs, 'linux');
  });

  it('refuses a file that is not ELF, and says what was expected', () => {
    assert.throws(
      () => inspect({ variant: 'not-elf' }),
      refused(/is a script, not a kernel; a Xen PV kernel \(an x86-64 ELF file with Xen ELF notes\) was expected/),
    );
    assert.throws(
      () => inspectXenKernel(Buffer.from('hello world'), KERNEL),
      refused(/is not an ELF file \(it starts with 68 65 6c 6c, not 7f 45 4c 46\)/),
    );
    assert.throws(() => inspectXenKernel(Buffer.alloc(0), KERNEL), refused(/is empty/));
  });

  it('recognises the files people give by mistake', () => {
    assert.throws(
      () => inspectXenKernel(gzipSync(xenKernelBytes()), KERNEL),
      refused(/is gzip-compressed: give the uncompressed kernel/),
    );
    const ext2 = Buffer.alloc(4096);
    ext2.writeUInt16LE(0xef53, 1080);
    assert.throws(
      () => inspectXenKernel(ext2, KERNEL),
      refused(/is an ext2\/3\/4 file system, not a kernel: a ready disk image is bundled as it is/),
    );
    const mbr = Buffer.alloc(4096);
    mbr[510] = 0x55;
    mbr[511] = 0xaa;
    assert.throws(() => inspectXenKernel(mbr, KERNEL), refused(/partitioned disk image/));
  });

  it('refuses a kernel for another architecture', () => {
    assert.throws(
      () => inspect({ variant: 'aarch64' }),
      refused(/is an ELF file for AArch64, not x86-64 or i386; EC2's PV-GRUB boots x86-64 \(or i386\) Xen PV kernels/),
    );
  });

  it('refuses an ELF file without Xen notes', () => {
    assert.throws(
      () => inspect({ variant: 'no-xen-notes' }),
      refused(/is an x86_64 ELF file without Xen ELF notes .* it is not a Xen PV kernel/),
    );
  });

  it('refuses a PVH-only kernel, which PV-GRUB cannot boot', () => {
    assert.throws(
      () => inspect({ variant: 'pvh-only' }),
      refused(/is a Xen PVH kernel .* PV-GRUB boots only paravirtualised \(PV\) kernels/),
    );
  });

  it("refuses notes that Xen's PV loader refuses", () => {
    assert.throws(
      () => inspect({ notes: { loader: null, guestOs: 'Mini-OS' } }),
      refused(/needs LOADER "generic" or GUEST_OS "linux\.\.\." \(LOADER is absent, GUEST_OS "Mini-OS"\)/),
    );
    assert.throws(
      () => inspect({ notes: { xenVersion: 'xen-4.0' } }),
      refused(/needs XEN_VERSION "xen-3\.0" \(it is "xen-4\.0"\)/),
    );
    assert.throws(
      () => inspect({ variant: 'legacy', notes: { xenVersion: null } }),
      refused(/in __xen_guest.*XEN_VERSION "xen-3\.0" \(it is absent\)/),
    );
  });

  it('refuses a 32-bit kernel not built for PAE', () => {
    assert.throws(() => inspect({ variant: 'i386', notes: { paeMode: null } }), refused(/must be built for PAE/));
    assert.throws(() => inspect({ variant: 'i386', notes: { paeMode: 'no' } }), refused(/PAE_MODE is "no"/));
  });

  it('refuses an entry point outside the loaded kernel', () => {
    assert.throws(
      () => inspect({ notes: { entry: 0x10n } }),
      refused(
        /entry point 0x10 lies outside the kernel's loaded range 0x400000\.\.0x[0-9a-f]+ .*Xen's PV loader would refuse this kernel/,
      ),
    );
  });

  it('refuses mismatched class and machine, and object files', () => {
    const x32 = xenKernelBytes({ variant: 'i386' });
    x32.writeUInt16LE(62, 18);
    assert.throws(
      () => inspectXenKernel(x32, KERNEL),
      refused(/is a 32-bit ELF file for x86_64, which should be 64-bit/),
    );
    const object = xenKernelBytes();
    object.writeUInt16LE(1, 16);
    assert.throws(
      () => inspectXenKernel(object, KERNEL),
      refused(/is a relocatable object \(ET_REL\), not an executable kernel/),
    );
  });

  it('refuses a truncated kernel as a broken ELF file', () => {
    assert.throws(
      () => inspectXenKernel(xenKernelBytes().subarray(0, 0x180), KERNEL),
      refused(/is a broken ELF file: .*truncated or corrupt/),
    );
    const noLoad = xenKernelBytes();
    noLoad.writeUInt32LE(6, 64); // PT_LOAD becomes PT_PHDR
    assert.throws(() => inspectXenKernel(noLoad, KERNEL), refused(/has no loadable segment/));
  });

  it('reads legacy strings and C numbers as libelf does', () => {
    assert.equal(parseCNumber('0x400000'), 0x400000n);
    assert.equal(parseCNumber('010'), 8n);
    assert.equal(parseCNumber('12abc'), 12n);
    assert.equal(parseCNumber('zz'), 0n);
    const legacy = parseXenGuestString(
      'GUEST_OS=Mini-OS,XEN_VER=xen-3.0,VIRT_BASE=0x0,ELF_PADDR_OFFSET=0x0,HYPERCALL_PAGE=0x2,LOADER=generic',
    );
    assert.equal(legacy.guestOs, 'Mini-OS');
    assert.equal(legacy.xenVersion, 'xen-3.0');
    assert.equal(legacy.loader, 'generic');
    assert.equal(legacy.hypercallPage, 0x2000n);
    assert.equal(legacy.paddrOffset, 0n);
  });

  it('uses the note numbers of xen/include/public/elfnote.h', () => {
    assert.deepEqual(
      [
        XEN_ELFNOTE.ENTRY,
        XEN_ELFNOTE.HYPERCALL_PAGE,
        XEN_ELFNOTE.VIRT_BASE,
        XEN_ELFNOTE.PADDR_OFFSET,
        XEN_ELFNOTE.XEN_VERSION,
        XEN_ELFNOTE.GUEST_OS,
        XEN_ELFNOTE.LOADER,
        XEN_ELFNOTE.PHYS32_ENTRY,
      ],
      [1, 2, 3, 4, 5, 6, 8, 18],
    );
  });

  it('writes fixture files that are the same bytes', () => {
    const folder = temporaryFolder('fixture');
    try {
      const file = buildXenKernel(folder.dir, { fileName: 'mir-app.xen', payloadBytes: 1000 });
      assert.equal(path.basename(file), 'mir-app.xen');
      assert.deepEqual(readFileSync(file), xenKernelBytes({ payloadBytes: 1000 }));
      assert.notDeepEqual(xenKernelBytes({ seed: 'a' }), xenKernelBytes({ seed: 'b' }));
    } finally {
      folder.cleanup();
    }
  });
});
