/**
 * Values as the dynamic provider receives them (pure): during preview, inputs that come from
 * not-yet-known outputs arrive as the SDK's unknown sentinel string.
 */

/** `runtime/rpc.unknownValue` of @pulumi/pulumi (a test checks they agree). */
export const UNKNOWN = '04da6b54-80e4-46f7-96ec-b56ff0331ba9';
export type Unknown = typeof UNKNOWN;

export function isUnknown(value: unknown): boolean {
  if (value === UNKNOWN) return true;
  if (Array.isArray(value)) return value.some(isUnknown);
  if (value !== null && typeof value === 'object') return Object.values(value).some(isUnknown);
  return false;
}

/** A value given and known (not undefined, not the preview's unknown, nor holding it). */
export function isKnown<T>(value: T | Unknown | undefined): value is Exclude<T, Unknown | undefined> {
  return value !== undefined && !isUnknown(value);
}

/** Stable JSON (sorted keys) so that equal values compare equal whatever their key order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

export function sameValue(a: unknown, b: unknown): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

export interface DiffRules<T> {
  /** Properties whose change forces a replacement. */
  replaceOn: readonly (keyof T & string)[];
  /** Properties that can change in place. */
  updateOn: readonly (keyof T & string)[];
}

export interface DiffOutcome {
  changes: boolean;
  replaces: string[];
  deleteBeforeReplace?: boolean;
}

/**
 * Compares the stored state with the new inputs property by property: an unknown new value counts
 * as a change (and as a replacement when the property forces one).
 */
export function diffProperties<T extends object>(olds: Partial<T>, news: Partial<T>, rules: DiffRules<T>): DiffOutcome {
  const changed = (key: keyof T & string) => isUnknown(news[key]) || !sameValue(olds[key], news[key]);
  const replaces = rules.replaceOn.filter(changed);
  const updates = rules.updateOn.filter(changed);
  return { changes: replaces.length > 0 || updates.length > 0, replaces };
}

/**
 * A copy without undefined values, at any depth (undefined array items become null). The plugin
 * encodes results with protobuf's Struct.fromJavaScript, which throws "Unexpected struct type." on
 * undefined: a Create would then fail after AWS made the resource, and a partial failure would
 * never be answered at all. Outputs, refreshed state and partial-failure properties built with
 * optional fields go through this.
 */
export function definedOnly<T>(value: T): T {
  if (Array.isArray(value)) return value.map((item) => (item === undefined ? null : definedOnly(item))) as T;
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([, item]) => item !== undefined)
        .map(([key, item]) => [key, definedOnly(item)]),
    ) as T;
  }
  return value;
}

export function pick<T extends object, K extends keyof T>(value: T, keys: readonly K[]): Pick<T, K> {
  const result = {} as Pick<T, K>;
  for (const key of keys) if (value[key] !== undefined) result[key] = value[key];
  return result;
}
