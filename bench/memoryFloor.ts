/**
 * What V8 alone lets dead Buffers cost, for `npm run bench`:
 *
 *   node dist/bench/memoryFloor.js IMAGE reuse|cipher
 *
 * Reads IMAGE in 1 MiB pieces into one reused buffer and hashes them with SHA-1 (`reuse`: nothing is
 * allocated per piece), or also passes every piece through AES-128-CBC's `cipher.update` (`cipher`),
 * which, like zlib, returns a new Buffer each call, left to the garbage collector. The two peaks differ
 * by what V8 lets dead Buffers reach before it collects them (a little less with smaller pieces): the
 * memory the bundle pipeline saves by freeing each Buffer as soon as it is consumed
 * (provider/bundle/handOver.ts), and would carry without that.
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
  process.stdout.write(
    `${JSON.stringify({ sha1: sha1.digest('hex'), encrypted: encrypted + cipher.final().length })}\n`,
  );
}

const [imagePath, mode] = process.argv.slice(2);
main(imagePath ?? '', mode ?? '').catch((error: unknown) => {
  process.stderr.write(`memoryFloor: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
