/**
 * Reads files out of an ext2 file system image, as GRUB legacy's ext2fs driver does for PV-GRUB:
 * the superblock, the group descriptors, inodes, and block maps (direct, single, double and triple
 * indirect). Written apart from the product's image builder, so that what the local AWS boots is
 * read by other code than the code that wrote it. Pure: a byte-access function in, file bytes out.
 */

const EXT2_MAGIC = 0xef53;
const ROOT_INODE = 2;
const EXTENTS_FLAG = 0x80000;
const MODE_TYPE = 0xf000;
const MODE_DIRECTORY = 0x4000;
const MODE_REGULAR = 0x8000;
/** Larger files are not read (a PV kernel and its menu are small). */
const MAX_FILE_BYTES = 512 * 1024 * 1024;

/** Reads `length` bytes at `offset` of the disk (zeros where nothing was written). */
export type DiskReader = (offset: number, length: number) => Buffer;

/** Why a file could not be read, in the terms GRUB legacy's errors use. */
export type Ext2Problem = 'not-ext2' | 'not-found' | 'not-a-file' | 'not-a-directory' | 'unreadable';

export class Ext2Error extends Error {
  constructor(
    readonly problem: Ext2Problem,
    message: string,
  ) {
    super(message);
    this.name = 'Ext2Error';
  }
}

interface Geometry {
  blockSize: number;
  inodesPerGroup: number;
  inodeSize: number;
  firstDataBlock: number;
  groupCount: number;
  incompatibleFeatures: number;
}

interface Inode {
  mode: number;
  size: number;
  flags: number;
  blocks: number[];
}

export class Ext2Reader {
  private readonly geometry: Geometry;

  constructor(private readonly read: DiskReader) {
    const superblock = read(1024, 1024);
    if (superblock.readUInt16LE(56) !== EXT2_MAGIC)
      throw new Ext2Error('not-ext2', 'no ext2 superblock (magic 0xef53) at byte 1080');
    const logBlockSize = superblock.readUInt32LE(24);
    const blocksPerGroup = superblock.readUInt32LE(32);
    const inodesPerGroup = superblock.readUInt32LE(40);
    if (logBlockSize > 6 || blocksPerGroup === 0 || inodesPerGroup === 0)
      throw new Ext2Error('not-ext2', 'the ext2 superblock is corrupt');
    const revision = superblock.readUInt32LE(76);
    const blocksCount = superblock.readUInt32LE(4);
    const firstDataBlock = superblock.readUInt32LE(20);
    this.geometry = {
      blockSize: 1024 << logBlockSize,
      inodesPerGroup,
      inodeSize: revision >= 1 ? superblock.readUInt16LE(88) : 128,
      firstDataBlock,
      groupCount: Math.ceil((blocksCount - firstDataBlock) / blocksPerGroup),
      incompatibleFeatures: revision >= 1 ? superblock.readUInt32LE(96) : 0,
    };
  }

  /** The bytes of the file at an absolute path (`/boot/grub/menu.lst`). */
  readFile(filePath: string): Buffer {
    const inode = this.inode(this.lookUp(filePath));
    if ((inode.mode & MODE_TYPE) !== MODE_REGULAR)
      throw new Ext2Error('not-a-file', `${filePath} is not a regular file`);
    return this.contents(inode, filePath);
  }

  private lookUp(filePath: string): number {
    const names = filePath.split('/').filter((name) => name !== '');
    let current = ROOT_INODE;
    let walked = '';
    for (const name of names) {
      const directory = this.inode(current);
      if ((directory.mode & MODE_TYPE) !== MODE_DIRECTORY)
        throw new Ext2Error('not-a-directory', `${walked || '/'} is not a directory`);
      const entries = this.directoryEntries(this.contents(directory, walked || '/'));
      const found = entries.get(name);
      walked = `${walked}/${name}`;
      if (found === undefined) throw new Ext2Error('not-found', `${walked} does not exist`);
      current = found;
    }
    return current;
  }

  private directoryEntries(data: Buffer): Map<string, number> {
    const entries = new Map<string, number>();
    const withFileType = (this.geometry.incompatibleFeatures & 0x2) !== 0;
    let at = 0;
    while (at + 8 <= data.length) {
      const inode = data.readUInt32LE(at);
      const recordLength = data.readUInt16LE(at + 4);
      const nameLength = withFileType ? data[at + 6] : data.readUInt16LE(at + 6);
      if (recordLength < 8 || at + 8 + nameLength > data.length) break;
      if (inode !== 0) entries.set(data.toString('latin1', at + 8, at + 8 + nameLength), inode);
      at += recordLength;
    }
    return entries;
  }

  private inode(number: number): Inode {
    const { inodesPerGroup, inodeSize, blockSize, firstDataBlock, groupCount } = this.geometry;
    const group = Math.floor((number - 1) / inodesPerGroup);
    if (number < 1 || group >= groupCount) throw new Ext2Error('unreadable', `inode ${number} does not exist`);
    const descriptor = this.read((firstDataBlock + 1) * blockSize + group * 32, 32);
    const table = descriptor.readUInt32LE(8);
    const raw = this.read(table * blockSize + ((number - 1) % inodesPerGroup) * inodeSize, 128);
    const blocks: number[] = [];
    for (let index = 0; index < 15; index++) blocks.push(raw.readUInt32LE(40 + index * 4));
    const mode = raw.readUInt16LE(0);
    const high = (mode & MODE_TYPE) === MODE_REGULAR ? raw.readUInt32LE(108) : 0;
    return { mode, size: raw.readUInt32LE(4) + high * 2 ** 32, flags: raw.readUInt32LE(32), blocks };
  }

  private contents(inode: Inode, filePath: string): Buffer {
    if (inode.flags & EXTENTS_FLAG)
      throw new Ext2Error('unreadable', `${filePath} is mapped by ext4 extents, which ext2 readers cannot follow`);
    if (inode.size > MAX_FILE_BYTES) throw new Ext2Error('unreadable', `${filePath} is too large to read`);
    const { blockSize } = this.geometry;
    const needed = Math.ceil(inode.size / blockSize);
    const numbers: number[] = [];
    const perBlock = blockSize / 4;
    const collect = (block: number, depth: number): void => {
      if (numbers.length >= needed) return;
      if (depth === 0) {
        numbers.push(block);
        return;
      }
      if (block === 0) {
        // A hole in the map: every block under it reads as zeros.
        const span = perBlock ** depth;
        for (let index = 0; index < span && numbers.length < needed; index++) numbers.push(0);
        return;
      }
      const table = this.read(block * blockSize, blockSize);
      for (let index = 0; index < perBlock && numbers.length < needed; index++)
        collect(table.readUInt32LE(index * 4), depth - 1);
    };
    for (let index = 0; index < 12; index++) collect(inode.blocks[index], 0);
    collect(inode.blocks[12], 1);
    collect(inode.blocks[13], 2);
    collect(inode.blocks[14], 3);
    const data = Buffer.alloc(needed * blockSize);
    numbers.forEach((block, index) => {
      if (block !== 0) this.read(block * blockSize, blockSize).copy(data, index * blockSize);
    });
    return data.subarray(0, inode.size);
  }
}
