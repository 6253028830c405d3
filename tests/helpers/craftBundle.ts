/**
 * Hand-made bundles for hostile-input tests: raw tar archives (any member type, name or size),
 * gzipped, AES-128-CBC encrypted with a chosen key and IV, cut into parts, and described by a
 * properly sealed and signed manifest, so that the only thing wrong with a bundle is what a test
 * puts into it. Everything is built here by hand, except the manifest serialization and the RSA
 * operations, which use the exported functions of provider/bundle.
 */
import { createCipheriv, createHash, randomBytes } from 'crypto';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'fs';
import * as path from 'path';
import { gzipSync } from 'zlib';
import { Certificate, PrivateKey, readCertificate, readPrivateKey, seal, sign } from '../../provider/bundle/keys';
import { Manifest, renderManifest, signedTextOf, UnsignedManifest } from '../../provider/bundle/manifest';
import { parseManifest } from '../../provider/bundle/manifestParse';

const BLOCK = 512;
const RECORD = 20 * BLOCK;

export interface RawMember {
  name: string;
  /** The typeflag character: '0' regular (default), '1' hard link, '2' symlink, '3'/'4' devices, '5' directory... */
  typeflag?: string;
  /** The member's data; written after the header, padded to 512 bytes. */
  data?: Buffer;
  /** The size field of the header; defaults to the data length. */
  sizeField?: number;
  linkname?: string;
  mode?: number;
  /** `gnu` (old-GNU magic `ustar  \0`, what GNU tar writes) or `ustar` (POSIX, with a name prefix field). */
  format?: 'gnu' | 'ustar';
  /** POSIX ustar name prefix (only with format `ustar`). */
  prefix?: string;
  /** Spoils the header checksum. */
  badChecksum?: boolean;
}

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, '0') + '\0';
}

/** One 512-byte tar header, fields laid out by hand. */
export function tarHeaderBlock(member: RawMember): Buffer {
  const block = Buffer.alloc(BLOCK);
  const put = (offset: number, width: number, value: string) => {
    const bytes = Buffer.from(value, 'utf8');
    if (bytes.length > width) throw new RangeError(`tar field at ${offset} overflows`);
    bytes.copy(block, offset);
  };
  put(0, 100, member.name);
  put(100, 8, octal(member.mode ?? 0o644, 8));
  put(108, 8, octal(0, 8));
  put(116, 8, octal(0, 8));
  put(124, 12, octal(member.sizeField ?? member.data?.length ?? 0, 12));
  put(136, 12, octal(1_700_000_000, 12));
  put(156, 1, member.typeflag ?? '0');
  put(157, 100, member.linkname ?? '');
  if (member.format === 'ustar') {
    put(257, 8, 'ustar\u000000');
    put(345, 155, member.prefix ?? '');
  } else {
    put(257, 8, 'ustar  \0');
  }
  put(265, 32, 'root');
  put(297, 32, 'root');
  if (member.typeflag === '3' || member.typeflag === '4') {
    put(329, 8, octal(1, 8));
    put(337, 8, octal(3, 8));
  }
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i];
  if (member.badChecksum) sum += 1;
  put(148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  return block;
}

function padTo(length: number, unit: number): Buffer {
  return Buffer.alloc((unit - (length % unit)) % unit);
}

export interface ArchiveOptions {
  /** Append the two zero blocks and pad to 10,240 bytes, as GNU tar does (default true). */
  end?: boolean;
}

/** A tar archive of the members, laid out as GNU tar lays out its archives. */
export function tarArchive(members: RawMember[], options: ArchiveOptions = {}): Buffer {
  const pieces: Buffer[] = [];
  let length = 0;
  const push = (piece: Buffer) => {
    pieces.push(piece);
    length += piece.length;
  };
  for (const member of members) {
    push(tarHeaderBlock(member));
    if (member.data && member.data.length > 0) {
      push(member.data);
      push(padTo(member.data.length, BLOCK));
    }
  }
  if (options.end !== false) {
    push(Buffer.alloc(2 * BLOCK));
    push(padTo(length, RECORD));
  }
  return Buffer.concat(pieces);
}

