/**
 * Bundling an image, in one streaming pass over its data:
 * tar → SHA-1 of the tar stream → gzip -9 → AES-128-CBC → 10 MiB part files, then the signed manifest.
 * Memory stays flat whatever the image size; a failure removes every file it had written.
 */
import { createCipheriv, randomBytes } from 'crypto';
import { promises as fs } from 'fs';
import * as path from 'path';
import { Readable } from 'stream';
import { pipeline } from 'stream/promises';
import { createGzip } from 'zlib';
import { AES_ALGORITHM, AES_KEY_BYTES, MANIFEST_VERSION, PART_SIZE } from './constants';
import { DigestPassThrough } from './digestStream';
import { BundleInputError, isErrnoException } from './errors';
import { sameFile, scanForHoles, statImage } from './image';
import { readCertificate, readPrivateKey, sameKey, seal, sign } from './keys';
import { BundlerInfo, Manifest, renderManifest, signedTextOf, UnsignedManifest } from './manifest';
import { BundleParameters, normalizeBundleParameters } from './parameters';
import { isBundleFileOf, manifestFileName } from './parts';
import { PartFileWriter, WrittenPart } from './partWriter';
import { storedSize, TarEntry } from './tarHeader';
import { tarStream } from './tarStream';
import { writeFileAtomically } from './atomicFile';
import packageJson from '../../package.json';

export interface BundleProgress {
  phase: 'scan' | 'bundle';
  /** Image bytes processed so far in this phase. */
  bytes: number;
  totalBytes: number;
}

export interface BundleOptions extends Omit<BundleParameters, 'name'> {
  imagePath: string;
  destination: string;
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
  onProgress?: (progress: BundleProgress) => void;
  signal?: AbortSignal;
}

export interface BundleResult {
  name: string;
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
  const [major, minor, patch] = packageJson.version.split(/[.-]/);
  return { name: packageJson.name, version: `${major}.${minor}`, release: patch };
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

/** Refuses a destination that is missing, not a folder, not writable, or holds an earlier bundle. */
export async function checkDestination(destination: string, name: string): Promise<void> {
  let entries: string[];
  try {
    const stats = await fs.stat(destination);
    if (!stats.isDirectory()) {
      throw new BundleInputError('destination', `${destination} is not a directory; give the folder to write the bundle into`);
    }
    entries = await fs.readdir(destination);
  } catch (error) {
    if (error instanceof BundleInputError) throw error;
    if (isErrnoException(error) && (error.code === 'ENOENT' || error.code === 'ENOTDIR')) {
      throw new BundleInputError('destination', `${destination} does not exist; create it or give another folder`);
    }
    throw new BundleInputError('destination', `${destination} cannot be read (${isErrnoException(error) ? error.code : String(error)}); choose a folder you can write to`);
  }
  const earlier = entries.filter((entry) => isBundleFileOf(name, entry)).sort();
  if (earlier.length > 0) {
    const shown = earlier.slice(0, 3).join(', ') + (earlier.length > 3 ? `, … (${earlier.length} files)` : '');
    throw new BundleInputError(
      'destination',
      `${destination} already holds a bundle named ${name} (${shown}); delete those files or choose another bundle name`,
    );
  }
  const probe = path.join(destination, `.${name}.${process.pid}.write-test`);
  try {
    await (await fs.open(probe, 'wx')).close();
    await fs.rm(probe, { force: true });
  } catch (error) {
    const code = isErrnoException(error) ? error.code : String(error);
    throw new BundleInputError('destination', `${destination} is not writable (${code}); choose a folder you can write to`);
  }
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

export async function bundleImage(options: BundleOptions, testHooks: BundleTestHooks = {}): Promise<BundleResult> {
  const name = options.name ?? path.basename(options.imagePath);
  const parameters = normalizeBundleParameters({ ...options, name });
  const keys = readBundleKeys(options);
  const imageStats = await statImage(options.imagePath);
  await checkDestination(options.destination, name);

  const keyHex = testHooks.keyHex ?? randomHex();
  const ivHex = testHooks.ivHex ?? randomHex();
  const report = options.onProgress ?? (() => undefined);
  const image = await fs.open(options.imagePath, 'r');
  const parts = new PartFileWriter(options.destination, name, testHooks.partSize ?? PART_SIZE);
  const manifestPath = path.join(options.destination, manifestFileName(name));
  let manifestWritten = false;
  try {
    let scanned = 0;
    const layout =
      options.sparse === false
        ? undefined
        : await scanForHoles(image, imageStats.size, (bytes) => report({ phase: 'scan', bytes: (scanned += bytes), totalBytes: imageStats.size }), options.signal);
    const entry: TarEntry = {
      name,
      mode: imageStats.mode,
      mtime: Math.floor(imageStats.mtimeMs / 1000),
      size: imageStats.size,
      sparse: layout,
    };
    const storedImageBytes = layout ? storedSize(layout) : imageStats.size;
    let bundled = 0;
    const onData = (bytes: number) => report({ phase: 'bundle', bytes: (bundled += bytes), totalBytes: storedImageBytes });
    const tar = new DigestPassThrough();
    await pipeline(
      Readable.from(tarStream(image, entry, onData), { objectMode: false }),
      tar,
      createGzip({ level: 9 }),
      createCipheriv(AES_ALGORITHM, Buffer.from(keyHex, 'hex'), Buffer.from(ivHex, 'hex')),
      parts,
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
    await writeFileAtomically(manifestPath, renderManifest(manifest));
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
    await parts.discard();
    if (manifestWritten) await fs.rm(manifestPath, { force: true });
    throw describeWriteFailure(error, options.destination);
  } finally {
    await image.close();
  }
}
