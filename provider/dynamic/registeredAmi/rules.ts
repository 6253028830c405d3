/** RegisteredAmi's pure rules: input checks and the diff. */
import { kernelId, ramdiskId } from '../../aws/ids';
import { nameProblem } from '../../aws/images';
import { parseImageLocation } from '../../aws/location';
import { CheckFailure, FailureList } from '../failures';
import { diffProperties, DiffOutcome, isKnown, isUnknown } from '../values';
import { RegisteredAmiInputs, RegisteredAmiOutputs } from './types';

export function checkAmiInputs(inputs: RegisteredAmiInputs): CheckFailure[] {
  const list = new FailureList();
  const { failures } = list;
  const attempt = list.attempt.bind(list);
  if (!inputs.manifestLocation) failures.push({ property: 'manifestLocation', reason: 'give the bundle manifest location (BundledImage.manifestLocation)' });
  else if (isKnown(inputs.manifestLocation)) attempt('manifestLocation', () => parseImageLocation(inputs.manifestLocation));
  if (!inputs.name) failures.push({ property: 'name', reason: 'give the AMI a name (3 to 128 characters)' });
  else if (isKnown(inputs.name)) {
    const problem = nameProblem(inputs.name);
    if (problem) failures.push({ property: 'name', reason: `AMI name "${inputs.name}" ${problem}` });
  }
  if (isKnown(inputs.architecture) && !['x86_64', 'i386'].includes(inputs.architecture as string)) {
    failures.push({ property: 'architecture', reason: `"${inputs.architecture}" is not an instance-store architecture; use x86_64 or i386` });
  }
  if (isKnown(inputs.virtualizationType) && !['paravirtual', 'hvm'].includes(inputs.virtualizationType as string)) {
    failures.push({ property: 'virtualizationType', reason: `"${inputs.virtualizationType}" is not paravirtual or hvm` });
  }
  if (isKnown(inputs.kernelId)) attempt('kernelId', () => kernelId(inputs.kernelId as string, 'kernelId'));
  if (isKnown(inputs.ramdiskId)) attempt('ramdiskId', () => ramdiskId(inputs.ramdiskId as string, 'ramdiskId'));
  if (isKnown(inputs.description) && (inputs.description as string).length > 255) {
    failures.push({ property: 'description', reason: 'AMI descriptions are at most 255 characters' });
  }
  if (isKnown(inputs.timeoutSeconds) && !(Number(inputs.timeoutSeconds) > 0)) failures.push({ property: 'timeoutSeconds', reason: 'must be a positive number of seconds' });
  return failures;
}

const DEFAULTS: Partial<RegisteredAmiInputs> = { architecture: 'x86_64', virtualizationType: 'paravirtual' };

export function diffAmi(olds: RegisteredAmiOutputs, news: RegisteredAmiInputs, effectiveRegion: string | undefined): DiffOutcome {
  const withDefaults = <T extends Partial<RegisteredAmiInputs>>(value: T) => ({ ...DEFAULTS, ...Object.fromEntries(Object.entries(value).filter(([, item]) => item !== undefined)) }) as T;
  const outcome = diffProperties<RegisteredAmiInputs>(withDefaults(olds), withDefaults(news), {
    replaceOn: ['manifestLocation', 'manifestEtag', 'name', 'architecture', 'virtualizationType', 'kernelId', 'ramdiskId', 'blockDeviceMappings'],
    updateOn: ['description', 'tags', 'timeoutSeconds'],
  });
  const replaces = [...outcome.replaces];
  if (effectiveRegion !== undefined && (isUnknown(effectiveRegion) || effectiveRegion !== olds.region)) replaces.push('region');
  if (olds.state !== undefined && olds.state !== 'available') replaces.push('state');
  return { changes: outcome.changes || replaces.length > 0, replaces };
}