/** Deterministic pseudo-random bytes (SHA-256 in counter mode), so bundles can be reproduced. */
export function pseudoRandomBytes(length: number, seed = 'hostile'): Buffer {
  const out = Buffer.alloc(length);
  for (let offset = 0, counter = 0; offset < length; counter++) {
    const block = createHash('sha256').update(`${seed}:${counter}`).digest();
    offset += block.copy(out, offset);
  }
  return out;
}

export interface CraftKeys {
  /** Signs the manifest; a forger without it leaves the signature to the caller. */
  privateKey?: PrivateKey;
  userCertificate: Certificate;
  ec2Certificate: Certificate;
}

export function craftKeys(pem: { privateKey?: string; userCertificate: string; ec2Certificate: string }): CraftKeys {
  return {
    privateKey: pem.privateKey === undefined ? undefined : readPrivateKey(pem.privateKey, 'privateKey'),
    userCertificate: readCertificate(pem.userCertificate, 'userCertificate'),
    ec2Certificate: readCertificate(pem.ec2Certificate, 'ec2Certificate'),
  };
}

export interface CraftOptions {
  directory: string;
  /** The bundle name (manifest image/name, part and manifest file names). */
  name: string;
  /** The uncompressed tar stream to bundle, exactly as given. */
  tar: Buffer;
  /** The manifest's image/size. */
  imageSize: number;
  keys: CraftKeys;
  keyHex?: string;
  ivHex?: string;
  /** Bytes appended after the gzip stream, before encryption. */
  gzipTrailer?: Buffer;
  partSize?: number;
  /** Last-minute changes to the manifest before it is signed (the signature covers them). */
  edit?: (manifest: UnsignedManifest) => void;
}

export interface CraftedBundle {
  directory: string;
  manifestPath: string;
  manifest: Manifest;
  partPaths: string[];
  keyHex: string;
  ivHex: string;
  /** SHA-1 of the tar stream. */
  digest: string;
}

export function sha1(data: Buffer | string): string {
  return createHash('sha1').update(data).digest('hex');
}

/** The canonical manifest text, signed over its signed text with `privateKey` (or with the signature given). */
export function signedManifestXml(
  unsigned: UnsignedManifest,
  privateKey: PrivateKey | undefined,
  signature?: string,
): Manifest {
  return { ...unsigned, signature: signature ?? (privateKey ? sign(privateKey, signedTextOf(unsigned)) : '00') };
}

/** Writes a complete bundle around `tar`: gzip, AES-128-CBC, parts, sealed key and IV, signed manifest. */
export function writeCraftedBundle(options: CraftOptions): CraftedBundle {
  mkdirSync(options.directory, { recursive: true });
  const keyHex = options.keyHex ?? randomBytes(16).toString('hex');
  const ivHex = options.ivHex ?? randomBytes(16).toString('hex');
  const gzipped = Buffer.concat([gzipSync(options.tar, { level: 9 }), options.gzipTrailer ?? Buffer.alloc(0)]);
  const cipher = createCipheriv('aes-128-cbc', Buffer.from(keyHex, 'hex'), Buffer.from(ivHex, 'hex'));
  const encrypted = Buffer.concat([cipher.update(gzipped), cipher.final()]);
  const partSize = options.partSize ?? 10 * 1024 * 1024;
  const count = Math.ceil(encrypted.length / partSize);
  const parts = [];
  const partPaths: string[] = [];
  for (let index = 0; index < count; index++) {
    const bytes = encrypted.subarray(index * partSize, (index + 1) * partSize);
    const filename = `${options.name}.part.${String(index).padStart(String(count).length, '0')}`;
    const partPath = path.join(options.directory, filename);
    writeFileSync(partPath, bytes);
    partPaths.push(partPath);
    parts.push({ index, filename, digest: sha1(bytes) });
  }
  const { keys } = options;
  const digest = sha1(options.tar);
  const unsigned: UnsignedManifest = {
    version: '2007-10-10',
    bundler: { name: 'hostile-tests', version: '0.1', release: '0' },
    machineConfiguration: { architecture: 'x86_64' },
    image: {
      name: options.name,
      user: '123456789012',
      type: 'machine',
      digest,
      size: options.imageSize,
      bundledSize: encrypted.length,
      ec2EncryptedKey: seal(keys.ec2Certificate, keyHex),
      userEncryptedKey: seal(keys.userCertificate, keyHex),
      ec2EncryptedIv: seal(keys.ec2Certificate, ivHex),
      userEncryptedIv: seal(keys.userCertificate, ivHex),
      parts,
    },
  };
  options.edit?.(unsigned);
  const manifest = signedManifestXml(unsigned, keys.privateKey);
  const manifestPath = path.join(options.directory, `${options.name}.manifest.xml`);
  writeFileSync(manifestPath, renderManifest(manifest));
  return { directory: options.directory, manifestPath, manifest, partPaths, keyHex, ivHex, digest };
}

