/**
 * Parts as S3 objects: each part is uploaded as soon as the cutter has filled it, a few at a time,
 * with its MD5 (Content-MD5); memory stays at about (concurrency + 1) × the part size.
 *
 * Part names depend on the final part count (ec2-bundle-image pads the index to its digits), which
 * is only known at the end. Parts are named from an upper bound of the count; in the rare case that
 * the bound has more digits than the real count, the parts are renamed with server-side copies.
 */
import { CopyObjectCommand, ObjectCannedACL, S3Client } from '@aws-sdk/client-s3';
import { createHash } from 'crypto';
import { setMaxListeners } from 'events';
import type { ResumePoint, WrittenPart } from '../bundle/bundleOutput';
import type { CutPart, PartStore } from '../bundle/partCutter';
import { partFileName } from '../bundle/parts';
import { BundleAcl } from './acl';
import { BundleAddress, bucketOf, partKey } from './bundleAddress';
import { LocationClaim, conditionalPut, lostPlace } from './bundleClaim';
import { listBundleObjects } from './bundleObjects';
import { forEachLimited } from './concurrency';
import { awsCall } from './errors';
import { deleteObject, headEtag, isConditionFailure, putObjectAcl, unquotedEtag, WriteCondition } from './objects';
import { RecordedPart, renderResumeRecord } from './resumeRecord';
import { earlierKeys, keptPart, partsToRecord, ResumePlan } from './resumePlan';
import { StoredObject } from './storedObject';

export interface S3PartStoreOptions {
  s3: S3Client;
  address: BundleAddress;
  acl: BundleAcl;
  /** An upper bound on the part count, to name parts before the count is known. */
  countBound: number;
  partSize: number;
  concurrency: number;
  signal?: AbortSignal;
  /** What an earlier attempt stored, when this one resumes it. */
  plan?: ResumePlan;
  /** Where `suspend` records an unfinished bundle; without it, the store cannot be resumed. */
  recordKey?: string;
  /** The bundle's objects found at the start (key → ETag): the only ones this run may replace. */
  existing?: ReadonlyMap<string, string>;
  /** This run's hold on the place: the record is replaced only while it is still this run's. */
  claim?: LocationClaim;
}

export class S3PartStore implements PartStore {
  private body: Buffer | undefined;
  private filled = 0;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly uploaded: RecordedPart[] = [];
  private failure: unknown;
  /** Parts that an earlier attempt had stored and this one kept instead of uploading. */
  resumedParts = 0;
  /** Every key this store wrote (with its ETag once known), so that discard can remove them all. */
  private readonly written = new Map<string, string | undefined>();
  /** Set when another run took the place over: discard then removes only what is still this run's. */
  private lost = false;
  /** Keys that discard could not delete. */
  readonly leftovers: string[] = [];

  constructor(private readonly options: S3PartStoreOptions) {
    if (options.signal) setMaxListeners(options.concurrency + 10, options.signal);
  }

  private get bucket() {
    return bucketOf(this.options.address);
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }

  async begin(): Promise<void> {
    this.throwIfFailed();
    this.body = Buffer.allocUnsafeSlow(this.options.partSize);
    this.filled = 0;
  }

  async write(slice: Buffer): Promise<void> {
    if (!this.body) throw new Error('no part is begun');
    this.filled += slice.copy(this.body, this.filled);
  }

  /** Starts the part's upload, then waits while too many are in flight. */
  async end(part: CutPart): Promise<void> {
    this.throwIfFailed();
    if (!this.body) throw new Error('no part is begun');
    const body = this.body.subarray(0, this.filled);
    this.body = undefined;
    const upload = this.upload(part, body).catch((error: unknown) => {
      this.failure ??= error;
    });
    this.inFlight.add(upload);
    void upload.finally(() => this.inFlight.delete(upload));
    while (this.inFlight.size >= this.options.concurrency) await Promise.race(this.inFlight);
    this.throwIfFailed();
  }

  async flush(): Promise<void> {
    await Promise.all(this.inFlight);
    this.throwIfFailed();
  }

  /** Uploads in flight are waited for by discard or suspend. */
  async abandon(): Promise<void> {
    this.body = undefined;
  }

  /** Create only where nothing was found, else replace only what was found. */
  private condition(key: string): WriteCondition {
    const found = this.options.existing?.get(key);
    return found === undefined ? { ifNoneMatch: true } : { ifMatch: found };
  }

  private lose(key: string, what?: string): Error {
    this.lost = true;
    return lostPlace(this.options.address, key, what);
  }

  private async upload(part: CutPart, body: Buffer): Promise<void> {
    const { s3, address, acl, signal, countBound, plan } = this.options;
    const key = partKey(address, part.index, countBound);
    const md5 = createHash('md5').update(body).digest('hex');
    const kept = keptPart(plan, { index: part.index, key, size: body.length, sha1: part.digest });
    // Kept only when S3 holds these very bytes: the record's ETag alone is not trusted (anyone who
    // can write the record can write it), the stored object's ETag is compared with the part made.
    const stored = kept ? this.options.existing?.get(key) : undefined;
    if (kept && stored === md5) {
      // What is kept gets the ACL this run asks for, as an uploaded part would.
      await putObjectAcl(s3, this.bucket, key, acl, signal);
      this.written.set(key, md5);
      this.uploaded.push({ ...kept, etag: md5 });
      this.resumedParts++;
      return;
    }
    this.written.set(key, undefined);
    let etag: string;
    try {
      etag = await conditionalPut(
        s3,
        this.bucket,
        key,
        body,
        { acl, contentType: 'application/octet-stream', md5, signal, condition: this.condition(key) },
        () => this.lose(key),
      );
    } catch (error) {
      // Refused: the object there is another run's, not this one's to remove.
      if (this.lost) this.written.delete(key);
      throw error;
    }
    this.written.set(key, etag);
    this.uploaded.push({ index: part.index, key, size: body.length, etag, sha1: part.digest });
  }

