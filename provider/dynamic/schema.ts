/**
 * A resource's properties, declared once (pure): for each one, its kind of value, whether the
 * program gives it (and must), whether the state keeps it, whether a change replaces the resource
 * or is made in place, its default, and whether the resource class shows it as an output. The
 * dynamic layer's input and output types, the sdk's Args and output declarations, the public
 * outputs and the diff are all derived from that one declaration.
 */
import { isUnknown, Unknown } from './values';

/** How a value of a property is recognised: `is` the exact type, `looksLike` what check judges further (an enum's string). */
export interface Kind<T, Loose = T> {
  readonly is: (value: unknown) => value is T;
  readonly looksLike: (value: unknown) => value is Loose;
}

const strings: Kind<string> = { is: isString, looksLike: isString };
const numbers: Kind<number> = { is: isNumber, looksLike: isNumber };
const flags: Kind<boolean> = { is: isBoolean, looksLike: isBoolean };

function isString(value: unknown): value is string {
  return typeof value === 'string';
}
function isNumber(value: unknown): value is number {
  return typeof value === 'number';
}
function isBoolean(value: unknown): value is boolean {
  return typeof value === 'boolean';
}
function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** A string out of a fixed set; check sees any string, so that its rule can say which ones it takes. */
function oneOf<const V extends string>(values: readonly V[]): Kind<V, string> {
  const member = (value: unknown): value is V => values.some((each) => each === value);
  return { is: member, looksLike: isString };
}

function listOf<T>(item: Kind<T, unknown>): Kind<T[], unknown[]> {
  return {
    is: (value): value is T[] => Array.isArray(value) && value.every(item.is),
    looksLike: (value): value is unknown[] => Array.isArray(value),
  };
}

/**
 * Objects of type T whose fields are all strings (block device mappings): `record<T>()(fields)`,
 * where the fields must name every field of T.
 */
function record<T extends Record<keyof T, string>>() {
  return <const F extends readonly (keyof T & string)[]>(
    fields: F & ([Exclude<keyof T, F[number]>] extends [never] ? unknown : never),
  ): Kind<T> => {
    const is = (value: unknown): value is T =>
      isObject(value) && fields.every((field) => typeof value[field] === 'string');
    return { is, looksLike: is };
  };
}

/** A string out of a set too large to list (a template literal type), told by `test`. */
function matching<V extends string>(test: (value: string) => boolean): Kind<V, string> {
  return { is: (value): value is V => isString(value) && test(value), looksLike: isString };
}

const stringMap: Kind<Record<string, string>> = {
  is: (value): value is Record<string, string> => isObject(value) && Object.values(value).every(isString),
  looksLike: (value): value is Record<string, string> => isObject(value) && Object.values(value).every(isString),
};

/** The value type of each field of a `shape`, every field optional. */
export type ShapeOf<F> = { -readonly [K in keyof F]?: F[K] extends Kind<infer T, unknown> ? T : never };

/**
 * Objects whose fields are each optional and of their own kind (metadata options, a root device):
 * `shape({ field: kind, … })`. Check sees any object, so that its rule can name the field at fault.
 */
function shape<const F extends Record<string, Kind<unknown, unknown>>>(
  fields: F,
): Kind<ShapeOf<F>, Record<string, unknown>> {
  const is = (value: unknown): value is ShapeOf<F> =>
    isObject(value) &&
    Object.entries(value).every(([key, item]) => key in fields && (item === undefined || fields[key].is(item)));
  return { is, looksLike: isObject };
}

export const kinds = { strings, numbers, flags, oneOf, matching, listOf, record, stringMap, shape };

/** What a change of the property does: replaces the resource, updates it in place, or nothing (outputs). */
export type Change = 'replace' | 'update' | 'none';

export interface Property<T = unknown, Loose = unknown> {
  readonly kind: Kind<T, Loose>;
  /** The program gives it ("required": it must); absent for what only the provider sets. */
  readonly input?: 'required' | 'optional';
  /** Set by check (a hash of the source): an input the program does not give. */
  readonly checked?: true;
  /** An input never stored in the state (a secret). */
  readonly secret?: true;
  /** The state always holds it ("always") or only sometimes ("maybe"); absent for secrets. */
  readonly output?: 'always' | 'maybe';
  /** Held once the resource is made: the state a partial failure leaves (an unfinished upload) may lack it. */
  readonly onceMade?: true;
  readonly change: Change;
  /** Stating the default is no change. */
  readonly default?: T;
  /** For a resource made from one of several sources: the one this property belongs to. */
  readonly source?: string;
  /** The default that depends on the source. */
  readonly defaultFor?: Readonly<Record<string, T>>;
  /** The resource class declares it as an output ("declared"), or only reserves the key ("reserved"). */
  readonly resource?: 'declared' | 'reserved';
  /** The type the resource class shows, when it is not the value's own. */
  readonly shownAs?: Kind<unknown>;
}

