/**
 * Is this file a kernel that EC2's PV-GRUB can chain-load? PV-GRUB hands the kernel to Xen's PV domain
 * builder (libelf), so this module reads the same things libelf reads, in the same order (Xen notes in
 * PT_NOTE segments, else in SHT_NOTE sections, else the legacy `__xen_guest` string), and applies the
 * same checks (loader, Xen version, address layout), so that a kernel that would fail at boot fails here
 * instead, with a message that says what was expected. Pure: bytes in, facts or a ImageInputError out.
 */
import { neutralRemedy, Remedy, withRemedy } from '../common/remedy';
import { ImageInputError } from './errors';
import {
  EM_386,
  EM_X86_64,
  ET_DYN,
  ET_EXEC,
  ElfFile,
  ElfFormatError,
  ElfNote,
  isElf,
  machineName,
  parseElf,
  PF_R,
  PF_W,
  PF_X,
  PT_LOAD,
  PT_NOTE,
  readNotes,
  readString,
  SHT_NOTE,
  typeName,
} from './elf';

/** Xen ELF note types, from xen/include/public/elfnote.h. Notes are owned by the name "Xen". */
export const XEN_ELFNOTE = {
  INFO: 0,
  ENTRY: 1,
  HYPERCALL_PAGE: 2,
  VIRT_BASE: 3,
  PADDR_OFFSET: 4,
  XEN_VERSION: 5,
  GUEST_OS: 6,
  GUEST_VERSION: 7,
  LOADER: 8,
  PAE_MODE: 9,
  FEATURES: 10,
  BSD_SYMTAB: 11,
  HV_START_LOW: 12,
  L1_MFN_VALID: 13,
  SUSPEND_CANCEL: 14,
  INIT_P2M: 15,
  MOD_START_PFN: 16,
  SUPPORTED_FEATURES: 17,
  PHYS32_ENTRY: 18,
} as const;

export const XEN_NOTE_OWNER = 'Xen';
export const XEN_GUEST_SECTION = '__xen_guest';

const STRING_NOTES = new Set<number>([
  XEN_ELFNOTE.XEN_VERSION,
  XEN_ELFNOTE.GUEST_OS,
  XEN_ELFNOTE.GUEST_VERSION,
  XEN_ELFNOTE.LOADER,
  XEN_ELFNOTE.PAE_MODE,
  XEN_ELFNOTE.FEATURES,
  XEN_ELFNOTE.BSD_SYMTAB,
]);

const NUMERIC_NOTES = new Set<number>([
  XEN_ELFNOTE.ENTRY,
  XEN_ELFNOTE.HYPERCALL_PAGE,
  XEN_ELFNOTE.VIRT_BASE,
  XEN_ELFNOTE.PADDR_OFFSET,
  XEN_ELFNOTE.HV_START_LOW,
  XEN_ELFNOTE.INIT_P2M,
  XEN_ELFNOTE.PHYS32_ENTRY,
]);

const NOTE_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(XEN_ELFNOTE).map(([name, type]) => [type, name]),
);

export type XenInfoSource = 'PT_NOTE' | 'SHT_NOTE' | '__xen_guest';
export type KernelArchitecture = 'x86_64' | 'i386';

/** What Xen's domain builder reads from a kernel; unset fields were absent. */
export interface XenGuestParameters {
  source: XenInfoSource;
  guestOs?: string;
  guestVersion?: string;
  xenVersion?: string;
  loader?: string;
  paeMode?: string;
  features?: string;
  bsdSymtab?: boolean;
  virtBase?: bigint;
  paddrOffset?: bigint;
  entry?: bigint;
  hypercallPage?: bigint;
  initP2m?: bigint;
  phys32Entry?: bigint;
  /** Note types present (or legacy keys, for __xen_guest), in file order. */
  fields: string[];
}

/** A kernel that passed every check, and where Xen will put it. */
export interface XenKernelInfo extends XenGuestParameters {
  architecture: KernelArchitecture;
  elfClass: 32 | 64;
  guestOs: string;
  xenVersion: string;
  /** Virtual addresses as Xen computes them: the loaded range and the entry point. */
  kernelStart: bigint;
  kernelEnd: bigint;
  entry: bigint;
  virtBase: bigint;
}

const UINT64 = (1n << 64n) - 1n;
const wrap = (value: bigint) => value & UINT64;
export const hex = (value: bigint) => `0x${value.toString(16)}`;

