/**
 * Bundling an image, in one streaming pass over its data:
 * tar → SHA-1 of the tar stream → gzip -9 → AES-128-CBC → 10 MiB part files, then the signed manifest.
 * Memory stays flat whatever the image size; a failure removes every file it had written.
 */
import { randomBytes } from 'crypto';
import { promises as fs } from 'fs';
import * as path from 'path';
import { Readable } from 'stream';
import { pipeline } from 'stream/promises';
import { AES_KEY_BYTES, MANIFEST_VERSION, PART_SIZE } from './constants';
import { DigestPassThrough } from './digestStream';
import { EncryptStream } from './encryptStream';
import { createGzipStage, GzipMode } from './parallelGzip';
import { BundleInputError, isErrnoException } from './errors';
import { neutralRemedy, Remedy, withRemedy } from '../common/remedy';
import { knownDataExtents, sameFile, scanForHoles, statImage } from './imageFile';
import { readCertificate, readPrivateKey, sameKey, seal, sign } from './keys';
import { BundlerInfo, Manifest, renderManifest, signedTextOf, UnsignedManifest } from './manifest';
import { BundleParameters, normalizeBundleParameters } from './parameters';
import { BundleOutput, encryptedLengthBound, PartSink, WrittenPart } from './bundleOutput';
import { attemptIdentity, makeResumePoint, openResumePoint } from './resumePoint';
import { DirectoryOutput } from './directoryOutput';
import { storedSize, TarEntry } from './tarHeader';
import { tarStream, tarStreamLength } from './tarStream';
import { packageInfo } from '../packageInfo';

export interface BundleProgress {
  phase: 'scan' | 'bundle';
  /** Image bytes processed so far in this phase. */
  bytes: number;
  totalBytes: number;
}

export interface BundleOptions extends Omit<BundleParameters, 'name'> {
  imagePath: string;
  /** Folder for the part files and the manifest; or give `output` (e.g. straight to S3). */
  destination?: string;
  output?: BundleOutput;
  /** The bundle name; defaults to the image file's basename (ec2-bundle-image's `-p`). */
  name?: string;
  /** PEM text of the user's RSA private key. */
  privateKey: string;
  privateKeyPassphrase?: string;
  /** PEM text of the user's X.509 certificate. */
  userCertificate: string;
  /** PEM text of the EC2 bundling certificate for the target region. */
  ec2Certificate: string;
  /** Store runs of zero blocks as holes of a GNU sparse member (default true). */
  sparse?: boolean;
  /**
   * How gzip -9 runs: `parallel` (the default) compresses chunks on every core as pigz does;
   * `single` is one zlib stream, as GNU gzip. Both give one standard gzip member.
   */
  gzip?: GzipMode;
  onProgress?: (progress: BundleProgress) => void;
  signal?: AbortSignal;
}

export interface BundleResult {
  name: string;
  /** Where the manifest was written: a file path, or bucket/key for an S3 output. */
  manifestPath: string;
  /** SHA-1 of the tar stream, as in the manifest. */
  digest: string;
  imageSize: number;
  bundledSize: number;
  tarSize: number;
  /** Image bytes stored in the tar member (less than imageSize when holes were found). */
  storedImageBytes: number;
  sparse: boolean;
  parts: WrittenPart[];
}

/** Only for tests that need reproducible bundles; never reachable from a user-facing option. */
export interface BundleTestHooks {
  keyHex?: string;
  ivHex?: string;
  partSize?: number;
}

export const BUNDLER: BundlerInfo = (() => {
  const [major, minor, patch] = packageInfo.version.split(/[.-]/);
  return { name: packageInfo.name, version: `${major}.${minor}`, release: patch };
})();

function randomHex(): string {
  return randomBytes(AES_KEY_BYTES).toString('hex');
}

/** The user's key, certificate and the EC2 certificate, read and checked against each other. */
export function readBundleKeys(
  options: Pick<BundleOptions, 'privateKey' | 'privateKeyPassphrase' | 'userCertificate' | 'ec2Certificate'>,
) {
  const userCertificate = readCertificate(options.userCertificate, 'userCertificate');
  const ec2Certificate = readCertificate(options.ec2Certificate, 'ec2Certificate');
  const privateKey = readPrivateKey(options.privateKey, 'privateKey', options.privateKeyPassphrase);
  if (!sameKey(privateKey.publicKey, userCertificate.publicKey)) {
    throw new BundleInputError(
      'privateKey',
      'does not match the user certificate; give the private key the certificate was issued for',
    );
  }
  return { userCertificate, ec2Certificate, privateKey };
}

function describeWriteFailure(error: unknown, destination: string): unknown {
  if (isErrnoException(error) && (error.code === 'ENOSPC' || error.code === 'EDQUOT')) {
    return new BundleInputError(
      'destination',
      `${destination} ran out of space while the bundle was being written (${error.code}); everything written was removed: free some space or choose another folder`,
    );
  }
  return error;
}

/** An upload that failed with its parts kept, so that bundling again the same way resumes it. */
export class BundleSuspendedError extends Error {
  readonly fault: string;
  readonly remedy: Remedy;

  constructor(
    override readonly cause: unknown,
    where: string,
    name: string,
  ) {
    const fault = `${cause instanceof Error ? cause.message : String(cause)}; the parts stored so far are kept in ${where}`;
    const remedy: Remedy = { kind: 'resumeLater', name, location: where };
    super(withRemedy(fault, remedy, neutralRemedy));
    this.name = 'BundleSuspendedError';
    this.fault = fault;
    this.remedy = remedy;
  }
}

