/**
 * What every layer's input errors share: the input at fault, named by the layer's own field name
 * (never an option or property name of a front end), and, when there is one, the remedy as data.
 */
import { neutralRemedy, Remedy, RemedyWords, withRemedy } from './remedy';

export class InputError extends Error {
  /** What was wrong, without the remedy: front ends append the remedy in their own words. */
  readonly fault: string;

  constructor(
    readonly input: string,
    fault: string,
    readonly remedy?: Remedy,
  ) {
    super(remedy ? withRemedy(fault, remedy, neutralRemedy) : fault);
    this.name = 'InputError';
    this.fault = fault;
  }
}

/** An error that says what is wrong apart from what to do about it. */
export interface Remedied {
  readonly message: string;
  readonly fault: string;
  readonly remedy?: Remedy;
}

/** The error's message with its remedy (if any) in the words `words` gives it. */
export function reworded(error: Remedied, words: RemedyWords): string {
  return error.remedy ? withRemedy(error.fault, error.remedy, words) : error.message;
}

export function isErrnoException(error: unknown): error is NodeJS.ErrnoException {
  return error instanceof Error && typeof (error as NodeJS.ErrnoException).code === 'string';
}