/** What a file that is not an ELF file is, and for a ready disk image, the remedy. */
function classifyNonElf(bytes: Buffer): { what: string; remedy?: Remedy } {
  const starts = (...values: number[]) => values.every((value, index) => bytes[index] === value);
  const diskImage: Remedy = { kind: 'bundleDiskImage' };
  if (starts(0x1f, 0x8b))
    return {
      what: 'is gzip-compressed: give the uncompressed kernel (the image stores it gzipped for PV-GRUB by itself)',
    };
  if (starts(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00)) return { what: 'is xz-compressed: give the uncompressed kernel' };
  if (starts(0x42, 0x5a, 0x68)) return { what: 'is bzip2-compressed: give the uncompressed kernel' };
  if (starts(0x28, 0xb5, 0x2f, 0xfd)) return { what: 'is zstd-compressed: give the uncompressed kernel' };
  if (bytes.length >= 1082 && bytes.readUInt16LE(1080) === 0xef53) {
    return { what: 'is an ext2/3/4 file system, not a kernel', remedy: diskImage };
  }
  if (starts(0x4d, 0x5a) && bytes.length >= 0x206 && bytes.toString('latin1', 0x202, 0x206) === 'HdrS') {
    return {
      what: "is a Linux bzImage, not an ELF kernel: give the ELF kernel (vmlinux, or the unikernel's .xen file)",
    };
  }
  if (bytes.length >= 512 && bytes[510] === 0x55 && bytes[511] === 0xaa) {
    return {
      what: 'looks like a partitioned disk image (it has an MBR boot signature), not a kernel',
      remedy: diskImage,
    };
  }
  if (starts(0x23, 0x21)) return { what: 'is a script, not a kernel' };
  const head = [...bytes.subarray(0, 4)].map((byte) => byte.toString(16).padStart(2, '0')).join(' ');
  return { what: `is not an ELF file (it starts with ${head || 'nothing'}, not 7f 45 4c 46)` };
}

/** Kinds of files people give by mistake, recognised by their first bytes (a remedy in neutral words). */
export function describeNonElf(bytes: Buffer): string {
  const { what, remedy } = classifyNonElf(bytes);
  return remedy ? withRemedy(what, remedy, neutralRemedy) : what;
}

function noteString(note: ElfNote): string {
  return readString(note.desc, 0, note.desc.length);
}

function noteNumber(note: ElfNote, bigEndian: boolean, kernelPath: string): bigint {
  const desc = note.desc;
  const name = NOTE_NAMES[note.type];
  switch (desc.length) {
    case 1:
      return BigInt(desc[0]);
    case 2:
      return BigInt(bigEndian ? desc.readUInt16BE(0) : desc.readUInt16LE(0));
    case 4:
      return BigInt(bigEndian ? desc.readUInt32BE(0) : desc.readUInt32LE(0));
    case 8:
      return bigEndian ? desc.readBigUInt64BE(0) : desc.readBigUInt64LE(0);
    default:
      throw new ImageInputError(
        'kernel',
        `${kernelPath}: its Xen note ${name} holds ${desc.length} bytes; numeric Xen notes hold 4 or 8: the kernel's notes are corrupt`,
      );
  }
}

function applyNote(parameters: XenGuestParameters, note: ElfNote, bigEndian: boolean, kernelPath: string): void {
  parameters.fields.push(NOTE_NAMES[note.type] ?? `type ${note.type}`);
  if (STRING_NOTES.has(note.type)) {
    const value = noteString(note);
    switch (note.type) {
      case XEN_ELFNOTE.XEN_VERSION:
        parameters.xenVersion = value;
        break;
      case XEN_ELFNOTE.GUEST_OS:
        parameters.guestOs = value;
        break;
      case XEN_ELFNOTE.GUEST_VERSION:
        parameters.guestVersion = value;
        break;
      case XEN_ELFNOTE.LOADER:
        parameters.loader = value;
        break;
      case XEN_ELFNOTE.PAE_MODE:
        parameters.paeMode = value;
        break;
      case XEN_ELFNOTE.FEATURES:
        parameters.features = value;
        break;
      case XEN_ELFNOTE.BSD_SYMTAB:
        parameters.bsdSymtab = value === 'yes';
        break;
    }
  } else if (NUMERIC_NOTES.has(note.type)) {
    const value = noteNumber(note, bigEndian, kernelPath);
    switch (note.type) {
      case XEN_ELFNOTE.ENTRY:
        parameters.entry = value;
        break;
      case XEN_ELFNOTE.HYPERCALL_PAGE:
        parameters.hypercallPage = value;
        break;
      case XEN_ELFNOTE.VIRT_BASE:
        parameters.virtBase = value;
        break;
      case XEN_ELFNOTE.PADDR_OFFSET:
        parameters.paddrOffset = value;
        break;
      case XEN_ELFNOTE.INIT_P2M:
        parameters.initP2m = value;
        break;
      case XEN_ELFNOTE.PHYS32_ENTRY:
        parameters.phys32Entry = value;
        break;
    }
  }
}

