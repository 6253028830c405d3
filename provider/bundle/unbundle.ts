/**
 * Reading a bundle: `verifyBundle` runs every check without writing anything; `unbundleImage`
 * also restores the image, atomically. The checks, in order: manifest (strict XML, no DTD),
 * signature, key and IV, part count, sizes and SHA-1s, then decrypt → gunzip → untar (sparse aware)
 * with the tar stream's SHA-1 compared to the manifest digest.
 */
import { createDecipheriv, createHash } from 'crypto';
import { createReadStream, promises as fs } from 'fs';
import * as path from 'path';
import { Readable } from 'stream';
import { pipeline } from 'stream/promises';
import { createGunzip } from 'zlib';
import { AES_ALGORITHM, MAX_IMAGE_SIZE } from './constants';
import { DigestPassThrough } from './digestStream';
import { GzipTail } from './gzipTail';
import { BundleInputError, BundleIntegrityError, isErrnoException } from './errors';
import { AtomicFileSink, NullSink } from './imageSink';
import { inDestinationFolder } from './destinationFolder';
import { readCertificate, readPrivateKey, unseal, verifySignature } from './keys';
import { Manifest, signedTextOf } from './manifest';
import { parseManifest } from './manifestParse';
import { readManifestFile } from './manifestFile';
import { ImageSink, MemberInfo, TarMemberReader } from './tarReader';
import { validateMemberName } from './tarHeader';

export interface ReadBundleOptions {
  manifestPath: string;
  /** PEM text of the user's private key (opens the key and IV). */
  privateKey: string;
  privateKeyPassphrase?: string;
  /** PEM text of the user's certificate; without it the signature is checked with the private key's public half. */
  userCertificate?: string;
  /** Folder holding the parts; defaults to the manifest's folder. */
  sourceDirectory?: string;
  /** `parts`: checking part digests; `image`: decrypting and unpacking. */
  onProgress?: (progress: { phase: 'parts' | 'image'; bytes: number; totalBytes: number }) => void;
  signal?: AbortSignal;
}

export interface UnbundleOptions extends ReadBundleOptions {
  /** Folder to write the image into. */
  destination: string;
}

export interface BundleReport {
  manifestPath: string;
  name: string;
  digest: string;
  imageSize: number;
  bundledSize: number;
  partCount: number;
  sparse: boolean;
  storedImageBytes: number;
  /** True when the manifest is byte-for-byte the canonical serialization Amazon's tools verify. */
  canonical: boolean;
  bundler?: Manifest['bundler'];
  architecture?: string;
}

export interface UnbundleResult extends BundleReport {
  imagePath: string;
}

interface PartFile {
  path: string;
  size: number;
  digest: string;
  filename: string;
}

async function locateParts(manifest: Manifest, sourceDirectory: string): Promise<PartFile[]> {
  const parts: PartFile[] = [];
  for (const part of manifest.image.parts) {
    const problem = validateMemberName(part.filename);
    if (problem) {
      throw new BundleIntegrityError(
        'part-name',
        `the manifest names a part ${JSON.stringify(part.filename)} that ${problem}; refusing to read outside the bundle folder`,
      );
    }
    const partPath = path.join(sourceDirectory, part.filename);
    let size: number;
    try {
      size = (await fs.stat(partPath)).size;
    } catch (error) {
      if (isErrnoException(error) && error.code === 'ENOENT') {
        throw new BundleIntegrityError(
          'part-missing',
          `part ${part.filename} is missing from ${sourceDirectory}; copy every part next to the manifest or give -s`,
        );
      }
      throw error;
    }
    parts.push({ path: partPath, size, digest: part.digest, filename: part.filename });
  }
  const total = parts.reduce((sum, part) => sum + part.size, 0);
  if (total !== manifest.image.bundledSize) {
    throw new BundleIntegrityError(
      'bundled-size',
      `the parts add up to ${total} bytes but the manifest's bundled_size is ${manifest.image.bundledSize}`,
    );
  }
  if (total % 16 !== 0) {
    throw new BundleIntegrityError(
      'bundled-size',
      `the parts add up to ${total} bytes, not a multiple of the AES block size: a part is truncated`,
    );
  }
  return parts;
}

async function sha1OfFile(
  file: string,
  onBytes: (bytes: number) => void,
  signal?: AbortSignal,
): Promise<{ digest: string; size: number }> {
  const hash = createHash('sha1');
  let size = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 1024 * 1024, signal })) {
    const buffer = chunk as Buffer;
    hash.update(buffer);
    size += buffer.length;
    onBytes(buffer.length);
  }
  return { digest: hash.digest('hex'), size };
}

