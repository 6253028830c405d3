/**
 * The UnikernelInstance class under `pulumi.runtime.setMocks`: every input named as
 * `aws.ec2.Instance` names it reaches the provider as given (Outputs resolved, objects whole), and
 * the outputs the class shows (availabilityZone, rootDeviceType) are there even when not given.
 */
import { strict as assert } from 'assert';
import * as pulumi from '@pulumi/pulumi';
import { UnikernelInstance } from '../../sdk';

function outputValue<T>(output: pulumi.Output<T>): Promise<T> {
  const internal = output as unknown as { promise: () => Promise<T> };
  return internal.promise();
}

describe('UnikernelInstance program with mocks: the aws.ec2.Instance-named inputs pass through', function () {
  this.timeout(30_000);

  it('hands every input to the provider as given, and shows the outputs the provider sets', async () => {
    const seen: Record<string, unknown>[] = [];
    await pulumi.runtime.setMocks(
      {
        newResource: (args) => {
          seen.push(args.inputs);
          return {
            id: 'i-0123456789abcdef0',
            state: {
              ...args.inputs,
              availabilityZone: 'us-east-1b',
              rootDeviceType: 'ebs',
              instanceId: 'i-0123456789abcdef0',
            },
          };
        },
        call: () => ({}),
      },
      'project',
      'stack',
      false,
    );
    const given = {
      imageId: 'ami-12345678',
      instanceType: 't3.micro',
      iamInstanceProfile: pulumi.output('unikernel-role'),
      associatePublicIpAddress: false,
      metadataOptions: {
        httpTokens: 'required' as const,
        httpPutResponseHopLimit: 2,
        instanceMetadataTags: 'enabled' as const,
      },
      availabilityZone: pulumi.output('us-east-1b'),
      privateIp: '172.31.4.20',
      instanceInitiatedShutdownBehavior: 'terminate' as const,
      creditSpecification: { cpuCredits: 'standard' as const },
      rootBlockDevice: { volumeSize: 8, volumeType: 'gp3' as const, encrypted: true, deleteOnTermination: false },
      monitoring: true,
      placementGroup: 'cluster-a',
      disableApiTermination: true,
    };
    const instance = new UnikernelInstance('app', given);
    assert.equal(await outputValue(instance.availabilityZone), 'us-east-1b');
    assert.equal(await outputValue(instance.rootDeviceType), 'ebs');
    const inputs = seen.find((each) => each.imageId === 'ami-12345678');
    assert.ok(inputs, 'the provider saw the instance');
    assert.deepEqual(Object.fromEntries(Object.keys(given).map((key) => [key, inputs[key]])), {
      ...given,
      iamInstanceProfile: 'unikernel-role',
      availabilityZone: 'us-east-1b',
    });

    // Not given: the zone and root device type are still outputs of the class (what EC2 chose).
    const plain = new UnikernelInstance('plain', { imageId: 'ami-87654321', instanceType: 't3.micro' });
    assert.equal(await outputValue(plain.availabilityZone), 'us-east-1b');
    const plainInputs = seen.find((each) => each.imageId === 'ami-87654321');
    assert.equal(plainInputs?.availabilityZone, undefined, 'nothing given for the zone');
  });
});
