/** A bundle on local disk, read for upload: its manifest and each part's size, MD5 and SHA-1 check. */
import { createHash } from 'crypto';
import { createReadStream } from 'fs';
import * as path from 'path';
import { Manifest } from '../bundle/manifest';
import { parseManifest } from '../bundle/manifestParse';
import { readManifestFile } from '../bundle/manifestFile';
import { validateMemberName } from '../bundle/tarHeader';
import { forEachLimited } from './concurrency';
import { AwsInputError } from './errors';
import { BundleLocation, objectKey } from './location';
import { LocalFile } from './uploadPlan';

export interface LocalBundle {
  manifest: Manifest;
  manifestFile: LocalFile;
  parts: LocalFile[];
}

function hashFile(file: string): Promise<{ md5: string; sha1: string; size: number }> {
  return new Promise((resolve, reject) => {
    const md5 = createHash('md5');
    const sha1 = createHash('sha1');
    let size = 0;
    createReadStream(file, { highWaterMark: 1024 * 1024 })
      .on('data', (chunk) => {
        const buffer = chunk as Buffer;
        md5.update(buffer);
        sha1.update(buffer);
        size += buffer.length;
      })
      .on('error', reject)
      .on('end', () => resolve({ md5: md5.digest('hex'), sha1: sha1.digest('hex'), size }));
  });
}

export async function readLocalBundle(
  manifestPath: string,
  location: BundleLocation,
  partDirectory = path.dirname(manifestPath),
): Promise<LocalBundle> {
  const { manifest } = parseManifest(await readManifestFile(manifestPath));
  const manifestName = path.basename(manifestPath);
  const parts: LocalFile[] = new Array(manifest.image.parts.length);
  // Parts are hashed a few at a time: reading and hashing 10 MiB parts one by one leaves cores idle.
  await forEachLimited(manifest.image.parts, 4, async (part, index) => {
    if (validateMemberName(part.filename))
      throw new AwsInputError('manifest', `the manifest names a part "${part.filename}" that is not a plain file name`);
    const partPath = path.join(partDirectory, part.filename);
    let hashes;
    try {
      hashes = await hashFile(partPath);
    } catch {
      throw new AwsInputError(
        'manifest',
        `part ${part.filename} is missing from ${partDirectory}; upload needs every part beside the manifest (or give the parts folder)`,
      );
    }
    if (hashes.sha1 !== part.digest) {
      throw new AwsInputError(
        'manifest',
        `part ${part.filename} does not match its SHA-1 in the manifest: the local bundle is corrupt; bundle the image again`,
      );
    }
    parts[index] = {
      key: objectKey(location, part.filename),
      fileName: part.filename,
      path: partPath,
      size: hashes.size,
      md5: hashes.md5,
    };
  });
  const manifestHashes = await hashFile(manifestPath);
  return {
    manifest,
    parts,
    manifestFile: {
      key: objectKey(location, manifestName),
      fileName: manifestName,
      path: manifestPath,
      size: manifestHashes.size,
      md5: manifestHashes.md5,
    },
  };
}
