/**
 * The stack's aws:defaultTags, as @pulumi/aws applies them: every tagged resource gets them, its own
 * `tags` winning on a shared key; `tagsAll` (state) is what AWS holds; a change of the defaults is an
 * update in place. Pure but for reading the settings `configure` kept.
 */
import { currentSettings } from './settings';
import { DiffOutcome, isUnknown, sameValue } from './values';

type Tags = Record<string, string>;

export function defaultTags(): Tags {
  return currentSettings().defaultTags ?? {};
}

/** The tags a resource applies: the defaults, then its own. */
export function appliedTags(own: Tags | undefined, defaults: Tags = defaultTags()): Tags {
  return { ...defaults, ...own };
}

/**
 * The resource's own tags among those AWS holds: a tag the defaults give, with the default's value,
 * is the default's unless the program set it itself (`given`, the program's tags last known).
 */
export function ownTags(live: Tags, given: Tags | undefined, defaults: Tags = defaultTags()): Tags {
  return Object.fromEntries(
    Object.entries(live).filter(([key, value]) => given?.[key] !== undefined || defaults[key] !== value),
  );
}

/** The tags and tagsAll outputs from what AWS holds (or is about to hold). */
export function tagOutputs(live: Tags, given: Tags | undefined): { tags: Tags; tagsAll: Tags } {
  return { tags: ownTags(live, given), tagsAll: live };
}

/**
 * The diff, plus an update in place when only the defaults changed: what the state's `tagsAll` holds
 * (its `tags` in a state from before tagsAll) is not what the new tags and the defaults make.
 */
export function withDefaultTagsChange(
  outcome: DiffOutcome,
  olds: Record<string, unknown>,
  newTags: unknown,
  defaults: Tags = defaultTags(),
): DiffOutcome {
  if (outcome.changes || isUnknown(newTags)) return outcome;
  const before = olds.tagsAll ?? olds.tags ?? {};
  const after = appliedTags(isTags(newTags) ? newTags : {}, defaults);
  return sameValue(before, after) ? outcome : { ...outcome, changes: true };
}

function isTags(value: unknown): value is Tags {
  return typeof value === 'object' && value !== null && Object.values(value).every((each) => typeof each === 'string');
}

/**
 * The tags the root EBS volume of an EBS-backed instance should hold: the defaults, as @pulumi/aws
 * gives them to a root volume with no tags of its own (undefined for an instance with no such volume).
 */
export function rootVolumeTags(rootDeviceType: unknown, defaults: Tags = defaultTags()): Tags | undefined {
  return rootDeviceType === 'ebs' ? defaults : undefined;
}

/** Whether the root volume's tags (state) are not what the defaults make: an update in place. */
export function rootVolumeTagsDiffer(olds: Record<string, unknown>, defaults: Tags = defaultTags()): boolean {
  const wanted = rootVolumeTags(olds.rootDeviceType, defaults);
  return wanted !== undefined && !sameValue(olds.rootVolumeTags ?? {}, wanted);
}
