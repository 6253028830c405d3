/**
 * How a dynamic provider reports that AWS created something but it did not become usable: an error
 * carrying `id`, `properties` and `reasons`, which the plugin turns into a partial failure, so the
 * engine keeps the resource (and its id) in state instead of losing it.
 */
import { definedOnly } from './values';

export class PartialFailure extends Error {
  readonly properties: Record<string, unknown>;

  constructor(
    readonly id: string,
    properties: Record<string, unknown>,
    readonly reasons: string[],
  ) {
    super(reasons[0] ?? `resource ${id} failed to initialize`);
    this.name = 'PartialFailure';
    this.properties = definedOnly(properties);
  }
}

/** One line for a user: the message, without stack or SDK noise. */
export function reason(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export interface CheckFailure {
  property: string;
  reason: string;
}
