import { InputError } from '../common/errors';
import { Remedy } from '../common/remedy';

export { isErrnoException } from '../common/errors';

/**
 * An error caused by something the user gave us (a file, an input, a bundle), as opposed to a bug.
 * `input` names what was wrong by the core's field name (`image`, `privateKey`, `destination`, …) so
 * that front ends can show one clear line in their own names; the message says what to do about it,
 * and where a front end has its own way to do it (an option, a property, a command), `remedy` says
 * which, as data, for the front end to word.
 */
export class BundleInputError extends InputError {
  constructor(input: string, message: string, remedy?: Remedy) {
    super(input, message, remedy);
    this.name = 'BundleInputError';
  }
}

/**
 * Leftovers of an unfinished bundle at the destination that this run cannot resume: made from
 * another image or with other options, or a record this tool did not write. `problem` says which,
 * in a few words, for front ends that remove the leftovers instead of refusing.
 */
export class ResumeMismatchError extends BundleInputError {
  constructor(
    input: string,
    readonly problem: string,
    message: string,
    remedy?: Remedy,
  ) {
    super(input, message, remedy);
    this.name = 'ResumeMismatchError';
  }
}

/**
 * The destination already holds objects of a bundle of the same name that this run does not resume;
 * `problem` says why. The input at fault is the `destination`, whatever kind of place it is.
 */
export class DestinationTakenError extends BundleInputError {
  constructor(
    readonly problem: string,
    message: string,
    remedy?: Remedy,
  ) {
    super('destination', message, remedy);
    this.name = 'DestinationTakenError';
  }
}

/** A bundle that fails an integrity or safety check while being read or verified. */
export class BundleIntegrityError extends Error {
  readonly check: string;

  constructor(check: string, message: string) {
    super(message);
    this.name = 'BundleIntegrityError';
    this.check = check;
  }
}
