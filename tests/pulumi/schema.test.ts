/**
 * The one declaration per resource and what derives from it (pure): the public inputs, the props a
 * resource class hands to Pulumi, the typed parse at the boundary, and check's answer to a value of
 * the wrong kind.
 */
import { strict as assert } from 'assert';
import * as pulumi from '@pulumi/pulumi';
import { bundledImageSchema, PUBLIC_INPUTS } from '../../provider/dynamic/bundledImage/types';
import { registeredAmiSchema } from '../../provider/dynamic/registeredAmi/types';
import { unikernelInstanceSchema } from '../../provider/dynamic/unikernelInstance/types';
import { checkAmiInputs, sourceOf } from '../../provider/dynamic/registeredAmi/rules';
import { checkInstanceInputs } from '../../provider/dynamic/unikernelInstance/rules';
import { positiveSecondsProblem, regionMoves, wholeNumberProblem } from '../../provider/dynamic/inputRules';
import { parseInputs, parseOutputs, parsePlanned, refreshedInputs } from '../../provider/dynamic/schema';
import { isKnown, UNKNOWN } from '../../provider/dynamic/values';
import { resourceProps } from '../../sdk/declared';

describe('resource declarations and what derives from them', () => {
  it('the state keeps every BundledImage input but the secrets, and sourceHash', () => {
    assert.deepEqual([...PUBLIC_INPUTS].sort(), [
      'accountId',
      'acl',
      'architecture',
      'blockDeviceMappings',
      'bucket',
      'bundleName',
      'certificate',
      'createBucket',
      'ec2Certificate',
      'imagePath',
      'imageSize',
      'kernelCommandLine',
      'kernelId',
      'kernelPath',
      'keyPrefix',
      'productCodes',
      'ramdiskId',
      'region',
      'sourceHash',
      'sparse',
      'timeoutSeconds',
    ]);
  });

  it('each resource class passes the keys it declares or reserves and the args lack as undefined, and wraps the secrets', () => {
    const undefinedKeys = (props: Record<string, unknown>) =>
      Object.keys(props)
        .filter((key) => props[key] === undefined)
        .sort();
    const bundle = resourceProps(bundledImageSchema, {
      bucket: 'b',
      accountId: '1',
      privateKey: 'k',
      certificate: 'c',
      ec2Certificate: 'e',
    });
    assert.deepEqual(undefinedKeys(bundle), [
      'architecture',
      'bundleKey',
      'bundleName',
      'bundleStatus',
      'bundledSize',
      'imageBytes',
      'imageDigest',
      'imageSha256',
      'keyPrefix',
      'manifestEtag',
      'manifestKey',
      'manifestLocation',
      'partCount',
      'region',
      'sourceHash',
    ]);
    assert.ok(pulumi.Output.isInstance(bundle.privateKey), 'the private key goes as a secret Output');
    assert.ok(!('privateKeyPassphrase' in bundle), 'no passphrase, no secret made for it');
    assert.ok(
      pulumi.Output.isInstance(resourceProps(bundledImageSchema, { privateKeyPassphrase: 'p' }).privateKeyPassphrase),
    );
    assert.deepEqual(undefinedKeys(resourceProps(registeredAmiSchema, { name: 'n' })), [
      'blockList',
      'effectiveKernelId',
      'imageId',
      'imageName',
      'region',
      'rootDeviceType',
      'snapshotId',
      'state',
      'tags',
      'tagsAll',
    ]);
    assert.deepEqual(
      undefinedKeys(resourceProps(unikernelInstanceSchema, { imageId: 'ami-1', instanceType: 't3.micro' })),
      [
        'arn',
        'availabilityZone',
        'bootStatus',
        'clientToken',
        'instanceId',
        'privateDns',
        'privateIpAddress',
        'publicDns',
        'publicIpAddress',
        'region',
        'rootDeviceType',
        'rootVolumeTags',
        'state',
        'statusCheck',
        'tags',
        'tagsAll',
      ],
    );
  });

  it('refresh returns the state without what only the provider sets', () => {
    const state = {
      imageId: 'ami-12345678',
      instanceType: 'm1.small',
      region: 'r',
      tags: {},
      instanceId: 'i-1',
      state: 'running',
      clientToken: 't',
      publicIpAddress: '1.2.3.4',
      __provider: 'code',
    };
    assert.deepEqual(refreshedInputs(unikernelInstanceSchema, state), {
      imageId: 'ami-12345678',
      instanceType: 'm1.small',
      region: 'r',
      tags: {},
      __provider: 'code',
    });
  });

  it('props are parsed at the boundary: what create and read get must match the declaration', () => {
    const inputs = parseInputs(
      unikernelInstanceSchema,
      { imageId: 'ami-12345678', instanceType: 't3.micro', securityGroupIds: ['sg-12345678'], __provider: 'x' },
      'UnikernelInstance',
    );
    assert.equal(inputs.instanceType, 't3.micro');
    assert.throws(
      () => parseInputs(unikernelInstanceSchema, { imageId: 'ami-12345678' }, 'UnikernelInstance'),
      /UnikernelInstance: the inputs do not match the declaration: instanceType is missing/,
    );
    assert.throws(
      () => parseInputs(unikernelInstanceSchema, { imageId: UNKNOWN, instanceType: 't3.micro' }, 'UnikernelInstance'),
      /imageId is unknown/,
    );
    assert.throws(
      () =>
        parseOutputs(
          registeredAmiSchema,
          { name: 'n', tags: {}, region: 'r', imageId: 'ami-1', state: 'available', rootDeviceType: 'floppy' },
          'RegisteredAmi',
        ),
      /rootDeviceType is not what it should be \("floppy"\)/,
    );
  });

  it('check sees any string for an enum (its rule names the choices) and fails a value of the wrong kind on its property', () => {
    const { planned, failures } = parsePlanned(registeredAmiSchema, {
      name: 42,
      architecture: 'sparc',
      tags: ['not', 'a', 'map'],
      description: UNKNOWN,
    });
    assert.deepEqual(
      failures.map((failure) => failure.property),
      ['name', 'tags'],
    );
    assert.equal(planned.architecture, 'sparc');
    assert.equal(planned.description, UNKNOWN);
    assert.ok(!('name' in planned));
    assert.deepEqual(
      checkAmiInputs({ manifestLocation: 'bucket/a.manifest.xml', name: 42 }).map((failure) => failure.property),
      ['name'],
    );
    assert.deepEqual(
      checkInstanceInputs({ imageId: 'ami-12345678', instanceType: 't3.micro', securityGroupIds: 'sg-12345678' }).map(
        (failure) => failure.property,
      ),
      ['securityGroupIds'],
    );
  });

  it('the source of a RegisteredAmi is named by rawImagePath (or its former name imagePath), in the inputs and in the state', () => {
    assert.equal(sourceOf({ manifestLocation: 'b/x.manifest.xml' }), 'bundle');
    assert.equal(sourceOf({ rawImagePath: '/tmp/disk.raw' }), 'image');
    assert.equal(sourceOf({ rawImagePath: UNKNOWN }), 'image');
    assert.equal(sourceOf({ imagePath: '/tmp/disk.raw' }), 'image', 'a state written before the rename');
  });

  it('the shared rules: known values only, one message each', () => {
    assert.equal(positiveSecondsProblem(0), 'must be a positive number of seconds');
    assert.equal(positiveSecondsProblem(UNKNOWN), undefined);
    assert.equal(positiveSecondsProblem(0.5), undefined);
    assert.equal(wholeNumberProblem(1.5, 1, 16384, 'GiB'), 'must be a whole number of GiB from 1 to 16384');
    assert.equal(wholeNumberProblem(16385, 1, 16384, 'GiB'), 'must be a whole number of GiB from 1 to 16384');
    assert.equal(wholeNumberProblem(8, 1, 16384, 'GiB'), undefined);
    assert.equal(regionMoves('eu-west-1', undefined), false, 'no region configured anywhere: no move');
    assert.equal(regionMoves('eu-west-1', UNKNOWN), true);
    assert.equal(regionMoves('eu-west-1', 'eu-west-1'), false);
    assert.equal(regionMoves('eu-west-1', 'us-east-1'), true);
    assert.equal(isKnown(['sg-12345678', UNKNOWN]), false, 'a list holding an unknown is not known');
  });
});
