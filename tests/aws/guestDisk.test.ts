/**
 * Guest disks read in place: a container made by qemu-img from a raw image of known content, read
 * through qemu-nbd with the NBD client here, gives the raw image's bytes over its whole virtual size
 * (compared byte for byte, in reads of odd sizes and offsets), data extents outside which the raw
 * image holds only zeros, and the raw image's blocks and identity. A server that hangs up mid-reply
 * gives one line naming the file, offset and length. Nothing is left running: qemu-nbd is stopped
 * after use, after a failure and after an abort, and exits by itself when the process reading
 * through it is killed outright; the socket folder that leaves is swept by the next opening.
 */
import { strict as assert } from 'assert';
import { execFileSync, spawn, spawnSync } from 'child_process';
import { mkdirSync, readdirSync, readFileSync } from 'fs';
import * as net from 'net';
import * as path from 'path';
import { contentIdentity, encodeBlockList } from '../../provider/aws/blockList';
import { NBD_FOLDER_PREFIX, parseQemuImgMap, sweepStaleFolders } from '../../provider/aws/containerDisk';
import { GuestDisk } from '../../provider/aws/guestDisk';
import { hashGuestDisk, hashImageBlocks } from '../../provider/aws/imageBlocks';
import { NbdClient, NbdError } from '../../provider/aws/nbdClient';
import { openGuestDisk, withGuestDisk } from '../../provider/aws/rawImage';
import { qemuNbdGone, qemuNbdServing } from '../helpers/qemuNbd';
import { MiB, REPO_ROOT, temporaryFolder, writeImage } from '../helpers/tools';

const hasQemu = spawnSync('qemu-img', ['--version']).status === 0 && spawnSync('qemu-nbd', ['--version']).status === 0;

const FORMATS: [string, string, string[]][] = [
  ['qcow2', 'qcow2', []],
  ['vmdk', 'vmdk (monolithic sparse)', ['-o', 'subformat=monolithicSparse']],
  ['vmdk', 'vmdk (stream-optimized, compressed)', ['-o', 'subformat=streamOptimized']],
  ['vpc', 'vhd (dynamic)', ['-o', 'force_size=on']],
  ['vpc', 'vhd (fixed)', ['-o', 'subformat=fixed,force_size=on']],
  ['vhdx', 'vhdx', []],
  ['vdi', 'vdi', []],
];

async function readAll(disk: GuestDisk, step: number): Promise<Buffer> {
  const whole = Buffer.alloc(disk.size);
  for (let offset = 0; offset < disk.size; offset += step) {
    const length = Math.min(step, disk.size - offset);
    const part = Buffer.alloc(length);
    assert.ok(await disk.read(part, length, offset), `read ${length} at ${offset}`);
    part.copy(whole, offset);
  }
  return whole;
}

