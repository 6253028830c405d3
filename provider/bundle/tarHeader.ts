/**
 * Old-GNU tar headers, encoded exactly as GNU tar 1.34 writes them for `tar -c -h -S --owner 0
 * --group 0` (regular `0` and sparse `S` members), and decoded strictly.
 *
 * Written by hand because no maintained tar library emits old-GNU sparse members or the exact
 * GNU field formatting (7-digit modes, `NNNNNN\0 ` checksums, base-256 sizes) that makes our
 * stream byte-identical to GNU tar's.
 */
import { BundleIntegrityError } from './errors';
import { TAR_BLOCK_SIZE } from './constants';

/** A run of stored bytes of a sparse file: `length` bytes at `offset` of the restored file. */
export interface DataRegion {
  offset: number;
  length: number;
}

export interface SparseLayout {
  /** The full size of the restored file. */
  realSize: number;
  /** Data regions in file order; everything else is zeros. */
  regions: DataRegion[];
}

export interface TarEntry {
  name: string;
  /** Permission bits, e.g. 0o644. */
  mode: number;
  /** Seconds since the epoch. */
  mtime: number;
  /** Present for a GNU sparse (`S`) member; a plain (`0`) member stores the whole file. */
  sparse?: SparseLayout;
  /** For a plain member, the file size. Ignored for sparse members (derived from the regions). */
  size: number;
}

const OLD_GNU_MAGIC = Buffer.from('ustar  \0', 'latin1');
const USTAR_MAGIC = Buffer.from('ustar\u000000', 'latin1');
const HEADER_SPARSE_SLOTS = 4;
const EXTENSION_SPARSE_SLOTS = 21;
const SPARSE_SLOT_SIZE = 24;
const MAX_NAME_BYTES = 99;

const FIELD = {
  name: [0, 100],
  mode: [100, 8],
  uid: [108, 8],
  gid: [116, 8],
  size: [124, 12],
  mtime: [136, 12],
  checksum: [148, 8],
  typeflag: [156, 1],
  linkname: [157, 100],
  magic: [257, 8],
  uname: [265, 32],
  gname: [297, 32],
  ustarPrefix: [345, 155],
  sparse: [386, HEADER_SPARSE_SLOTS * SPARSE_SLOT_SIZE],
  isExtended: [482, 1],
  realSize: [483, 12],
} as const satisfies Record<string, readonly [number, number]>;

/** Bytes of stored data of a sparse layout (the member's `size` field). */
export function storedSize(layout: SparseLayout): number {
  return layout.regions.reduce((sum, region) => sum + region.length, 0);
}

/**
 * GNU numeric field: octal with width-1 digits and a NUL; values that do not fit use GNU's
 * base-256 form (0x80, then the value big-endian in the remaining bytes).
 */
export function encodeNumber(value: number, width: number): Buffer {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`tar numeric field cannot hold ${value}`);
  }
  const field = Buffer.alloc(width);
  const digits = width - 1;
  if (value < 8 ** digits) {
    field.write(value.toString(8).padStart(digits, '0'), 0, 'latin1');
    return field;
  }
  field[0] = 0x80;
  let rest = BigInt(value);
  for (let i = width - 1; i >= 1; i--) {
    field[i] = Number(rest & 0xffn);
    rest >>= 8n;
  }
  return field;
}

export function decodeNumber(field: Buffer, what: string): number {
  return decodeNumberAt(field, 0, field.length, what);
}

/** decodeNumber of the `width` bytes of `block` at `start`, without making a Buffer of them. */
function decodeNumberAt(block: Buffer, start: number, width: number, what: string): number {
  const end = start + width;
  if (block[start] & 0x80) {
    if (block[start] !== 0x80) {
      throw new BundleIntegrityError('tar-header', `tar ${what} field is negative or oversized`);
    }
    let value = 0n;
    for (let i = start + 1; i < end; i++) value = (value << 8n) | BigInt(block[i]);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new BundleIntegrityError('tar-header', `tar ${what} field is too large`);
    }
    return Number(value);
  }
  // Octal digits, with leading spaces and trailing NULs or spaces: read byte by byte, as a sparse
  // map has millions of these fields.
  let at = start;
  while (at < end && block[at] === 0x20) at++;
  let value = 0;
  for (; at < end && block[at] >= 0x30 && block[at] <= 0x37; at++) value = value * 8 + block[at] - 0x30;
  for (; at < end; at++) {
    if (block[at] !== 0 && block[at] !== 0x20) {
      const text = block
        .toString('latin1', start, end)
        .replace(/[\0 ]+$/, '')
        .replace(/^ +/, '');
      throw new BundleIntegrityError('tar-header', `tar ${what} field is not a number: ${JSON.stringify(text)}`);
    }
  }
  return value;
}

