/**
 * The root volume's pure rules: which rootBlockDevice changes are made in place and which replace
 * (with the reason), what update asks ModifyVolume for, what is left once the live volume is known,
 * and what refresh records.
 */
import { strict as assert } from 'assert';
import {
  diffInstance,
  diffRootBlockDevice,
  inPlaceChanges,
  liveInputs,
} from '../../provider/dynamic/unikernelInstance/rules';
import { RootVolumeRefusedError, targetAgainstLive } from '../../provider/dynamic/unikernelInstance/rootVolume';
import { UNKNOWN } from '../../provider/dynamic/values';

const RECORDED = {
  volumeSize: 4,
  volumeType: 'gp3' as const,
  iops: 3000,
  throughput: 125,
  encrypted: false,
  deleteOnTermination: true,
};
const STATE = {
  imageId: 'ami-12345678',
  instanceType: 't3.micro',
  instanceId: 'i-0123456789abcdef0',
  state: 'running',
  rootDeviceType: 'ebs',
  rootBlockDevice: RECORDED,
};

describe('UnikernelInstance rootBlockDevice: in place where EC2 modifies a volume live, replaced otherwise', () => {
  it('changes a grow, the type, IOPS, throughput and deleteOnTermination in place, each with a note', () => {
    const outcome = diffRootBlockDevice(RECORDED, {
      volumeSize: 8,
      volumeType: 'io2',
      iops: 5000,
      deleteOnTermination: false,
    });
    assert.equal(outcome.replaces, false);
    assert.deepEqual(outcome.notes, [
      "rootBlockDevice.volumeSize 4 → 8: changed in place (ModifyVolume, while the instance runs; the unikernel's file system is not grown)",
      'rootBlockDevice.volumeType "gp3" → "io2": changed in place (ModifyVolume, while the instance runs)',
      'rootBlockDevice.iops 3000 → 5000: changed in place (ModifyVolume, while the instance runs)',
      'rootBlockDevice.deleteOnTermination true → false: changed in place (ModifyInstanceAttribute)',
    ]);
    const diff = diffInstance(STATE, { ...STATE, rootBlockDevice: { volumeSize: 8 } }, undefined);
    assert.deepEqual([diff.changes, diff.replaces], [true, []]);
  });

  it('compares only the fields given: the rest is what EC2 chose, and no rootBlockDevice at all is no change', () => {
    assert.deepEqual(diffRootBlockDevice(RECORDED, { volumeType: 'gp3' }), { replaces: false, notes: [] });
    assert.deepEqual(diffRootBlockDevice(RECORDED, undefined), { replaces: false, notes: [] });
    const same = diffInstance(STATE, { imageId: 'ami-12345678', instanceType: 't3.micro' }, undefined);
    assert.deepEqual([same.changes, same.replaces], [false, []]);
  });

  it('replaces for a shrink, encryption or a KMS key, saying why; an unknown size may shrink', () => {
    for (const [news, why] of [
      [{ volumeSize: 2 }, /^rootBlockDevice\.volumeSize 4 → 2: the instance is replaced \(EBS volumes cannot shrink/],
      [{ encrypted: true }, /encrypted false → true: the instance is replaced \(EC2 cannot encrypt or decrypt/],
      [
        { encrypted: true, kmsKeyId: 'alias/k' },
        /kmsKeyId undefined → "alias\/k": the instance is replaced \(a volume's KMS key is fixed/,
      ],
      [
        { volumeSize: UNKNOWN },
        /volumeSize 4 → \(unknown\): the instance is replaced \(the new size is unknown until apply/,
      ],
    ] as const) {
      const outcome = diffRootBlockDevice(RECORDED, news);
      assert.equal(outcome.replaces, true, JSON.stringify(news));
      assert.ok(
        outcome.notes.some((note) => why.test(note)),
        outcome.notes.join(' | '),
      );
      const diff = diffInstance(STATE, { ...STATE, rootBlockDevice: news }, undefined);
      assert.deepEqual(diff.replaces, ['rootBlockDevice']);
    }
  });

  it('asks ModifyVolume for the given fields that changed, first of all, and ModifyInstanceAttribute for deleteOnTermination', () => {
    const changes = inPlaceChanges(
      { instanceType: 't3.micro', rootBlockDevice: RECORDED, disableApiTermination: true },
      {
        instanceType: 't3.micro',
        disableApiTermination: false,
        rootBlockDevice: { volumeSize: 8, volumeType: 'gp3', throughput: 500, deleteOnTermination: false },
      },
    );
    assert.deepEqual(changes, [
      { kind: 'rootVolume', value: { volumeSize: 8, throughput: 500 } },
      { kind: 'disableApiTermination', value: false },
      { kind: 'deleteOnTermination', value: false },
    ]);
    assert.deepEqual(
      inPlaceChanges({ instanceType: 't3.micro', rootBlockDevice: RECORDED }, { instanceType: 't3.micro' }),
      [],
    );
  });

  it('asks only what differs from the live volume, and refuses a size below the live one with nothing changed', () => {
    const live = {
      volumeId: 'vol-0123456789abcdef0',
      volumeSize: 6,
      volumeType: 'gp3',
      iops: 3000,
      throughput: 125,
      tags: {},
    };
    assert.deepEqual(targetAgainstLive({ volumeSize: 8, volumeType: 'gp3', iops: 3000 }, live), { volumeSize: 8 });
    assert.deepEqual(targetAgainstLive({ volumeSize: 6 }, live), {});
    assert.throws(
      () => targetAgainstLive({ volumeSize: 5 }, live),
      (error: unknown) =>
        error instanceof RootVolumeRefusedError &&
        /^rootBlockDevice: volumeSize 5 is smaller than the 6 GiB of the root volume vol-0123456789abcdef0, and EBS volumes cannot shrink; nothing was changed/.test(
          error.message,
        ),
    );
  });

  it('refresh records the live volume whole, so that a change outside the program shows as drift', () => {
    const live = {
      instanceType: 't3.micro',
      securityGroupIds: [],
      rootVolume: { ...RECORDED, volumeType: 'gp2', iops: undefined },
    };
    const drifted = liveInputs({ ...STATE, rootBlockDevice: { volumeType: 'gp3' } }, live);
    assert.deepEqual(drifted.rootBlockDevice, {
      volumeSize: 4,
      volumeType: 'gp2',
      throughput: 125,
      encrypted: false,
      deleteOnTermination: true,
    });
    const next = diffInstance(
      { ...STATE, ...drifted },
      { ...STATE, rootBlockDevice: { volumeType: 'gp3' } },
      undefined,
    );
    assert.deepEqual([next.changes, next.replaces], [true, []]);
    assert.equal(liveInputs(STATE, { instanceType: 't3.micro', securityGroupIds: [] }).rootBlockDevice, undefined);
    // The KMS key stays as the program named it: EC2 reports its ARN, and it cannot change.
    const encrypted = { ...STATE, rootBlockDevice: { ...RECORDED, encrypted: true, kmsKeyId: 'alias/app' } };
    const liveKey = { ...RECORDED, encrypted: true, kmsKeyId: 'arn:aws:kms:us-east-1:123456789012:key/1234abcd' };
    const keyed = liveInputs(encrypted, { instanceType: 't3.micro', securityGroupIds: [], rootVolume: liveKey });
    assert.deepEqual(keyed.rootBlockDevice, { ...liveKey, kmsKeyId: 'alias/app' });
    const unchanged = diffInstance({ ...encrypted, ...keyed }, encrypted, undefined);
    assert.deepEqual([unchanged.changes, unchanged.replaces], [false, []]);
  });
});
