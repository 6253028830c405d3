/**
 * Holding a bundle's place in S3 while a run writes or deletes it: the claim object
 * (`NAME.resume.json`) stored with S3's conditional writes, checked before and after the manifest
 * counts, and conditional writes of every object, so that two runs at one place can never both
 * succeed and the loser says what holds the place.
 */
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { createHash, randomBytes } from 'crypto';
import { hostname } from 'os';
import { Readable } from 'stream';
import { BundleInputError, ResumeMismatchError } from '../bundle/errors';
import { BundleAddress, bucketOf, bundleAddress, describeAddress, resumeKey } from './bundleAddress';
import { ClaimAction, claimIsStale, describeHolder, MAX_RECORD_BYTES, parseClaim, renderClaim } from './claimRecord';
import { listBundleObjects } from './bundleObjects';
import { awsCall, errorCode } from './errors';
import { BundleLocation } from './location';
import { StoredObject } from './storedObject';
import {
  deleteObjectIfUnchanged,
  headEtag,
  isConditionFailure,
  putObject,
  PutOptions,
  unquotedEtag,
  WriteCondition,
} from './objects';

/** Another run holds the bundle's place, or took it over while this one was writing. */
export class LocationHeldError extends BundleInputError {
  constructor(address: BundleAddress, fault: string) {
    super('destination', fault, {
      kind: 'waitOrDelete',
      name: address.name,
      location: describeAddress(address),
    });
    this.name = 'LocationHeldError';
  }
}

/** The error of a run whose write found another run's object (or none where it expected its own). */
export function lostPlace(address: BundleAddress, key: string, what = 'changed'): LocationHeldError {
  return new LocationHeldError(
    address,
    `another run is writing the bundle ${address.name} in ${describeAddress(address)} (s3://${bucketOf(address)}/${key} ${what} under this run), so this run stops without completing it`,
  );
}

export function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errorCode(error) === 'EPERM';
  }
}

export interface FoundRecord {
  etag: string;
  text: string;
}

/** A record object larger than MAX_RECORD_BYTES: not one this tool wrote, refused without being read. */
export function recordTooLarge(address: BundleAddress, size: number | undefined): ResumeMismatchError {
  const where = `s3://${bucketOf(address)}/${resumeKey(address)}`;
  const what = size === undefined ? `more than ${MAX_RECORD_BYTES} bytes` : `${size} bytes`;
  return new ResumeMismatchError(
    'destination',
    `its resume record is larger than a record this tool writes (${what})`,
    `${where} is ${what}, more than a claim or resume record this tool writes can be (${MAX_RECORD_BYTES} bytes), so it is not one; it was not read`,
    { kind: 'removeRecord', name: address.name, location: where },
  );
}

/**
 * At most `cap` bytes of the body, or undefined when it holds more: the rest is never read (the
 * stream is destroyed, which closes the connection), so a huge object costs no memory.
 */
export async function readCapped(body: unknown, cap: number): Promise<Buffer | undefined> {
  if (body === undefined) return Buffer.alloc(0);
  if (!(body instanceof Readable)) throw new Error('S3 answered GetObject without a readable body');
  const chunks: Buffer[] = [];
  let length = 0;
  try {
    for await (const chunk of body) {
      const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
      length += bytes.length;
      if (length > cap) return undefined;
      chunks.push(bytes);
    }
  } finally {
    body.destroy();
  }
  return Buffer.concat(chunks);
}

/**
 * The claim or resume record of the bundle as S3 holds it now, or undefined when there is none.
 * No more than MAX_RECORD_BYTES of it is read: a larger object is refused (`recordTooLarge`), or
 * with `oversized: 'etagOnly'` (delete-bundle, which replaces it unread) found with no text.
 */
export async function readRecord(
  s3: S3Client,
  address: BundleAddress,
  signal?: AbortSignal,
  oversized: 'refuse' | 'etagOnly' = 'refuse',
): Promise<FoundRecord | undefined> {
  const bucket = bucketOf(address);
  const key = resumeKey(address);
  const found = await awsCall('GetObject', `s3://${bucket}/${key}`, async () => {
    try {
      const answer = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: signal });
      const etag = unquotedEtag(answer.ETag) ?? '';
      const declared = answer.ContentLength ?? 0;
      const body = declared > MAX_RECORD_BYTES ? undefined : await readCapped(answer.Body, MAX_RECORD_BYTES);
      if (body === undefined && answer.Body instanceof Readable) answer.Body.destroy();
      return { etag, text: body?.toString('utf8'), size: answer.ContentLength };
    } catch (error) {
      const code = errorCode(error);
      if (code === 'NoSuchKey' || code === 'NotFound') return undefined;
      throw error;
    }
  });
  if (!found) return undefined;
  if (found.text !== undefined) return { etag: found.etag, text: found.text };
  if (oversized === 'etagOnly') return { etag: found.etag, text: '' };
  throw recordTooLarge(address, found.size !== undefined && found.size > MAX_RECORD_BYTES ? found.size : undefined);
}

/** Times the listing is taken again when the record read is not the one listed. */
const CONSISTENT_LISTING_ATTEMPTS = 5;

/**
 * The bundle's objects and its claim or resume record, as they were at one moment: the record read
 * must be the one listed (its ETag). A record listed but gone or replaced when read means another
 * run ended or took the place in between, and what the listing says of the other objects may be
 * out of date (a bundle completed since), so the listing is taken again; after a few tries, the
 * place is refused as being written.
 */