  /** Fails unless every part this run stored is still there as it stored it (another run may have replaced one). */
  async verifyStored(): Promise<void> {
    const { s3, address, signal } = this.options;
    const listed = new Map(
      (await listBundleObjects(s3, address.location, address.name, signal)).map((object) => [object.key, object]),
    );
    for (const part of this.uploaded) {
      const object = listed.get(part.key);
      if (!object) throw this.lose(part.key, 'was removed');
      if (object.size !== part.size || object.etag.toLowerCase() !== part.etag.toLowerCase()) throw this.lose(part.key);
    }
  }

  async suspend(point: ResumePoint): Promise<boolean> {
    await Promise.allSettled(this.inFlight);
    const { address, recordKey, plan, partSize, claim } = this.options;
    const parts = partsToRecord(plan, this.uploaded);
    if (!recordKey || !claim || parts.length === 0 || this.lost) return false;
    try {
      // No signal: the run may be failing because it was aborted, and the record must still be stored.
      // Only over this run's own claim (or the record it took up): never over another run's.
      if (!(await claim.replace(renderResumeRecord(address.name, point, partSize, parts)))) {
        this.lost = true;
        return false;
      }
    } catch (error) {
      // A resumed run re-made the same bytes under the same key and IV: the earlier record still
      // holds for every part it lists that is still there, and the next run checks each one.
      if (plan) return true;
      throw error;
    }
    return true;
  }

  async commit(cut: readonly CutPart[]): Promise<WrittenPart[]> {
    const { s3, address, acl, signal, countBound, concurrency } = this.options;
    const parts = [...this.uploaded].sort((a, b) => a.index - b.index);
    const count = cut.length;
    if (String(count).length !== String(countBound).length) {
      await forEachLimited(parts, concurrency, async (part) => {
        const finalKey = partKey(address, part.index, count);
        const condition = this.condition(finalKey);
        this.written.set(finalKey, undefined);
        let copied;
        try {
          copied = await awsCall('CopyObject', `s3://${this.bucket}/${finalKey}`, () =>
            s3.send(
              new CopyObjectCommand({
                Bucket: this.bucket,
                Key: finalKey,
                CopySource: [this.bucket, ...part.key.split('/')].map(encodeURIComponent).join('/'),
                // Every BundleAcl but 'none' is one of S3's canned ACL names.
                ACL: acl === 'none' ? undefined : (acl as ObjectCannedACL),
                IfNoneMatch: 'ifNoneMatch' in condition ? '*' : undefined,
                IfMatch: 'ifMatch' in condition ? `"${condition.ifMatch}"` : undefined,
              }),
              { abortSignal: signal },
            ),
          );
        } catch (error) {
          if (!isConditionFailure(error) || (await headEtag(s3, this.bucket, finalKey, signal)) === part.etag)
            throw error;
          this.written.delete(finalKey);
          throw this.lose(finalKey);
        }
        await deleteObject(s3, this.bucket, part.key, signal);
        this.written.delete(part.key);
        part.key = finalKey;
        part.etag = unquotedEtag(copied.CopyObjectResult?.ETag) ?? part.etag;
        this.written.set(finalKey, part.etag);
      });
    }
    return parts.map((part) => ({
      index: part.index,
      filename: partFileName(address.name, part.index, count),
      size: part.size,
      digest: part.sha1,
    }));
  }

  /** Each part's final key and S3 ETag, after commit. */
  storedParts(): StoredObject[] {
    return [...this.uploaded].sort((a, b) => a.index - b.index).map(({ key, etag, size }) => ({ key, etag, size }));
  }

  /** Whether another run took the place over while this one was writing. */
  get placeLost(): boolean {
    return this.lost;
  }

  async discard(): Promise<void> {
    await Promise.allSettled(this.inFlight);
    const { s3, claim } = this.options;
    if (!this.lost && claim && !(await claim.isHeld())) this.lost = true;
    let keys: string[];
    if (this.lost) {
      // Another run holds the place: remove only what is still exactly as this run wrote it.
      const mine = await Promise.all(
        [...this.written].map(async ([key, etag]) =>
          etag !== undefined && (await headEtag(s3, this.bucket, key).catch(() => undefined)) === etag
            ? key
            : undefined,
        ),
      );
      keys = mine.filter((key): key is string => key !== undefined);
    } else {
      keys = [...new Set([...this.written.keys(), ...earlierKeys(this.options.plan)])].filter(
        (key) => key !== claim?.key,
      );
    }
    const results = await Promise.allSettled(keys.map((key) => deleteObject(s3, this.bucket, key)));
    results.forEach((result, index) => {
      if (result.status === 'rejected') this.leftovers.push(keys[index]);
    });
    // The claim last, and only while it is still this run's: a run that lost to objects another run
    // wrote, its claim still standing, would otherwise leave the place held by a run that ended;
    // one another run took over is that run's, and stays.
    if (claim) await claim.release().catch(() => this.leftovers.push(claim.key));
  }
}
