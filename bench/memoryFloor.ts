/**
 * The memory floor of Node itself, for `npm run bench`:
 *
 *   node dist/bench/memoryFloor.js IMAGE reuse|cipher
 *
 * Reads IMAGE in 1 MiB pieces into one reused buffer and hashes them with SHA-1 (`reuse`: nothing is
 * allocated per piece), or also passes every piece through AES-128-CBC's `cipher.update` (`cipher`),
 * which, like zlib, returns a new Buffer each call. The two peaks differ by what V8 lets dead Buffers
 * reach before it collects them: a floor under the bundler's peak RSS as long as zlib and the cipher
 * allocate their outputs (it moves a little with the piece size: smaller pieces, a lower peak).
 */
import { createCipheriv, createHash, randomBytes } from 'crypto';
import { promises as fs } from 'fs';

const PIECE = 1024 * 1024;

async function main(imagePath: string, mode: string): Promise<void> {
  if (mode !== 'reuse' && mode !== 'cipher') throw new Error(`mode must be reuse or cipher, not ${mode}`);
  const image = await fs.open(imagePath, 'r');
  const piece = Buffer.allocUnsafe(PIECE);
  const sha1 = createHash('sha1');
  const cipher = createCipheriv('aes-128-cbc', randomBytes(16), randomBytes(16));
  let encrypted = 0;
  try {
    for (;;) {
      const { bytesRead } = await image.read(piece, 0, PIECE, null);
      if (bytesRead === 0) break;
      const data = piece.subarray(0, bytesRead);
      sha1.update(data);
      if (mode === 'cipher') encrypted += cipher.update(data).length;
    }
  } finally {
    await image.close();
  }
  process.stdout.write(`${JSON.stringify({ sha1: sha1.digest('hex'), encrypted: encrypted + cipher.final().length })}\n`);
}

const [imagePath, mode] = process.argv.slice(2);
main(imagePath ?? '', mode ?? '').catch((error: unknown) => {
  process.stderr.write(`memoryFloor: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
