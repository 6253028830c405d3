import { strict as assert } from 'assert';
import { checkBundleParameters, normalizeBundleParameters, BundleParameters } from '../../provider/bundle/parameters';
import { BundleInputError } from '../../provider/bundle/errors';

const good: BundleParameters = { name: 'app.img', accountId: '1234-5678-9012', architecture: 'x86_64' };

describe('bundle parameters', () => {
  it('normalizes a good set: hyphens stripped, mappings and product codes split', () => {
    assert.deepEqual(
      normalizeBundleParameters({
        ...good,
        blockDeviceMappings: 'root=/dev/sda1, ami=sda1',
        productCodes: 'A1,B2',
        kernelId: 'aki-fc8f11cc',
      }),
      {
        name: 'app.img',
        accountId: '123456789012',
        architecture: 'x86_64',
        kernelId: 'aki-fc8f11cc',
        ramdiskId: undefined,
        blockDeviceMappings: [
          { virtual: 'root', device: '/dev/sda1' },
          { virtual: 'ami', device: 'sda1' },
        ],
        productCodes: ['A1', 'B2'],
        ancestorAmiIds: undefined,
      },
    );
  });

  const bad: Array<[string, Partial<BundleParameters>, string, RegExp]> = [
    ['an empty name', { name: '' }, 'name', /is empty/],
    ['a name with /', { name: 'a/b' }, 'name', /path separator/],
    ['a name with spaces', { name: 'a b' }, 'name', /letters, digits/],
    ['11 digits', { accountId: '12345678901' }, 'accountId', /12-digit/],
    ['13 digits', { accountId: '1234567890123' }, 'accountId', /12-digit/],
    ['letters in the account', { accountId: '12345678901a' }, 'accountId', /12-digit/],
    ['an arch', { architecture: 'arm64' }, 'architecture', /i386 or x86_64/],
    ['a kernel id', { kernelId: 'ami-12345678' }, 'kernelId', /aki-/],
    ['a ramdisk id', { ramdiskId: 'ari-xyz' }, 'ramdiskId', /ari-/],
    ['a mapping without =', { blockDeviceMappings: 'ami' }, 'blockDeviceMappings', /virtual=device/],
    ['a virtual name', { blockDeviceMappings: 'disk=sda1' }, 'blockDeviceMappings', /ami, root, swap or ephemeralN/],
    ['a device', { blockDeviceMappings: 'ami=/dev/../sda' }, 'blockDeviceMappings', /not a device name/],
    ['a duplicate mapping', { blockDeviceMappings: 'ami=sda1,ami=sdb' }, 'blockDeviceMappings', /more than once/],
    ['a product code', { productCodes: 'ok,not ok' }, 'productCodes', /product code/],
    ['an ancestor', { ancestorAmiIds: ['aki-12345678'] }, 'ancestorAmiIds', /AMI id/],
  ];
  for (const [label, change, field, message] of bad) {
    it(`refuses ${label}, naming the field`, () => {
      assert.throws(
        () => normalizeBundleParameters({ ...good, ...change }),
        (error: unknown) => error instanceof BundleInputError && error.input === field && message.test(error.message),
      );
    });
  }

  it('reports every bad field at once for a preview', () => {
    const problems = checkBundleParameters({ name: '', accountId: 'x', architecture: 'y', kernelId: 'z' });
    assert.deepEqual(
      problems.map((problem) => problem.field),
      ['name', 'accountId', 'architecture', 'kernelId'],
    );
  });
});