/** C's strtoull(value, NULL, 0): 0x hex, leading-0 octal, else decimal; stops at the first bad digit. */
export function parseCNumber(text: string): bigint {
  const trimmed = text.trim();
  const match = /^0[xX]([0-9a-fA-F]+)/.exec(trimmed) ?? /^(0[0-7]*)/.exec(trimmed) ?? /^([0-9]+)/.exec(trimmed);
  if (!match) return 0n;
  if (/^0[xX]/.test(trimmed)) return wrap(BigInt(`0x${match[1]}`));
  if (match[1].startsWith('0')) return wrap(BigInt(`0o${match[1].slice(1) || '0'}`));
  return wrap(BigInt(match[1]));
}

/** The legacy `__xen_guest` string: comma-separated NAME=VALUE pairs, read as libelf reads them. */
export function parseXenGuestString(text: string): XenGuestParameters {
  const parameters: XenGuestParameters = { source: '__xen_guest', fields: [] };
  let hypercallPfn: bigint | undefined;
  for (const pair of text.split(',')) {
    if (pair === '') continue;
    const equals = pair.indexOf('=');
    const name = (equals < 0 ? pair : pair.slice(0, equals)).slice(0, 31);
    const value = equals < 0 ? '' : pair.slice(equals + 1, equals + 1 + 127);
    parameters.fields.push(name);
    switch (name) {
      case 'LOADER':
        parameters.loader = value;
        break;
      case 'GUEST_OS':
        parameters.guestOs = value;
        break;
      case 'GUEST_VER':
        parameters.guestVersion = value;
        break;
      case 'XEN_VER':
        parameters.xenVersion = value;
        break;
      case 'PAE':
        parameters.paeMode = value;
        break;
      case 'BSD_SYMTAB':
        parameters.bsdSymtab = true;
        break;
      case 'FEATURES':
        parameters.features = value;
        break;
      case 'VIRT_BASE':
        parameters.virtBase = parseCNumber(value);
        break;
      case 'VIRT_ENTRY':
        parameters.entry = parseCNumber(value);
        break;
      case 'ELF_PADDR_OFFSET':
        parameters.paddrOffset = parseCNumber(value);
        break;
      case 'HYPERCALL_PAGE':
        hypercallPfn = parseCNumber(value);
        break;
    }
  }
  if (hypercallPfn !== undefined) parameters.hypercallPage = wrap((hypercallPfn << 12n) + (parameters.virtBase ?? 0n));
  return parameters;
}

/** The Xen parameters of a parsed ELF file, found where libelf looks for them; undefined if none. */
export function readXenGuestParameters(
  elf: ElfFile,
  bytes: Buffer,
  kernelPath = 'kernel',
): XenGuestParameters | undefined {
  const fromNotes = (source: XenInfoSource, areas: Array<{ offset: number; size: number; where: string }>) => {
    const parameters: XenGuestParameters = { source, fields: [] };
    for (const area of areas) {
      for (const note of readNotes(bytes, area.offset, area.size, elf.bigEndian, area.where)) {
        if (note.name === XEN_NOTE_OWNER) applyNote(parameters, note, elf.bigEndian, kernelPath);
      }
    }
    return parameters.fields.length > 0 ? parameters : undefined;
  };

  const segments = elf.segments
    .map((segment, index) => ({ segment, index }))
    // Some binutils versions wrote note segments with p_offset 0; libelf skips those, and so do we.
    .filter(({ segment }) => segment.type === PT_NOTE && segment.offset !== 0)
    .map(({ segment, index }) => ({
      offset: segment.offset,
      size: segment.fileSize,
      where: `note segment (program header ${index})`,
    }));
  const inSegments = fromNotes('PT_NOTE', segments);
  if (inSegments) return inSegments;

  const sections = elf.sections
    .filter((section, index) => index > 0 && section.type === SHT_NOTE)
    .map((section) => ({
      offset: section.offset,
      size: section.size,
      where: `note section ${section.name || '(unnamed)'}`,
    }));
  const inSections = fromNotes('SHT_NOTE', sections);
  if (inSections) return inSections;

  const guest = elf.sections.find((section) => section.name === XEN_GUEST_SECTION);
  if (guest) {
    if (guest.offset + guest.size > bytes.length) {
      throw new ElfFormatError(
        `the ${XEN_GUEST_SECTION} section lies beyond the end of the file: the file is truncated or corrupt`,
      );
    }
    return parseXenGuestString(readString(bytes, guest.offset, guest.offset + guest.size));
  }
  return undefined;
}

