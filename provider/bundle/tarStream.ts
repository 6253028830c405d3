/**
 * The tar stream of a one-member archive holding an image, produced chunk by chunk from the file
 * (header, data, padding, end-of-archive blocks, padding to the 10,240-byte record), exactly as
 * `tar -c -h -S --owner 0 --group 0` lays it out.
 */
import { promises as fs } from 'fs';
import { TAR_BLOCK_SIZE, TAR_RECORD_SIZE } from './constants';
import { handOver } from './handOver';
import { DataRegion, TarEntry, encodeHeader, paddingAfter } from './tarHeader';

export const READ_CHUNK_SIZE = 1024 * 1024;

/** Total length of the tar stream for an entry: useful for progress and for tests. */
export function tarStreamLength(entry: TarEntry): number {
  const header = encodeHeader(entry).length;
  const regions = dataRegionsOf(entry);
  const data = regions.reduce((sum, region) => sum + region.length + paddingAfter(region.length, TAR_BLOCK_SIZE), 0);
  const withEnd = header + data + 2 * TAR_BLOCK_SIZE;
  return withEnd + paddingAfter(withEnd, TAR_RECORD_SIZE);
}

function dataRegionsOf(entry: TarEntry): DataRegion[] {
  return entry.sparse ? entry.sparse.regions : [{ offset: 0, length: entry.size }];
}

/**
 * Yields the archive. `onData` is told how many image bytes each chunk carried (for progress).
 * Each chunk of image data is a Buffer of its own, handed over (see handOver.ts): the stage that
 * consumes it may free it.
 * GNU tar pads every sparse region to a block boundary on its own; our regions are block-aligned
 * except perhaps the last, so this is also the one padding at the end of the data.
 */
export async function* tarStream(
  file: fs.FileHandle,
  entry: TarEntry,
  onData: (bytes: number) => void = () => undefined,
): AsyncGenerator<Buffer> {
  const header = encodeHeader(entry);
  yield header;
  let written = header.length;
  for (const region of dataRegionsOf(entry)) {
    let position = region.offset;
    const end = region.offset + region.length;
    while (position < end) {
      const length = Math.min(READ_CHUNK_SIZE, end - position);
      // allocUnsafeSlow: never a slice of the shared pool, which a short last read would get.
      const buffer = Buffer.allocUnsafeSlow(length);
      const { bytesRead } = await file.read(buffer, 0, length, position);
      if (bytesRead !== length) {
        throw new Error(`the image shrank while it was being read (short read at byte ${position + bytesRead})`);
      }
      yield handOver(buffer, 'tarStream');
      onData(length);
      position += length;
    }
    const padding = paddingAfter(region.length, TAR_BLOCK_SIZE);
    if (padding > 0) yield Buffer.alloc(padding);
    written += region.length + padding;
  }
  const endBlocks = 2 * TAR_BLOCK_SIZE;
  yield Buffer.alloc(endBlocks + paddingAfter(written + endBlocks, TAR_RECORD_SIZE));
}
