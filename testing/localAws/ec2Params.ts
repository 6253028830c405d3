/** Reading EC2 Query parameters (`Name.N`, `Name.N.Member`) and applying `Filter.N` to resources. */
import { AwsError } from './errors';

export type QueryParams = Readonly<Record<string, string>>;

function indexedEntries(params: QueryParams, prefix: string): Array<[number, string, string]> {
  const pattern = new RegExp(`^${prefix.replace(/\./g, '\\.')}\\.(\\d+)(?:\\.(.+))?$`);
  const entries: Array<[number, string, string]> = [];
  for (const [name, value] of Object.entries(params)) {
    const match = pattern.exec(name);
    if (match) entries.push([Number(match[1]), match[2] ?? '', value]);
  }
  return entries.sort((a, b) => a[0] - b[0]);
}

/** `Prefix.1`, `Prefix.2`, … in index order. */
export function scalarList(params: QueryParams, prefix: string): string[] {
  return indexedEntries(params, prefix)
    .filter(([, member]) => member === '')
    .map(([, , value]) => value);
}

/** `Prefix.N.Member` grouped by N, in index order, each as a record of its members. */
export function structList(params: QueryParams, prefix: string): Array<Record<string, string>> {
  const groups = new Map<number, Record<string, string>>();
  for (const [index, member, value] of indexedEntries(params, prefix)) {
    if (member === '') continue;
    const group = groups.get(index) ?? {};
    group[member] = value;
    groups.set(index, group);
  }
  return [...groups.values()];
}

export function required(params: QueryParams, name: string): string {
  const value = params[name];
  if (value === undefined || value === '')
    throw new AwsError(400, 'MissingParameter', `The request must contain the parameter ${name}`);
  return value;
}

export function integer(params: QueryParams, name: string): number | undefined {
  const value = params[name];
  if (value === undefined) return undefined;
  if (!/^-?\d+$/.test(value)) throw new AwsError(400, 'InvalidParameterValue', `Invalid value '${value}' for ${name}`);
  return Number(value);
}

export function invalidValue(name: string, value: string, why?: string): AwsError {
  return new AwsError(400, 'InvalidParameterValue', why ?? `Invalid value '${value}' for ${name}.`);
}

export interface Filter {
  name: string;
  values: string[];
}

export function filters(params: QueryParams): Filter[] {
  return structList(params, 'Filter').map((group) => {
    const name = group.Name;
    if (name === undefined) throw new AwsError(400, 'InvalidParameterValue', 'The filter name must be specified');
    const values = Object.entries(group)
      .map(([member, value]) => [/^Value\.(\d+)$/.exec(member)?.[1], value] as const)
      .filter((entry): entry is readonly [string, string] => entry[0] !== undefined)
      .sort((a, b) => Number(a[0]) - Number(b[0]))
      .map(([, value]) => value);
    return { name, values };
  });
}

function wildcard(pattern: string): RegExp {
  const body = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`, 's');
}

/**
 * Whether a resource passes every filter. `fields` gives the values of each supported filter name;
 * `tag:Key` and `tag-key` are answered from `tags`. An unsupported name is refused, as EC2 does.
 */
export function passesFilters(
  list: readonly Filter[],
  fields: Readonly<Record<string, readonly string[]>>,
  tags: ReadonlyMap<string, string>,
  supported: readonly string[],
): boolean {
  return list.every((filter) => {
    let candidates: readonly string[];
    if (filter.name.startsWith('tag:')) {
      const value = tags.get(filter.name.slice(4));
      candidates = value === undefined ? [] : [value];
    } else if (filter.name === 'tag-key') {
      candidates = [...tags.keys()];
    } else if (supported.includes(filter.name)) {
      candidates = fields[filter.name] ?? [];
    } else {
      throw new AwsError(400, 'InvalidParameterValue', `The filter '${filter.name}' is invalid`);
    }
    return filter.values.some((pattern) => candidates.some((candidate) => wildcard(pattern).test(candidate)));
  });
}

export interface TagPair {
  key: string;
  value: string;
}

export function checkTag(key: string, value: string): void {
  if (key.length === 0 || key.length > 128)
    throw new AwsError(400, 'InvalidParameterValue', `Tag key '${key}' must be 1 to 128 characters long`);
  if (value.length > 256)
    throw new AwsError(400, 'InvalidParameterValue', `Tag value for key '${key}' must be at most 256 characters long`);
  if (key.toLowerCase().startsWith('aws:'))
    throw new AwsError(400, 'InvalidParameterValue', "Tag keys starting with 'aws:' are reserved for internal use");
}

/** Tags of `TagSpecification.N` for one resource type; other resource types are refused. */
export function tagSpecifications(
  params: QueryParams,
  resourceType: string,
  alsoAccepted: readonly string[] = [],
): Map<string, string> {
  const tags = new Map<string, string>();
  const groups = new Map<number, { type?: string; tags: Record<string, string> }>();
  for (const [name, value] of Object.entries(params)) {
    const match = /^TagSpecification\.(\d+)\.(.+)$/.exec(name);
    if (!match) continue;
    const group = groups.get(Number(match[1])) ?? { tags: {} };
    if (match[2] === 'ResourceType') group.type = value;
    else group.tags[match[2]] = value;
    groups.set(Number(match[1]), group);
  }
  for (const group of groups.values()) {
    if (group.type === undefined)
      throw new AwsError(400, 'InvalidParameterValue', 'A TagSpecification must name its ResourceType');
    if (group.type !== resourceType && !alsoAccepted.includes(group.type)) {
      throw new AwsError(
        400,
        'InvalidParameterValue',
        `'${group.type}' is not a valid taggable resource type for this operation.`,
      );
    }
    if (group.type !== resourceType) continue;
    for (const tag of structList(group.tags, 'Tag')) {
      const key = tag.Key ?? '';
      const value = tag.Value ?? '';
      checkTag(key, value);
      tags.set(key, value);
    }
  }
  return tags;
}
