/** The ext2 superblock fields a build checks after mke2fs ran (it lives at byte 1024 of the image). Pure. */

export const SUPERBLOCK_OFFSET = 1024;
export const SUPERBLOCK_SIZE = 1024;
export const EXT2_MAGIC = 0xef53;

export interface Superblock {
  inodesCount: number;
  blocksCount: number;
  blockSize: number;
  inodeSize: number;
  creatorOs: number;
  featureCompat: number;
  featureIncompat: number;
  featureRoCompat: number;
  uuid: string;
  hashSeed: string;
  label: string;
  writeTime: number;
  mkfsTime: number;
}

export function formatUuid(bytes: Buffer): string {
  const text = bytes.toString('hex');
  return `${text.slice(0, 8)}-${text.slice(8, 12)}-${text.slice(12, 16)}-${text.slice(16, 20)}-${text.slice(20, 32)}`;
}

/** Parses the 1024 bytes of a superblock; throws if the ext2 magic number is not there. */
export function parseSuperblock(bytes: Buffer): Superblock {
  if (bytes.length < SUPERBLOCK_SIZE || bytes.readUInt16LE(56) !== EXT2_MAGIC) {
    throw new Error('no ext2 superblock (magic 0xef53 at byte 1080)');
  }
  const labelBytes = bytes.subarray(120, 136);
  const nul = labelBytes.indexOf(0);
  return {
    inodesCount: bytes.readUInt32LE(0),
    blocksCount: bytes.readUInt32LE(4),
    blockSize: 1024 * 2 ** bytes.readUInt32LE(24),
    writeTime: bytes.readUInt32LE(48),
    creatorOs: bytes.readUInt32LE(72),
    inodeSize: bytes.readUInt16LE(88),
    featureCompat: bytes.readUInt32LE(92),
    featureIncompat: bytes.readUInt32LE(96),
    featureRoCompat: bytes.readUInt32LE(100),
    uuid: formatUuid(bytes.subarray(104, 120)),
    label: labelBytes.subarray(0, nul < 0 ? 16 : nul).toString('latin1'),
    hashSeed: formatUuid(bytes.subarray(236, 252)),
    mkfsTime: bytes.readUInt32LE(264),
  };
}