/** Copies every file of a bundle folder into a new folder (created), returning the new folder. */
export function copyBundle(from: string, to: string): string {
  mkdirSync(to, { recursive: true });
  for (const entry of readdirSync(from)) copyFileSync(path.join(from, entry), path.join(to, entry));
  return to;
}

/** The parsed manifest without its signature, for re-signing after an edit. */
export function readUnsignedManifest(manifestPath: string): UnsignedManifest {
  const { manifest } = parseManifest(readFileSync(manifestPath, 'utf8'));
  const { signature: _signature, ...unsigned } = manifest;
  return unsigned;
}

/** Edits a manifest's content and signs it again properly, so only the edited field is wrong. */
export function resignManifest(
  manifestPath: string,
  privateKey: PrivateKey,
  edit: (manifest: UnsignedManifest) => void,
): Manifest {
  const unsigned = readUnsignedManifest(manifestPath);
  edit(unsigned);
  const manifest = signedManifestXml(unsigned, privateKey);
  writeFileSync(manifestPath, renderManifest(manifest));
  return manifest;
}

/** Every entry of a folder, hidden ones included, sorted. */
export function listFolder(dir: string): string[] {
  return readdirSync(dir).sort();
}

export interface SparseMapOptions {
  name: string;
  /** The restored file's size (header field realsize). */
  realSize: number;
  /** How many map entries to write (header slots first, then 21 a block in extension blocks). */
  entryCount: number;
  /** Entry `i` of the map. */
  entry: (index: number) => { offset: number; length: number };
  /** The member's size field (the stored data bytes); defaults to the sum of the entries' lengths. */
  storedSize?: number;
}

/**
 * The header and extension blocks of an old-GNU sparse (`S`) member with any map, laid out by hand
 * as GNU tar lays it out: 4 slots in the header, 21 in each extension block, a flag byte after them
 * saying whether another block follows. The data blocks are the caller's.
 */
export function gnuSparseHeaderBlocks(options: SparseMapOptions): Buffer {
  // 11 octal digits up to 8 GiB, then GNU tar's base-256: 0x80 and the value big-endian in 11 bytes.
  const number12 = (target: Buffer, at: number, value: number) => {
    if (value < 8 ** 11) {
      target.write(octal(value, 12), at, 'latin1');
      return;
    }
    target.fill(0, at, at + 12);
    target[at] = 0x80;
    target.writeBigUInt64BE(BigInt(value), at + 4);
  };
  const slot = (target: Buffer, at: number, index: number) => {
    const { offset, length } = options.entry(index);
    number12(target, at, offset);
    number12(target, at + 12, length);
  };
  let stored = options.storedSize;
  if (stored === undefined) {
    stored = 0;
    for (let index = 0; index < options.entryCount; index++) stored += options.entry(index).length;
  }
  const header = tarHeaderBlock({ name: options.name, typeflag: 'S', sizeField: stored });
  const headerSlots = Math.min(4, options.entryCount);
  for (let index = 0; index < headerSlots; index++) slot(header, 386 + index * 24, index);
  header[482] = options.entryCount > 4 ? 1 : 0;
  number12(header, 483, options.realSize);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i];
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  const extensionCount = Math.ceil(Math.max(0, options.entryCount - 4) / 21);
  const blocks = Buffer.alloc((1 + extensionCount) * BLOCK);
  header.copy(blocks, 0);
  for (let block = 0; block < extensionCount; block++) {
    const at = (1 + block) * BLOCK;
    for (let s = 0; s < 21; s++) {
      const index = 4 + block * 21 + s;
      if (index >= options.entryCount) break;
      slot(blocks, at + s * 24, index);
    }
    blocks[at + 504] = block + 1 < extensionCount ? 1 : 0;
  }
  return blocks;
}
