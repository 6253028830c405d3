/**
 * UnikernelInstance's inputs named as `aws.ec2.Instance` names them (pure): the one-line check
 * failures, the diff (what changes in place, what replaces and why), the in-place changes update
 * makes, and what refresh records from the live instance.
 */
import { strict as assert } from 'assert';
import {
  checkInstanceInputs,
  diffInstance,
  inPlaceChanges,
  liveInputs,
  TerminationProtectedError,
} from '../../provider/dynamic/unikernelInstance/rules';
import { UNKNOWN } from '../../provider/dynamic/values';

type Props = Record<string, unknown>;

const BASE = { imageId: 'ami-12345678', instanceType: 't3.micro' };
/** The state of an instance create made from BASE. */
const EBS_STATE = {
  ...BASE,
  instanceId: 'i-0123456789abcdef0',
  region: 'us-east-1',
  state: 'running',
  rootDeviceType: 'ebs',
  tags: {},
};
const STORE_STATE = { ...EBS_STATE, instanceType: 'm3.medium', rootDeviceType: 'instance-store' };

function failures(extra: Props): Record<string, string> {
  return Object.fromEntries(checkInstanceInputs({ ...BASE, ...extra }).map((each) => [each.property, each.reason]));
}

describe('UnikernelInstance: the inputs named as aws.ec2.Instance names them', () => {
  it('accepts every input given well', () => {
    assert.deepEqual(
      failures({
        iamInstanceProfile: 'arn:aws:iam::123456789012:instance-profile/app/unikernel',
        associatePublicIpAddress: false,
        metadataOptions: {
          httpTokens: 'required',
          httpEndpoint: 'enabled',
          httpPutResponseHopLimit: 2,
          instanceMetadataTags: 'enabled',
        },
        availabilityZone: 'eu-west-1b',
        region: 'eu-west-1',
        privateIp: '172.31.4.20',
        instanceInitiatedShutdownBehavior: 'terminate',
        creditSpecification: { cpuCredits: 'unlimited' },
        rootBlockDevice: {
          volumeSize: 8,
          volumeType: 'gp3',
          iops: 3000,
          throughput: 125,
          encrypted: true,
          kmsKeyId: 'alias/k',
          deleteOnTermination: false,
        },
        monitoring: true,
        placementGroup: 'cluster-a',
        disableApiTermination: true,
      }),
      {},
    );
    assert.deepEqual(failures({ iamInstanceProfile: 'unikernel-role' }), {});
  });

  const refusals: [string, Props, RegExp][] = [
    [
      'iamInstanceProfile',
      { iamInstanceProfile: 'a role with spaces' },
      /neither an instance profile name nor its ARN/,
    ],
    ['associatePublicIpAddress', { associatePublicIpAddress: 'yes' }, /is not a value associatePublicIpAddress takes/],
    [
      'metadataOptions',
      { metadataOptions: { httpTokens: 'sometimes' } },
      /httpTokens is "sometimes"; give "required" or "optional"/,
    ],
    ['metadataOptions', { metadataOptions: { httpPutResponseHopLimit: 65 } }, /from 1 to 64/],
    ['metadataOptions', { metadataOptions: { httpProtocolIpv6: 'enabled' } }, /has no field "httpProtocolIpv6"/],
    ['metadataOptions', { metadataOptions: 'required' }, /is not a value metadataOptions takes/],
    [
      'httpTokens',
      { httpTokens: 'optional', metadataOptions: { httpTokens: 'required' } },
      /remove httpTokens \(deprecated\)/,
    ],
    ['availabilityZone', { availabilityZone: 'us-east-1' }, /is not an availability zone/],
    ['availabilityZone', { availabilityZone: 'us-east-1a', region: 'eu-west-1' }, /is not in the region eu-west-1/],
    ['privateIp', { privateIp: '172.31.300.1' }, /is not an IPv4 address/],
    [
      'instanceInitiatedShutdownBehavior',
      { instanceInitiatedShutdownBehavior: 'hibernate' },
      /give "stop" or "terminate"/,
    ],
    ['creditSpecification', { creditSpecification: { cpuCredits: 'infinite' } }, /give "standard" or "unlimited"/],
    [
      'creditSpecification',
      { instanceType: 'm5.large', creditSpecification: { cpuCredits: 'standard' } },
      /burstable \(T\) types only, and m5.large is not one/,
    ],
    ['rootBlockDevice', { rootBlockDevice: { volumeSize: 0 } }, /volumeSize is 0; give whole GiB/],
    ['rootBlockDevice', { rootBlockDevice: { volumeType: 'gp2', iops: 3000 } }, /iops is given for volumeType gp2/],
    ['rootBlockDevice', { rootBlockDevice: { iops: 3000 } }, /iops is given for volumeType gp2 \(the default\)/],
    ['rootBlockDevice', { rootBlockDevice: { volumeType: 'io2' } }, /volumeType io2 needs iops/],
    [
      'rootBlockDevice',
      { rootBlockDevice: { volumeType: 'gp2', throughput: 250 } },
      /throughput is given for volumeType gp2/,
    ],
    ['rootBlockDevice', { rootBlockDevice: { kmsKeyId: 'alias/k' } }, /kmsKeyId is given without encrypted: true/],
    ['rootBlockDevice', { rootBlockDevice: { size: 8 } }, /has no field "size"/],
    ['monitoring', { monitoring: 'on' }, /is not a value monitoring takes/],
    ['placementGroup', { placementGroup: '' }, /placement group name of 1 to 255 characters/],
    ['disableApiTermination', { disableApiTermination: 1 }, /is not a value disableApiTermination takes/],
  ];
  for (const [property, extra, reason] of refusals) {
    it(`refuses ${property} ${JSON.stringify(extra[property] ?? extra)} with one line naming it`, () => {
      const found = failures(extra);
      assert.deepEqual(Object.keys(found), [property]);
      assert.match(found[property], reason);
      assert.ok(!found[property].includes('\n'));
    });
  }

  it('leaves values still unknown in preview to be checked at up', () => {
    assert.deepEqual(
      failures({ availabilityZone: UNKNOWN, privateIp: UNKNOWN, metadataOptions: { httpTokens: UNKNOWN } }),
      {},
    );
  });
});

