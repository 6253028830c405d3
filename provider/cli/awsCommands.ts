/** `upload` and `delete-bundle`, with ec2-upload-bundle's and ec2-delete-bundle's option names. */
import { Command, Option } from 'commander';
import { createInterface } from 'readline/promises';
import { BUNDLE_ACLS, BundleAcl } from '../aws/acl';
import { parseBucketArgument } from '../aws/location';
import { BUCKET_OPTION_NAMES, claimLeftLine, CliInputError } from './inputs';
import { Output } from './output';
import { formatBytes } from './progress';
import { runCommand } from './runCommand';
import { isWholeNumber } from '../common/numbers';

interface AwsCommandOptions {
  bucket: string;
  region?: string;
  retry?: string;
  json?: boolean;
  logFile?: string;
}

interface UploadCommandOptions extends AwsCommandOptions {
  manifest: string;
  acl: BundleAcl;
  directory?: string;
  createBucket?: boolean;
  concurrency: string;
  timeout?: string;
}

interface DeleteCommandOptions extends AwsCommandOptions {
  manifest?: string;
  prefix?: string;
  yes?: boolean;
}

function positiveInteger(option: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const number = Number(value);
  if (!isWholeNumber(number, 1)) throw new CliInputError(`${option} ${value}: give a whole number of at least 1`);
  return number;
}

/** The AWS SDK is loaded only by the commands that use it: it costs ~0.2 s and ~40 MB at start-up. */
async function s3For(options: AwsCommandOptions) {
  const { createS3Client } = await import('../aws/clients.js');
  return createS3Client({ region: options.region, maxAttempts: positiveInteger('--retry', options.retry, 5) });
}

function runAws(
  command: string,
  options: AwsCommandOptions,
  body: (output: Output, signal: AbortSignal) => Promise<void>,
): Promise<void> {
  // Their destination is the bucket: an error about it names -b/--bucket.
  return runCommand(command, options, {}, body, BUCKET_OPTION_NAMES);
}

async function confirm(question: string): Promise<boolean> {
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await prompt.question(`${question} [y/N] `)).trim());
  } finally {
    prompt.close();
  }
}

export function registerAwsCommands(program: Command): void {
  const awsOptions = (command: Command) =>
    command
      .requiredOption('-b, --bucket <bucket[/prefix]>', 'S3 bucket, optionally with a key prefix')
      .option('--region <region>', 'AWS region (default: the SDK chain: AWS_REGION, profile)')
      .option('--retry <attempts>', 'attempts per request, retried with the SDK standard strategy', '5')
      .option('--json', 'print a machine-readable summary on stdout')
      .option('--log-file <path>', 'also write every message to this file');

  awsOptions(
    program
      .command('upload')
      .description('upload a bundle to S3: parts in parallel, then the manifest; resumes where a failed run stopped'),
  )
    .requiredOption('-m, --manifest <path>', "the bundle's NAME.manifest.xml")
    .addOption(
      new Option('--acl <acl>', 'canned ACL of the objects (EC2 reads bundles through aws-exec-read)')
        .choices([...BUNDLE_ACLS])
        .default('aws-exec-read'),
    )
    .option('-d, --directory <dir>', 'folder holding the parts (default: the manifest folder)')
    .option('--create-bucket', 'create the bucket (with ACLs enabled) when it does not exist')
    .option('--concurrency <n>', 'parts uploaded at once', '8')
    .option('--timeout <seconds>', 'give up on the whole upload after this long')
    .action(async (options: UploadCommandOptions) =>
      runAws('upload', options, async (output, signal) => {
        const { uploadBundle } = await import('../aws/upload.js');
        const result = await uploadBundle({
          s3: await s3For(options),
          manifestPath: options.manifest,
          location: parseBucketArgument(options.bucket),
          acl: options.acl,
          createBucket: options.createBucket,
          partDirectory: options.directory,
          concurrency: positiveInteger('--concurrency', options.concurrency, 8),
          deadlineMs:
            options.timeout === undefined ? undefined : positiveInteger('--timeout', options.timeout, 1) * 1000,
          signal,
          onProgress: (progress) => {
            output.progress.update('uploading', progress.bytes, progress.totalBytes);
            output.log(`${progress.skipped ? 'already there' : 'uploaded'} ${progress.key}`);
          },
        });
        output.progress.done();
        output.info(
          `Uploaded ${result.uploaded.length} object(s) (${formatBytes(result.bytesUploaded)})` +
            (result.skipped.length ? `, ${result.skipped.length} part(s) already in S3` : '') +
            (result.removedStale.length ? `, removed ${result.removedStale.length} stale object(s)` : ''),
        );
        output.info(`Image location: ${result.imageLocation}`);
        if (result.claimLeft) output.info(claimLeftLine(result.claimLeft));
        output.result({ command: 'upload', ...result });
      }),
    );

  awsOptions(
    program.command('delete-bundle').description('delete a bundle from S3: the manifest first, then its parts'),
  )
    .option('-m, --manifest <path>', 'a local copy of the manifest (its parts are deleted)')
    .option('-p, --prefix <name>', 'the bundle name, when there is no local manifest')
    .option('-y, --yes', 'do not ask for confirmation')
    .action(async (options: DeleteCommandOptions) =>
      runAws('delete-bundle', options, async (output, signal) => {
        if (!options.manifest && !options.prefix)
          throw new CliInputError('give -m/--manifest or -p/--prefix to say which bundle to delete');
        const location = parseBucketArgument(options.bucket);
        if (!options.yes) {
          if (!process.stdin.isTTY)
            throw new CliInputError('-y/--yes is needed to delete without a terminal to confirm on');
          const what = options.manifest ?? options.prefix;
          if (!(await confirm(`Delete bundle ${what} from s3://${location.bucket}/${location.keyPrefix}?`))) {
            output.info('Nothing deleted.');
            return;
          }
        }
        const { deleteBundle } = await import('../aws/deleteBundle.js');
        const result = await deleteBundle({
          s3: await s3For(options),
          location,
          manifestPath: options.manifest,
          name: options.prefix,
          signal,
        });
        output.info(`Deleted ${result.deleted.length} object(s) from s3://${location.bucket}`);
        output.result({ command: 'delete-bundle', bucket: location.bucket, deleted: result.deleted });
      }),
    );
}