function directoryOutput(destination: string | undefined, partSize: number | undefined): BundleOutput {
  if (destination === undefined)
    throw new BundleInputError('destination', 'give a destination folder (or an output) for the bundle');
  return new DirectoryOutput(destination, partSize ?? PART_SIZE);
}

/** The bundle name: the one given, else the image file's basename (ec2-bundle-image's `-p`). */
export function bundleNameOf(options: Pick<BundleOptions, 'name' | 'imagePath'>): string {
  return options.name ?? path.basename(options.imagePath);
}

export async function bundleImage(options: BundleOptions, testHooks: BundleTestHooks = {}): Promise<BundleResult> {
  const name = bundleNameOf(options);
  const parameters = normalizeBundleParameters({ ...options, name });
  const keys = readBundleKeys(options);
  const imageStats = await statImage(options.imagePath);
  const output = options.output ?? directoryOutput(options.destination, testHooks.partSize);
  await output.prepare(name);

  let keyHex = testHooks.keyHex ?? randomHex();
  let ivHex = testHooks.ivHex ?? randomHex();
  const gzipMode = options.gzip ?? 'parallel';
  let attempt: string | undefined;
  const report = options.onProgress ?? (() => undefined);
  const image = await fs.open(options.imagePath, 'r');
  let parts: PartSink | undefined;
  let manifestWritten = false;
  try {
    let scanned = 0;
    const layout =
      options.sparse === false
        ? undefined
        : await scanForHoles(
            image,
            imageStats.size,
            (bytes) => report({ phase: 'scan', bytes: (scanned += bytes), totalBytes: imageStats.size }),
            options.signal,
            await knownDataExtents(options.imagePath, imageStats),
          );
    const entry: TarEntry = {
      name,
      mode: imageStats.mode,
      mtime: Math.floor(imageStats.mtimeMs / 1000),
      size: imageStats.size,
      sparse: layout,
    };
    attempt = attemptIdentity(entry, gzipMode, keys.userCertificate);
    if (output.resumeFrom)
      ({ keyHex, ivHex } = openResumePoint(output.resumeFrom, attempt, keys, output.description, name));
    const storedImageBytes = layout ? storedSize(layout) : imageStats.size;
    parts = output.parts(name, encryptedLengthBound(tarStreamLength(entry)));
    let bundled = 0;
    const onData = (bytes: number) =>
      report({ phase: 'bundle', bytes: (bundled += bytes), totalBytes: storedImageBytes });
    const tar = new DigestPassThrough();
    await pipeline(
      Readable.from(tarStream(image, entry, onData), { objectMode: false }),
      tar,
      createGzipStage(gzipMode),
      new EncryptStream(Buffer.from(keyHex, 'hex'), Buffer.from(ivHex, 'hex')),
      parts.writable,
      { signal: options.signal },
    );
    if (!sameFile(imageStats, await image.stat())) {
      throw new BundleInputError(
        'image',
        `${options.imagePath} changed while it was being bundled; bundle it again when nothing is writing to it`,
      );
    }
    const writtenParts = await parts.commit();
    const digest = tar.digest();
    const unsigned: UnsignedManifest = {
      version: MANIFEST_VERSION,
      bundler: BUNDLER,
      machineConfiguration: {
        architecture: parameters.architecture,
        blockDeviceMappings: parameters.blockDeviceMappings,
        kernelId: parameters.kernelId,
        ramdiskId: parameters.ramdiskId,
        productCodes: parameters.productCodes,
      },
      image: {
        name,
        user: parameters.accountId,
        type: 'machine',
        ancestorAmiIds: parameters.ancestorAmiIds,
        digest,
        size: imageStats.size,
        bundledSize: writtenParts.reduce((sum, part) => sum + part.size, 0),
        ec2EncryptedKey: seal(keys.ec2Certificate, keyHex),
        userEncryptedKey: seal(keys.userCertificate, keyHex),
        ec2EncryptedIv: seal(keys.ec2Certificate, ivHex),
        userEncryptedIv: seal(keys.userCertificate, ivHex),
        parts: writtenParts.map(({ index, filename, digest: partDigest }) => ({ index, filename, digest: partDigest })),
      },
    };
    const manifest: Manifest = { ...unsigned, signature: sign(keys.privateKey, signedTextOf(unsigned)) };
    manifestWritten = true;
    const manifestPath = await output.writeManifest(name, renderManifest(manifest));
    return {
      name,
      manifestPath,
      digest,
      imageSize: imageStats.size,
      bundledSize: unsigned.image.bundledSize,
      tarSize: tar.bytes,
      storedImageBytes,
      sparse: layout !== undefined,
      parts: writtenParts,
    };
  } catch (error) {
    if (manifestWritten) await output.removeManifest(name).catch(() => undefined);
    const suspend =
      error instanceof BundleInputError || attempt === undefined ? undefined : parts?.suspend?.bind(parts);
    if (
      suspend &&
      attempt !== undefined &&
      (await suspend(makeResumePoint(attempt, keyHex, ivHex, keys)).catch(() => false))
    ) {
      throw new BundleSuspendedError(error, output.description, name);
    }
    await parts?.discard().catch(() => undefined);
    throw describeWriteFailure(error, output.description);
  } finally {
    await image.close();
  }
}
