/** Reads a disk image's head and tail to name its container format (diskFormat.ts), if it has one. */
import { promises as fs } from 'fs';
import { ContainerFormat, containerFormat, convertCommand, FORMAT_NAMES, HEAD_BYTES, TAIL_BYTES } from './diskFormat';
import { AwsInputError } from './errors';

export async function fileContainerFormat(handle: fs.FileHandle, size: number): Promise<ContainerFormat | undefined> {
  const head = Buffer.alloc(Math.min(HEAD_BYTES, size));
  await handle.read(head, 0, head.length, 0);
  const tail = Buffer.alloc(Math.min(TAIL_BYTES, size));
  await handle.read(tail, 0, tail.length, size - tail.length);
  return containerFormat(head, tail);
}

/** The error for a container where a raw image is needed: what it is, and the command to convert it. */
export function notRaw(input: string, file: string, format: ContainerFormat): AwsInputError {
  return new AwsInputError(
    input,
    `${file} is a ${FORMAT_NAMES[format]} disk image, not a raw one: uploaded as it is it would give an AMI that never boots; convert it first: ${convertCommand(format, file)}`,
  );
}
