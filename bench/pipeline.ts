/**
 * The reference: the shell pipeline Amazon's ec2-bundle-image runs, then its split into 10 MiB parts
 * and the SHA-1 of each part. ec2-bundle-image (bundle.rb) feeds the digest through a named pipe:
 * `openssl sha1 < PIPE & tar … | tee PIPE | gzip -9 | openssl enc … > NAME.tar.gz.enc`; we do the
 * same with sha1sum, which is `tar … | tee >(sha1sum > digest) | …` except that the shell waits for
 * the digest process (so the digest is complete when the script ends and its RSS is measured too).
 * The whole encrypted file is written first and split afterwards, as the Amazon tool does. The same
 * pipeline with `pigz -9` in place of `gzip -9` is the second reference.
 */
import { promises as fs } from 'fs';
import * as path from 'path';

export const PART_BYTES = 10 * 1024 * 1024;

const SCRIPT = `
set -euo pipefail
dir=$1 name=$2 key=$3 iv=$4 out=$5 compress=$6
pipe="$out/.digest-pipe"
mkfifo "$pipe"
sha1sum < "$pipe" > "$out/digest" &
digester=$!
tar -c -h -S --owner 0 --group 0 -C "$dir" "$name" | tee "$pipe" | "$compress" -9 | openssl enc -e -aes-128-cbc -K "$key" -iv "$iv" > "$out/$name.tar.gz.enc"
wait "$digester"
rm "$pipe"
cd "$out"
split -b ${PART_BYTES} -d "$name.tar.gz.enc" "$name.part."
sha1sum "$name".part.* > parts.sha1
rm "$name.tar.gz.enc"
`;

/** `gzip` is what ec2-bundle-image runs; `pigz` (same options, one gzip member, all cores) is the faster stand-in. */
export type Compressor = 'gzip' | 'pigz';

/** The command that bundles `image` into `out` (an existing empty folder) with the given AES key and IV. */
export function pipelineCommand(
  imagePath: string,
  keyHex: string,
  ivHex: string,
  out: string,
  compressor: Compressor = 'gzip',
): string[] {
  return [
    'bash',
    '-c',
    SCRIPT,
    'ec2-bundle-image-pipeline',
    path.dirname(imagePath),
    path.basename(imagePath),
    keyHex,
    ivHex,
    out,
    compressor,
  ];
}

/** The same tar command on its own, to check the pipeline's digest against. */
export function tarCommand(imagePath: string): string[] {
  return [
    'tar',
    '-c',
    '-h',
    '-S',
    '--owner',
    '0',
    '--group',
    '0',
    '-C',
    path.dirname(imagePath),
    path.basename(imagePath),
  ];
}

/** Decrypts and decompresses the concatenated parts back into the tar stream (for the round-trip check). */
export function roundTripCommand(partPaths: string[], keyHex: string, ivHex: string): string[] {
  return [
    'bash',
    '-c',
    'set -euo pipefail; key=$1 iv=$2; shift 2; cat "$@" | openssl enc -d -aes-128-cbc -K "$key" -iv "$iv" | gzip -d',
    'round-trip',
    keyHex,
    ivHex,
    ...partPaths,
  ];
}

export interface PipelineOutput {
  digest: string;
  parts: { path: string; size: number; sha1: string }[];
}

/** Reads what the pipeline left in `out`: the tar digest and the parts with their SHA-1. */
export async function readPipelineOutput(out: string): Promise<PipelineOutput> {
  const digest = (await fs.readFile(path.join(out, 'digest'), 'utf8')).split(/\s+/)[0] ?? '';
  const lines = (await fs.readFile(path.join(out, 'parts.sha1'), 'utf8')).trim().split('\n');
  const parts = await Promise.all(
    lines.map(async (line) => {
      const [sha1 = '', file = ''] = line.split(/\s+/);
      const partPath = path.join(out, file);
      return { path: partPath, size: (await fs.stat(partPath)).size, sha1 };
    }),
  );
  return { digest, parts };
}