export type Schema = Record<string, Property>;

/** Properties every resource that has them declares alike. */
export const shared = {
  /** Tags of what the resource makes; changed in place. */
  tags: property(stringMap, {
    input: 'optional',
    output: 'always',
    change: 'update',
    default: {},
    resource: 'declared',
  }),
  /** Compared with the effective region (the input, else the provider's): a move replaces. */
  region: property(strings, { input: 'optional', output: 'always', change: 'replace', resource: 'declared' }),
  /** The tags AWS holds: the stack's aws:defaultTags with `tags` over them (as @pulumi/aws's tagsAll). */
  tagsAll: property(stringMap, { output: 'maybe', change: 'none', resource: 'declared' }),
};

/** Declares a property of type T (or of the kind's type); the kind carries the type to what is derived. */
export function property<T, Loose, const P extends Omit<Property<T, Loose>, 'kind' | 'default' | 'defaultFor'>>(
  kind: Kind<T, Loose>,
  flags: P & { default?: T; defaultFor?: Readonly<Record<string, T>> },
): P & { kind: Kind<T, Loose>; default?: T; defaultFor?: Readonly<Record<string, T>> } {
  return { ...flags, kind };
}

type ValueOf<P> = P extends Property<infer T, unknown> ? T : never;
type LooseOf<P> = P extends Property<unknown, infer L> ? L : never;

type RequiredInputKey<S> = { [K in keyof S]: S[K] extends { input: 'required' } ? K : never }[keyof S];
type OptionalInputKey<S> = {
  [K in keyof S]: S[K] extends { input: 'optional' } | { checked: true } ? K : never;
}[keyof S];
type AlwaysOutputKey<S> = { [K in keyof S]: S[K] extends { output: 'always' } ? K : never }[keyof S];
type MaybeOutputKey<S> = { [K in keyof S]: S[K] extends { output: 'maybe' } ? K : never }[keyof S];

/** What create and update receive: the program's inputs after check (the values are known). */
export type InputsOf<S> = { [K in keyof S as K extends RequiredInputKey<S> ? K : never]: ValueOf<S[K]> } & {
  [K in keyof S as K extends OptionalInputKey<S> ? K : never]?: ValueOf<S[K]>;
};

/** What the state of a made resource holds (what create returns). */
export type OutputsOf<S> = { [K in keyof S as K extends AlwaysOutputKey<S> ? K : never]: ValueOf<S[K]> } & {
  [K in keyof S as K extends MaybeOutputKey<S> ? K : never]?: ValueOf<S[K]>;
};

type OnceMadeKey<S> = { [K in keyof S]: S[K] extends { onceMade: true } ? K : never }[keyof S];

/** What any state holds, the one a partial failure left included (read, update and delete receive it). */
export type StateOf<S> = {
  [K in keyof S as K extends Exclude<AlwaysOutputKey<S>, OnceMadeKey<S>> ? K : never]: ValueOf<S[K]>;
} & {
  [K in keyof S as K extends MaybeOutputKey<S> | OnceMadeKey<S> ? K : never]?: ValueOf<S[K]>;
};

/** What check and diff judge: any input may be missing or still unknown (preview), and an enum is any string. */
export type PlannedOf<S> = {
  [K in keyof S as K extends RequiredInputKey<S> | OptionalInputKey<S> ? K : never]?: LooseOf<S[K]> | Unknown;
};

/** The keys with a property flag, in declaration order (which orders the diff's `replaces`). */
export function keysWhere<S extends Schema>(schema: S, test: (property: Property) => boolean): (keyof S & string)[] {
  return Object.keys(schema).filter((key) => test(schema[key]));
}

export function isInput(property: Property): boolean {
  return property.input !== undefined || property.checked === true;
}

type PublicInputKey<S> = {
  [K in keyof S]: S[K] extends ({ input: 'required' | 'optional' } | { checked: true }) & { output: 'always' | 'maybe' }
    ? K
    : never;
}[keyof S] &
  string;

