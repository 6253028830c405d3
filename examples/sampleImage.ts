/**
 * The demo's sample unikernel: a minimal Xen PV kernel (the same fixture the tests use), turned into
 * a PV-GRUB-bootable ext2 disk image exactly as `unikernel-ami image` does. Where e2fsprogs is
 * missing, a plain raw image stands in, and the demo says so.
 */
import { randomBytes } from 'crypto';
import { closeSync, ftruncateSync, openSync, writeSync } from 'fs';
import * as path from 'path';
import { buildKernelImage, ImageToolError } from '../provider/image';
import { buildXenKernel } from '../tests/fixtures/xenKernel';

export interface SampleImage {
  imagePath: string;
  size: number;
  description: string;
}

function rawImage(folder: string): SampleImage {
  const imagePath = path.join(folder, 'sample-unikernel.img');
  const size = 32 * 1024 * 1024;
  const fd = openSync(imagePath, 'w', 0o644);
  try {
    writeSync(fd, randomBytes(2 * 1024 * 1024), 0, 2 * 1024 * 1024, 0);
    ftruncateSync(fd, size);
  } finally {
    closeSync(fd);
  }
  return { imagePath, size, description: 'a 32 MiB raw disk image (2 MiB of data, then zeros)' };
}

export async function makeSampleImage(folder: string): Promise<SampleImage> {
  const kernelPath = buildXenKernel(folder, { fileName: 'mir-hello.xen' });
  try {
    const built = await buildKernelImage({ kernelPath, outPath: path.join(folder, 'mir-hello.img'), size: '32M', cmdline: 'console=hvc0' });
    return {
      imagePath: built.imagePath,
      size: built.size,
      description: `a Xen PV kernel (${kernelPath}, ${built.kernel.bytes} bytes) in a PV-GRUB ext2 image: ${built.bootFile} and /boot/grub/menu.lst, e2fsck-clean`,
    };
  } catch (error) {
    if (!(error instanceof ImageToolError)) throw error;
    const sample = rawImage(folder);
    return { ...sample, description: `${sample.description}; no PV-GRUB image because ${error.message}` };
  }
}