describe('UnikernelInstance diff: in place what EC2 changes in place, replaced with the reason otherwise', () => {
  const diff = (olds: Props, news: Props) => diffInstance(olds, { ...BASE, ...news }, 'us-east-1');
  const inPlace = (olds: Props, news: Props) => {
    const outcome = diff(olds, news);
    return { changes: outcome.changes, replaces: outcome.replaces };
  };

  it('changes in place: groups, protection, shutdown behaviour, monitoring, credits, metadata options, httpTokens', () => {
    const updates: Props[] = [
      { securityGroupIds: ['sg-12345678'] },
      { disableApiTermination: true },
      { instanceInitiatedShutdownBehavior: 'terminate' },
      { monitoring: true },
      { creditSpecification: { cpuCredits: 'standard' } },
      { metadataOptions: { httpPutResponseHopLimit: 2 } },
      { httpTokens: 'optional' },
      { tags: { Name: 'x' } },
    ];
    for (const news of updates)
      assert.deepEqual(inPlace(EBS_STATE, news), { changes: true, replaces: [] }, JSON.stringify(news));
  });

  it('stating a default or what EC2 chose is no change', () => {
    const state = { ...EBS_STATE, availabilityZone: 'us-east-1a', region: 'us-east-1' };
    for (const news of [
      {},
      { disableApiTermination: false },
      { monitoring: false },
      { httpTokens: 'required' },
      { metadataOptions: { httpTokens: 'required', httpEndpoint: 'enabled' } },
      { availabilityZone: 'us-east-1a' },
    ])
      assert.deepEqual(inPlace(state, news), { changes: false, replaces: [] }, JSON.stringify(news));
    // The deprecated httpTokens moved into metadataOptions: the same options, nothing to change.
    assert.equal(
      diff({ ...state, httpTokens: 'optional' }, { metadataOptions: { httpTokens: 'optional' } }).changes,
      false,
    );
  });

  it('a type change is in place on an EBS-backed instance and a replacement, with the reason, on an instance-store one', () => {
    const ebs = diff(EBS_STATE, { instanceType: 'm5.large' });
    assert.deepEqual([ebs.changes, ebs.replaces], [true, []]);
    assert.match(
      ebs.notes[0],
      /instanceType t3.micro → m5.large: changed in place \(the EBS-backed instance is stopped, modified and started, and its boot verified again/,
    );
    const store = diffInstance(STORE_STATE, { ...BASE, instanceType: 'c3.large' }, 'us-east-1');
    assert.deepEqual(store.replaces, ['instanceType']);
    assert.match(store.notes[0], /instance-store instances cannot be stopped/);
    const unrecorded = diff({ ...EBS_STATE, rootDeviceType: undefined }, { instanceType: 'm5.large' });
    assert.deepEqual(unrecorded.replaces, ['instanceType']);
    assert.match(unrecorded.notes[0], /a refresh records it/);
  });

  it('changes the instance profile in place (its association replaced), given, changed or removed, with a note', () => {
    const withProfile = { ...EBS_STATE, iamInstanceProfile: 'old-role' };
    for (const [olds, news, shown] of [
      [EBS_STATE, { iamInstanceProfile: 'new-role' }, 'undefined → "new-role"'],
      [withProfile, { iamInstanceProfile: 'arn:aws:iam::123456789012:instance-profile/new-role' }, '"old-role" → '],
      [withProfile, {}, '"old-role" → undefined'],
    ] as const) {
      const outcome = diff(olds, news);
      assert.deepEqual([outcome.changes, outcome.replaces], [true, []], JSON.stringify(news));
      assert.ok(
        outcome.notes.some((note) => note.startsWith(`iamInstanceProfile ${shown}`) && /changed in place/.test(note)),
        outcome.notes.join(' | '),
      );
    }
    assert.deepEqual(inPlace(withProfile, { iamInstanceProfile: 'old-role' }), { changes: false, replaces: [] });
    // Replaced for another reason: the profile comes with the new instance, no in-place note.
    const replaced = diff(EBS_STATE, { iamInstanceProfile: 'new-role', imageId: 'ami-87654321' });
    assert.deepEqual(replaced.replaces, ['imageId']);
    assert.ok(!replaced.notes.some((note) => note.startsWith('iamInstanceProfile')), replaced.notes.join(' | '));
  });

  const replacements: [string, Props][] = [
    ['imageId', { imageId: 'ami-87654321' }],
    ['subnetId', { subnetId: 'subnet-12345678' }],
    ['userData', { userData: 'v2' }],
    ['keyName', { keyName: 'ops' }],
    ['associatePublicIpAddress', { associatePublicIpAddress: false }],
    ['privateIp', { privateIp: '172.31.9.9' }],
    ['availabilityZone', { availabilityZone: 'us-east-1b' }],
    ['rootBlockDevice', { rootBlockDevice: { encrypted: true } }],
    ['placementGroup', { placementGroup: 'cluster-a' }],
  ];
  for (const [property, news] of replacements) {
    it(`replaces for ${property}, the note saying why EC2 cannot change it in place`, () => {
      const outcome = diff({ ...EBS_STATE, availabilityZone: 'us-east-1a' }, news);
      assert.deepEqual(outcome.replaces, [property]);
      const note = outcome.notes.find((each) => each.startsWith(`${property} `) || each.startsWith(`${property}.`));
      assert.ok(note, `a note for ${property}: ${outcome.notes.join(' | ')}`);
      assert.match(note, /the instance is replaced \(.+\)$/);
    });
  }

  it('refuses a replacement of a protected instance before anything is made, saying what to do', () => {
    assert.throws(
      () =>
        diff(
          { ...EBS_STATE, disableApiTermination: true },
          { disableApiTermination: true, subnetId: 'subnet-12345678' },
        ),
      (error: unknown) =>
        error instanceof TerminationProtectedError &&
        /disableApiTermination true, and subnetId would replace it .*set disableApiTermination to false alone and run up first/.test(
          error.message,
        ),
    );
    // Turning the protection off is itself an in-place change.
    assert.deepEqual(inPlace({ ...EBS_STATE, disableApiTermination: true }, {}), { changes: true, replaces: [] });
  });
});

describe('UnikernelInstance update and refresh: the changes made in place, and drift', () => {
  it('lists the in-place changes, protection first and the type last', () => {
    const before = { instanceType: 't3.micro', disableApiTermination: true };
    const after = {
      instanceType: 'm5.large',
      disableApiTermination: false,
      securityGroupIds: ['sg-12345678'],
      monitoring: true,
      creditSpecification: { cpuCredits: 'standard' as const },
      metadataOptions: { httpTokens: 'optional' as const },
      instanceInitiatedShutdownBehavior: 'terminate' as const,
      iamInstanceProfile: 'unikernel-role',
    };
    assert.deepEqual(
      inPlaceChanges(before, after).map((change) => change.kind),
      [
        'disableApiTermination',
        'instanceInitiatedShutdownBehavior',
        'securityGroupIds',
        'monitoring',
        'creditSpecification',
        'metadataOptions',
        'iamInstanceProfile',
        'instanceType',
      ],
    );
    const metadata = inPlaceChanges(before, after).find((change) => change.kind === 'metadataOptions');
    assert.deepEqual(metadata?.value, {
      httpTokens: 'optional',
      httpEndpoint: 'enabled',
      httpPutResponseHopLimit: 1,
      instanceMetadataTags: 'disabled',
    });
    assert.deepEqual(inPlaceChanges(before, { ...before }), []);
    assert.deepEqual(inPlaceChanges({ ...before, iamInstanceProfile: 'unikernel-role' }, before), [
      { kind: 'iamInstanceProfile', value: undefined },
    ]);
  });

  it('reads the instance profile back: the ARN when it departs from what was given (by name or ARN), else nothing', () => {
    const live = { securityGroupIds: [], iamInstanceProfileArn: 'arn:aws:iam::123456789012:instance-profile/app/role' };
    assert.equal(liveInputs({ ...BASE, iamInstanceProfile: 'role' }, live).iamInstanceProfile, undefined);
    assert.equal(
      liveInputs({ ...BASE, iamInstanceProfile: live.iamInstanceProfileArn }, live).iamInstanceProfile,
      undefined,
    );
    assert.equal(
      liveInputs({ ...BASE, iamInstanceProfile: 'other' }, live).iamInstanceProfile,
      live.iamInstanceProfileArn,
    );
    assert.equal(
      liveInputs(BASE, live).iamInstanceProfile,
      live.iamInstanceProfileArn,
      'associated outside the program',
    );
    const removed = liveInputs({ ...BASE, iamInstanceProfile: 'role' }, { securityGroupIds: [] });
    assert.ok('iamInstanceProfile' in removed && removed.iamInstanceProfile === undefined, 'disassociated outside');
    assert.ok(!('iamInstanceProfile' in liveInputs(BASE, { securityGroupIds: [] })), 'none given, none live');
    // The next preview puts the program's profile back in place.
    const next = diffInstance(
      { ...EBS_STATE, iamInstanceProfile: live.iamInstanceProfileArn },
      { ...BASE, iamInstanceProfile: 'other' },
      'us-east-1',
    );
    assert.deepEqual([next.changes, next.replaces], [true, []]);
  });

  it('records the live value of what the program manages or what departs from a default, and leaves what EC2 chose ungiven', () => {
    const live = {
      instanceType: 'm5.large',
      securityGroupIds: ['sg-99999999'],
      disableApiTermination: true,
      instanceInitiatedShutdownBehavior: 'stop',
      monitoring: false,
      metadataOptions: {
        httpTokens: 'optional' as const,
        httpEndpoint: 'enabled' as const,
        httpPutResponseHopLimit: 1,
        instanceMetadataTags: 'disabled' as const,
      },
      privateIpAddress: '172.31.0.5',
      availabilityZone: 'us-east-1a',
      rootDeviceType: 'ebs',
    };
    const drifted = liveInputs({ ...BASE, securityGroupIds: ['sg-12345678'] }, live);
    assert.equal(drifted.instanceType, 'm5.large');
    assert.deepEqual(drifted.securityGroupIds, ['sg-99999999']);
    assert.equal(drifted.disableApiTermination, true, 'protection turned on outside the program');
    assert.equal(drifted.monitoring, undefined, 'the default, never given');
    assert.equal(drifted.instanceInitiatedShutdownBehavior, undefined, 'chosen by EC2, never given');
    assert.equal(drifted.privateIp, undefined);
    assert.deepEqual(drifted.metadataOptions, live.metadataOptions, 'IMDSv2 turned off outside the program');
    // The next preview then plans to put them back in place.
    const next = diffInstance(
      { ...EBS_STATE, ...drifted },
      { ...BASE, securityGroupIds: ['sg-12345678'] },
      'us-east-1',
    );
    assert.deepEqual([next.changes, next.replaces], [true, []]);
    assert.equal(liveInputs({ ...BASE, metadataOptions: { httpTokens: 'optional' } }, live).metadataOptions, undefined);
    // The same groups in another order: no drift, the program's order stays.
    const reordered = { ...live, securityGroupIds: ['sg-22222222', 'sg-11111111'] };
    assert.equal(
      liveInputs({ ...BASE, securityGroupIds: ['sg-11111111', 'sg-22222222'] }, reordered).securityGroupIds,
      undefined,
    );
  });
});
