/**
 * The pure rules of the public address: what decides it before launch (the input, else the subnets a
 * launch may land in, unknown when they differ), how a described instance is read (the primary
 * interface's association, else its address), and the tag specifications RunInstances is sent (the
 * volume's only for an EBS-backed AMI).
 */
import { strict as assert } from 'assert';
import { EC2Client } from '@aws-sdk/client-ec2';
import { runInstancesInput } from '../../provider/aws/instances';
import { imageId } from '../../provider/aws/ids';
import { hasPublicIp, publicAddressPlan } from '../../provider/aws/publicAddress';

describe('public address rules (pure)', () => {
  it('the input decides, else subnets that agree; subnets that differ or none leave it unknown', () => {
    assert.deepEqual(
      publicAddressPlan({ associatePublicIpAddress: false }, [{ subnetId: 's', mapPublicIpOnLaunch: true }]),
      {
        publicIp: false,
        decidedBy: 'associatePublicIpAddress',
      },
    );
    assert.deepEqual(publicAddressPlan({}, [{ subnetId: 'subnet-1', mapPublicIpOnLaunch: false }]), {
      publicIp: false,
      decidedBy: 'subnet',
      subnets: ['subnet-1'],
    });
    assert.deepEqual(
      publicAddressPlan({}, [
        { subnetId: 'subnet-a', mapPublicIpOnLaunch: true },
        { subnetId: 'subnet-b', mapPublicIpOnLaunch: false },
      ]),
      { publicIp: undefined },
      'EC2 chooses the zone: it cannot be known',
    );
    assert.deepEqual(publicAddressPlan({}, []), { publicIp: undefined }, 'no default subnet: RunInstances will say');
  });

  it('reads a public address from the primary interface association, else the instance address', () => {
    const attachment = (DeviceIndex: number) => ({ Attachment: { DeviceIndex } });
    assert.equal(
      hasPublicIp({ NetworkInterfaces: [{ ...attachment(0), Association: { PublicIp: '54.1.2.3' } }] }),
      true,
    );
    assert.equal(
      hasPublicIp({ PublicIpAddress: '54.1.2.3', NetworkInterfaces: [{ ...attachment(0) }] }),
      false,
      'the primary interface has the last word, as @pulumi/aws reads it',
    );
    assert.equal(hasPublicIp({ PublicIpAddress: '54.1.2.3', NetworkInterfaces: [] }), true);
    assert.equal(hasPublicIp({}), false);
  });

  it('sends the volume tags for an EBS-backed AMI only, apart from the instance tags', () => {
    const options = {
      ec2: new EC2Client({ region: 'us-east-1' }),
      imageId: imageId('ami-12345678'),
      instanceType: 't3.micro',
      clientToken: 'token',
      tags: { env: 'prod' },
      volumeTags: { team: 'platform' },
    };
    assert.deepEqual(runInstancesInput(options, '/dev/xvda', 'ebs').TagSpecifications, [
      { ResourceType: 'instance', Tags: [{ Key: 'env', Value: 'prod' }] },
      { ResourceType: 'volume', Tags: [{ Key: 'team', Value: 'platform' }] },
    ]);
    assert.deepEqual(runInstancesInput(options, '/dev/sda1', 'instance-store').TagSpecifications, [
      { ResourceType: 'instance', Tags: [{ Key: 'env', Value: 'prod' }] },
    ]);
    assert.equal(
      runInstancesInput({ ...options, tags: {}, volumeTags: {} }, '/dev/xvda', 'ebs').TagSpecifications,
      undefined,
    );
    options.ec2.destroy();
  });
});
