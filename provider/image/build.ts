/**
 * A PV-GRUB-bootable disk image from a Xen kernel, without root and without a loop mount:
 * check the kernel, gzip it, lay out /boot/<kernel>.gz and /boot/grub/menu.lst in a temporary folder,
 * `mke2fs -d` it into an ext2 file system written under a temporary name next to the output, pin what
 * mke2fs copied from the host with debugfs, check the result with e2fsck, then rename it into place.
 * The same kernel and options give the same bytes. A failure leaves nothing behind.
 */
import { createHash } from 'crypto';
import { createReadStream, promises as fs, Stats } from 'fs';
import { tmpdir } from 'os';
import * as path from 'path';
import { promisify } from 'util';
import { gzip as gzipCallback } from 'zlib';
import { temporarySibling } from '../common/atomicFile';
import { isErrnoException } from '../common/errors';
import { ImageInputError } from './errors';
import { e2fsEnvironment, metadataFixups, mke2fsArguments, mke2fsConfiguration } from './e2fsCommands';
import { E2fsToolPaths, findE2fsprogs, outputTail, runTool } from './e2fsprogs';
import {
  BOOT_DIRECTORY,
  DEFAULT_LABEL,
  derivedUuid,
  GRUB_DIRECTORY,
  IMAGE_TIMESTAMP,
  kernelFileName,
  MENU_LST,
  menuLst,
  validateCmdline,
  validateLabel,
  validateTitle,
} from './layout';
import { formatSize, ImagePlan, parseSize, planImage } from './size';
import { parseSuperblock, SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE } from './superblock';
import { inspectXenKernel, XenKernelInfo } from './xenKernel';

const gzip = promisify(gzipCallback);

/** Unikernel kernels are a few MiB; this bounds what is read into memory. */
export const MAX_KERNEL_SIZE = 512 * 1024 * 1024;
/** The OS byte of the gzip header, fixed to Unix so the bytes do not depend on the build host. */
const GZIP_OS_UNIX = 3;

export interface KernelImageProgress {
  phase: 'kernel' | 'mke2fs' | 'metadata' | 'check' | 'digest';
  bytes: number;
  totalBytes: number;
}

export interface KernelImageOptions {
  /** The Xen PV kernel (an x86-64 or i386 ELF file with Xen notes), e.g. `mir-app.xen`. */
  kernelPath: string;
  /** The image file to write (replaced atomically if it exists). */
  outPath: string;
  /** Bytes or a size such as `32M`; default: the gzipped kernel plus headroom (at least 8 MiB). */
  size?: number | string;
  /** The kernel command line written after the kernel in menu.lst. */
  cmdline?: string;
  /** The menu.lst entry's title; default: the kernel's file name. */
  title?: string;
  /** The file system label; default `unikernel`. */
  label?: string;
  /** Run `e2fsck -fn` on the new image before renaming it into place (default true). */
  check?: boolean;
  /** Paths of mke2fs, debugfs and e2fsck instead of searching PATH and the sbin folders. */
  tools?: E2fsToolPaths;
  /** Where the temporary populated folder is made (default: the OS temporary folder). */
  temporaryDirectory?: string;
  signal?: AbortSignal;
  onProgress?: (progress: KernelImageProgress) => void;
}

export interface KernelImageResult {
  imagePath: string;
  size: number;
  /** True when the size was chosen (kernel plus headroom) rather than given. */
  defaultedSize: boolean;
  blockSize: number;
  blocks: number;
  uuid: string;
  hashSeed: string;
  label: string;
  /** SHA-256 of the whole image, read back from disk. */
  sha256: string;
  /** Path of the gzipped kernel inside the image, e.g. `/boot/mir-app.xen.gz`. */
  bootFile: string;
  menuLst: string;
  cmdline: string;
  kernel: {
    path: string;
    bytes: number;
    sha256: string;
    gzippedBytes: number;
    xen: XenKernelInfo;
  };
  /** What the bytes depend on besides the inputs: the e2fsprogs and zlib versions. */
  e2fsprogsVersion: string;
  zlibVersion: string;
  /** mke2fs's arguments as run (the folder and file in them were temporary). */
  mke2fsArguments: string[];
}

