/** An error answer, rendered in the envelope of the service that raised it. */
export class AwsError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Extra child elements of the S3 `<Error>` (for example Key, BucketName). */
    readonly details: Readonly<Record<string, string>> = {},
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = 'AwsError';
  }
}