function architectureOf(elf: ElfFile, kernelPath: string): KernelArchitecture {
  const fail = (message: string) => new ImageInputError('kernel', `${kernelPath} ${message}`);
  const expected = "EC2's PV-GRUB boots x86-64 (or i386) Xen PV kernels: build the unikernel for Xen on x86_64";
  if (elf.machine !== EM_X86_64 && elf.machine !== EM_386) {
    throw fail(`is an ELF file for ${machineName(elf.machine)}, not x86-64 or i386; ${expected}`);
  }
  const architecture: KernelArchitecture = elf.machine === EM_X86_64 ? 'x86_64' : 'i386';
  if (elf.bigEndian)
    throw fail(`is a big-endian ELF file for ${architecture}, which does not exist: the file is corrupt`);
  const expectedClass = architecture === 'x86_64' ? 64 : 32;
  if (elf.elfClass !== expectedClass) {
    throw fail(
      `is a ${elf.elfClass}-bit ELF file for ${architecture}, which should be ${expectedClass}-bit (x32 and other mixes are not Xen PV kernels)`,
    );
  }
  if (elf.type !== ET_EXEC && elf.type !== ET_DYN) {
    throw fail(
      `is ${typeName(elf.type)}, not an executable kernel: give the linked kernel the unikernel build produced`,
    );
  }
  return architecture;
}

function pvLoaderProblems(parameters: XenGuestParameters, architecture: KernelArchitecture): string[] {
  const problems: string[] = [];
  const quoted = (value: string | undefined) => (value === undefined ? 'absent' : `"${value}"`);
  const loaderOk = (parameters.loader ?? '').startsWith('generic') || (parameters.guestOs ?? '').startsWith('linux');
  if (!loaderOk) {
    problems.push(
      `Xen's PV loader needs LOADER "generic" or GUEST_OS "linux..." (LOADER is ${quoted(parameters.loader)}, GUEST_OS ${quoted(parameters.guestOs)})`,
    );
  }
  if (!(parameters.xenVersion ?? '').startsWith('xen-3.0')) {
    problems.push(`Xen's PV loader needs XEN_VERSION "xen-3.0" (it is ${quoted(parameters.xenVersion)})`);
  }
  if (architecture === 'i386') {
    const pae = parameters.paeMode ?? '';
    const paeOk =
      parameters.source === '__xen_guest' ? pae.startsWith('yes') : pae === 'yes' || pae.includes('bimodal');
    if (!paeOk) {
      problems.push(
        `a 32-bit kernel must be built for PAE, the only 32-bit PV mode of EC2's 64-bit Xen (PAE_MODE is ${quoted(parameters.paeMode)}, expected "yes" or "bimodal")`,
      );
    }
  }
  return problems;
}

interface Layout {
  virtBase: bigint;
  paddrOffset: bigint;
  kernelStart: bigint;
  kernelEnd: bigint;
  entry: bigint;
}

