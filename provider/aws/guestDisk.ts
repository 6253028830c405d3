/**
 * A guest disk as the EBS path reads it: its size, where its data is, and reads at any offset, over
 * the file given. Two kinds: a raw file read as it is (this module), and a container (qcow2, VMDK,
 * VHD, VHDX, VDI) read in place through qemu-nbd (containerDisk.ts). Hashing (imageBlocks.ts) and
 * uploading (ebsUpload.ts) read through this, so a container is never written out as raw.
 */
import { promises as fs } from 'fs';
import { fileDataExtents } from '../bundle/extents';
import { DataRegion } from '../bundle/tarHeader';
import { ContainerFormat } from './diskFormat';

/** What says a file changed: a write moves its mtime and ctime, a truncation its size too. */
export interface FileVersion {
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
}

export function fileVersion(stats: { size: number; mtimeMs: number; ctimeMs: number; ino: number }): FileVersion {
  return { size: stats.size, mtimeMs: stats.mtimeMs, ctimeMs: stats.ctimeMs, ino: stats.ino };
}

export function sameVersion(a: FileVersion, b: FileVersion): boolean {
  return a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs && a.ino === b.ino;
}

export interface GuestDisk {
  /** The file given. */
  readonly file: string;
  /** Bytes of the guest's disk: the file's size when raw, the virtual size of a container. */
  readonly size: number;
  /** The container format read through qemu-nbd; undefined for a raw file. */
  readonly format?: ContainerFormat;
  /** The file given, as it was when opened. */
  readonly version: FileVersion;
  /** Where the guest's data is (the rest reads as zeros); undefined when unknown: read it all. */
  dataExtents(): Promise<DataRegion[] | undefined>;
  /** Reads `length` bytes at `position` into `buffer`; false when the disk ended first. */
  read(buffer: Buffer, length: number, position: number): Promise<boolean>;
  /** The file given, as it is now. */
  currentVersion(): Promise<FileVersion>;
  /** Releases what the disk holds (a file handle; qemu-nbd and its socket folder). */
  close(): Promise<void>;
}

/** Reads `length` bytes at `position`; false when the file ended first. */
export async function readBlock(handle: fs.FileHandle, buffer: Buffer, length: number, position: number) {
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(buffer, done, length - done, position + done);
    if (bytesRead === 0) return false;
    done += bytesRead;
  }
  return true;
}

/** A file's bytes as a disk, its data where its file system reports extents (extents.ts). */
export async function openRawFile(file: string): Promise<GuestDisk> {
  const handle = await fs.open(file, 'r');
  try {
    const version = fileVersion(await handle.stat());
    return {
      file,
      size: version.size,
      version,
      dataExtents: () => fileDataExtents(file, version.size),
      read: (buffer, length, position) => readBlock(handle, buffer, length, position),
      currentVersion: async () => fileVersion(await handle.stat()),
      close: () => handle.close(),
    };
  } catch (error) {
    await handle.close();
    throw error;
  }
}
