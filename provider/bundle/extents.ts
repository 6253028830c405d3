/**
 * Where a file's data is, as its file system knows it, so that holes need not be read to find
 * them. GNU tar asks with SEEK_DATA/SEEK_HOLE; Node cannot, so this asks e2fsprogs' `filefrag`
 * (the FIEMAP ioctl, with FIEMAP_FLAG_SYNC so that dirty data is on disk first). When that is not possible (no filefrag, a file system without FIEMAP, output
 * that does not parse) the answer is undefined and the caller reads the whole file.
 */
import { execFile } from 'child_process';
import { existsSync } from 'fs';
import * as path from 'path';
import { TAR_BLOCK_SIZE } from './constants';
import { DataRegion } from './tarHeader';

const EXTENT_LINE = /^\s*\d+:\s+(\d+)\.\.\s*(\d+):.*?(?:\s(\S+))?\s*$/;

/**
 * Data regions from `filefrag -s -e -b512` output, in 512-byte units, merged and clipped to `size`.
 * Every listed extent counts as data, unwritten (preallocated) ones included: data written into
 * them can still be flagged unwritten until it reaches the disk, and reading a few zeros is only
 * slower, never wrong. Undefined unless the output is complete: the header, the closing count,
 * and a last extent flagged `last` (filefrag counts merged extents, so the lines and the count can
 * differ).
 */
export function parseFilefragExtents(output: string, size: number): DataRegion[] | undefined {
  const lines = output.split('\n');
  const header = lines.findIndex((line) => /^\s*ext:\s+logical_offset:/.test(line));
  const total = /: (\d+) extents? found\s*$/m.exec(output);
  if (header === -1 || !total) return undefined;
  const extents = lines.slice(header + 1).filter((line) => /^\s*\d+:/.test(line));
  if (extents.length === 0 ? Number(total[1]) !== 0 : !/\blast\b/.test(extents[extents.length - 1])) return undefined;
  const regions: DataRegion[] = [];
  for (const line of extents) {
    const match = EXTENT_LINE.exec(line);
    if (!match) return undefined;
    const offset = Number(match[1]) * TAR_BLOCK_SIZE;
    const end = Math.min(size, (Number(match[2]) + 1) * TAR_BLOCK_SIZE);
    if (offset >= end) continue;
    const last = regions[regions.length - 1];
    if (last && offset <= last.offset + last.length) last.length = Math.max(last.length, end - last.offset);
    else regions.push({ offset, length: end - offset });
  }
  return regions;
}

function filefragPath(): string | undefined {
  const folders = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/sbin', '/sbin'].filter((folder) =>
    path.isAbsolute(folder),
  );
  return folders.map((folder) => path.join(folder, 'filefrag')).find((candidate) => existsSync(candidate));
}

export function fileDataExtents(file: string, size: number): Promise<DataRegion[] | undefined> {
  const tool = filefragPath();
  if (!tool) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    execFile(
      tool,
      ['-s', '-e', '-b512', file],
      { timeout: 30_000, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, LC_ALL: 'C' } },
      (error, stdout) => {
        resolve(error ? undefined : parseFilefragExtents(stdout, size));
      },
    );
  });
}