function put(block: Buffer, [offset, width]: readonly [number, number], bytes: Buffer | string): void {
  const source = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes;
  if (source.length > width) throw new RangeError(`tar field at ${offset} overflows`);
  source.copy(block, offset);
}

function encodeSparseSlots(block: Buffer, at: number, regions: DataRegion[]): void {
  regions.forEach((region, i) => {
    const slot = at + i * SPARSE_SLOT_SIZE;
    encodeNumber(region.offset, 12).copy(block, slot);
    encodeNumber(region.length, 12).copy(block, slot + 12);
  });
}

function checksumOf(block: Buffer): number {
  let sum = 0;
  for (let i = 0; i < TAR_BLOCK_SIZE; i++) {
    const inField = i >= FIELD.checksum[0] && i < FIELD.checksum[0] + FIELD.checksum[1];
    sum += inField ? 0x20 : block[i];
  }
  return sum;
}

/** The sparse map as GNU tar writes it: the data regions, then always a zero-length entry at realSize. */
function sparseMapEntries(layout: SparseLayout): DataRegion[] {
  return [...layout.regions, { offset: layout.realSize, length: 0 }];
}

export function validateMemberName(name: string): string | undefined {
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes === 0) return 'is empty';
  if (bytes > MAX_NAME_BYTES) return `is ${bytes} bytes long; tar names must be under 100 bytes`;
  if (name.includes('/') || name.includes('\\')) return 'contains a path separator';
  if (name === '.' || name === '..') return 'is a relative directory name';
  if (name.includes('\0')) return 'contains a NUL byte';
  return undefined;
}

/** The header block(s) of one member: a 512-byte header plus any sparse extension blocks. */
export function encodeHeader(entry: TarEntry): Buffer {
  const problem = validateMemberName(entry.name);
  if (problem) throw new RangeError(`tar member name ${JSON.stringify(entry.name)} ${problem}`);
  const header = Buffer.alloc(TAR_BLOCK_SIZE);
  put(header, FIELD.name, Buffer.from(entry.name, 'utf8'));
  put(header, FIELD.mode, encodeNumber(entry.mode & 0o7777, 8));
  put(header, FIELD.uid, encodeNumber(0, 8));
  put(header, FIELD.gid, encodeNumber(0, 8));
  put(header, FIELD.mtime, encodeNumber(entry.mtime, 12));
  put(header, FIELD.magic, OLD_GNU_MAGIC);
  put(header, FIELD.uname, 'root');
  put(header, FIELD.gname, 'root');

  const extensions: Buffer[] = [];
  if (entry.sparse) {
    put(header, FIELD.size, encodeNumber(storedSize(entry.sparse), 12));
    put(header, FIELD.typeflag, 'S');
    put(header, FIELD.realSize, encodeNumber(entry.sparse.realSize, 12));
    const entries = sparseMapEntries(entry.sparse);
    encodeSparseSlots(header, FIELD.sparse[0], entries.slice(0, HEADER_SPARSE_SLOTS));
    for (let at = HEADER_SPARSE_SLOTS; at < entries.length; at += EXTENSION_SPARSE_SLOTS) {
      const extension = Buffer.alloc(TAR_BLOCK_SIZE);
      encodeSparseSlots(extension, 0, entries.slice(at, at + EXTENSION_SPARSE_SLOTS));
      extension[EXTENSION_SPARSE_SLOTS * SPARSE_SLOT_SIZE] = at + EXTENSION_SPARSE_SLOTS < entries.length ? 1 : 0;
      extensions.push(extension);
    }
    header[FIELD.isExtended[0]] = extensions.length > 0 ? 1 : 0;
  } else {
    put(header, FIELD.size, encodeNumber(entry.size, 12));
    put(header, FIELD.typeflag, '0');
  }
  const checksum = checksumOf(header);
  put(header, FIELD.checksum, `${checksum.toString(8).padStart(6, '0')}\0 `);
  return Buffer.concat([header, ...extensions]);
}

export type MemberKind = 'file' | 'sparse';

/** What a header block says, before its sparse extension blocks (if any) have been read. */
export interface DecodedHeader {
  name: string;
  mode: number;
  mtime: number;
  kind: MemberKind;
  /** Stored data bytes that follow the header (and extension blocks). */
  size: number;
  realSize: number;
  /** Sparse map entries found so far, terminator entries included. */
  sparseEntries: DataRegion[];
  hasExtension: boolean;
}

const TYPE_NAMES: Record<string, string> = {
  '1': 'a hard link',
  '2': 'a symbolic link',
  '3': 'a character device',
  '4': 'a block device',
  '5': 'a directory',
  '6': 'a FIFO',
  '7': 'a contiguous file',
  L: 'a GNU long-name record',
  K: 'a GNU long-link record',
  x: 'a pax extended header',
  g: 'a pax global header',
  D: 'a GNU dump directory',
  M: 'a GNU multi-volume continuation',
  V: 'a GNU volume label',
};

