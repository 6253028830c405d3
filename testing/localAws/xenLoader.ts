/**
 * The checks Xen's PV domain builder (libxc and libelf) makes of a kernel PV-GRUB hands it, with the
 * lines it prints when one fails: an ELF file of the AKI's width, for x86, carrying Xen notes (in
 * PT_NOTE segments, SHT_NOTE sections or the legacy `__xen_guest` section) that name the generic or
 * Linux loader and Xen 3.0. Written apart from the product's kernel checks (provider/image), so the
 * local AWS judges a kernel independently of the code that accepted it. Pure.
 */
import { gunzipSync } from 'zlib';

export interface KernelVerdict {
  ok: boolean;
  /** The loader's own lines when it refuses the kernel. */
  lines: string[];
}

interface Note {
  name: string;
  type: number;
  desc: Buffer;
}

const XEN_NOTE_XEN_VERSION = 5;
const XEN_NOTE_GUEST_OS = 6;
const XEN_NOTE_LOADER = 8;
const PT_NOTE = 4;
const SHT_NOTE = 7;

/** gzip is undone first, as xc_dom_try_gunzip does; anything else is read as it is. */
export function uncompressedKernel(stored: Buffer): Buffer {
  if (stored.length > 2 && stored[0] === 0x1f && stored[1] === 0x8b) {
    try {
      return gunzipSync(stored);
    } catch {
      return stored;
    }
  }
  return stored;
}

function notesIn(bytes: Buffer, offset: number, size: number): Note[] {
  const notes: Note[] = [];
  const end = Math.min(offset + size, bytes.length);
  let at = offset;
  while (at + 12 <= end) {
    const nameSize = bytes.readUInt32LE(at);
    const descSize = bytes.readUInt32LE(at + 4);
    const type = bytes.readUInt32LE(at + 8);
    const nameStart = at + 12;
    const descStart = nameStart + Math.ceil(nameSize / 4) * 4;
    const next = descStart + Math.ceil(descSize / 4) * 4;
    if (next > end) break;
    notes.push({
      name: bytes.toString('latin1', nameStart, nameStart + nameSize).replace(/\0+$/, ''),
      type,
      desc: bytes.subarray(descStart, descStart + descSize),
    });
    at = next;
  }
  return notes;
}

function text(desc: Buffer): string {
  return desc.toString('latin1').replace(/\0.*$/s, '');
}

/** Judges a kernel for a PV-GRUB AKI of `architecture` (x86_64 boots only 64-bit kernels, i386 only 32-bit). */
export function checkXenKernel(stored: Buffer, architecture: string): KernelVerdict {
  const bytes = uncompressedKernel(stored);
  const refuse = (...lines: string[]): KernelVerdict => ({
    ok: false,
    lines: [...lines, 'xc_dom_parse_image returned -1', '', 'Error 9: Unknown boot failure'],
  });
  if (bytes.length < 64 || bytes.readUInt32BE(0) !== 0x7f454c46 || bytes[5] !== 1)
    return refuse('xc_dom_find_loader: no loader found');
  const is64 = bytes[4] === 2;
  const machine = bytes.readUInt16LE(18);
  if ((is64 && machine !== 62) || (!is64 && machine !== 3)) return refuse('xc_dom_find_loader: no loader found');
  const word = (at: number) => (is64 ? Number(bytes.readBigUInt64LE(at)) : bytes.readUInt32LE(at));
  const phoff = word(is64 ? 32 : 28);
  const shoff = word(is64 ? 40 : 32);
  const phentsize = bytes.readUInt16LE(is64 ? 54 : 42);
  const phnum = bytes.readUInt16LE(is64 ? 56 : 44);
  const shentsize = bytes.readUInt16LE(is64 ? 58 : 46);
  const shnum = bytes.readUInt16LE(is64 ? 60 : 48);
  const shstrndx = bytes.readUInt16LE(is64 ? 62 : 50);
  const inFile = (offset: number, size: number) => offset >= 0 && size >= 0 && offset + size <= bytes.length;
  if (!inFile(phoff, phentsize * phnum) || !inFile(shoff, shentsize * shnum))
    return refuse('xc_dom_find_loader: no loader found');

  const notes: Note[] = [];
  for (let index = 0; index < phnum; index++) {
    const at = phoff + index * phentsize;
    if (bytes.readUInt32LE(at) !== PT_NOTE) continue;
    const offset = word(at + (is64 ? 8 : 4));
    const size = word(at + (is64 ? 32 : 16));
    if (inFile(offset, size)) notes.push(...notesIn(bytes, offset, size).filter((note) => note.name === 'Xen'));
  }
  const sections = Array.from({ length: shnum }, (_, index) => {
    const at = shoff + index * shentsize;
    return {
      name: bytes.readUInt32LE(at),
      type: bytes.readUInt32LE(at + 4),
      offset: word(at + (is64 ? 24 : 16)),
      size: word(at + (is64 ? 32 : 20)),
    };
  });
  if (notes.length === 0) {
    for (const section of sections)
      if (section.type === SHT_NOTE && inFile(section.offset, section.size))
        notes.push(...notesIn(bytes, section.offset, section.size).filter((note) => note.name === 'Xen'));
  }
  let guestOs: string | undefined;
  let loader: string | undefined;
  let xenVersion: string | undefined;
  for (const note of notes) {
    if (note.type === XEN_NOTE_GUEST_OS) guestOs = text(note.desc);
    if (note.type === XEN_NOTE_LOADER) loader = text(note.desc);
    if (note.type === XEN_NOTE_XEN_VERSION) xenVersion = text(note.desc);
  }
  if (notes.length === 0) {
    const names = sections[shstrndx];
    const legacy =
      names && inFile(names.offset, names.size)
        ? sections.find(
            (section) =>
              bytes.toString('latin1', names.offset + section.name, names.offset + section.name + 12) ===
              '__xen_guest\0',
          )
        : undefined;
    if (!legacy || !inFile(legacy.offset, legacy.size))
      return refuse("elf_xen_parse: ERROR: Not a Xen-ELF image: No ELF notes or '__xen_guest' section found");
    const fields = new Map(
      text(bytes.subarray(legacy.offset, legacy.offset + legacy.size))
        .split(',')
        .map((pair) => pair.split('=') as [string, string]),
    );
    guestOs = fields.get('GUEST_OS');
    loader = fields.get('LOADER');
    xenVersion = fields.get('XEN_VER');
  }
  if (loader !== 'generic' && guestOs !== 'linux')
    return refuse(
      `elf_xen_note_check: ERROR: Will only load images built for the generic loader or Linux images (Not '${loader ?? ''}' and '${guestOs ?? ''}')`,
    );
  if (xenVersion !== 'xen-3.0')
    return refuse(
      `elf_xen_note_check: ERROR: Xen will only load images built for Xen v3.0 (Not '${xenVersion ?? ''}')`,
    );
  const kernelWidth = is64 ? 'x86_64' : 'i386';
  if (kernelWidth !== architecture) {
    const guestType = is64 ? 'xen-3.0-x86_64' : 'xen-3.0-x86_32p';
    return refuse(`xc_dom_compat_check: guest type ${guestType} not supported by xen kernel, sorry`);
  }
  return { ok: true, lines: [] };
}