function partCorrupt(part: PartFile): BundleIntegrityError {
  return new BundleIntegrityError(
    'part-digest',
    `part ${part.filename} does not match its SHA-1 in the manifest: it is corrupt or was altered`,
  );
}

/** Checks every part's size and SHA-1 before anything is decrypted. */
async function checkPartDigests(
  parts: PartFile[],
  onBytes: (bytes: number) => void,
  signal?: AbortSignal,
): Promise<void> {
  for (const part of parts) {
    const { digest, size } = await sha1OfFile(part.path, onBytes, signal);
    if (size !== part.size || digest !== part.digest) throw partCorrupt(part);
  }
}

/** Streams the parts in order, checking each one's SHA-1 again as it ends (in case it changed since). */
async function* readParts(parts: PartFile[], onBytes: (bytes: number) => void): AsyncGenerator<Buffer> {
  for (const part of parts) {
    const hash = createHash('sha1');
    for await (const chunk of createReadStream(part.path, { highWaterMark: 1024 * 1024 })) {
      const buffer = chunk as Buffer;
      hash.update(buffer);
      onBytes(buffer.length);
      yield buffer;
    }
    if (hash.digest('hex') !== part.digest) throw partCorrupt(part);
  }
}

function describePipelineFailure(error: unknown): unknown {
  if (error instanceof BundleIntegrityError || error instanceof BundleInputError) return error;
  const code = isErrnoException(error) ? error.code : undefined;
  const message = error instanceof Error ? error.message : String(error);
  if (/bad decrypt|wrong final block length/i.test(message) || code === 'ERR_OSSL_BAD_DECRYPT') {
    return new BundleIntegrityError(
      'decrypt',
      'the bundle does not decrypt (bad padding): a part was altered or the key and IV are wrong',
    );
  }
  if (code?.startsWith('Z_')) {
    return new BundleIntegrityError(
      'gunzip',
      `the decrypted bundle is not valid gzip (${message}): the bundle is corrupt`,
    );
  }
  return error;
}

interface ReadOutcome {
  report: BundleReport;
  member: MemberInfo;
}

async function readBundle(
  options: ReadBundleOptions,
  sinkFor: (manifest: Manifest) => Promise<ImageSink>,
): Promise<ReadOutcome> {
  const xml = await readManifestFile(options.manifestPath);
  const { manifest, canonical } = parseManifest(xml);
  const privateKey = readPrivateKey(options.privateKey, 'privateKey', options.privateKeyPassphrase);
  const verifier = options.userCertificate
    ? readCertificate(options.userCertificate, 'userCertificate').publicKey
    : privateKey.publicKey;
  // Like Amazon's AMI tools, verify the re-serialization of what was parsed, not a text search of
  // the raw file: then every value used below is covered by the signature, and text hidden in
  // comments, CDATA or unknown elements cannot stand in for the real fields.
  if (!verifySignature(verifier, signedTextOf(manifest), manifest.signature)) {
    throw new BundleIntegrityError(
      'signature',
      `the manifest signature does not verify with the ${options.userCertificate ? 'user certificate' : "private key's public key"}: the manifest was altered or signed by another key`,
    );
  }
  const nameProblem = validateMemberName(manifest.image.name);
  if (nameProblem) {
    throw new BundleIntegrityError(
      'manifest-field',
      `the manifest's image name ${JSON.stringify(manifest.image.name)} ${nameProblem}`,
    );
  }
  if (manifest.image.size > MAX_IMAGE_SIZE) {
    throw new BundleIntegrityError(
      'image-size',
      `the manifest says the image is ${manifest.image.size} bytes, over the ${MAX_IMAGE_SIZE} bytes (10 GiB) an instance-store image may have; no instance could boot it, so it is refused`,
    );
  }
  const keyHex = unseal(privateKey, manifest.image.userEncryptedKey, 'user_encrypted_key');
  const ivHex = unseal(privateKey, manifest.image.userEncryptedIv, 'user_encrypted_iv');
  const parts = await locateParts(manifest, options.sourceDirectory ?? path.dirname(options.manifestPath));

  const progress = (phase: 'parts' | 'image') => {
    let bytes = 0;
    return (more: number) =>
      options.onProgress?.({ phase, bytes: (bytes += more), totalBytes: manifest.image.bundledSize });
  };
  await checkPartDigests(parts, progress('parts'), options.signal);

  const sink = await sinkFor(manifest);
  const compressed = new GzipTail();
  const gunzip = createGunzip();
  const tar = new DigestPassThrough();
  const reader = new TarMemberReader(sink, { name: manifest.image.name, size: manifest.image.size });
  try {
    await pipeline(
      Readable.from(readParts(parts, progress('image')), { objectMode: false }),
      createDecipheriv(AES_ALGORITHM, Buffer.from(keyHex, 'hex'), Buffer.from(ivHex, 'hex')),
      compressed,
      gunzip,
      tar,
      reader,
      { signal: options.signal },
    );
  } catch (error) {
    throw describePipelineFailure(error);
  }
  compressed.checkNothingAfter(gunzip.bytesWritten);
  const digest = tar.digest();
  if (digest !== manifest.image.digest) {
    throw new BundleIntegrityError(
      'digest',
      `invalid digest, expected ${manifest.image.digest} received ${digest}: the image inside the bundle is not the one the manifest describes`,
    );
  }
  const member = reader.member as MemberInfo;
  return {
    member,
    report: {
      manifestPath: options.manifestPath,
      name: manifest.image.name,
      digest,
      imageSize: manifest.image.size,
      bundledSize: manifest.image.bundledSize,
      partCount: parts.length,
      sparse: member.sparse,
      storedImageBytes: member.storedBytes,
      canonical,
      bundler: manifest.bundler,
      architecture: manifest.machineConfiguration.architecture,
    },
  };
}

