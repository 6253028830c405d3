/**
 * `snapshot`: write a disk image into a new EBS snapshot with the EBS direct APIs, and print its id.
 * A qcow2, VMDK, VHD, VHDX or VDI image is read in place as raw through qemu-nbd when qemu-utils is installed.
 */
import * as path from 'path';
import { Command } from 'commander';
import { CliInputError } from './inputs';
import { formatBytes } from './progress';
import { runCommand } from './runCommand';
import { isWholeNumber } from '../common/numbers';

interface SnapshotCommandOptions {
  image: string;
  concurrency: string;
  skipZeroBlocks?: boolean;
  encrypted?: boolean;
  kmsKeyArn?: string;
  volumeSize?: string;
  description?: string;
  region?: string;
  retry: string;
  timeout?: string;
  json?: boolean;
  logFile?: string;
}

function wholeNumber(option: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!/^\d+$/.test(value) || !isWholeNumber(number, 1, Number.MAX_SAFE_INTEGER))
    throw new CliInputError(`${option} ${value}: give a whole number of at least 1`);
  return number;
}

export function registerSnapshotCommand(program: Command): void {
  program
    .command('snapshot')
    .description(
      'write a raw disk image into a new EBS snapshot (EBS direct APIs: 512 KiB blocks, many in flight) and print the snapshot id',
    )
    .requiredOption(
      '-i, --image <path>',
      'the disk image: raw, or qcow2/VMDK/VHD/VHDX/VDI read as raw through qemu-nbd (qemu-utils) when it is installed',
    )
    .option('--concurrency <n>', 'blocks in flight', '32')
    .option(
      '--skip-zero-blocks',
      'do not upload blocks of zeros (smaller and faster, but encrypted volumes created from the snapshot may not read zeros there)',
    )
    .option('--encrypted', "encrypt the snapshot (with the account's EBS key unless --kms-key-arn)")
    .option('--kms-key-arn <arn>', 'the KMS key to encrypt the snapshot with (needs --encrypted)')
    .option('--volume-size <GiB>', 'volume size of the snapshot (default: the image size rounded up to whole GiB)')
    .option('--description <text>', 'snapshot description (default: the image file name)')
    .option('--region <region>', 'AWS region (default: the SDK chain: AWS_REGION, profile)')
    .option('--retry <attempts>', 'attempts per request, retried with the SDK standard strategy', '5')
    .option('--timeout <seconds>', 'give up (and delete the partial snapshot) after this long')
    .option('--json', 'print a machine-readable summary on stdout instead of the id alone')
    .option('--log-file <path>', 'also write every message to this file')
    .action(async (options: SnapshotCommandOptions) =>
      runCommand('snapshot', options, { image: options.image }, async (output, signal) => {
        const concurrency = wholeNumber('--concurrency', options.concurrency) ?? 32;
        const volumeSizeGiB = wholeNumber('--volume-size', options.volumeSize);
        const maxAttempts = wholeNumber('--retry', options.retry) ?? 5;
        const timeout = wholeNumber('--timeout', options.timeout);
        if (options.kmsKeyArn !== undefined && !options.encrypted)
          throw new CliInputError('--kms-key-arn: a KMS key encrypts only with --encrypted; add it');
        // The AWS SDK is loaded only now: it costs ~0.2 s and ~40 MB at start-up.
        const { createEbsClient, createEc2Client } = await import('../aws/clients.js');
        const { SnapshotUploadError, uploadSnapshot } = await import('../aws/ebsUpload.js');
        // One socket per block in flight (the SDK's default is 50 per endpoint).
        const settings = { region: options.region, maxAttempts, maxSockets: Math.max(concurrency, 8) };
        const ebs = createEbsClient(settings);
        const ec2 = createEc2Client(settings);
        let phase = '';
        try {
          const result = await uploadSnapshot({
            ebs,
            ec2,
            imagePath: options.image,
            volumeSizeGiB,
            description: options.description ?? path.basename(options.image),
            concurrency,
            skipZeroBlocks: options.skipZeroBlocks,
            encrypted: options.encrypted,
            kmsKeyArn: options.kmsKeyArn,
            deadlineMs: timeout === undefined ? undefined : timeout * 1000,
            signal,
            onNotice: (message) => output.log(message),
            onProgress: (progress) => {
              if (progress.phase === 'uploading')
                output.progress.update('blocks', progress.bytesDone, progress.totalBytes);
              if (progress.phase !== phase) {
                phase = progress.phase;
                if (phase !== 'uploading') output.progress.done();
                output.log(
                  phase === 'uploading'
                    ? `uploading ${progress.blocksTotal} block(s) of 512 KiB, ${concurrency} in flight`
                    : phase === 'completing'
                      ? `uploaded ${progress.blocksUploaded} block(s), skipped ${progress.blocksSkipped}; completing the snapshot`
                      : 'waiting for the snapshot to be completed',
                );
              }
            },
          });
          output.progress.done();
          output.log(
            `snapshot ${result.snapshotId} completed: ${result.volumeSizeGiB} GiB volume, ${formatBytes(result.imageBytes)} ${result.convertedFrom ? `guest disk (read from ${result.convertedFrom} through qemu-nbd)` : 'image'} in ${result.imageBlocks} block(s), ` +
              `${result.blocksUploaded} uploaded, ${result.zeroBlocks} of zeros (${result.zeroBlocksSkipped} skipped), checksum ${result.checksum}`,
          );
          output.info(result.snapshotId);
          output.result({ command: 'snapshot', image: options.image, ...result });
        } catch (error) {
          // --json: stdout stays one JSON document, failures included (the words also go to stderr).
          const upload = error instanceof SnapshotUploadError ? error : undefined;
          output.result({
            command: 'snapshot',
            image: options.image,
            error: {
              message: error instanceof Error ? error.message : String(error),
              code: upload?.code,
              snapshotId: upload?.snapshotId,
              snapshotRemains: upload?.snapshotRemains,
            },
          });
          throw error;
        } finally {
          ebs.destroy();
          ec2.destroy();
        }
      }),
    );
}
