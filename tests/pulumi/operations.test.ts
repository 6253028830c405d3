/**
 * The three resources' operations called directly (no plugin), against the fake AWS: create in
 * dependency order, drift after out-of-band changes, updates in place, deletes to zero.
 */
import { strict as assert } from 'assert';
import * as path from 'path';
import * as bundled from '../../provider/dynamic/bundledImage/operations';
import * as ami from '../../provider/dynamic/registeredAmi/operations';
import * as instance from '../../provider/dynamic/unikernelInstance/operations';
import { rememberSettings } from '../../provider/dynamic/settings';
import { BundledImageInputs, BundledImageOutputs } from '../../provider/dynamic/bundledImage/types';
import { RegisteredAmiOutputs } from '../../provider/dynamic/registeredAmi/types';
import { UnikernelInstanceOutputs } from '../../provider/dynamic/unikernelInstance/types';
import { LocalAws } from '../../testing/localAws';
import { testEc2Identity, testPki } from '../helpers/pki';
import { MiB, temporaryFolder, writeImage } from '../helpers/tools';
import { buildXenKernel } from '../../testing/xenKernel';

describe('dynamic resource operations against the fake AWS', function () {
  this.timeout(60_000);
  let fake: LocalAws;
  let folder: ReturnType<typeof temporaryFolder>;
  const saved = { ...process.env };

  before(async () => {
    fake = await LocalAws.start({
      instancePendingMs: 20,
      instanceShuttingDownMs: 20,
      imagePendingMs: 20,
      ec2Identity: testEc2Identity(),
    });
    Object.assign(process.env, {
      AWS_ENDPOINT_URL: fake.endpoint,
      AWS_REGION: fake.region,
      AWS_ACCESS_KEY_ID: fake.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: fake.credentials.secretAccessKey,
    });
    rememberSettings({ get: (key) => (key === 'unikernel:pollSeconds' ? '0.02' : undefined) });
    fake.createBucket('unikernels', { objectOwnership: 'ObjectWriter' });
    folder = temporaryFolder('operations');
  });
  after(async () => {
    process.env = saved;
    await fake.stop();
    folder.cleanup();
  });

  function bundleInputs(extra: Partial<BundledImageInputs>): BundledImageInputs {
    const pki = testPki();
    return {
      bucket: 'unikernels',
      keyPrefix: 'images',
      accountId: fake.accountId,
      privateKey: pki.user.key,
      certificate: pki.user.cert,
      ec2Certificate: pki.ec2.cert,
      ...extra,
    };
  }

  it('bundles a kernel, registers and runs it; refresh sees drift; delete leaves nothing', async () => {
    const kernelPath = buildXenKernel(folder.dir, { fileName: 'mir-app.xen' });
    const checked = await bundled.check({}, bundleInputs({ kernelPath, kernelCommandLine: 'console=hvc0' }));
    assert.deepEqual(checked.failures, []);
    assert.match(checked.inputs.sourceHash ?? '', /^[0-9a-f]{64}$/);
    const image = await bundled.create({ ...checked.inputs, __provider: 'serialized' });
    assert.equal(image.id, image.outs.manifestLocation);
    assert.match(image.id, /^unikernels\/images\/[0-9a-f]{16}-[0-9a-f]{8}\/mir-app\.img\.manifest\.xml$/);
    assert.ok(!('privateKey' in image.outs), 'no private key in the outputs');
    assert.ok(!JSON.stringify(image.outs).includes('PRIVATE KEY'), 'no key material anywhere in the outputs');
    assert.equal(image.outs.bundleStatus, 'intact');

    assert.deepEqual(
      bundled.diff(image.outs, checked.inputs),
      { changes: false, replaces: [] },
      'nothing changed, nothing to do',
    );

    const amiInputs = {
      manifestLocation: image.outs.manifestLocation,
      manifestEtag: image.outs.manifestEtag,
      name: 'mir-app',
      tags: { app: 'mir' },
    };
    const registered = await ami.create((await ami.check({}, amiInputs)).inputs as unknown as Record<string, unknown>);
    assert.match(registered.id, /^ami-/);
    assert.match(registered.outs.effectiveKernelId ?? '', /^aki-/);

    const checkedInstance = instance.check(
      {},
      { imageId: registered.id, instanceType: 'm1.small', tags: { Name: 'mir' } },
    );
    const launched = await instance.create(checkedInstance.inputs as unknown as Record<string, unknown>);
    assert.equal(launched.outs.state, 'running');

    // drift: damage the bundle, terminate the instance, deregister the AMI, all out of band
    const [partKey] = image.outs.partKeys;
    fake.putObjectDirect('unikernels', partKey, Buffer.from('tampered'));
    const bundleRead = await bundled.read(image.id, image.outs);
    const damaged = bundleRead.props as unknown as BundledImageOutputs;
    assert.match(damaged.bundleStatus, /^damaged: part .* was changed/);
    const healing = bundled.diff(damaged, checked.inputs);
    assert.deepEqual(healing, { changes: true, replaces: ['bundleStatus'] });

    fake.setInstanceStateDirect(launched.id, 'terminated');
    assert.deepEqual(
      await instance.read(launched.id, launched.outs as unknown as Record<string, unknown>),
      { id: '' },
      'terminated out of band: gone',
    );

    const amiRead = await ami.read(registered.id, registered.outs as unknown as Record<string, unknown>);
    assert.equal((amiRead.props as unknown as RegisteredAmiOutputs).state, 'available');
    fake.deregisterImageDirect(registered.id);
    assert.deepEqual(
      await ami.read(registered.id, registered.outs as unknown as Record<string, unknown>),
      { id: '' },
      'deregistered out of band: gone',
    );

    await bundled.remove(image.id, image.outs);
    assert.deepEqual(fake.objects('unikernels'), []);
    assert.deepEqual(await bundled.read(image.id, image.outs), { id: '' });
  });

  it('updates tags in place and replaces on a new image, with a note on instance type changes', async () => {
    const imagePath = path.join(folder.dir, 'disk.img');
    writeImage(imagePath, [{ kind: 'random', bytes: MiB }]);
    // Random data, sealed for a certificate the local AWS does not hold: a script says how it boots.
    const checked = await bundled.check({}, bundleInputs({ imagePath, ec2Certificate: testPki().other.cert }));
    const image = await bundled.create({ ...checked.inputs });
    const registered = await ami.create({
      manifestLocation: image.outs.manifestLocation,
      name: 'disk',
      tags: { a: '1' },
    });
    const updatedAmi = await ami.update(
      registered.id,
      registered.outs as unknown as Record<string, unknown>,
      { ...registered.outs, description: 'now described', tags: { a: '2' } } as unknown as Record<string, unknown>,
    );
    assert.deepEqual(fake.images().find((each) => each.imageId === registered.id)?.tags, { a: '2' });
    assert.equal(fake.images().find((each) => each.imageId === registered.id)?.description, 'now described');
    assert.equal((updatedAmi.outs as RegisteredAmiOutputs).description, 'now described');

    // The local AWS cannot open the bundle (sealed for another certificate): the script decides.
    fake.scriptConsole({ imageId: registered.id }, { lines: ['Xen Minimal OS!'] });
    const checkedInstance = instance.check(
      {},
      { imageId: registered.id, instanceType: 'm3.medium', tags: { Name: 'x' } },
    );
    const launched = await instance.create(checkedInstance.inputs as unknown as Record<string, unknown>);
    const outs = launched.outs as UnikernelInstanceOutputs;
    assert.deepEqual(instance.diff(outs, { ...checkedInstance.inputs, tags: { Name: 'y' } }), {
      changes: true,
      replaces: [],
    });
    assert.deepEqual(instance.diff(outs, { ...checkedInstance.inputs, instanceType: 'c3.large' }), {
      changes: true,
      replaces: ['instanceType'],
    });
    await instance.update(
      launched.id,
      outs as unknown as Record<string, unknown>,
      { ...checkedInstance.inputs, tags: { Name: 'y' } } as unknown as Record<string, unknown>,
    );
    assert.deepEqual(fake.instances().find((each) => each.instanceId === launched.id)?.tags, { Name: 'y' });

    writeImage(imagePath, [{ kind: 'random', bytes: MiB }], 1_700_000_500);
    const rechecked = await bundled.check({}, bundleInputs({ imagePath, ec2Certificate: testPki().other.cert }));
    assert.notEqual(rechecked.inputs.sourceHash, checked.inputs.sourceHash);
    assert.deepEqual(bundled.diff(image.outs, rechecked.inputs), { changes: true, replaces: ['sourceHash'] });

    await instance.remove(launched.id, outs as unknown as Record<string, unknown>);
    await ami.remove(registered.id, registered.outs as unknown as Record<string, unknown>);
    await bundled.remove(image.id, image.outs);
    assert.deepEqual(fake.objects('unikernels'), []);
    assert.ok(fake.instances().every((each) => each.state === 'terminated'));
  });

  it('an unfinished upload is resumed in place, unless the change moves or remakes the bundle', async () => {
    const imagePath = path.join(folder.dir, 'unfinished.img');
    writeImage(imagePath, [{ kind: 'random', bytes: MiB }]);
    const checked = await bundled.check({}, bundleInputs({ imagePath }));
    const image = await bundled.create({ ...checked.inputs });
    const unfinished: BundledImageOutputs = { ...image.outs, bundleStatus: 'unfinished' };
    assert.deepEqual(
      bundled.diff(unfinished, checked.inputs),
      { changes: true, replaces: [] },
      'the same bundle: resume it',
    );
    assert.deepEqual(
      bundled.diff(unfinished, { ...checked.inputs, acl: 'bucket-owner-full-control' }),
      { changes: true, replaces: ['acl'] },
      'made again in a folder of its own, next to the old one (removed after)',
    );
    assert.deepEqual(bundled.diff(unfinished, { ...checked.inputs, keyPrefix: 'elsewhere' }), {
      changes: true,
      replaces: ['keyPrefix'],
    });
    assert.deepEqual(
      bundled.diff({ ...image.outs, bundleStatus: 'incomplete upload' }, checked.inputs),
      { changes: true, replaces: ['bundleStatus'] },
      'nothing to resume from: made again, next to it',
    );
    await bundled.remove(image.id, image.outs);
    assert.deepEqual(fake.objects('unikernels'), []);
  });

  it('checks every input with a message per property', async () => {
    const { failures } = await bundled.check({}, {
      bucket: 'Bad_Bucket',
      accountId: '123',
      privateKey: 'nope',
      certificate: 'nope',
      ec2Certificate: '',
    } as BundledImageInputs);
    const properties = failures.map((failure) => failure.property).sort();
    assert.deepEqual(properties, ['accountId', 'bucket', 'ec2Certificate', 'imagePath']);
    const kernelFailures = await bundled.check({}, bundleInputs({ kernelPath: '/etc/passwd' }));
    assert.equal(kernelFailures.failures[0].property, 'kernelPath');
    assert.match(kernelFailures.failures[0].reason, /not an ELF file/);
    assert.deepEqual(
      (await ami.check({}, { manifestLocation: 'nope', name: 'x' })).failures.map((failure) => failure.property),
      ['manifestLocation', 'name'],
    );
    assert.deepEqual(
      instance.check({}, { imageId: 'i-123', instanceType: 'big' }).failures.map((failure) => failure.property),
      ['imageId', 'instanceType'],
    );
  });

  it('never deletes a bundle it did not upload, and replaces without reusing names or tokens', async () => {
    const imagePath = path.join(folder.dir, 'keep.img');
    writeImage(imagePath, [{ kind: 'random', bytes: 300 * 1024 }]);
    // Random data, sealed for a certificate the local AWS does not hold: a script says how it boots.
    const checked = await bundled.check({}, bundleInputs({ imagePath, ec2Certificate: testPki().other.cert }));
    const image = await bundled.create({ ...checked.inputs });
    const before = fake.objects('unikernels').map((object) => `${object.key} ${object.md5}`);
    // the same inputs again (another stack, or a replacement of the same content): a folder of its
    // own, next to the existing bundle, which stays as it was
    const twin = await bundled.create({ ...checked.inputs });
    assert.notEqual(twin.id, image.id);
    assert.equal(twin.outs.bundleKey.slice(0, 16), image.outs.bundleKey.slice(0, 16), 'the same content key');
    await bundled.remove(twin.id, twin.outs);
    assert.deepEqual(
      fake.objects('unikernels').map((object) => `${object.key} ${object.md5}`),
      before,
    );

    const amiInputs = { manifestLocation: image.outs.manifestLocation, name: 'keep' };
    const registered = await ami.create(amiInputs);
    assert.deepEqual(
      ami.diff(registered.outs, amiInputs),
      { changes: false, replaces: [] },
      'no tags given, none found: no change',
    );
    const rebundled = ami.diff(registered.outs, { ...amiInputs, manifestEtag: 'f'.repeat(32) });
    assert.deepEqual(
      rebundled,
      { changes: true, replaces: ['manifestEtag'] },
      'a name of its own: the new AMI is registered before the old one goes',
    );
    assert.match(String(registered.outs.imageName), /^keep-[0-9a-f]{8}$/);
    assert.deepEqual(
      ami.diff(
        { ...registered.outs, exactName: true },
        { ...amiInputs, exactName: true, manifestEtag: 'f'.repeat(32) },
      ),
      { changes: true, replaces: ['manifestEtag'], deleteBeforeReplace: true },
      'exactly the same name: the old AMI goes first',
    );

    const instanceInputs = { imageId: registered.id, instanceType: 'm1.small' };
    // The local AWS cannot open the bundle (sealed for another certificate): the script decides.
    fake.scriptConsole({ imageId: registered.id }, { lines: ['Xen Minimal OS!'] });
    const first = await instance.create({ ...instanceInputs });
    assert.deepEqual(instance.diff(first.outs, instanceInputs), { changes: false, replaces: [] });
    const replacement = await instance.create({
      ...instance.check(first.outs, { ...instanceInputs, instanceType: 'm3.medium' }).inputs,
    });
    assert.notEqual(replacement.id, first.id, 'the replacement is a new instance');
    assert.notEqual(replacement.outs.clientToken, first.outs.clientToken);

    for (const launched of [first, replacement])
      await instance.remove(launched.id, launched.outs as unknown as Record<string, unknown>);
    await ami.remove(registered.id, registered.outs as unknown as Record<string, unknown>);
    await bundled.remove(image.id, image.outs);
    assert.deepEqual(fake.objects('unikernels'), []);
  });
});
