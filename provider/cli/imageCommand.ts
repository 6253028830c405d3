/** `unikernel-ami image`: a PV-GRUB-bootable ext2 disk image from a Xen kernel, without root. */
import { Command } from 'commander';
import * as path from 'path';
import { buildKernelImage, KernelImageProgress, KernelImageResult } from '../image/build';
import { MENU_LST } from '../image/layout';
import { hex } from '../image/xenKernel';
import { runCommand } from './runCommand';
import { formatBytes } from './progress';

export interface ImageCommandOptions {
  kernel: string;
  out: string;
  size?: string;
  cmdline?: string;
  json?: boolean;
  logFile?: string;
}

const PHASE_LABELS: Record<KernelImageProgress['phase'], string> = {
  kernel: 'kernel',
  mke2fs: 'mke2fs',
  metadata: 'debugfs',
  check: 'e2fsck',
  digest: 'sha256',
};

/** The --json summary: everything a caller (or a Pulumi program) keys on. */
export function imageSummary(result: KernelImageResult): object {
  const { xen } = result.kernel;
  return {
    command: 'image',
    image: result.imagePath,
    size: result.size,
    defaultedSize: result.defaultedSize,
    blockSize: result.blockSize,
    sha256: result.sha256,
    uuid: result.uuid,
    label: result.label,
    bootFile: result.bootFile,
    menuLst: `/${MENU_LST}`,
    cmdline: result.cmdline,
    kernel: {
      path: result.kernel.path,
      bytes: result.kernel.bytes,
      sha256: result.kernel.sha256,
      gzippedBytes: result.kernel.gzippedBytes,
      architecture: xen.architecture,
      guestOs: xen.guestOs,
      guestVersion: xen.guestVersion,
      xenVersion: xen.xenVersion,
      loader: xen.loader,
      xenInfoFrom: xen.source,
      entry: hex(xen.entry),
      virtBase: hex(xen.virtBase),
    },
    e2fsprogs: result.e2fsprogsVersion,
    zlib: result.zlibVersion,
  };
}

export async function runImage(options: ImageCommandOptions): Promise<void> {
  const files = { kernel: options.kernel, out: path.resolve(options.out) };
  await runCommand('image', options, files, async (output, signal) => {
    const logged = new Set<string>();
    const result = await buildKernelImage({
      kernelPath: options.kernel,
      outPath: options.out,
      size: options.size,
      cmdline: options.cmdline,
      signal,
      onProgress: ({ phase, bytes, totalBytes }) => {
        const label = PHASE_LABELS[phase];
        output.progress.update(label, bytes, totalBytes);
        if (bytes >= totalBytes && !logged.has(label)) {
          logged.add(label);
          output.log(`${label} done (${totalBytes} bytes)`);
        }
      },
    });
    output.progress.done();
    const { xen } = result.kernel;
    output.info(
      `Built ${result.imagePath} (${formatBytes(result.size)} ext2, ${result.blockSize}-byte blocks, UUID ${result.uuid}) from ${result.kernel.path} ` +
        `(${xen.architecture} Xen PV kernel${xen.guestOs ? ` "${xen.guestOs}"` : ''}, ${formatBytes(result.kernel.bytes)}, ${formatBytes(result.kernel.gzippedBytes)} gzipped)`,
    );
    output.info(
      `PV-GRUB (hd0) boots ${result.bootFile} through /${MENU_LST}${result.cmdline ? ` with "${result.cmdline}"` : ''}; image SHA-256 ${result.sha256}`,
    );
    output.result(imageSummary(result));
  });
}

/** Adds the `image` subcommand to the program. */
export function registerImageCommand(program: Command): Command {
  return program
    .command('image')
    .description(
      'make a PV-GRUB-bootable ext2 disk image from a Xen PV kernel (mke2fs -d: no root, no loop mount; same kernel, same bytes)',
    )
    .requiredOption(
      '--kernel <path>',
      'the Xen PV kernel: an x86-64 (or i386) ELF file with Xen notes, e.g. mir-app.xen',
    )
    .requiredOption('-o, --out <path>', 'the disk image file to write (replaced atomically)')
    .option(
      '--size <size>',
      'image size, e.g. 32M, 1G or a number of bytes (default: the gzipped kernel plus headroom, at least 8M; at most 10G)',
    )
    .option('--cmdline <args>', 'kernel command line, written after the kernel in menu.lst')
    .option('--json', 'print a machine-readable summary on stdout')
    .option('--log-file <path>', 'also write every message to this file')
    .action(runImage);
}