interface CheckedOptions {
  kernelPath: string;
  outPath: string;
  requestedSize?: number;
  cmdline: string;
  title?: string;
  label: string;
}

function checkOptions(options: KernelImageOptions): CheckedOptions {
  if (!options.kernelPath)
    throw new ImageInputError('kernel', 'no kernel given: give the path of the Xen kernel to put in the image');
  if (!options.outPath) throw new ImageInputError('out', 'no output given: give the path of the image file to write');
  return {
    kernelPath: options.kernelPath,
    outPath: path.resolve(options.outPath),
    requestedSize: options.size === undefined ? undefined : parseSize(options.size),
    cmdline: validateCmdline(options.cmdline),
    title: options.title === undefined ? undefined : validateTitle(options.title),
    label: validateLabel(options.label ?? DEFAULT_LABEL),
  };
}

async function readKernel(kernelPath: string): Promise<{ bytes: Buffer; stats: Stats }> {
  let stats: Stats;
  try {
    stats = await fs.stat(kernelPath);
  } catch (error) {
    if (isErrnoException(error) && (error.code === 'ENOENT' || error.code === 'ENOTDIR')) {
      throw new ImageInputError(
        'kernel',
        `${kernelPath} does not exist; give the path of the Xen kernel (e.g. mir-app.xen)`,
      );
    }
    if (isErrnoException(error) && error.code === 'EACCES')
      throw new ImageInputError('kernel', `${kernelPath} cannot be read (permission denied)`);
    throw error;
  }
  if (stats.isDirectory())
    throw new ImageInputError('kernel', `${kernelPath} is a directory; give the kernel file inside it`);
  if (!stats.isFile()) throw new ImageInputError('kernel', `${kernelPath} is not a regular file; give the kernel file`);
  if (stats.size > MAX_KERNEL_SIZE) {
    throw new ImageInputError(
      'kernel',
      `${kernelPath} is ${stats.size} bytes, more than the ${MAX_KERNEL_SIZE} a unikernel kernel can sensibly be: is it a disk image?`,
    );
  }
  try {
    return { bytes: await fs.readFile(kernelPath), stats };
  } catch (error) {
    if (isErrnoException(error) && error.code === 'EACCES')
      throw new ImageInputError('kernel', `${kernelPath} cannot be read (permission denied)`);
    throw error;
  }
}

async function checkOutput(outPath: string, kernelStats: Stats): Promise<void> {
  const folder = path.dirname(outPath);
  let folderStats: Stats;
  try {
    folderStats = await fs.stat(folder);
  } catch (error) {
    if (isErrnoException(error) && (error.code === 'ENOENT' || error.code === 'ENOTDIR')) {
      throw new ImageInputError('out', `${outPath}: the folder ${folder} does not exist; create it first`);
    }
    throw error;
  }
  if (!folderStats.isDirectory()) throw new ImageInputError('out', `${outPath}: ${folder} is not a folder`);
  const existing = await fs.stat(outPath).catch(() => undefined);
  if (existing?.isDirectory())
    throw new ImageInputError('out', `${outPath} is a directory; give the path of the image file to write`);
  if (existing && existing.ino === kernelStats.ino && existing.dev === kernelStats.dev) {
    throw new ImageInputError('out', `${outPath} is the kernel itself; give another path for the image`);
  }
}

/** gzip -9 with no name and mtime 0 (zlib's defaults), and the OS byte fixed to Unix. */
export async function gzipKernel(kernel: Buffer): Promise<Buffer> {
  const compressed = await gzip(kernel, { level: 9 });
  compressed[9] = GZIP_OS_UNIX;
  return compressed;
}

