/**
 * What a resource class derives from its declaration in provider/dynamic (`*\/types.ts`): the Args
 * users write (each input wrapped in pulumi.Input, lists and maps item by item, as Pulumi's own
 * providers do), the outputs the class shows, and the props handed to `dynamic.Resource`.
 */
import * as pulumi from '@pulumi/pulumi';
import type { Kind, Property, Schema } from '../provider/dynamic/schema';

type ValueOf<P> = P extends Property<infer T, unknown> ? T : never;

/** A list's items and a string map's values are inputs too; any other value is one input. */
type Arg<T> = [T] extends [readonly (infer E)[]]
  ? pulumi.Input<pulumi.Input<E>[]>
  : [T] extends [Record<string, string>]
    ? string extends keyof T
      ? pulumi.Input<Record<string, pulumi.Input<string>>>
      : pulumi.Input<T>
    : pulumi.Input<T>;

/** The inputs a program gives (not what check sets). */
export type ArgsOf<S> = { [K in keyof S as S[K] extends { input: 'required' } ? K : never]: Arg<ValueOf<S[K]>> } & {
  [K in keyof S as S[K] extends { input: 'optional' } ? K : never]?: Arg<ValueOf<S[K]>>;
};

/** The outputs a resource class declares. */
export type DeclaredOutputsOf<S> = {
  readonly [K in keyof S as S[K] extends { resource: 'declared' } ? K : never]: pulumi.Output<
    S[K] extends { shownAs: Kind<infer Shown, unknown> }
      ? Shown
      : S[K] extends { output: 'always' }
        ? ValueOf<S[K]>
        : ValueOf<S[K]> | undefined
  >;
};

/**
 * The props for `dynamic.Resource`: the args, the secret ones wrapped as secrets, and every key
 * the class declares or reserves that the args lack passed as undefined (Pulumi only makes output
 * properties for keys present in the props).
 */
export function resourceProps(schema: Schema, args: object): Record<string, unknown> {
  const props: Record<string, unknown> = { ...args };
  for (const [key, property] of Object.entries(schema)) {
    if (property.secret && props[key] !== undefined) props[key] = pulumi.secret(props[key]);
    // An input the class also shows (availabilityZone, region, tags) needs its key too when not given.
    if (property.resource !== undefined && props[key] === undefined) props[key] = undefined;
  }
  return props;
}
