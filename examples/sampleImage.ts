/** The sample disk image of the demo: a unikernel-shaped image, mostly zeros, with data at both ends. */
import { randomBytes } from 'crypto';
import { closeSync, openSync, writeSync, ftruncateSync } from 'fs';
import * as path from 'path';

export interface SampleImage {
  imagePath: string;
  size: number;
  description: string;
}

export async function makeSampleImage(folder: string): Promise<SampleImage> {
  const imagePath = path.join(folder, 'sample-unikernel.img');
  const size = 32 * 1024 * 1024;
  const fd = openSync(imagePath, 'w', 0o644);
  try {
    writeSync(fd, randomBytes(2 * 1024 * 1024), 0, 2 * 1024 * 1024, 0);
    writeSync(fd, randomBytes(64 * 1024), 0, 64 * 1024, size - 64 * 1024);
    ftruncateSync(fd, size);
  } finally {
    closeSync(fd);
  }
  return { imagePath, size, description: 'a 32 MiB raw disk image: 2 MiB of data, zeros, 64 KiB of data at the end' };
}