export async function verifyBundle(options: ReadBundleOptions): Promise<BundleReport> {
  return (await readBundle(options, async () => new NullSink())).report;
}

export async function unbundleImage(options: UnbundleOptions): Promise<UnbundleResult> {
  let sink: AtomicFileSink | undefined;
  let opened = false;
  let imagePath = '';
  try {
    const { report, member } = await readBundle(options, async (manifest) => {
      imagePath = path.join(options.destination, manifest.image.name);
      await checkUnbundleDestination(options.destination, imagePath);
      sink = new AtomicFileSink(imagePath);
      await sink.open();
      opened = true;
      return sink;
    });
    await (sink as AtomicFileSink).commit(member.mode, member.mtime);
    return { ...report, imagePath };
  } catch (error) {
    await sink?.discard();
    throw imageWriteFailure(error, options.destination, imagePath, opened);
  }
}

const SPACE = 'free some space or choose another folder';
const ACCESS = 'choose a folder you can write to';
const WRITE_PROBLEMS: Record<string, [problem: string, remedy: string]> = {
  ENOSPC: ['ran out of space while the image was being written', SPACE],
  EDQUOT: ['ran out of disk quota while the image was being written', SPACE],
  EFBIG: ['cannot hold a file of the image size', 'choose a folder on another file system'],
  EACCES: ['is not writable (permission denied)', ACCESS],
  EPERM: ['is not writable (operation not permitted)', ACCESS],
  EROFS: ['is on a read-only file system', ACCESS],
  ENOENT: ['does not accept new files', ACCESS],
  ENOTDIR: ['does not accept new files', ACCESS],
  EIO: ['failed to write (an I/O error)', 'check the disk or choose another folder'],
};

/**
 * An errno error from writing the image, which names the hidden temporary file (or no file at all),
 * said of the destination folder the user gave, with what became of the partial image.
 */
function imageWriteFailure(error: unknown, destination: string, imagePath: string, opened: boolean): unknown {
  if (!isErrnoException(error) || !error.code || !(error.code in WRITE_PROBLEMS)) return error;
  const inDestination =
    error.path === undefined
      ? ['ENOSPC', 'EDQUOT', 'EFBIG', 'EIO'].includes(error.code)
      : path.resolve(path.dirname(error.path)) === path.resolve(path.dirname(imagePath));
  if (!inDestination) return error;
  const [problem, remedy] = WRITE_PROBLEMS[error.code];
  return new BundleInputError(
    'destination',
    `${destination} ${problem} (${error.code})${opened ? '; the partial image was removed' : ''}: ${remedy}`,
  );
}

async function checkUnbundleDestination(destination: string, imagePath: string): Promise<void> {
  await inDestinationFolder(
    destination,
    'image',
    (code) => `cannot be used (${code})`,
    async () => undefined,
  );
  const exists = await fs.stat(imagePath).then(
    () => true,
    () => false,
  );
  if (exists) {
    throw new BundleInputError(
      'destination',
      `${imagePath} already exists; move it away or unbundle into another folder`,
    );
  }
}
