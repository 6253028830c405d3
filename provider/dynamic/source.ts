/**
 * What an image or bundle is made from, as one SHA-256: the image's content identity (its 512 KiB
 * blocks' hashes over the data its file system holds, blockList.ts: holes cost nothing and read as
 * the zeros they are), or the kernel's with the options of the image built from it (that build is
 * deterministic). Computed once per file version in a process, so preview and update do not read a
 * large image twice; the hashed blocks are kept for the snapshot's plan.
 */
import { createHash } from 'crypto';
import { promises as fs } from 'fs';
import { contentIdentity } from '../aws/blockList';
import { fileVersion, hashGuestDisk, hashImageBlocks, HashedImage } from '../aws/imageBlocks';
import { withGuestDisk } from '../aws/rawImage';
import { canonicalJson } from './values';

const cache = new Map<string, { identity: string; hashed: HashedImage }>();
/** Hashed images kept at once (each holds 32 bytes per non-zero block). */
const CACHE_ENTRIES = 8;

/**
 * The image's identity and its hashed blocks, once per file version. With `guestDisk` (the input
 * that names it), a container (qcow2, VMDK, VHD, VHDX, VDI) is read in place through qemu-nbd for
 * the hashing (rawImage.ts), never written out as raw: its identity is its guest content's, and its
 * blocks carry the container file's version, so the upload that follows in the same process (create
 * after check) reuses them and reads the guest once more, as for a raw file. Without it, the file's
 * bytes are hashed as they are (kernels, bundled images).
 */
export async function hashedFile(file: string, guestDisk?: string): Promise<{ identity: string; hashed: HashedImage }> {
  const version = fileVersion(await fs.stat(file));
  const key = JSON.stringify([file, version, guestDisk !== undefined]);
  const cached = cache.get(key);
  if (cached) return cached;
  const hashed =
    guestDisk === undefined
      ? await hashImageBlocks(file)
      : await withGuestDisk(guestDisk, file, (disk) => hashGuestDisk(disk));
  const entry = { identity: contentIdentity(hashed), hashed };
  if (JSON.stringify([file, hashed.version, guestDisk !== undefined]) === key) {
    if (cache.size >= CACHE_ENTRIES) cache.delete(cache.keys().next().value as string);
    cache.set(key, entry);
  }
  return entry;
}

/** The file's content identity (hex SHA-256). */
async function fileIdentity(file: string): Promise<string> {
  return (await hashedFile(file)).identity;
}

export interface SourceDescription {
  imagePath?: string;
  kernelPath?: string;
  imageSize?: string;
  kernelCommandLine?: string;
}

export async function sourceHash(source: SourceDescription): Promise<string> {
  if (source.imagePath !== undefined) return fileIdentity(source.imagePath);
  if (source.kernelPath === undefined) throw new Error('no image or kernel to hash');
  const kernel = await fileIdentity(source.kernelPath);
  const recipe = canonicalJson({
    kind: 'pv-grub-ext2',
    kernel,
    imageSize: source.imageSize,
    cmdline: source.kernelCommandLine,
  });
  return createHash('sha256').update(recipe).digest('hex');
}

export { fileIdentity };
