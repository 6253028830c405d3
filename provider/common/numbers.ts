/**
 * The one whole-number rule every layer's counts and sizes follow (pure; imports nothing of the
 * project). Each caller keeps its own message, which names its option or input.
 */

/** Whether `value` is a whole number from `minimum` to `maximum` (no upper bound unless given). */
export function isWholeNumber(value: number, minimum: number, maximum = Number.POSITIVE_INFINITY): boolean {
  return Number.isInteger(value) && value >= minimum && value <= maximum;
}