describe('guest disks: a container read in place through qemu-nbd is its raw image', function () {
  this.timeout(120_000);
  let folder: ReturnType<typeof temporaryFolder>;
  let scratch: string;
  let rawPath: string;
  let raw: Buffer;
  let previousTmp: string | undefined;

  before(function () {
    if (!hasQemu) this.skip(); // qemu-img and qemu-nbd: apt-get install qemu-utils
    folder = temporaryFolder('guest-disk');
    scratch = path.join(folder.dir, 'tmp');
    mkdirSync(scratch);
    previousTmp = process.env.TMPDIR;
    process.env.TMPDIR = scratch;
    rawPath = path.join(folder.dir, 'guest.raw');
    // Data that ends mid-block, written zeros, a hole, data again: 6 MiB, a size every format keeps.
    writeImage(rawPath, [
      { kind: 'random', bytes: MiB + 4096 + 333 },
      { kind: 'zeros', bytes: MiB - 333 },
      { kind: 'hole', bytes: 2 * MiB - 4096 },
      { kind: 'random', bytes: 2 * MiB },
    ]);
    raw = readFileSync(rawPath);
  });
  after(() => {
    if (previousTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previousTmp;
    folder?.cleanup();
  });
  afterEach(() => {
    if (scratch) assert.deepEqual(readdirSync(scratch), [], 'no socket folder is left');
  });

  function container(format: string, options: string[], name: string): string {
    const file = path.join(folder.dir, name);
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', format, ...options, rawPath, file]);
    return file;
  }

  FORMATS.forEach(([format, label, options], position) => {
    it(`${label}: every byte equals the raw image's, the holes are zeros, the blocks and identity are the raw image's`, async () => {
      const file = container(format, options, `guest-${position}.${format}`);
      const expected = await hashImageBlocks(rawPath);
      const disk = await openGuestDisk('image', file);
      try {
        assert.equal(disk.format, format);
        assert.equal(disk.size, raw.length);
        assert.equal(qemuNbdServing(file).length, 1, 'one qemu-nbd serves it');
        assert.ok((await readAll(disk, 777_777)).equals(raw), 'the guest bytes are the raw image');
        const regions = (await disk.dataExtents()) ?? [];
        let end = 0;
        for (const region of [...regions, { offset: raw.length, length: 0 }]) {
          assert.ok(region.offset >= end, 'extents in order');
          assert.ok(
            raw.subarray(end, region.offset).every((byte) => byte === 0),
            `outside the data extents (${end}..${region.offset}) the raw image holds zeros`,
          );
          end = region.offset + region.length;
        }
        const hashed = await hashGuestDisk(disk);
        assert.equal(contentIdentity(hashed), contentIdentity(expected));
        assert.equal(encodeBlockList(hashed), encodeBlockList(expected));
      } finally {
        await disk.close();
      }
      assert.deepEqual(qemuNbdServing(file), [], 'qemu-nbd stopped once closed');
    });
  });

  it('NBD client against real qemu-nbd: odd offsets and lengths across extents, reads beyond 32 MiB, in parallel, past the end', async () => {
    const big = path.join(folder.dir, 'big.raw');
    writeImage(big, [
      { kind: 'random', bytes: 3 * MiB + 17 },
      { kind: 'hole', bytes: 30 * MiB },
      { kind: 'random', bytes: 7 * MiB - 17 },
    ]);
    const bytes = readFileSync(big);
    const file = path.join(folder.dir, 'big.qcow2');
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', big, file]);
    await withGuestDisk('image', file, async (disk) => {
      const cases: [number, number][] = [
        [0, 1],
        [4095, 3],
        [3 * MiB - 5, 100], // data into the hole
        [33 * MiB + 10, 65537], // the hole into data
        [1, bytes.length - 2], // one read of 40 MiB: two requests
        [bytes.length - 1, 1],
      ];
      const results = await Promise.all(
        cases.map(async ([offset, length]) => {
          const buffer = Buffer.alloc(length);
          assert.ok(await disk.read(buffer, length, offset));
          return buffer;
        }),
      );
      cases.forEach(([offset, length], index) =>
        assert.ok(results[index].equals(bytes.subarray(offset, offset + length)), `${length} bytes at ${offset}`),
      );
      assert.equal(await disk.read(Buffer.alloc(2), 2, bytes.length - 1), false, 'past the end');
    });
  });

  it('a server that hangs up mid-reply: one line naming the file, the offset and the length', async () => {
    const socketPath = path.join(folder.dir, 'hangup.sock');
    const server = net.createServer((socket) => {
      let received = Buffer.alloc(0);
      let stage = 0;
      const greeting = Buffer.alloc(18);
      greeting.write('NBDMAGICIHAVEOPT', 'latin1');
      greeting.writeUInt16BE(3, 16); // fixed newstyle, no zeroes
      socket.write(greeting);
      socket.on('data', (chunk: Buffer) => {
        received = Buffer.concat([received, chunk]);
        if (stage === 0 && received.length >= 20) {
          received = received.subarray(20);
          stage = 1;
          const exported = Buffer.alloc(10);
          exported.writeBigUInt64BE(BigInt(8 * MiB), 0);
          exported.writeUInt16BE(1, 8);
          socket.write(exported);
        }
        if (stage === 1 && received.length >= 28) {
          const reply = Buffer.alloc(16 + 1000);
          reply.writeUInt32BE(0x67446698, 0);
          received.copy(reply, 8, 8, 16); // the request's cookie
          socket.end(reply); // 1000 of 4096 bytes, then gone
          stage = 2;
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    try {
      const client = await NbdClient.connect(socketPath, '/images/app.qcow2');
      assert.equal(client.size, 8 * MiB);
      await assert.rejects(client.read(Buffer.alloc(4096), 4096, 12345), (error: unknown) => {
        assert.ok(error instanceof NbdError);
        assert.equal(
          error.message,
          '/images/app.qcow2: reading 4096 bytes at offset 12345 through qemu-nbd failed: the server closed the connection',
        );
        return true;
      });
      await assert.rejects(client.read(Buffer.alloc(10), 10, 0), /the connection is closed/);
      await client.close();
    } finally {
      server.close();
    }
  });

  it('qemu-nbd is stopped and its folder removed after a failure and after an abort while hashing', async () => {
    const file = container('qcow2', [], 'aborted.qcow2');
    await assert.rejects(
      withGuestDisk('image', file, async () => {
        assert.equal(qemuNbdServing(file).length, 1);
        throw new Error('stopped');
      }),
      /stopped/,
    );
    assert.deepEqual(qemuNbdServing(file), []);
    const controller = new AbortController();
    await assert.rejects(
      withGuestDisk('image', file, (disk) => {
        const hashing = hashGuestDisk(disk, controller.signal);
        controller.abort(new Error('cancelled'));
        return hashing;
      }),
      /cancelled/,
    );
    assert.deepEqual(qemuNbdServing(file), []);
  });

  it('killed outright (SIGKILL), the reading process leaves no qemu-nbd behind; its socket folder is swept by the next opening', async () => {
    const file = container('vdi', [], 'killed.vdi');
    const module = path.join(REPO_ROOT, 'dist', 'provider', 'aws', 'rawImage.js');
    const script = `require(${JSON.stringify(module)}).openGuestDisk('image', ${JSON.stringify(file)}).then(() => { console.log('open'); setInterval(() => {}, 1000); }, (error) => { console.error(error.message); process.exit(2); });`;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    let errors = '';
    child.stderr.on('data', (chunk: Buffer) => (errors += chunk.toString()));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('open') && resolve());
      child.once('exit', () => reject(new Error(`the reader exited first: ${errors}`)));
    });
    assert.equal(qemuNbdServing(file).length, 1, 'qemu-nbd serves the reader');
    child.kill('SIGKILL');
    await exited;
    assert.deepEqual(await qemuNbdGone(file), [], 'qemu-nbd exited once its client was gone');
    const left = readdirSync(scratch);
    assert.deepEqual(left.length, 1, 'the socket folder of the killed process remains');
    assert.ok(left[0].startsWith(`${NBD_FOLDER_PREFIX}${child.pid}-`), left[0]);
    await withGuestDisk('image', file, async () => {
      assert.deepEqual(
        readdirSync(scratch).filter((name) => !name.startsWith(`${NBD_FOLDER_PREFIX}${process.pid}-`)),
        [],
        'swept',
      );
    });
    assert.deepEqual(await sweepStaleFolders(scratch), []);
  });

  it('killed outright before it connected, the process leaves no qemu-nbd behind either (setpriv --pdeathsig)', async function () {
    if (spawnSync('setpriv', ['--version']).status !== 0) this.skip(); // util-linux's setpriv: apt-get install util-linux
    const file = container('qcow2', [], 'unconnected.qcow2');
    const module = path.join(REPO_ROOT, 'dist', 'provider', 'aws', 'containerDisk.js');
    const socket = path.join(folder.dir, 'unconnected.sock');
    const script = `require(${JSON.stringify(module)}).startServer('qemu-nbd', 'qcow2', ${JSON.stringify(socket)}, ${JSON.stringify(file)}); console.log('started'); setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    await new Promise<void>((resolve) => child.stdout.on('data', () => resolve()));
    const end = Date.now() + 5000;
    while (qemuNbdServing(file).length === 0 && Date.now() < end)
      await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(qemuNbdServing(file).length, 1, 'qemu-nbd waits for its client');
    child.kill('SIGKILL');
    await exited;
    assert.deepEqual(await qemuNbdGone(file), [], 'qemu-nbd ended with its parent');
  });

  it('qemu-img map: the data extents are the extents with data not known to be zeros, merged (pure)', () => {
    const map = (extents: object[]) => JSON.stringify(extents);
    assert.deepEqual(
      parseQemuImgMap(
        map([
          { start: 0, length: 100, data: true, zero: false },
          { start: 100, length: 50, data: true, zero: false },
          { start: 150, length: 50, data: false, zero: true },
          { start: 200, length: 100, data: true, zero: true }, // a fixed VHD's hole
          { start: 300, length: 100, data: true, zero: false },
        ]),
        400,
      ),
      [
        { offset: 0, length: 150 },
        { offset: 300, length: 100 },
      ],
    );
    assert.throws(() => parseQemuImgMap(map([{ start: 0, length: 100, data: true }]), 200), /covers 100 of 200/);
    assert.throws(() => parseQemuImgMap(map([{ start: 10, length: 100, data: true }]), 110), /do not follow/);
    assert.throws(() => parseQemuImgMap('{}', 110), /no list/);
  });
});
