/**
 * RegisteredAmi from a raw image (EBS-backed HVM through the EBS direct APIs), through the real
 * dynamic-provider plugin against the fake AWS: create, launch on a Nitro type, drift of the
 * snapshot or the AMI, delete of both.
 */
import { strict as assert } from 'assert';
import { execFileSync, spawnSync } from 'child_process';
import { readFileSync } from 'fs';
import * as path from 'path';
import { check } from '../../provider/dynamic/registeredAmi/operations';
import { registeredAmiProvider } from '../../provider/dynamic/registeredAmi/provider';
import { unikernelInstanceProvider } from '../../provider/dynamic/unikernelInstance/provider';
import { LocalAws } from '../../testing/localAws';
import {
  PluginClient,
  PluginRpcError,
  serializeProvider,
  startPlugin,
  withoutProvider,
} from '../../testing/pluginHarness';
import { MiB, checkoutProject, temporaryFolder, writeImage } from '../helpers/tools';
import { qemuNbdServing } from '../helpers/qemuNbd';

describe('RegisteredAmi from a raw image (EBS-backed) through the plugin', function () {
  this.timeout(120_000);
  let fake: LocalAws;
  let plugin: PluginClient;
  let amis: PluginClient;
  let instances: PluginClient;
  let folder: ReturnType<typeof temporaryFolder>;
  let imagePath: string;

  before(async () => {
    fake = await LocalAws.start({ instancePendingMs: 20, instanceShuttingDownMs: 20, imagePendingMs: 20 });
    folder = temporaryFolder('ebs-ami');
    imagePath = path.join(folder.dir, 'nanos.raw');
    writeImage(imagePath, [
      { kind: 'random', bytes: MiB + 12345, bootSignature: true },
      { kind: 'zeros', bytes: MiB },
      { kind: 'random', bytes: 4096 },
    ]);
    plugin = await startPlugin({
      cwd: checkoutProject(),
      env: {
        AWS_ENDPOINT_URL: fake.endpoint,
        AWS_REGION: fake.region,
        AWS_ACCESS_KEY_ID: fake.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: fake.credentials.secretAccessKey,
        AWS_PROFILE: undefined,
      },
      config: { 'unikernel:pollSeconds': '0.05' },
    });
    amis = plugin.withProvider(await serializeProvider(registeredAmiProvider));
    instances = plugin.withProvider(await serializeProvider(unikernelInstanceProvider));
  });
  after(async () => {
    await plugin?.stop();
    await fake?.stop();
    folder?.cleanup();
  });

  async function createAmi(name: string, extra: Record<string, unknown> = {}) {
    const urn = amis.urn('unikernel:RegisteredAmi', name);
    const checked = await amis.check(urn, {}, { rawImagePath: imagePath, name, tags: { app: 'nanos' }, ...extra });
    assert.deepEqual(checked.failures, []);
    const created = await amis.create(urn, checked.inputs);
    return { urn, inputs: checked.inputs, id: created.id, outputs: withoutProvider(created.properties) };
  }

  it('writes the image into a snapshot, registers an HVM AMI on it, and runs it on t3.micro', async () => {
    const ami = await createAmi('nanos-app');
    assert.match(ami.id, /^ami-/);
    assert.equal(ami.outputs.rootDeviceType, 'ebs');
    const snapshot = fake.snapshot(ami.outputs.snapshotId as string);
    assert.equal(snapshot?.state, 'completed');
    const volume = fake.snapshotBytes(ami.outputs.snapshotId as string);
    const original = await import('fs').then((fs) => fs.readFileSync(imagePath));
    assert.deepEqual(volume.subarray(0, original.length), original, 'the snapshot holds the image');
    const image = fake.images().find((each) => each.imageId === ami.id);
    assert.equal(image?.virtualizationType, 'hvm');
    assert.equal(image?.enaSupport, true);
    await plugin.waitForOutput(/RegisteredAmi nanos-app: .* is available \(EBS-backed, hvm/);

    const urn = instances.urn('unikernel:UnikernelInstance', 'nanos-vm');
    const checked = await instances.check(urn, {}, { imageId: ami.id, instanceType: 't3.micro' });
    const launched = await instances.create(urn, checked.inputs);
    assert.equal(launched.properties.state, 'running');
    await instances.delete(launched.id, urn, launched.properties);

    const diff = await amis.diff(ami.id, ami.urn, ami.outputs, ami.inputs);
    assert.equal(diff.changes, 'DIFF_NONE');
    const newImage = await amis.diff(ami.id, ami.urn, ami.outputs, { ...ami.inputs, sourceHash: 'f'.repeat(64) });
    assert.deepEqual(
      [newImage.changes, newImage.replaces],
      ['DIFF_SOME', ['sourceHash']],
      'a new image is a new AMI: a replacement, made before the old one is deleted',
    );

    await amis.delete(ami.id, ami.urn, ami.outputs);
    assert.equal(fake.snapshot(ami.outputs.snapshotId as string), undefined, 'the snapshot is deleted with the AMI');
    assert.ok(fake.images().every((each) => each.imageId !== ami.id || each.state === 'deregistered'));
  });

  it('a new image replaces the AMI: a child snapshot of only the changed blocks, registered while the old AMI stays', async () => {
    const fs = await import('fs');
    const own = path.join(folder.dir, 'update.raw');
    writeImage(own, [
      { kind: 'random', bytes: 2 * MiB },
      { kind: 'hole', bytes: 8 * MiB },
      { kind: 'random', bytes: MiB },
    ]);
    const ami = await createAmi('update-app', { rawImagePath: own });
    const fd = fs.openSync(own, 'r+');
    fs.writeSync(fd, Buffer.alloc(1000, 0x77), 0, 1000, 5 * MiB);
    fs.closeSync(fd);
    // The program still gives the former name: a warning, and the same AMI as with rawImagePath.
    const rechecked = await amis.check(ami.urn, ami.inputs, {
      imagePath: own,
      name: 'update-app',
      tags: { app: 'nanos' },
    });
    assert.equal(rechecked.inputs.rawImagePath, own);
    assert.equal('imagePath' in rechecked.inputs, false, 'checked under its new name');
    await plugin.waitForOutput(
      /RegisteredAmi update-app: warning: imagePath is deprecated and will be removed: rename it to rawImagePath/,
    );
    assert.notEqual(rechecked.inputs.sourceHash, ami.inputs.sourceHash);
    const diff = await amis.diff(ami.id, ami.urn, ami.outputs, rechecked.inputs);
    assert.deepEqual([diff.changes, diff.replaces, diff.deleteBeforeReplace], ['DIFF_SOME', ['sourceHash'], false]);
    assert.equal(rechecked.inputs.parentSourceHash, ami.inputs.sourceHash, 'check hands the previous image over');
    // The engine creates the replacement first, then deletes what it replaces.
    fake.clearRequests();
    const created = await amis.create(ami.urn, rechecked.inputs);
    const outs = withoutProvider(created.properties);
    assert.notEqual(created.id, ami.id);
    const puts = fake.requests.filter((request) => request.operation === 'PutSnapshotBlock' && request.status === 201);
    assert.deepEqual(
      puts.map((request) => request.params.BlockIndex),
      ['10'],
      'only the changed block is written',
    );
    assert.equal(fake.snapshot(outs.snapshotId as string)?.parentSnapshotId, ami.outputs.snapshotId);
    await plugin.waitForOutput(/writing 1 changed block\(s\) of 22 into a child of snap-/);
    assert.equal(outs.state, 'available');
    assert.equal(fake.images().find((each) => each.imageId === ami.id)?.state, 'available', 'the old AMI still runs');
    const volume = fake.snapshotBytes(outs.snapshotId as string);
    const image = fs.readFileSync(own);
    assert.ok(volume.subarray(0, image.length).equals(image), 'the new snapshot holds the new image');
    await amis.delete(ami.id, ami.urn, ami.outputs);
    assert.equal(fake.snapshot(ami.outputs.snapshotId as string), undefined, 'the old snapshot goes with the old AMI');
    assert.equal(fake.images().find((each) => each.imageId === created.id)?.state, 'available');
    await amis.delete(created.id, ami.urn, outs);
    assert.equal(fake.snapshot(outs.snapshotId as string), undefined);
  });

  it('a replacement whose previous snapshot is gone uploads the whole image and says why', async () => {
    const fs = await import('fs');
    const own = path.join(folder.dir, 'gone.raw');
    writeImage(own, [{ kind: 'random', bytes: 3 * MiB }]);
    const ami = await createAmi('gone-app', { rawImagePath: own });
    const fd = fs.openSync(own, 'r+');
    fs.writeSync(fd, Buffer.alloc(1000, 0x55), 0, 1000, MiB);
    fs.closeSync(fd);
    const rechecked = await amis.check(ami.urn, ami.inputs, {
      rawImagePath: own,
      name: 'gone-app',
      tags: { app: 'nanos' },
    });
    await amis.delete(ami.id, ami.urn, ami.outputs);
    fake.clearRequests();
    const created = await amis.create(ami.urn, rechecked.inputs);
    const outs = withoutProvider(created.properties);
    const puts = fake.requests.filter((request) => request.operation === 'PutSnapshotBlock' && request.status === 201);
    assert.equal(puts.length, 6, 'every block of the 3 MiB image');
    assert.equal(fake.snapshot(outs.snapshotId as string)?.parentSnapshotId, undefined);
    await plugin.waitForOutput(/no completed snapshot of the previous image was found: the whole image is uploaded/);
    const volume = fake.snapshotBytes(outs.snapshotId as string);
    assert.ok(volume.subarray(0, 3 * MiB).equals(fs.readFileSync(own)));
    await amis.delete(created.id, ami.urn, outs);
  });

  it('encrypted: the snapshot and the root volume of the AMI are encrypted with the key given; a key alone is refused', async () => {
    const key = 'arn:aws:kms:us-east-1:123456789012:key/5f1c2d3e-aaaa-bbbb-cccc-1234567890ab';
    const urn = amis.urn('unikernel:RegisteredAmi', 'enc');
    const refused = await amis.check(urn, {}, { rawImagePath: imagePath, name: 'enc-app', kmsKeyArn: key });
    assert.deepEqual(refused.failures, [
      { property: 'kmsKeyArn', reason: 'a KMS key encrypts only with encrypted: true' },
    ]);
    const badKey = await amis.check(
      urn,
      {},
      { rawImagePath: imagePath, name: 'enc-app', encrypted: true, kmsKeyArn: 'my-key' },
    );
    assert.match(badKey.failures[0]?.reason ?? '', /is not a KMS key or alias ARN/);
    const ami = await createAmi('enc-app', { encrypted: true, kmsKeyArn: key });
    const snapshot = fake.snapshot(ami.outputs.snapshotId as string);
    assert.deepEqual([snapshot?.encrypted, snapshot?.kmsKeyArn], [true, key]);
    const root = fake.images().find((each) => each.imageId === ami.id)?.blockDeviceMappings[0];
    assert.equal(root?.ebs?.Encrypted, 'true');
    const plain = await amis.diff(ami.id, ami.urn, ami.outputs, {
      ...ami.inputs,
      encrypted: false,
      kmsKeyArn: undefined,
    });
    assert.ok(plain.replaces.includes('encrypted'), 'encryption is changed by a replacement');
    await amis.delete(ami.id, ami.urn, ami.outputs);
  });

  it('reports a snapshot deleted or an AMI deregistered outside Pulumi as drift that replaces it', async () => {
    const ami = await createAmi('drift-app');
    fake.deleteSnapshotDirect(ami.outputs.snapshotId as string);
    const read = await amis.read(ami.id, ami.urn, ami.outputs);
    assert.equal(read.id, ami.id);
    assert.equal(read.properties.state, 'snapshot deleted outside Pulumi');
    const diff = await amis.diff(ami.id, ami.urn, withoutProvider(read.properties), ami.inputs);
    assert.deepEqual(diff.replaces, ['state']);
    await amis.delete(ami.id, ami.urn, withoutProvider(read.properties));

    const second = await createAmi('drift-app-2');
    fake.deregisterImageDirect(second.id);
    const gone = await amis.read(second.id, second.urn, second.outputs);
    assert.equal(gone.properties.state, 'deregistered outside Pulumi');
    await amis.delete(second.id, second.urn, withoutProvider(gone.properties));
    assert.equal(fake.snapshot(second.outputs.snapshotId as string), undefined, 'the snapshot left behind is deleted');
  });

  it('refuses bundle-only options, and cleans up a snapshot whose upload fails', async () => {
    const urn = amis.urn('unikernel:RegisteredAmi', 'bad');
    const checked = await amis.check(
      urn,
      {},
      { rawImagePath: imagePath, name: 'bad-app', kernelId: 'aki-12345678', virtualizationType: 'paravirtual' },
    );
    assert.deepEqual(checked.failures.map((failure) => failure.property).sort(), ['kernelId', 'virtualizationType']);

    const both = await amis.check(urn, {}, { rawImagePath: imagePath, imagePath, name: 'both-app' });
    assert.deepEqual(both.failures, [
      { property: 'imagePath', reason: 'is the former name of rawImagePath: give rawImagePath only' },
    ]);

    // Without qemu-img on PATH, a qcow2 file is refused with the command that converts it.
    if (spawnSync('qemu-img', ['--version']).status === 0) {
      const qcow = path.join(folder.dir, 'refused.qcow2');
      execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', imagePath, qcow]);
      const previous = process.env.PATH;
      process.env.PATH = folder.dir;
      const container = await check({}, { rawImagePath: qcow, name: 'qcow-app' }).finally(
        () => (process.env.PATH = previous),
      );
      assert.equal(container.failures.length, 1);
      assert.equal(container.failures[0].property, 'rawImagePath');
      assert.match(
        container.failures[0].reason,
        /is a qcow2 \(QEMU\) disk image, not a raw one: .*convert it first: qemu-img convert -f qcow2 -O raw \S+refused\.qcow2 \S+refused\.raw$/,
      );
    }

    fake.faults.inject({
      service: 'ebs',
      operation: 'PutSnapshotBlock',
      kind: 'status',
      status: 400,
      code: 'ValidationException',
    });
    const good = await amis.check(urn, {}, { rawImagePath: imagePath, name: 'failing-app' });
    await assert.rejects(
      amis.create(urn, good.inputs),
      (error: unknown) => error instanceof PluginRpcError && !error.partial,
    );
    fake.faults.clear();
    assert.deepEqual(fake.snapshots(), [], 'no snapshot left behind (the earlier cases deleted theirs too)');
  });
  it("a qcow2 or VMDK image is read through qemu-nbd: the raw image's identity, and its snapshot holds the raw image", async function () {
    if (spawnSync('qemu-img', ['--version']).status !== 0) this.skip(); // qemu-img is the oracle: apt-get install qemu-utils
    const urn = amis.urn('unikernel:RegisteredAmi', 'qcow-app');
    // Whole 512-byte sectors: qemu-img gives a guest disk of whole sectors (it rounds a raw file up).
    const aligned = path.join(folder.dir, 'aligned.raw');
    writeImage(aligned, [
      { kind: 'random', bytes: MiB + 4096 },
      { kind: 'hole', bytes: 2 * MiB },
      { kind: 'random', bytes: 512 },
    ]);
    const raw = await amis.check(urn, {}, { rawImagePath: aligned, name: 'qcow-app' });
    for (const format of ['qcow2', 'vmdk']) {
      const file = path.join(folder.dir, `nanos.${format}`);
      execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', format, aligned, file]);
      const checked = await amis.check(urn, {}, { rawImagePath: file, name: 'qcow-app' });
      assert.deepEqual(checked.failures, []);
      assert.equal(checked.inputs.sourceHash, raw.inputs.sourceHash, `${format}: the identity of the raw content`);
      assert.equal(checked.inputs.blockList, raw.inputs.blockList, `${format}: the raw image's blocks`);
    }
    const qcow = path.join(folder.dir, 'nanos.qcow2');
    const checked = await amis.check(urn, {}, { rawImagePath: qcow, name: 'qcow-app' });
    const created = await amis.create(urn, checked.inputs);
    assert.deepEqual(qemuNbdServing(qcow), [], 'no qemu-nbd left once created');
    const outs = withoutProvider(created.properties);
    const original = readFileSync(aligned);
    const volume = fake.snapshotBytes(outs.snapshotId as string);
    assert.ok(volume.subarray(0, original.length).equals(original), 'the snapshot holds the raw image');
    assert.ok(volume.subarray(original.length).equals(Buffer.alloc(volume.length - original.length)));
    await amis.delete(created.id, urn, outs);
    assert.equal(fake.snapshot(outs.snapshotId as string), undefined);
  });
});
