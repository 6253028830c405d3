/** RegisteredAmi's pure rules: input checks and the diff, for both sources (bundle manifest or raw image). */
import { kernelId, ramdiskId } from '../../aws/ids';
import { nameProblem } from '../../aws/images';
import { parseImageLocation } from '../../aws/location';
import { CheckFailure, FailureList } from '../failures';
import { diffProperties, DiffOutcome, isKnown, isUnknown } from '../values';
import { RegisteredAmiInputs, RegisteredAmiOutputs } from './types';

const EBS_ONLY = ['enaSupport', 'bootMode', 'imdsSupport', 'volumeSize', 'volumeType', 'skipZeroBlocks'] as const;
const BUNDLE_ONLY = ['kernelId', 'ramdiskId', 'blockDeviceMappings'] as const;

export function isEbsSource(inputs: Pick<RegisteredAmiInputs, 'imagePath'>): boolean {
  return inputs.imagePath !== undefined;
}

/** The inputs with the defaults of their source filled in, so that stating a default is no change. */
export function withDefaults<T extends Partial<RegisteredAmiInputs>>(inputs: T): T {
  const given = Object.fromEntries(Object.entries(inputs).filter(([, value]) => value !== undefined));
  const defaults: Partial<RegisteredAmiInputs> = isEbsSource(inputs)
    ? { architecture: 'x86_64', virtualizationType: 'hvm', enaSupport: true, imdsSupport: 'v2.0', volumeType: 'gp3', skipZeroBlocks: false, tags: {} }
    : { architecture: 'x86_64', virtualizationType: 'paravirtual', tags: {} };
  return { ...defaults, ...given } as T;
}

export function checkAmiInputs(inputs: RegisteredAmiInputs): CheckFailure[] {
  const list = new FailureList();
  const fail = list.fail.bind(list);
  const ebs = isEbsSource(inputs);
  if (inputs.manifestLocation === undefined && !ebs) {
    fail('manifestLocation', 'give the bundle manifest location (BundledImage.manifestLocation), or imagePath for an EBS-backed AMI');
  } else if (inputs.manifestLocation !== undefined && ebs) {
    fail('imagePath', 'give manifestLocation (instance-store AMI) or imagePath (EBS-backed AMI), not both');
  } else if (isKnown(inputs.manifestLocation)) {
    list.attempt('manifestLocation', () => parseImageLocation(inputs.manifestLocation as string));
  }
  if (!inputs.name) fail('name', 'give the AMI a name (3 to 128 characters)');
  else if (isKnown(inputs.name)) {
    const problem = nameProblem(inputs.name);
    if (problem) fail('name', `AMI name "${inputs.name}" ${problem}`);
  }
  const architectures = ebs ? ['x86_64', 'arm64'] : ['x86_64', 'i386'];
  if (isKnown(inputs.architecture) && !architectures.includes(inputs.architecture as string)) {
    fail('architecture', `"${inputs.architecture}" is not an architecture for ${ebs ? 'EBS-backed' : 'instance-store'} AMIs; use ${architectures.join(' or ')}`);
  }
  if (isKnown(inputs.virtualizationType) && !['paravirtual', 'hvm'].includes(inputs.virtualizationType as string)) {
    fail('virtualizationType', `"${inputs.virtualizationType}" is not paravirtual or hvm`);
  } else if (ebs && isKnown(inputs.virtualizationType) && inputs.virtualizationType !== 'hvm') {
    fail('virtualizationType', 'EBS-backed AMIs made from a raw image are hvm');
  }
  for (const property of ebs ? BUNDLE_ONLY : EBS_ONLY) {
    if (inputs[property] !== undefined) fail(property, `only applies to ${ebs ? 'AMIs from a bundle manifest' : 'EBS-backed AMIs from imagePath'}`);
  }
  if (isKnown(inputs.kernelId)) list.attempt('kernelId', () => kernelId(inputs.kernelId as string, 'kernelId'));
  if (isKnown(inputs.ramdiskId)) list.attempt('ramdiskId', () => ramdiskId(inputs.ramdiskId as string, 'ramdiskId'));
  if (isKnown(inputs.bootMode) && !['legacy-bios', 'uefi', 'uefi-preferred'].includes(inputs.bootMode as string)) fail('bootMode', 'must be legacy-bios, uefi or uefi-preferred');
  if (inputs.architecture === 'arm64' && inputs.bootMode === 'legacy-bios') fail('bootMode', 'arm64 AMIs boot with uefi only');
  if (isKnown(inputs.imdsSupport) && !['v2.0', 'optional'].includes(inputs.imdsSupport as string)) fail('imdsSupport', 'must be "v2.0" (IMDSv2 required) or "optional"');
  if (isKnown(inputs.volumeType) && !['gp3', 'gp2', 'io1', 'io2', 'standard'].includes(inputs.volumeType as string)) fail('volumeType', 'must be gp3, gp2, io1, io2 or standard');
  if (isKnown(inputs.volumeSize) && !(Number.isInteger(inputs.volumeSize) && (inputs.volumeSize as number) >= 1 && (inputs.volumeSize as number) <= 16384)) {
    fail('volumeSize', 'must be a whole number of GiB from 1 to 16384');
  }
  if (isKnown(inputs.description) && (inputs.description as string).length > 255) fail('description', 'AMI descriptions are at most 255 characters');
  if (isKnown(inputs.timeoutSeconds) && !(Number(inputs.timeoutSeconds) > 0)) fail('timeoutSeconds', 'must be a positive number of seconds');
  return list.failures;
}

export function diffAmi(olds: RegisteredAmiOutputs, news: RegisteredAmiInputs, effectiveRegion: string | undefined): DiffOutcome {
  const outcome = diffProperties<RegisteredAmiInputs>(withDefaults(olds), withDefaults(news), {
    replaceOn: ['manifestLocation', 'manifestEtag', 'sourceHash', 'name', 'architecture', 'virtualizationType', 'kernelId', 'ramdiskId', 'blockDeviceMappings', ...EBS_ONLY],
    updateOn: ['description', 'tags', 'timeoutSeconds', 'imagePath'],
  });
  const replaces = [...outcome.replaces];
  if (isEbsSource(olds) !== isEbsSource(news) && !replaces.includes('imagePath')) replaces.push('imagePath');
  if (effectiveRegion !== undefined && (isUnknown(effectiveRegion) || effectiveRegion !== olds.region)) replaces.push('region');
  if (olds.state !== undefined && olds.state !== 'available') replaces.push('state');
  if (replaces.length === 0) return { changes: outcome.changes, replaces };
  // AMI names are unique in an account and region: a replacement that keeps the name can only be
  // registered once the old AMI is deregistered.
  return { changes: true, replaces, deleteBeforeReplace: replaces.includes('name') ? undefined : true };
}
