/**
 * handOver/release: a Buffer handed down the bundle pipeline is freed at once by the stage that
 * consumes it; nothing else is ever touched. The memory effect itself is measured by `npm run bench`.
 */
import { strict as assert } from 'assert';
import { createHash, randomBytes } from 'crypto';
import { gunzipSync } from 'zlib';
import { EncryptStream } from '../../provider/bundle/encryptStream';
import { handOver, release } from '../../provider/bundle/handOver';
import { ParallelGzip } from '../../provider/bundle/parallelGzip';
import { createDecipheriv } from 'crypto';

async function collect(stream: NodeJS.ReadWriteStream, inputs: Buffer[]): Promise<Buffer> {
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(Buffer.from(chunk)));
  const done = new Promise<void>((resolve, reject) => {
    stream.on('end', resolve);
    stream.on('error', reject);
  });
  for (const input of inputs) stream.write(input);
  stream.end();
  await done;
  return Buffer.concat(chunks);
}

describe('handOver and release', function () {
  it('release frees the memory of a Buffer that was handed over, and only of such a Buffer', function () {
    const handed = handOver(Buffer.allocUnsafeSlow(1024 * 1024).fill(7));
    const kept = Buffer.allocUnsafeSlow(1024 * 1024).fill(7);
    release(handed);
    release(kept);
    assert.equal(handed.buffer.byteLength, 0, 'detached: its memory is gone');
    assert.equal(handed.length, 0);
    assert.equal(kept.length, 1024 * 1024, 'a Buffer nobody handed over is left alone');
    assert.ok(kept.every((byte) => byte === 7));
    release(handed);
    assert.equal(handed.length, 0, 'a second release is harmless');

    const pooled = handOver(Buffer.from('a Buffer from the shared pool'));
    const neighbour = Buffer.from('its neighbour in the pool');
    assert.equal(pooled.buffer, neighbour.buffer, 'both live in the shared pool');
    release(pooled);
    assert.equal(pooled.toString(), 'a Buffer from the shared pool', 'a pooled Buffer is never handed over');
    assert.equal(neighbour.toString(), 'its neighbour in the pool');
  });

  it("ParallelGzip and EncryptStream free what was handed to them and never touch a caller's own Buffers", async function () {
    const data = [randomBytes(700 * 1024), Buffer.alloc(900 * 1024), randomBytes(300 * 1024)];
    const copies = data.map((chunk) => Buffer.from(chunk));
    const gzipped = await collect(new ParallelGzip({ chunkSize: 256 * 1024 }), data);
    assert.deepEqual(data, copies, 'the caller still has its data');
    assert.deepEqual(gunzipSync(gzipped), Buffer.concat(copies));

    const handed = copies.map((chunk) => handOver(Buffer.from(chunk)));
    const again = await collect(new ParallelGzip({ chunkSize: 256 * 1024 }), handed);
    assert.ok(handed.every((chunk) => chunk.length === 0), 'handed-over input is freed once copied in');
    assert.deepEqual(again, gzipped, 'the same output');

    const key = randomBytes(16);
    const iv = randomBytes(16);
    const cut = 64 * 1024;
    const plain = [handOver(Buffer.from(gzipped.subarray(0, cut))), Buffer.from(gzipped.subarray(cut))];
    const encrypted = await collect(new EncryptStream(key, iv), plain);
    assert.equal(plain[0].length, 0, 'a handed-over chunk is freed once encrypted');
    assert.equal(plain[1].length, gzipped.length - cut, 'a chunk not handed over is kept');
    const decipher = createDecipheriv('aes-128-cbc', key, iv);
    const decrypted = Buffer.concat([decipher.update(encrypted), decipher.final()]);
    assert.equal(createHash('sha1').update(decrypted).digest('hex'), createHash('sha1').update(gzipped).digest('hex'));
  });
});
