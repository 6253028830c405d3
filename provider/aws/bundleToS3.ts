/**
 * Bundling straight into S3, the one entry point for `bundle --bucket` and BundledImage: runs the
 * bundler into an S3BundleOutput, resumes, refuses or restarts an unfinished bundle as the policy
 * says, and reports what a failure could not remove.
 */
import { bundleImage, BundleOptions, BundleResult, BundleTestHooks, bundleNameOf } from '../bundle/bundle';
import { deleteBundle } from './deleteBundle';
import { restartReason, takesUp, UnfinishedPolicy } from './resumePlan';
import { S3BundleOutput, S3BundleOutputOptions } from './s3BundleOutput';
import { StoredObject } from './storedObject';

export interface BundleToS3Options
  extends
    Omit<BundleOptions, 'output' | 'destination'>,
    Pick<S3BundleOutputOptions, 's3' | 'location' | 'acl' | 'createBucket' | 'concurrency' | 'fresh'> {
  unfinished: UnfinishedPolicy;
  /** With `restart`: told why an unfinished bundle is removed before bundling from the start. */
  onRestart?: (problem: string) => void;
}

export interface S3BundleResult extends BundleResult {
  /** Every object of the bundle with its S3 ETag, parts first, the manifest last. */
  objects: StoredObject[];
  /** Parts of an unfinished bundle that were kept instead of uploaded again. */
  resumedParts: number;
  bucketCreated: boolean;
  /**
   * The claim object this run could not remove at the end (S3 failed), with why: the bundle is whole,
   * but another host's run finds the place held until the object is removed.
   */
  claimLeft?: string;
}

/** A failed bundle that left objects it could not remove (usually none: then the error is thrown as it is). */
export class S3LeftoversError extends Error {
  constructor(
    override readonly cause: unknown,
    readonly leftovers: string[],
  ) {
    super(
      `${cause instanceof Error ? cause.message : String(cause)}; ${leftovers.length} object(s) could not be removed (${leftovers.slice(0, 3).join(', ')})`,
    );
    this.name = 'S3LeftoversError';
  }
}

async function attempt(options: BundleToS3Options, testHooks: BundleTestHooks): Promise<S3BundleResult> {
  const { s3, location, acl, createBucket, concurrency, signal, unfinished, fresh } = options;
  const output = new S3BundleOutput({
    s3,
    location,
    acl,
    createBucket,
    concurrency,
    signal,
    partSize: testHooks.partSize,
    resumable: true,
    resumeExisting: takesUp(unfinished),
    fresh,
  });
  try {
    const result = await bundleImage({ ...options, output }, testHooks);
    return {
      ...result,
      objects: output.objects(),
      resumedParts: output.resumedParts,
      bucketCreated: output.bucketCreated,
      claimLeft: output.claimLeft,
    };
  } catch (error) {
    const leftovers = output.leftovers();
    throw leftovers.length > 0 ? new S3LeftoversError(error, leftovers) : error;
  }
}

export async function bundleToS3(options: BundleToS3Options, testHooks: BundleTestHooks = {}): Promise<S3BundleResult> {
  try {
    return await attempt(options, testHooks);
  } catch (error) {
    const problem = restartReason(options.unfinished, error);
    if (problem === undefined) throw error;
    options.onRestart?.(problem);
    await deleteBundle({
      s3: options.s3,
      location: options.location,
      name: bundleNameOf(options),
      signal: options.signal,
    });
    return attempt(options, testHooks);
  }
}