export async function listWithRecord(
  s3: S3Client,
  location: BundleLocation,
  name: string,
  signal?: AbortSignal,
): Promise<{ listing: StoredObject[]; found?: FoundRecord }> {
  const address = bundleAddress(location, name);
  const key = resumeKey(address);
  for (let attempt = 1; ; attempt++) {
    const listing = await listBundleObjects(s3, location, name, signal);
    const listed = listing.find((object) => object.key === key);
    if (!listed) return { listing };
    const found = await readRecord(s3, address, signal);
    if (found && found.etag.toLowerCase() === listed.etag.toLowerCase()) return { listing, found };
    if (attempt >= CONSISTENT_LISTING_ATTEMPTS) throw lostPlace(address, key, found ? 'changed' : 'was removed');
  }
}

/**
 * A PUT under a write condition. A refused condition whose object now holds exactly this body counts
 * as this run's own write (an SDK retry of a PUT whose answer was lost); otherwise `onConflict`.
 */
export async function conditionalPut(
  s3: S3Client,
  bucket: string,
  key: string,
  body: Buffer,
  options: PutOptions & { condition: WriteCondition },
  onConflict: () => Error,
): Promise<string> {
  try {
    return await putObject(s3, bucket, key, body, options);
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
    const md5 = options.md5 ?? createHash('md5').update(body).digest('hex');
    if ((await headEtag(s3, bucket, key, options.signal)) === md5) return md5;
    throw onConflict();
  }
}

/** The refusal naming the live claim of another run that `found` holds, or undefined. */
export function liveClaimError(address: BundleAddress, found: FoundRecord): LocationHeldError | undefined {
  const held = parseClaim(found.text);
  if (!held || claimIsStale(held, hostname(), processRuns)) return undefined;
  return new LocationHeldError(
    address,
    `${describeAddress(address)} is held for the bundle ${address.name} by ${describeHolder(held)} (s3://${bucketOf(address)}/${resumeKey(address)})`,
  );
}

/** This run's hold on the place: the claim it stored, or the resume record it took up, by ETag. */
export class LocationClaim {
  private constructor(
    private readonly s3: S3Client,
    readonly address: BundleAddress,
    private etag: string,
  ) {}

  get key(): string {
    return resumeKey(this.address);
  }

  /**
   * Stores this run's claim: where there is no record, only if there still is none; over a claim
   * of a dead run or a resume record (`found`), only if it is still that one. A live claim of
   * another run is refused, naming it; `force` (delete-bundle) takes over even that.
   */
  static async take(
    s3: S3Client,
    address: BundleAddress,
    action: ClaimAction,
    found: FoundRecord | undefined,
    options: { signal?: AbortSignal; force?: boolean; fresh?: true } = {},
  ): Promise<LocationClaim> {
    const held = found && !options.force ? liveClaimError(address, found) : undefined;
    if (held) throw held;
    const where = `s3://${bucketOf(address)}/${resumeKey(address)}`;
    const text = renderClaim(address.name, {
      action,
      token: randomBytes(12).toString('hex'),
      host: hostname(),
      pid: process.pid,
      since: new Date().toISOString(),
      fresh: options.fresh,
    });
    const etag = await conditionalPut(
      s3,
      bucketOf(address),
      resumeKey(address),
      Buffer.from(text),
      {
        acl: 'none',
        contentType: 'application/json',
        signal: options.signal,
        condition: found ? { ifMatch: found.etag } : { ifNoneMatch: true },
      },
      () =>
        new LocationHeldError(
          address,
          `another run claimed ${describeAddress(address)} for the bundle ${address.name} at the same moment (${where})`,
        ),
    );
    return new LocationClaim(s3, address, etag);
  }

  /** The hold of a run that takes up the resume record it found, as it is (nothing is written). */
  static adopt(s3: S3Client, address: BundleAddress, etag: string): LocationClaim {
    return new LocationClaim(s3, address, etag);
  }

  /** Whether a record read from S3 is this run's claim (or the record it took up), by ETag. */
  owns(found: FoundRecord | undefined): boolean {
    return found !== undefined && found.etag.toLowerCase() === this.etag.toLowerCase();
  }

  /** Fails unless the claim is still this run's. */
  async check(signal?: AbortSignal): Promise<void> {
    const now = await headEtag(this.s3, bucketOf(this.address), this.key, signal);
    if (now !== this.etag) throw lostPlace(this.address, this.key, now === undefined ? 'was removed' : 'changed');
  }

  /** Replaces the claim with `text` if it is still this run's; false if another run has taken it. */
  async replace(text: string, signal?: AbortSignal): Promise<boolean> {
    try {
      this.etag = await conditionalPut(
        this.s3,
        bucketOf(this.address),
        this.key,
        Buffer.from(text),
        { acl: 'none', contentType: 'application/json', signal, condition: { ifMatch: this.etag } },
        () => lostPlace(this.address, this.key),
      );
      return true;
    } catch (error) {
      if (error instanceof LocationHeldError) return false;
      throw error;
    }
  }

  /**
   * Removes the claim if it is still this run's (S3's conditional delete, so a claim another run took
   * in the meantime is never removed): false when it was not this run's any more. Throws when S3
   * could not be asked, the claim then being left.
   */
  async release(signal?: AbortSignal): Promise<boolean> {
    return deleteObjectIfUnchanged(this.s3, bucketOf(this.address), this.key, this.etag, signal);
  }

  /** Whether the claim is still this run's (false also when S3 cannot be asked). */
  async isHeld(): Promise<boolean> {
    return this.check().then(
      () => true,
      () => false,
    );
  }
}