/** Writes the folder mke2fs copies: fixed modes and times, whatever the umask and the clock. */
async function populate(root: string, kernelFile: string, gzipped: Buffer, menu: string): Promise<string[]> {
  const grub = path.join(root, GRUB_DIRECTORY);
  await fs.mkdir(grub, { recursive: true });
  const kernelOnDisk = path.join(root, BOOT_DIRECTORY, kernelFile);
  const menuOnDisk = path.join(root, MENU_LST);
  await fs.writeFile(kernelOnDisk, gzipped, { flag: 'wx' });
  await fs.writeFile(menuOnDisk, menu, { flag: 'wx' });
  const files = [kernelOnDisk, menuOnDisk];
  const folders = [grub, path.join(root, BOOT_DIRECTORY), root];
  for (const file of files) await fs.chmod(file, 0o644);
  for (const folder of folders) await fs.chmod(folder, 0o755);
  for (const entry of [...files, ...folders]) await fs.utimes(entry, IMAGE_TIMESTAMP, IMAGE_TIMESTAMP);
  return [
    '/',
    '/lost+found',
    `/${BOOT_DIRECTORY}`,
    `/${GRUB_DIRECTORY}`,
    `/${MENU_LST}`,
    `/${BOOT_DIRECTORY}/${kernelFile}`,
  ];
}

function tooSmall(run: { stdout: string; stderr: string }): boolean {
  return /could not allocate|no space left|not enough space|too small|too many/i.test(`${run.stdout}\n${run.stderr}`);
}

async function sha256Of(
  file: string,
  size: number,
  signal?: AbortSignal,
  onBytes?: (bytes: number) => void,
): Promise<string> {
  const hash = createHash('sha256');
  let done = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20, signal })) {
    hash.update(chunk as Buffer);
    done += (chunk as Buffer).length;
    onBytes?.(done);
  }
  if (done !== size) throw new Error(`the new image is ${done} bytes, not the ${size} planned`);
  return hash.digest('hex');
}

