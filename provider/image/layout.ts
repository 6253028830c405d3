/**
 * What goes inside the image, as data: the file names, the GRUB legacy `menu.lst` that Amazon's PV-GRUB
 * "hd0" kernel reads, the checks on the text users put into it, and the fixed identities (UUID, hash
 * seed, timestamp) that make two builds of the same kernel the same bytes. Pure.
 */
import { createHash } from 'crypto';
import * as path from 'path';
import { ImageInputError } from './errors';

/** Where PV-GRUB looks: (hd0) is the whole disk, no partition table; GRUB legacy reads /boot/grub/menu.lst. */
export const BOOT_DIRECTORY = 'boot';
export const GRUB_DIRECTORY = 'boot/grub';
export const MENU_LST = 'boot/grub/menu.lst';

/** Every timestamp in the image: 2000-01-01T00:00:00Z (not 0, which e2fsprogs reads as "use the clock"). */
export const IMAGE_TIMESTAMP = 946_684_800;
export const DEFAULT_LABEL = 'unikernel';
/** Xen's start_info holds at most 1024 bytes of command line, NUL included. */
export const MAX_CMDLINE_LENGTH = 1023;
const MAX_TITLE_LENGTH = 128;
const MAX_KERNEL_NAME_LENGTH = 200;

const PRINTABLE = /^[\x20-\x7e]*$/;

/** The gzipped kernel's name under /boot: the input's basename, reduced to characters GRUB reads safely. */
export function kernelFileName(kernelPath: string): string {
  const base = path
    .basename(kernelPath)
    .replace(/[^A-Za-z0-9._+-]/g, '_')
    .replace(/^\.+/, '')
    .slice(0, MAX_KERNEL_NAME_LENGTH);
  return `${base || 'kernel'}.gz`;
}

/** The kernel command line, as given; refuses what would break menu.lst or not fit in Xen's start_info. */
export function validateCmdline(cmdline: string | undefined): string {
  if (cmdline === undefined) return '';
  if (/[\r\n]/.test(cmdline)) {
    throw new ImageInputError(
      'cmdline',
      'holds a line break, which would end the kernel line of menu.lst: give the arguments on one line',
    );
  }
  if (!PRINTABLE.test(cmdline)) {
    throw new ImageInputError(
      'cmdline',
      'holds control or non-ASCII characters: PV-GRUB passes plain ASCII; give printable ASCII only',
    );
  }
  if (cmdline.length > MAX_CMDLINE_LENGTH) {
    throw new ImageInputError(
      'cmdline',
      `is ${cmdline.length} characters; Xen passes at most ${MAX_CMDLINE_LENGTH}: shorten it`,
    );
  }
  return cmdline.trim();
}

export function validateTitle(title: string): string {
  if (!PRINTABLE.test(title) || title.trim() === '' || title.length > MAX_TITLE_LENGTH) {
    throw new ImageInputError('title', `must be 1 to ${MAX_TITLE_LENGTH} printable ASCII characters on one line`);
  }
  return title.trim();
}

/** ext2 labels are at most 16 bytes; keep them to characters every tool prints the same way. */
export function validateLabel(label: string): string {
  if (!/^[A-Za-z0-9._-]{1,16}$/.test(label)) {
    throw new ImageInputError(
      'label',
      `"${label}" is not a valid label: give 1 to 16 letters, digits, dots, dashes or underscores`,
    );
  }
  return label;
}

export interface MenuOptions {
  title: string;
  /** The kernel file name under /boot, e.g. `mir-app.xen.gz`. */
  kernelFile: string;
  cmdline?: string;
  /** Seconds GRUB waits before booting the default entry; nobody watches an EC2 console, so 0. */
  timeoutSeconds?: number;
}

/** GRUB legacy's menu.lst: one entry, booted at once, from the whole disk (hd0) without a partition. */
export function menuLst(options: MenuOptions): string {
  const kernelLine = `kernel /${BOOT_DIRECTORY}/${options.kernelFile}${options.cmdline ? ` ${options.cmdline}` : ''}`;
  return [
    'default 0',
    `timeout ${options.timeoutSeconds ?? 0}`,
    '',
    `title ${options.title}`,
    '    root (hd0)',
    `    ${kernelLine}`,
    '',
  ].join('\n');
}

/**
 * A UUID derived from the kernel's SHA-256, so that builds are reproducible and different kernels get
 * different file systems. Formatted as an RFC 9562 version 8 (custom) UUID.
 */
export function derivedUuid(kernelSha256: string, purpose: 'uuid' | 'hash_seed'): string {
  const bytes = createHash('sha256')
    .update(`pulumi-unikernel ext2 ${purpose}\0${kernelSha256}`)
    .digest()
    .subarray(0, 16);
  bytes[6] = (bytes[6] & 0x0f) | 0x80;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hexText = bytes.toString('hex');
  return `${hexText.slice(0, 8)}-${hexText.slice(8, 12)}-${hexText.slice(12, 16)}-${hexText.slice(16, 20)}-${hexText.slice(20)}`;
}
