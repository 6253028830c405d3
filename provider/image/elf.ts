/**
 * Just enough of ELF to judge a kernel: the header, program headers, section headers (with names) and
 * note records. Pure and bounds-checked: a truncated or hostile file gives an ElfFormatError, never a
 * read past the end. Addresses are bigints because 64-bit kernels live above 2^53.
 */

export const ELFCLASS32 = 1;
export const ELFCLASS64 = 2;
export const ELFDATA2LSB = 1;
export const ELFDATA2MSB = 2;

export const ET_REL = 1;
export const ET_EXEC = 2;
export const ET_DYN = 3;
export const ET_CORE = 4;

export const EM_386 = 3;
export const EM_X86_64 = 62;

export const PT_LOAD = 1;
export const PT_NOTE = 4;
export const PF_X = 1;
export const PF_W = 2;
export const PF_R = 4;

export const SHT_PROGBITS = 1;
export const SHT_STRTAB = 3;
export const SHT_NOTE = 7;

const PN_XNUM = 0xffff;
const SHN_XINDEX = 0xffff;

/** Names of common e_machine values, for error messages. */
const MACHINE_NAMES: Record<number, string> = {
  2: 'SPARC',
  3: 'i386',
  8: 'MIPS',
  20: 'PowerPC',
  21: 'PowerPC64',
  22: 'S/390',
  40: 'ARM (32-bit)',
  43: 'SPARC V9',
  50: 'IA-64',
  62: 'x86-64',
  183: 'AArch64',
  243: 'RISC-V',
  258: 'LoongArch',
};

export function machineName(machine: number): string {
  return MACHINE_NAMES[machine] ?? `e_machine ${machine}`;
}

const TYPE_NAMES: Record<number, string> = {
  0: 'ET_NONE',
  [ET_REL]: 'a relocatable object (ET_REL)',
  [ET_EXEC]: 'an executable (ET_EXEC)',
  [ET_DYN]: 'a shared object or PIE (ET_DYN)',
  [ET_CORE]: 'a core dump (ET_CORE)',
};

export function typeName(type: number): string {
  return TYPE_NAMES[type] ?? `e_type ${type}`;
}

/** A file that says it is ELF but whose structure is broken; the message says where. */
export class ElfFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ElfFormatError';
  }
}

export interface ElfSegment {
  type: number;
  flags: number;
  offset: number;
  vaddr: bigint;
  paddr: bigint;
  fileSize: number;
  memorySize: bigint;
}

export interface ElfSection {
  name: string;
  type: number;
  offset: number;
  size: number;
}

export interface ElfFile {
  elfClass: 32 | 64;
  bigEndian: boolean;
  type: number;
  machine: number;
  entry: bigint;
  segments: ElfSegment[];
  sections: ElfSection[];
}

export interface ElfNote {
  name: string;
  type: number;
  desc: Buffer;
}

export const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);

export function isElf(bytes: Buffer): boolean {
  return bytes.length >= 4 && bytes.subarray(0, 4).equals(ELF_MAGIC);
}

/** Little- or big-endian reads that fail with a clear message instead of a RangeError. */
class Reader {
  constructor(
    private readonly bytes: Buffer,
    private readonly bigEndian: boolean,
  ) {}

  private check(offset: number, length: number, what: string): void {
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + length > this.bytes.length) {
      throw new ElfFormatError(
        `the ${what} lies beyond the end of the file (offset ${offset}, file is ${this.bytes.length} bytes): the file is truncated or corrupt`,
      );
    }
  }

  u16(offset: number, what: string): number {
    this.check(offset, 2, what);
    return this.bigEndian ? this.bytes.readUInt16BE(offset) : this.bytes.readUInt16LE(offset);
  }

  u32(offset: number, what: string): number {
    this.check(offset, 4, what);
    return this.bigEndian ? this.bytes.readUInt32BE(offset) : this.bytes.readUInt32LE(offset);
  }

  u64(offset: number, what: string): bigint {
    this.check(offset, 8, what);
    return this.bigEndian ? this.bytes.readBigUInt64BE(offset) : this.bytes.readBigUInt64LE(offset);
  }

  /** A word: 4 bytes in ELF32, 8 in ELF64. */
  word(offset: number, is64: boolean, what: string): bigint {
    return is64 ? this.u64(offset, what) : BigInt(this.u32(offset, what));
  }

  /** A word used as a file offset or size: must fit in the file's address space. */
  fileNumber(offset: number, is64: boolean, what: string): number {
    const value = this.word(offset, is64, what);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new ElfFormatError(`the ${what} (${value}) is impossibly large: the file is corrupt`);
    }
    return Number(value);
  }
}

