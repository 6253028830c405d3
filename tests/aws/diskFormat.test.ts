/**
 * Disk container formats told from raw images by their headers (pure), held to the files qemu-img
 * makes; the EBS path refuses them with the command that converts them, before any AWS call.
 */
import { strict as assert } from 'assert';
import { execFileSync, spawnSync } from 'child_process';
import { readFileSync } from 'fs';
import * as path from 'path';
import {
  containerFormat,
  convertCommand,
  ContainerFormat,
  HEAD_BYTES,
  TAIL_BYTES,
} from '../../provider/aws/diskFormat';
import { uploadSnapshot } from '../../provider/aws/ebsUpload';
import { AwsInputError } from '../../provider/aws/errors';
import { createEbsClient, createEc2Client } from '../../provider/aws/clients';
import { MiB, temporaryFolder, writeImage } from '../helpers/tools';

const hasQemuImg = spawnSync('qemu-img', ['--version']).status === 0;

function formatOf(file: string): ContainerFormat | undefined {
  const data = readFileSync(file);
  return containerFormat(data.subarray(0, HEAD_BYTES), data.subarray(Math.max(0, data.length - TAIL_BYTES)));
}

describe('disk container formats (qcow2, VMDK, VHD, VHDX, VDI) are recognized and refused as raw images', () => {
  const folder = temporaryFolder('formats');
  after(() => folder.cleanup());

  it('a raw image, random or zeros, is no container', () => {
    const raw = path.join(folder.dir, 'disk.raw');
    writeImage(raw, [{ kind: 'random', bytes: MiB }]);
    assert.equal(formatOf(raw), undefined);
    assert.equal(containerFormat(Buffer.alloc(HEAD_BYTES), Buffer.alloc(TAIL_BYTES)), undefined);
    assert.equal(containerFormat(Buffer.alloc(10), Buffer.alloc(10)), undefined, 'a tiny file');
  });

  it('the convert command names the format and a .raw output, quoted for the shell', () => {
    assert.equal(convertCommand('qcow2', 'app.qcow2'), 'qemu-img convert -f qcow2 -O raw app.qcow2 app.raw');
    assert.equal(
      convertCommand('vpc', "my disk's.vhd"),
      "qemu-img convert -f vpc -O raw 'my disk'\\''s.vhd' 'my disk'\\''s.raw'",
    );
  });

  for (const [format, options] of [
    ['qcow2', []],
    ['vmdk', []],
    ['vmdk', ['-o', 'subformat=streamOptimized']],
    ['vpc', []],
    ['vpc', ['-o', 'subformat=fixed']],
    ['vhdx', []],
    ['vdi', []],
  ] as [ContainerFormat, string[]][]) {
    it(`qemu-img's ${format} ${options.join(' ')} is recognized, and qemu-img converts it back to the raw image`, function () {
      if (!hasQemuImg) this.skip(); // qemu-img is the oracle here: apt-get install qemu-utils
      const raw = path.join(folder.dir, 'source.raw');
      writeImage(raw, [{ kind: 'random', bytes: 2 * MiB }]);
      const file = path.join(folder.dir, `disk-${format}-${options.length}.${format}`);
      execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', format, ...options, raw, file]);
      assert.equal(formatOf(file), format);
      const back = path.join(folder.dir, 'back.raw');
      execFileSync('bash', ['-c', convertCommand(format, file).replace(/ \S+\.raw$/, ` ${back}`)]);
      assert.ok(
        readFileSync(back)
          .subarray(0, 2 * MiB)
          .equals(readFileSync(raw)),
        'the command converts it',
      );
    });
  }

  it('without qemu-img on PATH, uploadSnapshot refuses a container before any AWS call, with the command to run', async function () {
    if (!hasQemuImg) this.skip(); // qemu-img makes the qcow2 file: apt-get install qemu-utils
    const raw = path.join(folder.dir, 'app.raw');
    writeImage(raw, [{ kind: 'random', bytes: MiB }]);
    const qcow = path.join(folder.dir, 'app.qcow2');
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, qcow]);
    // Nothing listens on this endpoint: any AWS call would fail with another error.
    const settings = { endpoint: 'http://127.0.0.1:9', region: 'us-east-1', maxAttempts: 1 };
    const previous = process.env.PATH;
    process.env.PATH = folder.dir; // no qemu-img there
    const upload = uploadSnapshot({ ebs: createEbsClient(settings), ec2: createEc2Client(settings), imagePath: qcow });
    await assert.rejects(
      upload.finally(() => (process.env.PATH = previous)),
      (error: unknown) =>
        error instanceof AwsInputError &&
        error.input === 'image' &&
        error.message.includes(`is a qcow2 (QEMU) disk image, not a raw one`) &&
        error.message.endsWith(
          `convert it first: qemu-img convert -f qcow2 -O raw ${qcow} ${path.join(folder.dir, 'app.raw')}`,
        ),
    );
  });
});