export function isZeroBlock(block: Buffer): boolean {
  for (let i = 0; i < block.length; i++) if (block[i] !== 0) return false;
  return true;
}

function readSparseSlots(block: Buffer, at: number, count: number): DataRegion[] {
  const regions: DataRegion[] = [];
  visitSparseSlots(block, at, count, (offset, length) => regions.push({ offset, length }));
  return regions;
}

/** Hands each filled slot's offset and length to `visit`, making no object: a map may have millions. */
function visitSparseSlots(
  block: Buffer,
  at: number,
  count: number,
  visit: (offset: number, length: number) => void,
): void {
  for (let i = 0; i < count; i++) {
    const slot = at + i * SPARSE_SLOT_SIZE;
    if (block[slot] === 0) break;
    visit(decodeNumberAt(block, slot, 12, 'sparse offset'), decodeNumberAt(block, slot + 12, 12, 'sparse length'));
  }
}

function cString(field: Buffer): string {
  const end = field.indexOf(0);
  return field.subarray(0, end === -1 ? field.length : end).toString('utf8');
}

/** Decodes and checks a member header; refuses anything but one regular or GNU sparse file. */
export function decodeHeader(block: Buffer): DecodedHeader {
  const slice = ([offset, width]: readonly [number, number]) => block.subarray(offset, offset + width);
  const magic = slice(FIELD.magic);
  const isOldGnu = magic.equals(OLD_GNU_MAGIC);
  if (!isOldGnu && !magic.subarray(0, 6).equals(USTAR_MAGIC.subarray(0, 6))) {
    throw new BundleIntegrityError(
      'tar-header',
      'the bundle does not hold a tar archive (no ustar magic in the first header)',
    );
  }
  const recorded = decodeNumber(slice(FIELD.checksum), 'checksum');
  if (recorded !== checksumOf(block)) {
    throw new BundleIntegrityError('tar-header', 'the tar header checksum is wrong: the archive is corrupt');
  }
  const typeflag = String.fromCharCode(block[FIELD.typeflag[0]]);
  if (typeflag !== '0' && typeflag !== '\0' && typeflag !== 'S') {
    const what = TYPE_NAMES[typeflag] ?? `an entry of unknown type ${JSON.stringify(typeflag)}`;
    throw new BundleIntegrityError(
      'tar-member-type',
      `the tar member is ${what}; a bundle must hold exactly one regular file`,
    );
  }
  let name = cString(slice(FIELD.name));
  if (!isOldGnu) {
    const prefix = cString(slice(FIELD.ustarPrefix));
    if (prefix) name = `${prefix}/${name}`;
  }
  const problem = validateMemberName(name);
  if (problem) {
    throw new BundleIntegrityError(
      'tar-member-name',
      `the tar member name ${JSON.stringify(name)} ${problem}; refusing to write it`,
    );
  }
  const size = decodeNumber(slice(FIELD.size), 'size');
  const header: DecodedHeader = {
    name,
    mode: decodeNumber(slice(FIELD.mode), 'mode') & 0o7777,
    mtime: decodeNumber(slice(FIELD.mtime), 'mtime'),
    kind: typeflag === 'S' ? 'sparse' : 'file',
    size,
    realSize: size,
    sparseEntries: [],
    hasExtension: false,
  };
  if (header.kind === 'sparse') {
    if (!isOldGnu) {
      throw new BundleIntegrityError('tar-member-type', 'the tar member is sparse but not in old-GNU format');
    }
    header.realSize = decodeNumber(slice(FIELD.realSize), 'realsize');
    header.sparseEntries = readSparseSlots(block, FIELD.sparse[0], HEADER_SPARSE_SLOTS);
    header.hasExtension = block[FIELD.isExtended[0]] === 1;
  }
  return header;
}

/** Hands the entries of one sparse extension block to `visit`; returns whether another block follows. */
export function visitSparseExtension(block: Buffer, visit: (offset: number, length: number) => void): boolean {
  visitSparseSlots(block, 0, EXTENSION_SPARSE_SLOTS, visit);
  return block[EXTENSION_SPARSE_SLOTS * SPARSE_SLOT_SIZE] === 1;
}

/** Reads one sparse extension block: its entries and whether another block follows. */
export function decodeSparseExtension(block: Buffer): { entries: DataRegion[]; hasExtension: boolean } {
  return {
    entries: readSparseSlots(block, 0, EXTENSION_SPARSE_SLOTS),
    hasExtension: block[EXTENSION_SPARSE_SLOTS * SPARSE_SLOT_SIZE] === 1,
  };
}

/** Zero bytes needed after `length` bytes to reach a multiple of `unit`. */
export function paddingAfter(length: number, unit: number): number {
  const rest = length % unit;
  return rest === 0 ? 0 : unit - rest;
}