function requireRange(bytes: Buffer, offset: number, size: number, what: string): void {
  if (offset < 0 || size < 0 || offset + size > bytes.length) {
    throw new ElfFormatError(
      `the ${what} (bytes ${offset}..${offset + size}) lies beyond the end of the file (${bytes.length} bytes): the file is truncated or corrupt`,
    );
  }
}

/** Parses the ELF header and the program and section header tables. The caller checks isElf first. */
export function parseElf(bytes: Buffer): ElfFile {
  if (!isElf(bytes)) throw new ElfFormatError('the file does not start with the ELF magic number');
  if (bytes.length < 16) throw new ElfFormatError('the ELF identification is truncated');
  const elfClassByte = bytes[4];
  const dataByte = bytes[5];
  if (elfClassByte !== ELFCLASS32 && elfClassByte !== ELFCLASS64) {
    throw new ElfFormatError(`unknown ELF class ${elfClassByte} (expected 1 for 32-bit or 2 for 64-bit)`);
  }
  if (dataByte !== ELFDATA2LSB && dataByte !== ELFDATA2MSB) {
    throw new ElfFormatError(`unknown ELF data encoding ${dataByte} (expected 1 for little- or 2 for big-endian)`);
  }
  const is64 = elfClassByte === ELFCLASS64;
  const bigEndian = dataByte === ELFDATA2MSB;
  const read = new Reader(bytes, bigEndian);
  const headerSize = is64 ? 64 : 52;
  requireRange(bytes, 0, headerSize, 'ELF header');

  const type = read.u16(16, 'e_type');
  const machine = read.u16(18, 'e_machine');
  const entry = read.word(24, is64, 'e_entry');
  const phoff = read.fileNumber(is64 ? 32 : 28, is64, 'program header table offset');
  const shoff = read.fileNumber(is64 ? 40 : 32, is64, 'section header table offset');
  const phentsize = read.u16(is64 ? 54 : 42, 'e_phentsize');
  let phnum = read.u16(is64 ? 56 : 44, 'e_phnum');
  const shentsize = read.u16(is64 ? 58 : 46, 'e_shentsize');
  let shnum = read.u16(is64 ? 60 : 48, 'e_shnum');
  let shstrndx = read.u16(is64 ? 62 : 50, 'e_shstrndx');

  const minPhent = is64 ? 56 : 32;
  const minShent = is64 ? 64 : 40;

  // Section 0 carries the real counts when they do not fit in the header (PN_XNUM, SHN_XINDEX).
  if (shoff !== 0 && shentsize >= minShent && (shnum === 0 || phnum === PN_XNUM || shstrndx === SHN_XINDEX)) {
    const size = read.fileNumber(shoff + (is64 ? 32 : 20), is64, 'size field of section header 0');
    if (shnum === 0) shnum = size;
    if (phnum === PN_XNUM) phnum = read.u32(shoff + (is64 ? 44 : 28), 'sh_info of section header 0');
    if (shstrndx === SHN_XINDEX) shstrndx = read.u32(shoff + (is64 ? 40 : 24), 'sh_link of section header 0');
  }

  const segments: ElfSegment[] = [];
  if (phnum > 0) {
    if (phentsize < minPhent)
      throw new ElfFormatError(
        `program header entries are ${phentsize} bytes, less than the ${minPhent} an ELF${is64 ? 64 : 32} entry needs`,
      );
    requireRange(bytes, phoff, phnum * phentsize, 'program header table');
    for (let index = 0; index < phnum; index++) {
      const at = phoff + index * phentsize;
      const what = `program header ${index}`;
      segments.push(
        is64
          ? {
              type: read.u32(at, what),
              flags: read.u32(at + 4, what),
              offset: read.fileNumber(at + 8, true, `offset of ${what}`),
              vaddr: read.u64(at + 16, what),
              paddr: read.u64(at + 24, what),
              fileSize: read.fileNumber(at + 32, true, `file size of ${what}`),
              memorySize: read.u64(at + 40, what),
            }
          : {
              type: read.u32(at, what),
              offset: read.u32(at + 4, what),
              vaddr: BigInt(read.u32(at + 8, what)),
              paddr: BigInt(read.u32(at + 12, what)),
              fileSize: read.u32(at + 16, what),
              memorySize: BigInt(read.u32(at + 20, what)),
              flags: read.u32(at + 24, what),
            },
      );
    }
  }

  const sections: ElfSection[] = [];
  if (shoff !== 0 && shnum > 0) {
    if (shentsize < minShent)
      throw new ElfFormatError(
        `section header entries are ${shentsize} bytes, less than the ${minShent} an ELF${is64 ? 64 : 32} entry needs`,
      );
    requireRange(bytes, shoff, shnum * shentsize, 'section header table');
    const raw: Array<{ nameOffset: number; type: number; offset: number; size: number }> = [];
    for (let index = 0; index < shnum; index++) {
      const at = shoff + index * shentsize;
      const what = `section header ${index}`;
      raw.push({
        nameOffset: read.u32(at, what),
        type: read.u32(at + 4, what),
        offset: read.fileNumber(at + (is64 ? 24 : 16), is64, `offset of ${what}`),
        size: read.fileNumber(at + (is64 ? 32 : 20), is64, `size of ${what}`),
      });
    }
    const names = shstrndx > 0 && shstrndx < raw.length ? raw[shstrndx] : undefined;
    if (names && names.type !== 8 /* SHT_NOBITS */) requireRange(bytes, names.offset, names.size, 'section name table');
    for (const section of raw) {
      sections.push({
        name: names ? readString(bytes, names.offset + section.nameOffset, names.offset + names.size) : '',
        type: section.type,
        offset: section.offset,
        size: section.size,
      });
    }
  }

  return { elfClass: is64 ? 64 : 32, bigEndian, type, machine, entry, segments, sections };
}

