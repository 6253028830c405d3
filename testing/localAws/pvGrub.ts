/**
 * What Amazon's PV-GRUB (GRUB legacy 0.97 built as a Xen PV stub domain) does with an instance-store
 * image, and the console lines it writes: it reads `/boot/grub/menu.lst` from the whole disk (the
 * `hd0` AKIs) or its first partition (`hd00`), boots the default entry, and hands the kernel to Xen's
 * domain builder. GRUB's own errors (`Error 15: File not found`, …) and the builder's refusals are
 * written as they appear on an EC2 console; then, once the kernel is accepted, the kernel's output.
 * Pure: a disk reader in, lines out.
 */
import { createHash } from 'crypto';
import { DiskReader, Ext2Error, Ext2Reader } from './ext2Reader';
import { checkXenKernel, uncompressedKernel } from './xenLoader';

export interface PvGrubBoot {
  /** The console lines PV-GRUB (and Xen's builder) wrote. */
  lines: string[];
  /** The kernel Xen started (SHA-256 of its uncompressed bytes); absent when PV-GRUB stopped before. */
  kernelSha256?: string;
}

const BANNER = ['Xen Minimal OS!', '', '    GNU GRUB  version 0.97  (1740800K lower / 0K upper memory)', ''];
const PROMPT = [
  '       [ Minimal BASH-like line editing is supported.   For',
  '         the   first   word,  TAB  lists  possible  command',
  '         completions.  Anywhere else TAB lists the possible',
  '         completions of a device/filename. ]',
  '',
  'grubdom> ',
];

interface MenuEntry {
  title: string;
  commands: string[];
}

interface Menu {
  defaultEntry: number;
  entries: MenuEntry[];
}

export function parseMenu(text: string): Menu {
  const menu: Menu = { defaultEntry: 0, entries: [] };
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const [command, ...rest] = line.split(/[\s=]+/);
    const argument = line.slice(command.length).replace(/^[\s=]+/, '');
    if (command === 'title') menu.entries.push({ title: argument, commands: [] });
    else if (menu.entries.length > 0) menu.entries[menu.entries.length - 1].commands.push(line);
    else if (command === 'default' && /^\d+$/.test(rest[0] ?? '')) menu.defaultEntry = Number(rest[0]);
  }
  return menu;
}

/** PV-GRUB's work: `disk` is the image as EC2 restored it from the bundle; `aki` the kernel image's name. */
export function bootWithPvGrub(disk: DiskReader, akiName: string, architecture: string): PvGrubBoot {
  const wantsPartition = /hd00/.test(akiName);
  let fileSystem: Ext2Reader | undefined;
  try {
    fileSystem = new Ext2Reader(disk);
  } catch (error) {
    if (!(error instanceof Ext2Error)) throw error;
  }
  let menuText: string | undefined;
  // The hd00 AKIs look in (hd0,0); a bundle's image is a file system without a partition table.
  if (fileSystem && !wantsPartition) {
    try {
      menuText = fileSystem.readFile('/boot/grub/menu.lst').toString('latin1');
    } catch (error) {
      if (!(error instanceof Ext2Error)) throw error;
    }
  }
  if (menuText === undefined || !fileSystem) return { lines: [...BANNER, ...PROMPT] };
  const menu = parseMenu(menuText);
  const entry = menu.entries[menu.defaultEntry] ?? menu.entries[0];
  if (!entry) return { lines: [...BANNER, ...PROMPT] };
  const lines = [...BANNER, `    Booting '${entry.title}'`, ''];
  const fail = (error: string) => ({ lines: [...lines, '', error, '', 'Press any key to continue...'] });
  let rootSet = false;
  let kernel: Buffer | undefined;
  for (const commandLine of entry.commands) {
    const [command, argument = ''] = commandLine.split(/\s+/, 2);
    lines.push(commandLine);
    if (command === 'root') {
      if (argument === '(hd0)') {
        lines.push(' Filesystem type is ext2fs, using whole disk');
        rootSet = true;
      } else if (/^\(hd0,\d+\)$/.test(argument)) return fail('Error 22: No such partition');
      else if (/^\(hd\d+(,\d+)?\)$/.test(argument)) return fail('Error 21: Selected disk does not exist');
      else return fail('Error 11: Unrecognized device string');
    } else if (command === 'kernel') {
      if (!argument.startsWith('/')) return fail('Error 1: Filename must be either an absolute pathname or blocklist');
      if (!rootSet) return fail('Error 12: Invalid device requested');
      try {
        kernel = fileSystem.readFile(argument);
      } catch (error) {
        if (!(error instanceof Ext2Error)) throw error;
        return fail(error.problem === 'not-found' ? 'Error 15: File not found' : 'Error 2: Bad file or directory type');
      }
    }
  }
  if (!kernel) return fail('Error 8: Kernel must be loaded before booting');
  const verdict = checkXenKernel(kernel, architecture);
  if (!verdict.ok) return { lines: [...lines, ...verdict.lines] };
  const kernelSha256 = createHash('sha256').update(uncompressedKernel(kernel)).digest('hex');
  return { lines, kernelSha256 };
}
