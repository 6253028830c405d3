/** The actions behind each subcommand: read option files, call the core, report. */
import { promises as fs } from 'fs';
import * as path from 'path';
import { createSigningIdentity, encryptPrivateKeyPem } from '../bundle/identity';
import { writeNewFile } from './writeNewFile';
import { bundleImage, BundleOptions, BundleProgress } from '../bundle/bundle';
import { GzipMode } from '../bundle/parallelGzip';
import { BundleReport, unbundleImage, verifyBundle } from '../bundle/unbundle';
import { BUCKET_OPTION_NAMES, claimLeftLine, CliInputError, describeFailure } from './inputs';
import { readOptionFile, readPassphrase } from './optionFile';
import { InputError } from '../common/errors';
import type { BundleAcl } from '../aws/acl';
import { runCommand } from './runCommand';
import { Output } from './output';
import { formatBytes } from './progress';
import { isWholeNumber } from '../common/numbers';

interface CommonOptions {
  json?: boolean;
  logFile?: string;
  passphraseFile?: string;
}

export interface BundleCommandOptions extends CommonOptions {
  image: string;
  privatekey: string;
  cert: string;
  user: string;
  ec2cert: string;
  arch?: string;
  destination: string;
  prefix?: string;
  kernel?: string;
  ramdisk?: string;
  blockDeviceMapping?: string;
  productcodes?: string;
  sparse: boolean;
  gzip: GzipMode;
  bucket?: string;
  acl: BundleAcl;
  createBucket?: boolean;
  region?: string;
  concurrency: string;
}

export interface ReaderCommandOptions extends CommonOptions {
  manifest: string;
  privatekey: string;
  cert?: string;
  source?: string;
  destination?: string;
}

function milestoneLogger(output: Output, label: string) {
  let nextTenth = 0;
  return (done: number, total: number) => {
    output.progress.update(label, done, total);
    const tenth = total > 0 ? Math.floor((done / total) * 10) : 10;
    if (tenth >= nextTenth) {
      output.log(`${label} ${done}/${total} bytes`);
      nextTenth = tenth + 1;
    }
  };
}

/**
 * `--bucket`: the bundle goes straight into S3 (the AWS SDK is loaded only then); an unfinished one is
 * resumed. The core's destination is then the bucket: its errors name `-b/--bucket`.
 */
async function s3Target(options: BundleCommandOptions, files: Record<string, string | undefined>) {
  const { parseBucketArgument } = await import('../aws/location.js');
  const { createS3Client } = await import('../aws/clients.js');
  const { bundleToS3, S3LeftoversError } = await import('../aws/bundleToS3.js');
  const concurrency = Number(options.concurrency);
  if (!isWholeNumber(concurrency, 1))
    throw new CliInputError(`--concurrency ${options.concurrency}: give a whole number of at least 1`);
  const target = {
    s3: createS3Client({ region: options.region }),
    location: parseBucketArgument(options.bucket as string),
    acl: options.acl,
    createBucket: options.createBucket,
    concurrency,
    unfinished: 'resume' as const,
  };
  return async (bundle: Omit<BundleOptions, 'output' | 'destination'>) =>
    bundleToS3({ ...bundle, ...target }).catch((error: unknown) => {
      if (error instanceof InputError) throw new CliInputError(describeFailure(error, files, BUCKET_OPTION_NAMES));
      if (!(error instanceof S3LeftoversError)) throw error;
      const { leftovers } = error;
      throw new CliInputError(
        `${describeFailure(error.cause, files, BUCKET_OPTION_NAMES)}; ${leftovers.length} uploaded object(s) could not be removed (${leftovers.slice(0, 3).join(', ')}): remove them with unikernel-ami delete-bundle`,
      );
    });
}

export async function runBundle(options: BundleCommandOptions): Promise<void> {
  const files = {
    image: options.image,
    privateKey: options.privatekey,
    userCertificate: options.cert,
    ec2Certificate: options.ec2cert,
    destination: options.bucket ? undefined : options.destination,
  };
  await runCommand('bundle', options, files, async (output, signal) => {
    const progress = { scan: milestoneLogger(output, 'scanning'), bundle: milestoneLogger(output, 'bundling') };
    const intoS3 = options.bucket ? await s3Target(options, files) : undefined;
    const bundle = {
      imagePath: options.image,
      name: options.prefix,
      privateKey: await readOptionFile('privateKey', options.privatekey),
      privateKeyPassphrase: await readPassphrase(options.passphraseFile),
      userCertificate: await readOptionFile('userCertificate', options.cert),
      ec2Certificate: await readOptionFile('ec2Certificate', options.ec2cert),
      accountId: options.user,
      architecture: options.arch ?? '',
      kernelId: options.kernel,
      ramdiskId: options.ramdisk,
      blockDeviceMappings: options.blockDeviceMapping,
      productCodes: options.productcodes,
      sparse: options.sparse,
      gzip: options.gzip,
      signal,
      onProgress: (event: BundleProgress) => progress[event.phase](event.bytes, event.totalBytes),
    };
    const inS3 = intoS3 ? await intoS3(bundle) : undefined;
    const result = inS3 ?? (await bundleImage({ ...bundle, destination: options.destination }));
    const resumedParts = 'resumedParts' in result ? result.resumedParts : undefined;
    output.progress.done();
    output.info(
      `Bundled ${options.image} (${formatBytes(result.imageSize)}${result.sparse ? `, ${formatBytes(result.storedImageBytes)} of data` : ''}) ` +
        `into ${result.parts.length} part${result.parts.length === 1 ? '' : 's'} (${formatBytes(result.bundledSize)}) in ${options.bucket ? `s3://${path.posix.dirname(result.manifestPath)}` : path.dirname(result.manifestPath)}`,
    );
    if (resumedParts) output.info(`Resumed an unfinished upload: ${resumedParts} part(s) already in S3 were kept`);
    output.info(`Manifest: ${result.manifestPath}`);
    if (inS3?.claimLeft) output.info(claimLeftLine(inS3.claimLeft));
    output.result({
      command: 'bundle',
      ...(resumedParts === undefined ? {} : { resumedParts }),
      manifest: result.manifestPath,
      name: result.name,
      digest: result.digest,
      imageSize: result.imageSize,
      storedImageBytes: result.storedImageBytes,
      sparse: result.sparse,
      tarSize: result.tarSize,
      bundledSize: result.bundledSize,
      parts: result.parts.map((part) => ({
        file: path.join(path.dirname(result.manifestPath), part.filename),
        size: part.size,
        sha1: part.digest,
      })),
      ...(options.bucket ? { imageLocation: result.manifestPath } : {}),
      ...(inS3?.claimLeft ? { claimLeft: inS3.claimLeft } : {}),
    });
  });
}

