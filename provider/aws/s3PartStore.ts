/**
 * Parts as S3 objects: each part is uploaded as soon as the cutter has filled it, a few at a time,
 * with its MD5 (Content-MD5); memory stays at about (concurrency + 1) × the part size.
 *
 * Part names depend on the final part count (ec2-bundle-image pads the index to its digits), which
 * is only known at the end. Parts are named from an upper bound of the count; in the rare case that
 * the bound has more digits than the real count, the parts are renamed with server-side copies.
 */
import { CopyObjectCommand, ObjectCannedACL, S3Client } from '@aws-sdk/client-s3';
import { setMaxListeners } from 'events';
import type { ResumePoint, WrittenPart } from '../bundle/bundleOutput';
import type { CutPart, PartStore } from '../bundle/partCutter';
import { partFileName } from '../bundle/parts';
import { BundleAcl } from './acl';
import { BundleAddress, bucketOf, partKey } from './bundleAddress';
import { forEachLimited } from './concurrency';
import { awsCall } from './errors';
import { deleteObject, putObject, unquotedEtag } from './objects';
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
}

export class S3PartStore implements PartStore {
  private body: Buffer | undefined;
  private filled = 0;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly uploaded: RecordedPart[] = [];
  private failure: unknown;
  /** Parts that an earlier attempt had stored and this one kept instead of uploading. */
  resumedParts = 0;
  /** Every key this store wrote, so that discard can remove them all. */
  private readonly written = new Set<string>();
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

  private async upload(part: CutPart, body: Buffer): Promise<void> {
    const { s3, address, acl, signal, countBound, plan } = this.options;
    const key = partKey(address, part.index, countBound);
    this.written.add(key);
    const kept = keptPart(plan, { index: part.index, key, size: body.length, sha1: part.digest });
    if (kept) {
      this.uploaded.push(kept);
      this.resumedParts++;
      return;
    }
    const etag = await putObject(s3, this.bucket, key, body, { acl, contentType: 'application/octet-stream', signal });
    this.uploaded.push({ index: part.index, key, size: body.length, etag, sha1: part.digest });
  }

  async suspend(point: ResumePoint): Promise<boolean> {
    await Promise.allSettled(this.inFlight);
    const { s3, address, recordKey, plan, partSize } = this.options;
    const parts = partsToRecord(plan, this.uploaded);
    if (!recordKey || parts.length === 0) return false;
    try {
      // No signal: the run may be failing because it was aborted, and the record must still be stored.
      await putObject(
        s3,
        this.bucket,
        recordKey,
        Buffer.from(renderResumeRecord(address.name, point, partSize, parts)),
        { acl: 'none', contentType: 'application/json' },
      );
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
        this.written.add(finalKey);
        const copied = await awsCall('CopyObject', `s3://${this.bucket}/${finalKey}`, () =>
          s3.send(
            new CopyObjectCommand({
              Bucket: this.bucket,
              Key: finalKey,
              CopySource: [this.bucket, ...part.key.split('/')].map(encodeURIComponent).join('/'),
              // Every BundleAcl but 'none' is one of S3's canned ACL names.
              ACL: acl === 'none' ? undefined : (acl as ObjectCannedACL),
            }),
            { abortSignal: signal },
          ),
        );
        await deleteObject(s3, this.bucket, part.key, signal);
        this.written.delete(part.key);
        part.key = finalKey;
        part.etag = unquotedEtag(copied.CopyObjectResult?.ETag) ?? part.etag;
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

  async discard(): Promise<void> {
    await Promise.allSettled(this.inFlight);
    const keys = [...new Set([...this.written, ...earlierKeys(this.options.plan)])];
    const results = await Promise.allSettled(keys.map((key) => deleteObject(this.options.s3, this.bucket, key)));
    results.forEach((result, index) => {
      if (result.status === 'rejected') this.leftovers.push(keys[index]);
    });
  }
}