/** elf_xen_addr_calc_check: where Xen will map the kernel, and whether its entry point is inside. */
function addressLayout(elf: ElfFile, parameters: XenGuestParameters, kernelPath: string, fileLength: number): Layout {
  const fail = (message: string) =>
    new ImageInputError('kernel', `${kernelPath}: ${message}; Xen's PV loader would refuse this kernel at boot`);
  const loadable = elf.segments.filter(
    (segment) => segment.type === PT_LOAD && (segment.flags & (PF_R | PF_W | PF_X)) !== 0,
  );
  if (loadable.length === 0)
    throw new ImageInputError('kernel', `${kernelPath} has no loadable segment (PT_LOAD): it is not a kernel`);
  for (const segment of loadable) {
    if (segment.offset + segment.fileSize > fileLength) {
      throw new ImageInputError(
        'kernel',
        `${kernelPath}: a loadable segment lies beyond the end of the file: the file is truncated or corrupt`,
      );
    }
  }
  if (parameters.paddrOffset !== undefined && parameters.virtBase === undefined) {
    throw fail('it sets PADDR_OFFSET but not VIRT_BASE');
  }
  const virtBase = parameters.virtBase ?? 0n;
  const paddrOffset = parameters.paddrOffset ?? (parameters.source === '__xen_guest' ? virtBase : 0n);
  const virtOffset = wrap(virtBase - paddrOffset);
  let physicalStart = UINT64;
  let physicalEnd = 0n;
  for (const segment of loadable) {
    if (segment.paddr < physicalStart) physicalStart = segment.paddr;
    const end = wrap(segment.paddr + segment.memorySize);
    if (end > physicalEnd) physicalEnd = end;
  }
  const kernelStart = wrap(physicalStart + virtOffset);
  const kernelEnd = wrap(physicalEnd + virtOffset);
  const entry = parameters.entry ?? elf.entry;
  const range = `${hex(kernelStart)}..${hex(kernelEnd)}`;
  if (kernelStart > kernelEnd)
    throw fail(`its loaded range ${range} is inverted (VIRT_BASE ${hex(virtBase)}, PADDR_OFFSET ${hex(paddrOffset)})`);
  if (virtBase > kernelStart)
    throw fail(`VIRT_BASE ${hex(virtBase)} lies above the start of the kernel ${hex(kernelStart)}`);
  // A BSD symbol table extends the loaded range past the segments; only the lower bound is certain then.
  if (entry < kernelStart || (!parameters.bsdSymtab && entry > kernelEnd)) {
    throw fail(
      `its entry point ${hex(entry)} lies outside the kernel's loaded range ${range} (VIRT_BASE ${hex(virtBase)}, PADDR_OFFSET ${hex(paddrOffset)})`,
    );
  }
  if (parameters.initP2m !== undefined && parameters.initP2m >= kernelStart && parameters.initP2m < kernelEnd) {
    throw fail(`its INIT_P2M address ${hex(parameters.initP2m)} lies inside the kernel ${range}`);
  }
  return { virtBase, paddrOffset, kernelStart, kernelEnd, entry };
}

/**
 * Checks that `bytes` (the whole kernel file) is a Xen PV kernel for x86-64 or i386 that Xen's PV loader
 * accepts, and returns what it found. Every refusal is a ImageInputError on `kernel` whose message
 * starts with `kernelPath`, says what is wrong and what was expected.
 */
export function inspectXenKernel(bytes: Buffer, kernelPath: string): XenKernelInfo {
  if (bytes.length === 0)
    throw new ImageInputError(
      'kernel',
      `${kernelPath} is empty (0 bytes); give the Xen kernel the unikernel build produced`,
    );
  if (!isElf(bytes)) {
    const { what, remedy } = classifyNonElf(bytes);
    // A ready disk image: what to do with it says what was expected.
    if (remedy) throw new ImageInputError('kernel', `${kernelPath} ${what}`, remedy);
    throw new ImageInputError(
      'kernel',
      `${kernelPath} ${what}; a Xen PV kernel (an x86-64 ELF file with Xen ELF notes) was expected`,
    );
  }
  let elf: ElfFile;
  let parameters: XenGuestParameters | undefined;
  try {
    elf = parseElf(bytes);
    const architecture = architectureOf(elf, kernelPath);
    parameters = readXenGuestParameters(elf, bytes, kernelPath);
    if (!parameters) {
      throw new ImageInputError(
        'kernel',
        `${kernelPath} is an ${architecture} ELF file without Xen ELF notes (owner "Xen", in a PT_NOTE segment or SHT_NOTE section) or a legacy __xen_guest section: ` +
          'it is not a Xen PV kernel; build the unikernel for a Xen PV target',
      );
    }
    const problems = pvLoaderProblems(parameters, architecture);
    if (problems.length > 0) {
      if (parameters.phys32Entry !== undefined) {
        throw new ImageInputError(
          'kernel',
          `${kernelPath} is a Xen PVH kernel (it has a PHYS32_ENTRY note) that cannot boot as a PV guest: ${problems.join('; ')}. ` +
            "EC2's PV-GRUB boots only paravirtualised (PV) kernels: build the unikernel for a Xen PV target",
        );
      }
      throw new ImageInputError(
        'kernel',
        `${kernelPath} has Xen notes (in ${parameters.source}) that Xen's PV loader refuses: ${problems.join('; ')}`,
      );
    }
    const layout = addressLayout(elf, parameters, kernelPath, bytes.length);
    return {
      ...parameters,
      architecture,
      elfClass: elf.elfClass,
      guestOs: parameters.guestOs ?? '',
      xenVersion: parameters.xenVersion ?? '',
      virtBase: layout.virtBase,
      paddrOffset: layout.paddrOffset,
      kernelStart: layout.kernelStart,
      kernelEnd: layout.kernelEnd,
      entry: layout.entry,
    };
  } catch (error) {
    if (error instanceof ElfFormatError) {
      throw new ImageInputError('kernel', `${kernelPath} is a broken ELF file: ${error.message}`);
    }
    throw error;
  }
}
