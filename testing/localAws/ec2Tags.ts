/**
 * Tags across resources: the tags of volumes (the root volume an EBS-backed launch makes), and
 * DescribeTags over the images, instances, snapshots and volumes this account owns.
 */
import { AwsError } from './errors';
import { existingVolume } from './ec2Volumes';
import { Ec2Action, paginate } from './ec2Context';
import { filters, passesFilters } from './ec2Params';
import type { LocalAwsState } from './state';
import { el, items, opt } from './xml';

/** The tags of a volume that exists (ec2Volumes.ts), or undefined. */
export function volumeTagsOf(state: LocalAwsState, volumeId: string): Map<string, string> | undefined {
  if (!existingVolume(state, volumeId)) return undefined;
  const tags = state.volumeTags.get(volumeId) ?? new Map<string, string>();
  state.volumeTags.set(volumeId, tags);
  return tags;
}

interface TagRow {
  resourceId: string;
  resourceType: string;
  key: string;
  value: string;
}

function rows(state: LocalAwsState): TagRow[] {
  const result: TagRow[] = [];
  const add = (resourceId: string, resourceType: string, tags: ReadonlyMap<string, string>) => {
    for (const [key, value] of tags) result.push({ resourceId, resourceType, key, value });
  };
  for (const image of state.images.values())
    if (!image.seeded && state.imageState(image).state !== 'deregistered') add(image.imageId, 'image', image.tags);
  for (const instance of state.instances.values())
    if (state.instanceState(instance).state !== 'terminated') add(instance.instanceId, 'instance', instance.tags);
  for (const snapshot of state.snapshots.values()) add(snapshot.snapshotId, 'snapshot', snapshot.tags);
  for (const volumeId of state.volumeTags.keys()) {
    const tags = volumeTagsOf(state, volumeId);
    if (tags) add(volumeId, 'volume', tags);
  }
  return result;
}

const TAG_FILTERS = ['key', 'value', 'resource-id', 'resource-type'];

/** DescribeTags: filters key, value, resource-id and resource-type; MaxResults 5 to 1000. */
export const describeTags: Ec2Action = (context) => {
  const filterList = filters(context.params);
  const maxResults = context.params.MaxResults;
  if (maxResults !== undefined && !(Number(maxResults) >= 5 && Number(maxResults) <= 1000))
    throw new AwsError(400, 'InvalidParameterValue', `Value (${maxResults}) for parameter maxResults is invalid.`);
  const selected = rows(context.state).filter((row) =>
    passesFilters(
      filterList,
      { key: [row.key], value: [row.value], 'resource-id': [row.resourceId], 'resource-type': [row.resourceType] },
      new Map(),
      TAG_FILTERS,
    ),
  );
  const { page, nextToken } = paginate(context, selected, false);
  return [
    items('tagSet', page, (row) => [
      el('resourceId', row.resourceId),
      el('resourceType', row.resourceType),
      el('key', row.key),
      el('value', row.value),
    ]),
    opt('nextToken', nextToken),
  ];
};
