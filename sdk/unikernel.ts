import * as pulumi from '@pulumi/pulumi';
import { refuseAwsProvider } from './awsProviderOption';
import { BundledImage, BundledImageArgs } from './bundledImage';
import { RegisteredAmi, RegisteredAmiArgs } from './registeredAmi';
import { componentInstance, UnikernelInstance, UnikernelInstanceArgs } from './unikernelInstance';

export interface UnikernelArgs extends BundledImageArgs {
  /** The AMI's name, description and tags (name defaults to the component's name). */
  ami?: Partial<Omit<RegisteredAmiArgs, 'manifestLocation' | 'manifestEtag' | 'architecture' | 'region'>>;
  /** The instance to run; omit to only bundle and register. */
  instance?: Omit<UnikernelInstanceArgs, 'imageId' | 'region'>;
}

/**
 * The instance-store path in one resource: kernel or image → bundle in S3 → AMI → instance. The AMI
 * is paravirtual unless `ami.virtualizationType` is hvm, so by default the instance type must be
 * C1, C3, M1, M2 or M3, in a region that still has PV (see RegisteredAmiArgs.manifestLocation).
 */
export class Unikernel extends pulumi.ComponentResource {
  readonly bundle: BundledImage;
  readonly ami: RegisteredAmi;
  readonly instance?: UnikernelInstance;
  readonly imageId: pulumi.Output<string>;
  readonly instanceId?: pulumi.Output<string>;

  constructor(name: string, args: UnikernelArgs, opts?: pulumi.ComponentResourceOptions) {
    super('unikernel:index:Unikernel', name, {}, refuseAwsProvider('Unikernel', opts));
    const { ami, instance, ...bundleArgs } = args;
    this.bundle = new BundledImage(`${name}-bundle`, bundleArgs, { parent: this });
    this.ami = new RegisteredAmi(
      `${name}-ami`,
      {
        name,
        ...ami,
        // The ids stay known in a preview when a resource changes only in place (outputs do not):
        // the bundle's id is its manifest location (a bundle made again gets a new one).
        manifestLocation: this.bundle.id,
        architecture: args.architecture,
        kernelId: ami?.kernelId ?? args.kernelId,
        region: args.region,
      },
      { parent: this },
    );
    this.imageId = this.ami.imageId;
    this.instance = componentInstance(this, name, this.ami.id, instance, args.region);
    this.instanceId = this.instance?.instanceId;
    this.registerOutputs({
      imageId: this.imageId,
      instanceId: this.instanceId,
      manifestLocation: this.bundle.manifestLocation,
    });
  }
}
