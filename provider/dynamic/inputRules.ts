/** Rules every resource's check and diff share (pure). */
import { isKnown, isUnknown, Unknown } from './values';
import { isWholeNumber } from '../common/numbers';

/** A deadline in seconds: any positive number (unknown values are not judged). */
export function positiveSecondsProblem(value: number | Unknown | undefined): string | undefined {
  return isKnown(value) && !(Number(value) > 0) ? 'must be a positive number of seconds' : undefined;
}

/** A whole number from `minimum` to `maximum`, counted in `unit` (unknown values are not judged). */
export function wholeNumberProblem(
  value: number | Unknown | undefined,
  minimum: number,
  maximum: number,
  unit: string,
): string | undefined {
  const whole = isKnown(value) && isWholeNumber(value, minimum, maximum);
  return isKnown(value) && !whole ? `must be a whole number of ${unit} from ${minimum} to ${maximum}` : undefined;
}

/**
 * Whether the region moves: `effectiveRegion` is the region the new inputs would use (the input,
 * else the provider's), unknown in preview, or undefined when none is configured anywhere.
 */
export function regionMoves(stateRegion: string | undefined, effectiveRegion: string | undefined): boolean {
  return effectiveRegion !== undefined && (isUnknown(effectiveRegion) || effectiveRegion !== stateRegion);
}
