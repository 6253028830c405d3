/**
 * `local-aws`: the local AWS of `pulumi-unikernel/testing` as a server, for any AWS client (the AWS
 * CLI, a program, `pulumi up` with AWS_ENDPOINT_URL). It prints where it listens and the credentials
 * it accepts, then serves until SIGINT or SIGTERM; its state lives in memory and ends with it.
 */
import { Command } from 'commander';
import { isErrnoException } from '../common/errors';
import { CliInputError } from './inputs';
import { writeNewFile } from './writeNewFile';

interface LocalAwsCommandOptions {
  port: string;
  region: string;
  accountId: string;
  bucket: string[];
  json?: boolean;
  ec2certOut?: string;
}

const ACCOUNT_ID = /^\d{12}$/;
const REGION = /^[a-z]{2}(-[a-z]+)+-\d$/;
// S3's rules for new bucket names (3–63 characters: lower-case letters, digits, dots and hyphens).
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

function portOf(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65_535)
    throw new CliInputError(`--port ${value}: give a port from 1 to 65535, or 0 for any free port`);
  return port;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function registerLocalAwsCommand(program: Command): void {
  program
    .command('local-aws')
    .description(
      'serve a local AWS (S3, EC2, EBS direct APIs; in memory) on 127.0.0.1 until stopped, for any AWS client',
    )
    .option('--port <n>', 'port to listen on (0: any free port)', '0')
    .option('--region <region>', 'the region it serves', 'us-east-1')
    .option('--account-id <id>', 'the account every credential belongs to', '123456789012')
    .option('--bucket <name>', 'create this bucket first, with ACLs enabled (repeatable)', collect, [])
    .option('--json', 'print the endpoint, region and credentials as one JSON line')
    .option(
      '--ec2cert-out <path>',
      'write its stand-in EC2 bundling certificate here (must not exist), for bundle --ec2cert: bundles sealed for it are opened and booted through PV-GRUB, as EC2 boots those sealed for cert-ec2.pem',
    )
    .action(async (options: LocalAwsCommandOptions) => {
      const port = portOf(options.port);
      if (!REGION.test(options.region))
        throw new CliInputError(`--region ${options.region}: give a region name such as us-east-1`);
      if (!ACCOUNT_ID.test(options.accountId))
        throw new CliInputError(`--account-id ${options.accountId}: give 12 digits`);
      for (const bucket of options.bucket) {
        if (!BUCKET_NAME.test(bucket))
          throw new CliInputError(
            `--bucket ${bucket}: give a bucket name of 3 to 63 lower-case letters, digits, dots and hyphens`,
          );
      }
      // Loaded only now: the local AWS and its signing library are no part of the other commands.
      const { LocalAws } = await import('../../testing/localAws/index.js');
      const local = await LocalAws.start({ port, region: options.region, accountId: options.accountId }).catch(
        (error: unknown) => {
          throw new CliInputError(
            isErrnoException(error) && error.code === 'EADDRINUSE'
              ? `--port ${port}: the port is in use; choose another, or 0 for any free port`
              : `could not listen on 127.0.0.1:${port}: ${String(error)}`,
          );
        },
      );
      if (options.ec2certOut !== undefined) {
        try {
          await writeNewFile('--ec2cert-out', options.ec2certOut, local.ec2Certificate, 0o644);
        } catch (error) {
          await local.stop();
          throw error;
        }
      }
      for (const bucket of new Set(options.bucket)) local.createBucket(bucket, { objectOwnership: 'ObjectWriter' });
      // Listening for the stop signals before saying where it serves: a client that reads the endpoint
      // and signals at once must find the handler in place.
      const stopped = new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      });
      const summary = {
        endpoint: local.endpoint,
        region: local.region,
        accountId: local.accountId,
        accessKeyId: local.credentials.accessKeyId,
        secretAccessKey: local.credentials.secretAccessKey,
        buckets: [...new Set(options.bucket)],
        ec2Certificate: options.ec2certOut,
      };
      if (options.json) {
        process.stdout.write(`${JSON.stringify(summary)}\n`);
      } else {
        process.stdout.write(
          [
            `local AWS at ${summary.endpoint}: S3 (path-style), EC2 and the EBS direct APIs, in memory; everything is gone when it stops`,
            `  export AWS_ENDPOINT_URL=${summary.endpoint}`,
            `  export AWS_REGION=${summary.region}`,
            // The AWS CLI v1 (1.45 here) takes its region from AWS_DEFAULT_REGION, not AWS_REGION.
            `  export AWS_DEFAULT_REGION=${summary.region}`,
            `  export AWS_ACCESS_KEY_ID=${summary.accessKeyId}`,
            `  export AWS_SECRET_ACCESS_KEY=${summary.secretAccessKey}`,
            `account ${summary.accountId}; ${summary.buckets.length ? `bucket(s) with ACLs enabled: ${summary.buckets.join(', ')}` : 'no buckets yet'}`,
            ...(summary.ec2Certificate
              ? [`EC2 bundling certificate (bundle --ec2cert): ${summary.ec2Certificate}`]
              : []),
            'Ctrl-C stops it.',
            '',
          ].join('\n'),
        );
      }
      await stopped;
      await local.stop();
      process.stderr.write('local AWS stopped\n');
    });
}