async function checkSuperblock(imageFile: string, plan: ImagePlan, uuid: string, label: string): Promise<void> {
  const handle = await fs.open(imageFile, 'r');
  try {
    const buffer = Buffer.alloc(SUPERBLOCK_SIZE);
    await handle.read(buffer, 0, SUPERBLOCK_SIZE, SUPERBLOCK_OFFSET);
    const superblock = parseSuperblock(buffer);
    const stats = await handle.stat();
    if (
      superblock.blocksCount !== plan.blocks ||
      superblock.blockSize !== plan.blockSize ||
      superblock.uuid !== uuid ||
      superblock.label !== label ||
      stats.size !== plan.size
    ) {
      throw new Error(
        `mke2fs made a different file system than asked (${superblock.blocksCount} blocks of ${superblock.blockSize} bytes, UUID ${superblock.uuid}, ` +
          `label ${superblock.label}, file ${stats.size} bytes; asked ${plan.blocks} of ${plan.blockSize}, ${uuid}, ${label})`,
      );
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Builds the image; see the module comment. Throws ImageInputError for bad inputs, ImageToolError for missing tools. */
export async function buildKernelImage(options: KernelImageOptions): Promise<KernelImageResult> {
  const { signal } = options;
  const progress = (phase: KernelImageProgress['phase'], bytes: number, totalBytes: number) =>
    options.onProgress?.({ phase, bytes, totalBytes });
  signal?.throwIfAborted();
  const checked = checkOptions(options);

  const { bytes: kernel, stats: kernelStats } = await readKernel(checked.kernelPath);
  const xen = inspectXenKernel(kernel, checked.kernelPath);
  await checkOutput(checked.outPath, kernelStats);
  progress('kernel', kernel.length, kernel.length);

  const kernelSha256 = createHash('sha256').update(kernel).digest('hex');
  const gzipped = await gzipKernel(kernel);
  const kernelFile = kernelFileName(checked.kernelPath);
  const title = checked.title ?? kernelFile.replace(/\.gz$/, '');
  const menu = menuLst({ title, kernelFile, cmdline: checked.cmdline });
  const plan = planImage([gzipped.length, Buffer.byteLength(menu)], checked.requestedSize);
  const uuid = derivedUuid(kernelSha256, 'uuid');
  const hashSeed = derivedUuid(kernelSha256, 'hash_seed');

  const tools = await findE2fsprogs(options.tools, { signal });
  signal?.throwIfAborted();

  const work = await fs.mkdtemp(path.join(options.temporaryDirectory ?? tmpdir(), 'unikernel-image-'));
  const imageFile = temporarySibling(checked.outPath);
  let created = false;
  try {
    const root = path.join(work, 'root');
    const configurationFile = path.join(work, 'mke2fs.conf');
    const fixupsFile = path.join(work, 'fixups.debugfs');
    const imagePaths = await populate(root, kernelFile, gzipped, menu);
    await fs.writeFile(configurationFile, mke2fsConfiguration(plan));
    await fs.writeFile(fixupsFile, metadataFixups(imagePaths));
    const environment = e2fsEnvironment(process.env, configurationFile);

    await (await fs.open(imageFile, 'wx', 0o644)).close();
    created = true;
    const args = mke2fsArguments({ plan, label: checked.label, uuid, hashSeed, sourceDirectory: root, imageFile });
    progress('mke2fs', 0, plan.size);
    const made = await runTool('mke2fs', tools.mke2fs, args, { env: environment, signal });
    if (made.code !== 0) {
      if (tooSmall(made)) {
        throw new ImageInputError(
          'size',
          `${formatSize(plan.size)} is too small for the gzipped kernel (${gzipped.length} bytes): give a larger size, or leave it out (mke2fs: ${outputTail(made, 2)})`,
        );
      }
      throw new Error(`mke2fs failed (exit ${made.code}): ${outputTail(made)}`);
    }
    progress('mke2fs', plan.size, plan.size);

    const fixed = await runTool('debugfs', tools.debugfs, ['-w', '-f', fixupsFile, imageFile], {
      env: environment,
      signal,
    });
    const complaints = fixed.stderr.split('\n').filter((line) => line.trim() !== '' && !/^debugfs \d/.test(line));
    if (fixed.code !== 0 || complaints.length > 0) {
      throw new Error(
        `debugfs could not set owners and times in the new image (exit ${fixed.code}): ${complaints.slice(0, 3).join(' / ') || outputTail(fixed)}`,
      );
    }
    progress('metadata', plan.size, plan.size);
    await checkSuperblock(imageFile, plan, uuid, checked.label);

    if (options.check !== false) {
      progress('check', 0, plan.size);
      const fsck = await runTool('e2fsck', tools.e2fsck, ['-f', '-n', imageFile], { env: environment, signal });
      if (fsck.code !== 0) throw new Error(`the new image fails e2fsck -fn (exit ${fsck.code}): ${outputTail(fsck)}`);
      progress('check', plan.size, plan.size);
    }

    const sha256 = await sha256Of(imageFile, plan.size, signal, (bytes) => progress('digest', bytes, plan.size));
    signal?.throwIfAborted();
    await fs.rename(imageFile, checked.outPath);
    created = false;

    return {
      imagePath: checked.outPath,
      size: plan.size,
      defaultedSize: plan.defaulted,
      blockSize: plan.blockSize,
      blocks: plan.blocks,
      uuid,
      hashSeed,
      label: checked.label,
      sha256,
      bootFile: `/${BOOT_DIRECTORY}/${kernelFile}`,
      menuLst: menu,
      cmdline: checked.cmdline,
      kernel: {
        path: checked.kernelPath,
        bytes: kernel.length,
        sha256: kernelSha256,
        gzippedBytes: gzipped.length,
        xen,
      },
      e2fsprogsVersion: tools.version,
      zlibVersion: process.versions.zlib ?? 'unknown',
      mke2fsArguments: args,
    };
  } finally {
    if (created) await fs.rm(imageFile, { force: true });
    await fs.rm(work, { recursive: true, force: true });
  }
}
