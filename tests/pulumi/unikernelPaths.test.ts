/**
 * The `Unikernel` component by either path, under `pulumi.runtime.setMocks`, asserting the inputs
 * each resource is registered with: kernelPath/imagePath take the instance-store path (bundle →
 * AMI from its manifest), rawImagePath the EBS path (an AMI from the raw image, no bundle); both or
 * neither is refused in one line; EbsUnikernel still registers what it did.
 */
import { strict as assert } from 'assert';
import * as pulumi from '@pulumi/pulumi';
import { BundledImage, EbsUnikernel, Unikernel } from '../../sdk';
import type { UnikernelArgs } from '../../sdk';

interface Registered {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
}

function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 50));
}

describe('Unikernel takes either path: kernelPath/imagePath (instance-store) or rawImagePath (EBS)', function () {
  this.timeout(30_000);
  let registered: Registered[];

  beforeEach(async () => {
    registered = [];
    await pulumi.runtime.setMocks(
      {
        newResource: async (args) => {
          registered.push({ type: args.type, name: args.name, inputs: args.inputs });
          return { id: `${args.name}-id`, state: { ...args.inputs, imageId: `ami-${args.name}` } };
        },
        call: () => ({}),
      },
      'unikernel-paths',
      'dev',
      false,
    );
  });

  const named = (name: string) => registered.find((entry) => entry.name === name);

  it('rawImagePath: an AMI from the raw image with the ami inputs, the instance on its id, and no bundle', async () => {
    const app = new Unikernel('nanos', {
      rawImagePath: 'nanos.raw',
      architecture: 'x86_64',
      region: 'eu-north-1',
      ami: { bootMode: 'legacy-bios', encrypted: true, description: 'Nanos', tags: { app: 'nanos' } },
      instance: { instanceType: 't3.micro' },
    });
    // The type says so too: no bundle on the EBS path.
    const none: undefined = app.bundle;
    assert.equal(none, undefined);
    await settle();
    assert.deepEqual(
      registered.map((entry) => entry.name),
      ['nanos', 'nanos-ami', 'nanos-instance'],
    );
    assert.equal(named('nanos')?.type, 'unikernel:index:Unikernel');
    const ami = named('nanos-ami')!.inputs;
    assert.equal(ami.rawImagePath, 'nanos.raw');
    assert.equal(ami.name, 'nanos', "the AMI's name defaults to the component's");
    assert.deepEqual(
      [ami.architecture, ami.region, ami.bootMode, ami.encrypted, ami.description],
      ['x86_64', 'eu-north-1', 'legacy-bios', true, 'Nanos'],
    );
    assert.equal(ami.manifestLocation, undefined);
    assert.equal(ami.imagePath, undefined, 'the new name only');
    const instance = named('nanos-instance')!.inputs;
    assert.deepEqual(
      [instance.imageId, instance.instanceType, instance.region],
      ['nanos-ami-id', 't3.micro', 'eu-north-1'],
    );
  });

  it('kernelPath: the bundle, the AMI on its manifest location, as before', async () => {
    const app = new Unikernel('mirage', {
      kernelPath: 'mir-app.xen',
      bucket: 'bundles',
      accountId: '123456789012',
      privateKey: 'key',
      certificate: 'cert',
      ec2Certificate: 'ec2-cert',
      ami: { description: 'MirageOS' },
    });
    const bundle: BundledImage = app.bundle;
    assert.ok(bundle instanceof BundledImage);
    await settle();
    assert.deepEqual(
      registered.map((entry) => entry.name),
      ['mirage', 'mirage-bundle', 'mirage-ami'],
    );
    const ami = named('mirage-ami')!.inputs;
    assert.equal(ami.manifestLocation, 'mirage-bundle-id');
    assert.equal(ami.description, 'MirageOS');
    assert.equal(ami.rawImagePath, undefined);
    assert.equal(named('mirage-bundle')!.inputs.kernelPath, 'mir-app.xen');
  });

  it('both paths, or neither, is refused in one line before anything is registered', async () => {
    const both = { rawImagePath: 'nanos.raw', kernelPath: 'mir-app.xen', bucket: 'b' } as unknown as UnikernelArgs; // a JavaScript program
    assert.throws(
      () => new Unikernel('both', both),
      (error: Error) =>
        error.message ===
        'Unikernel both: give rawImagePath (a raw disk image: the EBS path) or kernelPath (the instance-store path), not both',
    );
    const neither = { bucket: 'b' } as unknown as UnikernelArgs; // a JavaScript program
    assert.throws(
      () => new Unikernel('neither', neither),
      /^Error: Unikernel neither: give kernelPath \(a Xen PV kernel\) or imagePath \(a PV-GRUB disk image\) for the instance-store path, or rawImagePath \(a raw disk image\) for the EBS path$/,
    );
    // TypeScript refuses both as well.
    // @ts-expect-error kernelPath with rawImagePath
    const typed: UnikernelArgs = { rawImagePath: 'a.raw', kernelPath: 'k.xen', bucket: 'b' };
    assert.ok(typed);
    await settle();
    assert.deepEqual(
      registered.map((entry) => entry.name),
      ['both', 'neither'],
      'only the components themselves, no resource',
    );
  });

  it('EbsUnikernel (deprecated) registers its own component type and the same AMI inputs', async () => {
    new EbsUnikernel('legacy', { rawImagePath: 'nanos.raw', bootMode: 'uefi', name: 'legacy-app' });
    await settle();
    assert.equal(named('legacy')?.type, 'unikernel:index:EbsUnikernel');
    const ami = named('legacy-ami')!.inputs;
    assert.deepEqual([ami.rawImagePath, ami.bootMode, ami.name], ['nanos.raw', 'uefi', 'legacy-app']);
  });
});