function isPublicInput(property: Property): boolean {
  return isInput(property) && property.output !== undefined;
}

/** Inputs that the state keeps (everything but the secrets), in declaration order. */
export function publicInputs<S extends Schema>(schema: S): PublicInputKey<S>[] {
  const isKey = (key: string): key is PublicInputKey<S> => key in schema && isPublicInput(schema[key]);
  return Object.keys(schema).filter(isKey);
}

/** What refresh returns as the inputs: the state without what only the provider sets (other keys, such as __provider, stay). */
export function refreshedInputs(schema: Schema, state: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(state).filter(([key]) => !(key in schema) || isInput(schema[key])));
}

/** The defaults (of one source's properties, when the resource has sources), for the diff: stating one is no change. */
export function defaultsOf(schema: Schema, source?: string): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(schema).flatMap(([key, property]) => {
      if (property.source !== undefined && property.source !== source) return [];
      const value = (source === undefined ? undefined : property.defaultFor?.[source]) ?? property.default;
      return value === undefined ? [] : [[key, value]];
    }),
  );
}

/** The value with the defaults filled in where nothing is given. */
export function withDefaults(
  props: Record<string, unknown>,
  defaults: Record<string, unknown>,
): Record<string, unknown> {
  return { ...defaults, ...Object.fromEntries(Object.entries(props).filter(([, value]) => value !== undefined)) };
}

type Props = Record<string, unknown>;

/**
 * The first way `props` differs from the declaration (`needed`: the keys that must be there), or
 * undefined. A value still unknown never conforms: create, update, read and delete only ever see
 * known values.
 */
function mismatch(schema: Schema, props: Props, needed: (property: Property) => boolean): string | undefined {
  for (const [key, property] of Object.entries(schema)) {
    const value = props[key];
    if (value === undefined) {
      if (needed(property)) return `${key} is missing`;
    } else if (isUnknown(value)) return `${key} is unknown`;
    else if (!property.kind.is(value)) return `${key} is not what it should be (${JSON.stringify(value)})`;
  }
  return undefined;
}

function inState(property: Property): boolean {
  return property.output === 'always' && !property.onceMade;
}

/** Whether `props` are inputs as create and update receive them (all known, each of its kind). */
export function hasInputs<S extends Schema>(schema: S, props: Props): props is Props & InputsOf<S> {
  return mismatch(schema, props, (property) => property.input === 'required') === undefined;
}

function hasState<S extends Schema>(schema: S, props: Props): props is Props & StateOf<S> {
  return mismatch(schema, props, inState) === undefined;
}

/** The checked inputs create and update receive, typed; anything else is a bug and throws. */
export function parseInputs<S extends Schema>(schema: S, props: Props, resource: string): Props & InputsOf<S> {
  if (!hasInputs(schema, props))
    throw new Error(
      `${resource}: the inputs do not match the declaration: ${mismatch(schema, props, (property) => property.input === 'required')}`,
    );
  return props;
}

/** The state read, update and delete receive, typed; anything else is a bug and throws. */
export function parseOutputs<S extends Schema>(schema: S, props: Props, resource: string): Props & StateOf<S> {
  if (!hasState(schema, props))
    throw new Error(`${resource}: the state does not match the declaration: ${mismatch(schema, props, inState)}`);
  return props;
}

function isPlanned<S extends Schema>(schema: S, props: Props): props is Props & PlannedOf<S> {
  return Object.entries(schema).every(
    ([key, property]) =>
      !isInput(property) || props[key] === undefined || isUnknown(props[key]) || property.kind.looksLike(props[key]),
  );
}

/**
 * The inputs check and diff judge, typed: a value of the wrong kind (a program not checked by
 * TypeScript) is left out and is a failure of its property.
 */
export function parsePlanned<S extends Schema>(
  schema: S,
  props: Props,
): { planned: PlannedOf<S>; failures: { property: string; reason: string }[] } {
  const failures: { property: string; reason: string }[] = [];
  const kept: Props = { ...props };
  for (const [key, property] of Object.entries(schema)) {
    const value = props[key];
    if (!isInput(property) || value === undefined || isUnknown(value) || property.kind.looksLike(value)) continue;
    delete kept[key];
    failures.push({ property: key, reason: `${JSON.stringify(value)} is not a value ${key} takes` });
  }
  if (!isPlanned(schema, kept)) throw new Error('unreachable: every value of the wrong kind was left out');
  return { planned: kept, failures };
}