async function readerInputs(options: ReaderCommandOptions, signal: AbortSignal, output: Output) {
  const progress = { parts: milestoneLogger(output, 'checking'), image: milestoneLogger(output, 'reading') };
  return {
    manifestPath: options.manifest,
    privateKey: await readOptionFile('privateKey', options.privatekey),
    privateKeyPassphrase: await readPassphrase(options.passphraseFile),
    userCertificate: options.cert ? await readOptionFile('userCertificate', options.cert) : undefined,
    sourceDirectory: options.source,
    signal,
    onProgress: ({ phase, bytes, totalBytes }: { phase: 'parts' | 'image'; bytes: number; totalBytes: number }) =>
      progress[phase](bytes, totalBytes),
  };
}

function reportSummary(command: string, report: BundleReport) {
  return {
    command,
    manifest: report.manifestPath,
    name: report.name,
    digest: report.digest,
    imageSize: report.imageSize,
    storedImageBytes: report.storedImageBytes,
    sparse: report.sparse,
    bundledSize: report.bundledSize,
    parts: report.partCount,
    canonicalManifest: report.canonical,
    bundler: report.bundler,
  };
}

function warnIfNotCanonical(output: Output, report: BundleReport): void {
  if (!report.canonical) {
    output.info(
      "Warning: the manifest is not in the canonical form Amazon's AMI tools re-serialize; their signature check (ec2-migrate-manifest) would fail",
    );
  }
}

export async function runUnbundle(options: ReaderCommandOptions): Promise<void> {
  const files = {
    privateKey: options.privatekey,
    userCertificate: options.cert,
    manifest: options.manifest,
    destination: options.destination,
  };
  await runCommand('unbundle', options, files, async (output, signal) => {
    const result = await unbundleImage({
      ...(await readerInputs(options, signal, output)),
      destination: options.destination ?? '.',
    });
    output.progress.done();
    warnIfNotCanonical(output, result);
    output.info(
      `Unbundled ${result.name} (${formatBytes(result.imageSize)}) to ${result.imagePath}; digest ${result.digest} verified`,
    );
    output.result({ ...reportSummary('unbundle', result), image: result.imagePath });
  });
}

export async function runVerify(options: ReaderCommandOptions): Promise<void> {
  const files = { privateKey: options.privatekey, userCertificate: options.cert, manifest: options.manifest };
  await runCommand('verify', options, files, async (output, signal) => {
    const report = await verifyBundle(await readerInputs(options, signal, output));
    output.progress.done();
    warnIfNotCanonical(output, report);
    output.info(
      `Verified ${report.name}: signature, ${report.partCount} part digest${report.partCount === 1 ? '' : 's'}, ` +
        `${formatBytes(report.bundledSize)} decrypted and image digest ${report.digest} all check out`,
    );
    output.result(reportSummary('verify', report));
  });
}

export interface KeygenCommandOptions extends CommonOptions {
  key: string;
  cert: string;
  subject: string;
}

export async function runKeygen(options: KeygenCommandOptions): Promise<void> {
  await runCommand('keygen', options, {}, async (output) => {
    // Read before anything is made: a missing or unreadable --passphrase-file leaves no key behind.
    const passphrase = await readPassphrase(options.passphraseFile);
    const identity = createSigningIdentity(options.subject);
    const keyPem = passphrase ? encryptPrivateKeyPem(identity.privateKeyPem, passphrase) : identity.privateKeyPem;
    await writeNewFile('--key', options.key, keyPem, 0o600);
    try {
      await writeNewFile('--cert', options.cert, identity.certificatePem, 0o644);
    } catch (error) {
      await fs.rm(options.key, { force: true });
      throw error;
    }
    const encryptedBy = options.passphraseFile ? '--passphrase-file' : 'UNIKERNEL_AMI_KEY_PASSPHRASE';
    output.info(
      `Wrote a new RSA private key to ${options.key} (mode 600${passphrase ? `, encrypted with the passphrase of ${encryptedBy}` : ''}) and its self-signed certificate to ${options.cert}`,
    );
    output.result({
      command: 'keygen',
      privateKey: options.key,
      certificate: options.cert,
      encrypted: passphrase !== undefined,
    });
  });
}
