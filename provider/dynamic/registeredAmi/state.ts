/** What RegisteredAmi's state holds, from either source: the inputs (without __provider) and what AWS made. */
import { tagOutputs } from '../defaultTags';
import { definedOnly } from '../values';
import { RegisteredAmiInputs, RegisteredAmiOutputs } from './types';
import { sourceOf } from './rules';

export const DEFAULT_TIMEOUT_SECONDS = 1800;

export interface AmiFacts {
  imageId: string;
  region: string;
  state: string;
  tags: Record<string, string>;
  effectiveKernelId?: string;
  snapshotId?: string;
  blockList?: string;
}

export function amiOutputs(
  inputs: RegisteredAmiInputs & Record<string, unknown>,
  facts: AmiFacts,
): RegisteredAmiOutputs & Record<string, unknown> {
  const { __provider: _provider, ...rest } = inputs;
  return definedOnly({
    ...rest,
    ...facts,
    ...tagOutputs(facts.tags, inputs.tags),
    rootDeviceType: sourceOf(inputs) === 'image' ? ('ebs' as const) : ('instance-store' as const),
  });
}

export function amiLabel(name: string): string {
  return `RegisteredAmi ${name}`;
}
