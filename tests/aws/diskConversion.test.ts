/**
 * Container images (qcow2, VMDK, VHD, VHDX, VDI) read in place through qemu-nbd on the EBS path,
 * with qemu-img as the oracle: a raw image of known content is converted into each format by
 * qemu-img, snapshotted through the CLI `snapshot` command against the local AWS, read back block
 * by block through the EBS direct APIs and compared with the raw image; its content identity and
 * block list are the raw image's, and nothing is written to the temporary folder but qemu-nbd's
 * socket folder, removed afterwards. Without qemu-img the old refusal with the command stays; a
 * qemu-img failure is one line naming the file and leaves no snapshot and no temporary file.
 */
import { strict as assert } from 'assert';
import { execFileSync, spawnSync } from 'child_process';
import { mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'fs';
import * as path from 'path';
import { EBSClient } from '@aws-sdk/client-ebs';
import { EC2Client } from '@aws-sdk/client-ec2';
import { contentIdentity, encodeBlockList } from '../../provider/aws/blockList';
import { createEbsClient, createEc2Client } from '../../provider/aws/clients';
import { uploadSnapshot } from '../../provider/aws/ebsUpload';
import { AwsInputError } from '../../provider/aws/errors';
import { hashImageBlocks } from '../../provider/aws/imageBlocks';
import { parseContainerInfo, withGuestDisk } from '../../provider/aws/rawImage';
import { NBD_FOLDER_PREFIX } from '../../provider/aws/containerDisk';
import { snapshotId } from '../../provider/aws/ids';
import { hashedFile } from '../../provider/dynamic/source';
import { deleteSnapshot } from '../../provider/aws/snapshots';
import { LocalAws } from '../../testing/localAws';
import { holdsImage } from '../helpers/ebsReadBack';
import { MiB, runCliAsync, temporaryFolder, writeImage } from '../helpers/tools';

const hasQemuImg = spawnSync('qemu-img', ['--version']).status === 0;

describe('container images read in place through qemu-nbd for the EBS path', function () {
  this.timeout(120_000);
  let fake: LocalAws;
  let ebs: EBSClient;
  let ec2: EC2Client;
  let folder: ReturnType<typeof temporaryFolder>;
  /** TMPDIR of the commands run: where qemu-nbd's socket folders go, empty after each. */
  let scratch: string;
  let rawPath: string;
  let rawIdentity: string;
  let rawBlockList: string;
  let environment: NodeJS.ProcessEnv;

  before(async function () {
    if (!hasQemuImg) this.skip(); // qemu-img is the oracle and the converter: apt-get install qemu-utils
    fake = await LocalAws.start();
    ebs = createEbsClient({ endpoint: fake.endpoint, region: fake.region, credentials: fake.credentials });
    ec2 = createEc2Client({ endpoint: fake.endpoint, region: fake.region, credentials: fake.credentials });
    folder = temporaryFolder('conversion');
    scratch = path.join(folder.dir, 'tmp');
    mkdirSync(scratch);
    rawPath = path.join(folder.dir, 'guest.raw');
    // Data, written zeros, a hole and data again: 6 MiB, a size every format keeps exactly.
    writeImage(rawPath, [
      { kind: 'random', bytes: MiB + 4096 },
      { kind: 'zeros', bytes: MiB },
      { kind: 'hole', bytes: 2 * MiB - 4096 },
      { kind: 'random', bytes: 2 * MiB },
    ]);
    const hashed = await hashImageBlocks(rawPath);
    rawIdentity = contentIdentity(hashed);
    rawBlockList = encodeBlockList(hashed);
    environment = {
      AWS_ENDPOINT_URL: fake.endpoint,
      AWS_REGION: fake.region,
      AWS_ACCESS_KEY_ID: fake.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: fake.credentials.secretAccessKey,
      AWS_PROFILE: '',
      TMPDIR: scratch,
    };
  });
  after(async () => {
    ebs?.destroy();
    ec2?.destroy();
    await fake?.stop();
    folder?.cleanup();
  });
  afterEach(() => {
    if (scratch) assert.deepEqual(readdirSync(scratch), [], 'no socket folder is left');
  });

  const FORMATS: [string, string, string[]][] = [
    ['qcow2', 'qcow2', []],
    ['vmdk', 'vmdk', []],
    ['vmdk', 'vmdk (stream-optimized, compressed)', ['-o', 'subformat=streamOptimized']],
    ['vpc', 'vhd (dynamic)', ['-o', 'force_size=on']],
    ['vpc', 'vhd (fixed)', ['-o', 'subformat=fixed,force_size=on']],
    ['vhdx', 'vhdx', []],
    ['vdi', 'vdi', []],
  ];
  FORMATS.forEach(([format, label, options], position) => {
    it(`${label}: the CLI snapshot holds the raw image block for block, with the raw image's identity`, async () => {
      const file = path.join(folder.dir, `guest-${position}.${format}`);
      execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', format, ...options, rawPath, file]);
      const result = await runCliAsync(['snapshot', '--image', file, '--concurrency', '4', '--json'], environment);
      assert.equal(result.status, 0, result.stderr);
      const summary = JSON.parse(result.stdout) as Record<string, unknown>;
      assert.equal(summary.convertedFrom, format);
      assert.equal(summary.contentIdentity, rawIdentity, 'the identity of the guest content');
      assert.equal(summary.blockList, rawBlockList, 'the same blocks as the raw image');
      const id = snapshotId(summary.snapshotId as string);
      await holdsImage(ebs, id, rawPath);
      await deleteSnapshot(ec2, id);
    });
  });

  it('check then create in one process read the guest once each: the upload reuses the blocks check hashed', async () => {
    const file = path.join(folder.dir, 'once.qcow2');
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', rawPath, file]);
    const { identity, hashed } = await hashedFile(file, 'rawImagePath');
    assert.equal(identity, rawIdentity);
    assert.equal((await hashedFile(file, 'rawImagePath')).hashed, hashed, 'hashed once per file version');
    const result = await uploadSnapshot({ ebs, ec2, imagePath: file, hashed, expectedIdentity: identity });
    assert.equal(result.convertedFrom, 'qcow2');
    assert.equal(result.blocksRead, hashed.digests.size, 'the upload reads the data blocks once, and nothing more');
    const id = snapshotId(result.snapshotId);
    await holdsImage(ebs, id, rawPath);
    await deleteSnapshot(ec2, id);
  });

  it('without qemu-img on PATH the container is refused with the command to run, and nothing is made', async () => {
    const file = path.join(folder.dir, 'refused.qcow2');
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', rawPath, file]);
    const empty = path.join(folder.dir, 'no-tools');
    mkdirSync(empty, { recursive: true });
    const before = fake.snapshots().length;
    const result = await runCliAsync(['snapshot', '--image', file], { ...environment, PATH: empty });
    assert.equal(result.status, 1);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.match(result.stderr, /is a qcow2 \(QEMU\) disk image, not a raw one/);
    assert.ok(
      result.stderr
        .trim()
        .endsWith(`convert it first: qemu-img convert -f qcow2 -O raw ${file} ${file.replace(/\.qcow2$/, '.raw')}`),
      result.stderr,
    );
    assert.equal(fake.snapshots().length, before, 'no snapshot');
  });

  it('with qemu-img but without qemu-nbd on PATH the container is refused with the command to run, and nothing is made', async () => {
    const file = path.join(folder.dir, 'no-nbd.vhdx');
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'vhdx', rawPath, file]);
    const tools = path.join(folder.dir, 'qemu-img-only');
    mkdirSync(tools, { recursive: true });
    symlinkSync(execFileSync('sh', ['-c', 'command -v qemu-img']).toString().trim(), path.join(tools, 'qemu-img'));
    const before = fake.snapshots().length;
    const result = await runCliAsync(['snapshot', '--image', file], { ...environment, PATH: tools });
    assert.equal(result.status, 1);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.match(
      result.stderr,
      /is a VHDX \(Hyper-V\) disk image; reading it needs qemu-nbd \(Debian qemu-utils\), which is not on PATH/,
    );
    assert.ok(
      result.stderr
        .trim()
        .endsWith(
          `convert the image first: qemu-img convert -f vhdx -O raw ${file} ${file.replace(/\.vhdx$/, '.raw')}`,
        ),
      result.stderr,
    );
    assert.equal(fake.snapshots().length, before, 'no snapshot');
  });

  it('a qemu-img failure is one line naming the file, with no snapshot and no temporary file', async () => {
    const file = path.join(folder.dir, 'broken.qcow2');
    // The qcow2 magic, then a header no qemu-img accepts (version 99).
    const header = Buffer.alloc(4096);
    header.write('QFI\xfb', 0, 'latin1');
    header.writeUInt32BE(99, 4);
    writeFileSync(file, header);
    const before = fake.snapshots().length;
    const result = await runCliAsync(['snapshot', '--image', file], environment);
    assert.equal(result.status, 1);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.match(result.stderr, new RegExp(`${file}: qemu-img could not read this qcow2 \\(QEMU\\) image: `));
    assert.equal(fake.snapshots().length, before, 'no snapshot');
  });

  it('a container that takes content from another file (a backing file) is refused', async () => {
    const base = path.join(folder.dir, 'base.qcow2');
    const overlay = path.join(folder.dir, 'overlay.qcow2');
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', rawPath, base]);
    execFileSync('qemu-img', ['create', '-f', 'qcow2', '-b', base, '-F', 'qcow2', overlay], { stdio: 'ignore' });
    const settings = { endpoint: 'http://127.0.0.1:9', region: 'us-east-1', maxAttempts: 1 };
    await assert.rejects(
      uploadSnapshot({ ebs: createEbsClient(settings), ec2: createEc2Client(settings), imagePath: overlay }),
      (error: unknown) =>
        error instanceof AwsInputError &&
        error.message.startsWith(`${overlay} takes part of its content from other files (backing file ${base})`),
    );
  });

  it('the socket folder is removed and qemu-nbd stopped when what reads the disk fails', async () => {
    const file = path.join(folder.dir, 'used.vdi');
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'vdi', rawPath, file]);
    const previous = process.env.TMPDIR;
    process.env.TMPDIR = scratch;
    let seen = '';
    try {
      await assert.rejects(
        withGuestDisk('image', file, async (disk) => {
          assert.equal(disk.format, 'vdi');
          seen = readdirSync(scratch).join(',');
          throw new Error('stopped');
        }),
        /stopped/,
      );
    } finally {
      if (previous === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = previous;
    }
    assert.ok(seen.startsWith(`${NBD_FOLDER_PREFIX}${process.pid}-`), seen);
  });

  it('qemu-img info: another file is named by a backing file, a data file or a VMDK extent elsewhere (pure)', () => {
    const info = (data: object) => JSON.stringify({ 'virtual-size': 1048576, ...data });
    assert.deepEqual(parseContainerInfo(info({}), '/d/a.qcow2'), { virtualSize: 1048576, otherFiles: [] });
    assert.deepEqual(parseContainerInfo(info({ 'backing-filename': 'b.qcow2' }), '/d/a.qcow2').otherFiles, [
      'backing file b.qcow2',
    ]);
    assert.deepEqual(
      parseContainerInfo(info({ 'format-specific': { data: { 'data-file': '/x/data.raw' } } }), '/d/a.qcow2')
        .otherFiles,
      ['data file /x/data.raw'],
    );
    const extents = { 'format-specific': { data: { extents: [{ filename: 'a.vmdk' }, { filename: 'a-f001.vmdk' }] } } };
    assert.deepEqual(parseContainerInfo(info(extents), '/d/a.vmdk').otherFiles, ['extent a-f001.vmdk']);
    assert.throws(() => parseContainerInfo('{}', '/d/a.qcow2'), /no virtual size/);
  });
});