/** A NUL-terminated string starting at `offset`, stopping at `end` if no NUL comes first. */
export function readString(bytes: Buffer, offset: number, end: number = bytes.length): string {
  if (offset < 0 || offset >= Math.min(end, bytes.length)) return '';
  const limit = Math.min(end, bytes.length);
  let stop = bytes.indexOf(0, offset);
  if (stop < 0 || stop > limit) stop = limit;
  return bytes.toString('latin1', offset, stop);
}

/**
 * The note records in [offset, offset + size). Names and descriptions are padded to 4 bytes, as Xen's
 * own loader reads them whatever the ELF class.
 */
export function readNotes(
  bytes: Buffer,
  offset: number,
  size: number,
  bigEndian = false,
  where = 'note area',
): ElfNote[] {
  requireRange(bytes, offset, size, where);
  const read = new Reader(bytes, bigEndian);
  const end = offset + size;
  const notes: ElfNote[] = [];
  let at = offset;
  while (at + 12 <= end) {
    const nameSize = read.u32(at, `note header in the ${where}`);
    const descSize = read.u32(at + 4, `note header in the ${where}`);
    const type = read.u32(at + 8, `note header in the ${where}`);
    const nameStart = at + 12;
    const descStart = nameStart + align4(nameSize);
    const next = descStart + align4(descSize);
    if (next > end)
      throw new ElfFormatError(`a note in the ${where} runs past its end (note at byte ${at}): the file is corrupt`);
    notes.push({
      name: readString(bytes, nameStart, nameStart + nameSize),
      type,
      desc: bytes.subarray(descStart, descStart + descSize),
    });
    at = next;
  }
  return notes;
}

function align4(value: number): number {
  return Math.ceil(value / 4) * 4;
}
