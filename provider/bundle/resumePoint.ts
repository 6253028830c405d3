/**
 * What a later run needs to resume an unfinished bundle, and the check that it may: the identity of
 * the attempt (a hash of everything that shapes the encrypted stream but the key and IV), the key and
 * IV sealed for the user's certificate only (as in the manifest, so no secret is stored), and the
 * user's signature over both. The same attempt with the same key and IV writes byte-identical parts.
 */
import { createHash } from 'crypto';
import { ResumeMismatchError } from './errors';
import { Certificate, PrivateKey, seal, sign, unseal, verifySignature } from './keys';
import { DEFAULT_CHUNK_SIZE, GzipMode } from './parallelGzip';
import { encodeHeader, TarEntry } from './tarHeader';

export interface ResumePoint {
  attempt: string;
  userEncryptedKey: string;
  userEncryptedIv: string;
  /**
   * RSA-SHA1 by the user's key over the three fields above. Anyone can seal a key for a public
   * certificate, so without it whoever could write the record could choose the key of the bundle.
   */
  signature: string;
}

export interface UserKeys {
  userCertificate: Certificate;
  privateKey: PrivateKey;
}

/** The tar header (name, size, mtime, mode, sparse map), how gzip runs, and the certificate the key is sealed for. */
export function attemptIdentity(entry: TarEntry, gzip: GzipMode, userCertificate: Certificate): string {
  return createHash('sha256')
    .update(
      JSON.stringify({
        format: 1,
        header: encodeHeader(entry).toString('hex'),
        gzip,
        chunk: gzip === 'parallel' ? DEFAULT_CHUNK_SIZE : 0,
      }),
    )
    .update(userCertificate.publicKey.export({ type: 'spki', format: 'der' }))
    .digest('hex');
}

function signedText(point: Omit<ResumePoint, 'signature'>): string {
  return `unikernel-ami resume 1\n${point.attempt}\n${point.userEncryptedKey}\n${point.userEncryptedIv}`;
}

export function makeResumePoint(attempt: string, keyHex: string, ivHex: string, keys: UserKeys): ResumePoint {
  const fields = {
    attempt,
    userEncryptedKey: seal(keys.userCertificate, keyHex),
    userEncryptedIv: seal(keys.userCertificate, ivHex),
  };
  return { ...fields, signature: sign(keys.privateKey, signedText(fields)) };
}

/**
 * The key and IV of an earlier attempt, opened with the user's key; refused when the record is not
 * signed with it or the attempt differs. `where` and `name` are for the messages.
 */
export function openResumePoint(
  earlier: ResumePoint,
  attempt: string,
  keys: UserKeys,
  where: string,
  name: string,
): { keyHex: string; ivHex: string } {
  if (!verifySignature(keys.userCertificate.publicKey, signedText(earlier), earlier.signature)) {
    throw new ResumeMismatchError(
      'privateKey',
      'its resume record is not signed with this key',
      `the unfinished bundle named ${name} in ${where} was not recorded with this key (its signature does not verify)`,
      { kind: 'deleteAndRebundle', name, location: where },
    );
  }
  if (earlier.attempt !== attempt) {
    throw new ResumeMismatchError(
      'image',
      "the image's mtime, mode or sparse layout, or the options, differ",
      `${where} holds an unfinished bundle named ${name} made from another image or with other options`,
      { kind: 'resumeOrDelete', name, location: where },
    );
  }
  return {
    keyHex: unseal(keys.privateKey, earlier.userEncryptedKey, 'the AES key of the unfinished bundle'),
    ivHex: unseal(keys.privateKey, earlier.userEncryptedIv, 'the AES IV of the unfinished bundle'),
  };
}
