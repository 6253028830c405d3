/**
 * The sdk's types are what users compile against: the Args and outputs derived from each
 * declaration must stay exactly these (as written by hand before the declarations existed). The
 * checks are at compile time; a difference fails the build.
 */
import { strict as assert } from 'assert';
import * as pulumi from '@pulumi/pulumi';
import type { BlockDeviceMapping } from '../../provider/bundle/manifest';
import type { BundleAcl } from '../../provider/aws/acl';
import type { InstanceStoreMapping } from '../../provider/aws/images';
import {
  BundledImage,
  BundledImageArgs,
  RegisteredAmi,
  RegisteredAmiArgs,
  UnikernelInstance,
  UnikernelInstanceArgs,
} from '../../sdk';

type Same<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type Flat<T> = { [K in keyof T]: T[K] };
type Outputs<R, K extends keyof R> = Flat<Pick<R, K>>;

interface PinnedBundledImageArgs {
  imagePath?: pulumi.Input<string>;
  kernelPath?: pulumi.Input<string>;
  imageSize?: pulumi.Input<string>;
  kernelCommandLine?: pulumi.Input<string>;
  bundleName?: pulumi.Input<string>;
  bucket: pulumi.Input<string>;
  keyPrefix?: pulumi.Input<string>;
  accountId: pulumi.Input<string>;
  architecture?: pulumi.Input<'x86_64' | 'i386'>;
  privateKey: pulumi.Input<string>;
  privateKeyPassphrase?: pulumi.Input<string>;
  certificate: pulumi.Input<string>;
  ec2Certificate: pulumi.Input<string>;
  kernelId?: pulumi.Input<string>;
  ramdiskId?: pulumi.Input<string>;
  blockDeviceMappings?: pulumi.Input<pulumi.Input<BlockDeviceMapping>[]>;
  productCodes?: pulumi.Input<pulumi.Input<string>[]>;
  acl?: pulumi.Input<BundleAcl>;
  region?: pulumi.Input<string>;
  createBucket?: pulumi.Input<boolean>;
  sparse?: pulumi.Input<boolean>;
  timeoutSeconds?: pulumi.Input<number>;
}
interface PinnedRegisteredAmiArgs {
  manifestLocation?: pulumi.Input<string>;
  rawImagePath?: pulumi.Input<string>;
  /** The former name of rawImagePath (deprecated). */
  imagePath?: pulumi.Input<string>;
  enaSupport?: pulumi.Input<boolean>;
  bootMode?: pulumi.Input<'legacy-bios' | 'uefi' | 'uefi-preferred'>;
  imdsSupport?: pulumi.Input<'v2.0' | 'optional'>;
  volumeSize?: pulumi.Input<number>;
  volumeType?: pulumi.Input<'gp3' | 'gp2' | 'io1' | 'io2' | 'standard'>;
  skipZeroBlocks?: pulumi.Input<boolean>;
  encrypted?: pulumi.Input<boolean>;
  kmsKeyArn?: pulumi.Input<string>;
  manifestEtag?: pulumi.Input<string>;
  name: pulumi.Input<string>;
  exactName?: pulumi.Input<boolean>;
  adoptImageId?: pulumi.Input<string>;
  description?: pulumi.Input<string>;
  architecture?: pulumi.Input<'x86_64' | 'i386' | 'arm64'>;
  virtualizationType?: pulumi.Input<'paravirtual' | 'hvm'>;
  kernelId?: pulumi.Input<string>;
  ramdiskId?: pulumi.Input<string>;
  blockDeviceMappings?: pulumi.Input<pulumi.Input<InstanceStoreMapping>[]>;
  tags?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  region?: pulumi.Input<string>;
  timeoutSeconds?: pulumi.Input<number>;
}
interface PinnedUnikernelInstanceArgs {
  imageId: pulumi.Input<string>;
  instanceType: pulumi.Input<string>;
  keyName?: pulumi.Input<string>;
  securityGroupIds?: pulumi.Input<pulumi.Input<string>[]>;
  subnetId?: pulumi.Input<string>;
  userData?: pulumi.Input<string>;
  tags?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  httpTokens?: pulumi.Input<'required' | 'optional'>;
  iamInstanceProfile?: pulumi.Input<string>;
  associatePublicIpAddress?: pulumi.Input<boolean>;
  metadataOptions?: pulumi.Input<{
    httpTokens?: 'required' | 'optional';
    httpEndpoint?: 'enabled' | 'disabled';
    httpPutResponseHopLimit?: number;
    instanceMetadataTags?: 'enabled' | 'disabled';
  }>;
  availabilityZone?: pulumi.Input<string>;
  privateIp?: pulumi.Input<string>;
  instanceInitiatedShutdownBehavior?: pulumi.Input<'stop' | 'terminate'>;
  creditSpecification?: pulumi.Input<{ cpuCredits?: 'standard' | 'unlimited' }>;
  rootBlockDevice?: pulumi.Input<{
    volumeSize?: number;
    volumeType?: 'gp2' | 'gp3' | 'io1' | 'io2' | 'st1' | 'sc1' | 'standard';
    iops?: number;
    throughput?: number;
    encrypted?: boolean;
    kmsKeyId?: string;
    deleteOnTermination?: boolean;
  }>;
  monitoring?: pulumi.Input<boolean>;
  placementGroup?: pulumi.Input<string>;
  disableApiTermination?: pulumi.Input<boolean>;
  region?: pulumi.Input<string>;
  adoptInstanceId?: pulumi.Input<string>;
  timeoutSeconds?: pulumi.Input<number>;
  verifyBoot?: pulumi.Input<boolean>;
  bootMarker?: pulumi.Input<string>;
  bootFailurePatterns?: pulumi.Input<pulumi.Input<string>[]>;
  bootTimeoutSeconds?: pulumi.Input<number>;
  bootPort?: pulumi.Input<number>;
  bootPortAddress?: pulumi.Input<'public' | 'private'>;
}
interface PinnedBundledImageOutputs {
  readonly manifestLocation: pulumi.Output<string>;
  readonly manifestKey: pulumi.Output<string>;
  readonly manifestEtag: pulumi.Output<string>;
  readonly bundleName: pulumi.Output<string>;
  readonly bundleKey: pulumi.Output<string>;
  readonly bucket: pulumi.Output<string>;
  readonly keyPrefix: pulumi.Output<string>;
  readonly region: pulumi.Output<string>;
  readonly architecture: pulumi.Output<string>;
  readonly imageDigest: pulumi.Output<string>;
  readonly imageSha256: pulumi.Output<string>;
  readonly imageBytes: pulumi.Output<number>;
  readonly bundledSize: pulumi.Output<number>;
  readonly partCount: pulumi.Output<number>;
  readonly sourceHash: pulumi.Output<string>;
  readonly bundleStatus: pulumi.Output<string>;
}
interface PinnedRegisteredAmiOutputs {
  readonly imageId: pulumi.Output<string>;
  readonly name: pulumi.Output<string>;
  readonly imageName: pulumi.Output<string | undefined>;
  readonly region: pulumi.Output<string>;
  readonly state: pulumi.Output<string>;
  readonly rootDeviceType: pulumi.Output<'instance-store' | 'ebs'>;
  readonly snapshotId: pulumi.Output<string | undefined>;
  readonly effectiveKernelId: pulumi.Output<string | undefined>;
  readonly tags: pulumi.Output<Record<string, string>>;
}
interface PinnedUnikernelInstanceOutputs {
  readonly instanceId: pulumi.Output<string>;
  readonly state: pulumi.Output<string>;
  readonly region: pulumi.Output<string>;
  readonly privateIpAddress: pulumi.Output<string | undefined>;
  readonly publicIpAddress: pulumi.Output<string | undefined>;
  readonly tags: pulumi.Output<Record<string, string>>;
  readonly bootStatus: pulumi.Output<Record<string, string> | undefined>;
  readonly statusCheck: pulumi.Output<string | undefined>;
  readonly arn: pulumi.Output<string | undefined>;
  readonly privateDns: pulumi.Output<string | undefined>;
  readonly publicDns: pulumi.Output<string | undefined>;
  readonly availabilityZone: pulumi.Output<string | undefined>;
  readonly rootDeviceType: pulumi.Output<string | undefined>;
}

const pinned: true[] = [
  true satisfies Same<Flat<BundledImageArgs>, Flat<PinnedBundledImageArgs>>,
  true satisfies Same<Flat<RegisteredAmiArgs>, Flat<PinnedRegisteredAmiArgs>>,
  true satisfies Same<Flat<UnikernelInstanceArgs>, Flat<PinnedUnikernelInstanceArgs>>,
  true satisfies Same<Outputs<BundledImage, keyof PinnedBundledImageOutputs>, Flat<PinnedBundledImageOutputs>>,
  true satisfies Same<Outputs<RegisteredAmi, keyof PinnedRegisteredAmiOutputs>, Flat<PinnedRegisteredAmiOutputs>>,
  true satisfies Same<
    Outputs<UnikernelInstance, keyof PinnedUnikernelInstanceOutputs>,
    Flat<PinnedUnikernelInstanceOutputs>
  >,
];

describe('the sdk types derived from the declarations', () => {
  it('are exactly the Args and outputs users compiled against before (checked when this file compiles)', () => {
    assert.equal(pinned.length, 6);
  });
});
