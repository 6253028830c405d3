/**
 * How a dynamic provider reports that AWS created something but it did not become usable: an error
 * carrying `id`, `properties` and `reasons`, which the plugin turns into a partial failure, so the
 * engine keeps the resource (and its id) in state instead of losing it.
 */
export class PartialFailure extends Error {
  constructor(
    readonly id: string,
    readonly properties: Record<string, unknown>,
    readonly reasons: string[],
  ) {
    super(reasons[0] ?? `resource ${id} failed to initialize`);
    this.name = 'PartialFailure';
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
