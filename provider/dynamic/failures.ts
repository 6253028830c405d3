/**
 * How a dynamic provider reports that AWS created something but it did not become usable: an error
 * carrying `id`, `properties` and `reasons`, which the plugin turns into a partial failure, so the
 * engine keeps the resource (and its id) in state instead of losing it.
 */
import { pulumiReason } from './remedies';
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

/**
 * Collects check failures, one per property: `fail` records a reason, `attempt` records the
 * message of an input error thrown by a parser (any other error is a bug and propagates).
 */
export class FailureList {
  readonly failures: CheckFailure[] = [];

  fail(property: string, reason: string | undefined): void {
    if (reason && !this.failures.some((failure) => failure.property === property))
      this.failures.push({ property, reason });
  }

  attempt(property: string, parse: () => unknown): void {
    try {
      parse();
    } catch (error) {
      if (!(error instanceof Error) || !('input' in error)) throw error;
      this.fail(property, pulumiReason(error));
    }
  }
}
