/**
 * A disk image as the raw bytes of the guest's disk, which is what the EBS path hashes and writes.
 * A raw file is read as it is (guestDisk.ts). A container (qcow2, VMDK, VHD, VHDX, VDI:
 * diskFormat.ts) is read in place through `qemu-nbd` when qemu-img and qemu-nbd are on PATH
 * (Debian `qemu-utils`; containerDisk.ts): no raw copy is written, so reading it costs the guest's
 * data (the extents `qemu-img map` reports), not its nominal size, in time, and nothing on disk.
 * Without those tools a container is refused with the command that converts it.
 *
 * A container that names other files (a backing file, an external data file, VMDK extents in other
 * files) is refused: its content would change without the file given changing, so its identity
 * could not be trusted. The file given must not change while it is read (its size and change times
 * are checked by the readers, as for a raw file).
 */
import { promises as fs } from 'fs';
import { ContainerFormat } from './diskFormat';
import { AwsInputError } from './errors';
import { openContainerDisk, toolPath } from './containerDisk';
import { GuestDisk, openRawFile } from './guestDisk';
import { fileContainerFormat } from './imageFormat';

export { ContainerInfo, parseContainerInfo } from './containerDisk';

/** The qemu-img on PATH, or undefined. */
export function qemuImgPath(): string | undefined {
  return toolPath('qemu-img');
}

/** The file's container format (undefined for raw); the file must be a non-empty regular file. */
export async function imageContainerFormat(input: string, file: string): Promise<ContainerFormat | undefined> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, 'r');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new AwsInputError(
      input,
      code === 'ENOENT' ? `${file}: no such file` : `${file} cannot be read (${code ?? String(error)})`,
    );
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw new AwsInputError(input, `${file} is not a regular file`);
    if (stats.size === 0) throw new AwsInputError(input, `${file} is empty`);
    return await fileContainerFormat(handle, stats.size);
  } finally {
    await handle.close();
  }
}

/**
 * Opens the guest disk of `file`: the file itself when it is raw, else the container read through
 * qemu-nbd. `input` names the file in errors. The caller closes it (or uses withGuestDisk).
 */
export async function openGuestDisk(input: string, file: string, signal?: AbortSignal): Promise<GuestDisk> {
  const format = await imageContainerFormat(input, file);
  return format === undefined ? openRawFile(file) : openContainerDisk(input, file, format, signal);
}

/** Runs `use` with the guest disk of `file`, closed once `use` is done or has failed. */
export async function withGuestDisk<T>(
  input: string,
  file: string,
  use: (disk: GuestDisk) => Promise<T>,
  signal?: AbortSignal,
): Promise<T> {
  const disk = await openGuestDisk(input, file, signal);
  try {
    return await use(disk);
  } finally {
    await disk.close();
  }
}
