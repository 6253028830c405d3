/** Tags: the SDK's list form, and the changes that turn one tag set into another (pure). */
import { CreateTagsCommand, DeleteTagsCommand, EC2Client, Tag } from '@aws-sdk/client-ec2';
import { awsCall } from './errors';

export type Tags = Record<string, string>;

export function toTagList(tags: Tags | undefined): Tag[] {
  return Object.entries(tags ?? {}).map(([Key, Value]) => ({ Key, Value }));
}

export function fromTagList(tags: readonly Tag[] | undefined): Tags {
  const result: Tags = {};
  for (const tag of tags ?? []) if (tag.Key !== undefined) result[tag.Key] = tag.Value ?? '';
  return result;
}

export interface TagChanges {
  set: Tags;
  remove: string[];
}

export function tagChanges(before: Tags, after: Tags): TagChanges {
  const set: Tags = {};
  for (const [key, value] of Object.entries(after)) if (before[key] !== value) set[key] = value;
  return { set, remove: Object.keys(before).filter((key) => !(key in after)) };
}

/** Applies the changes from `before` to `after` on an EC2 resource, in place. */
export async function updateTags(
  ec2: EC2Client,
  resourceId: string,
  before: Tags,
  after: Tags,
  signal?: AbortSignal,
): Promise<void> {
  const changes = tagChanges(before, after);
  if (changes.remove.length > 0) {
    await awsCall('DeleteTags', resourceId, () =>
      ec2.send(new DeleteTagsCommand({ Resources: [resourceId], Tags: changes.remove.map((Key) => ({ Key })) }), {
        abortSignal: signal,
      }),
    );
  }
  if (Object.keys(changes.set).length > 0) {
    await awsCall('CreateTags', resourceId, () =>
      ec2.send(new CreateTagsCommand({ Resources: [resourceId], Tags: toTagList(changes.set) }), {
        abortSignal: signal,
      }),
    );
  }
}
