/**
 * An error caused by something the user gave us (a file, an option, a bundle), as opposed to a bug.
 * `input` names what was wrong (an option name such as `--image`, or a file path) so that front ends
 * can show one clear line; the message itself already says what to do about it.
 */
export class BundleInputError extends Error {
  readonly input: string;

  constructor(input: string, message: string) {
    super(message);
    this.name = 'BundleInputError';
    this.input = input;
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
  ) {
    super(input, message);
    this.name = 'ResumeMismatchError';
  }
}

/** The destination already holds objects of a bundle of the same name that this run does not resume; `problem` says why. */
export class DestinationTakenError extends BundleInputError {
  constructor(
    readonly problem: string,
    message: string,
  ) {
    super('bucket', message);
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

export function isErrnoException(error: unknown): error is NodeJS.ErrnoException {
  return error instanceof Error && typeof (error as NodeJS.ErrnoException).code === 'string';
}
