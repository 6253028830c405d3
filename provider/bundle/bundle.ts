/**
 * Bundling an image, in one streaming pass over its data:
 * tar → SHA-1 of the tar stream → gzip -9 → AES-128-CBC → 10 MiB part files, then the signed manifest.
 * Memory stays flat whatever the image size; a failure removes every file it had written.
 */
import { createHash, randomBytes } from 'crypto';
import { promises as fs } from 'fs';
import * as path from 'path';
import { Readable } from 'stream';
import { pipeline } from 'stream/promises';
import { AES_KEY_BYTES, MANIFEST_VERSION, PART_SIZE } from './constants';
import { DigestPassThrough } from './digestStream';
import { EncryptStream } from './encryptStream';
import { createGzipStage, DEFAULT_CHUNK_SIZE, GzipMode } from './parallelGzip';
import { BundleInputError, isErrnoException, ResumeMismatchError } from './errors';
import { knownDataExtents, sameFile, scanForHoles, statImage } from './image';
import { Certificate, readCertificate, readPrivateKey, sameKey, seal, sign, unseal, verifySignature } from './keys';
import { BundlerInfo, Manifest, renderManifest, signedTextOf, UnsignedManifest } from './manifest';
import { BundleParameters, normalizeBundleParameters } from './parameters';
import { BundleOutput, encryptedLengthBound, PartSink, ResumePoint, WrittenPart } from './bundleOutput';
import { DirectoryOutput } from './directoryOutput';
import { encodeHeader, storedSize, TarEntry } from './tarHeader';
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
export function readBundleKeys(options: Pick<BundleOptions, 'privateKey' | 'privateKeyPassphrase' | 'userCertificate' | 'ec2Certificate'>) {
  const userCertificate = readCertificate(options.userCertificate, 'userCertificate');
  const ec2Certificate = readCertificate(options.ec2Certificate, 'ec2Certificate');
  const privateKey = readPrivateKey(options.privateKey, 'privateKey', options.privateKeyPassphrase);
  if (!sameKey(privateKey.publicKey, userCertificate.publicKey)) {
    throw new BundleInputError('privateKey', 'does not match the user certificate; give the private key the certificate was issued for');
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

/**
 * Everything that shapes the encrypted stream but the key and IV: the tar header (name, size, mtime,
 * mode, sparse map), how gzip runs, and the certificate the key is sealed for. Two runs of the same
 * attempt with the same key and IV write byte-identical parts.
 */
function attemptIdentity(entry: TarEntry, gzip: GzipMode, userCertificate: Certificate): string {
  return createHash('sha256')
    .update(JSON.stringify({ format: 1, header: encodeHeader(entry).toString('hex'), gzip, chunk: gzip === 'parallel' ? DEFAULT_CHUNK_SIZE : 0 }))
    .update(userCertificate.publicKey.export({ type: 'spki', format: 'der' }))
    .digest('hex');
}

function resumeSignedText(point: Omit<ResumePoint, 'signature'>): string {
  return `unikernel-ami resume 1\n${point.attempt}\n${point.userEncryptedKey}\n${point.userEncryptedIv}`;
}

function resumePoint(attempt: string, keyHex: string, ivHex: string, keys: ReturnType<typeof readBundleKeys>): ResumePoint {
  const fields = { attempt, userEncryptedKey: seal(keys.userCertificate, keyHex), userEncryptedIv: seal(keys.userCertificate, ivHex) };
  return { ...fields, signature: sign(keys.privateKey, resumeSignedText(fields)) };
}

/** The key and IV of an earlier attempt to resume, opened with the user's key; refused when the attempt differs. */
function resumedKeyAndIv(earlier: ResumePoint, attempt: string, keys: ReturnType<typeof readBundleKeys>, output: BundleOutput, name: string) {
  if (!verifySignature(keys.userCertificate.publicKey, resumeSignedText(earlier), earlier.signature)) {
    throw new ResumeMismatchError(
      'privateKey',
      'its resume record is not signed with this key',
      `the unfinished bundle named ${name} in ${output.description} was not recorded with this key (its signature does not verify); delete it (unikernel-ami delete-bundle -p ${name}) and bundle again`,
    );
  }
  if (earlier.attempt !== attempt) {
    throw new ResumeMismatchError(
      'image',
      "the image's mtime, mode or sparse layout, or the options, differ",
      `${output.description} holds an unfinished bundle named ${name} made from another image or with other options; bundle the same image with the same options to resume it, or delete it (unikernel-ami delete-bundle -p ${name})`,
    );
  }
  return {
    keyHex: unseal(keys.privateKey, earlier.userEncryptedKey, 'the AES key of the unfinished bundle'),
    ivHex: unseal(keys.privateKey, earlier.userEncryptedIv, 'the AES IV of the unfinished bundle'),
  };
}

/** An upload that failed with its parts kept, so that the same command run again resumes it. */
export class BundleSuspendedError extends Error {
  constructor(override readonly cause: unknown, where: string) {
    super(`${cause instanceof Error ? cause.message : String(cause)}; the parts stored so far are kept in ${where}: run the same command again to resume, or delete them with unikernel-ami delete-bundle`);
    this.name = 'BundleSuspendedError';
  }
}

function directoryOutput(destination: string | undefined, partSize: number | undefined): BundleOutput {
  if (destination === undefined) throw new BundleInputError('destination', 'give a destination folder (or an output) for the bundle');
  return new DirectoryOutput(destination, partSize ?? PART_SIZE);
}

export async function bundleImage(options: BundleOptions, testHooks: BundleTestHooks = {}): Promise<BundleResult> {
  const name = options.name ?? path.basename(options.imagePath);
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
    if (output.resumeFrom) ({ keyHex, ivHex } = resumedKeyAndIv(output.resumeFrom, attempt, keys, output, name));
    const storedImageBytes = layout ? storedSize(layout) : imageStats.size;
    parts = output.parts(name, encryptedLengthBound(tarStreamLength(entry)));
    let bundled = 0;
    const onData = (bytes: number) => report({ phase: 'bundle', bytes: (bundled += bytes), totalBytes: storedImageBytes });
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
      throw new BundleInputError('image', `${options.imagePath} changed while it was being bundled; bundle it again when nothing is writing to it`);
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
    const canResume = parts?.suspend !== undefined && attempt !== undefined && !(error instanceof BundleInputError);
    if (canResume && (await parts?.suspend?.(resumePoint(attempt as string, keyHex, ivHex, keys)).catch(() => false))) {
      throw new BundleSuspendedError(error, output.description);
    }
    await parts?.discard().catch(() => undefined);
    throw describeWriteFailure(error, output.description);
  } finally {
    await image.close();
  }
}
