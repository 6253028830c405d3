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

/** An unfinished bundle at the destination that this image and these options cannot resume. */
export class ResumeMismatchError extends BundleInputError {
  constructor(message: string) {
    super('image', message);
    this.name = 'ResumeMismatchError';
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
