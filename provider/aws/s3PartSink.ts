/**
 * Bundling straight to S3: each 10 MiB part is uploaded as soon as the encrypted stream has filled
 * it, a few at a time, with its MD5 (Content-MD5) and SHA-1 (for the manifest); nothing touches the
 * local disk and memory stays at about (concurrency + 1) × 10 MiB.
 *
 * Part names depend on the final part count (ec2-bundle-image pads the index to its digits), which
 * is only known at the end. Parts are named from an upper bound of the count; in the rare case that
 * the bound has more digits than the real count, the parts are renamed with server-side copies.
 */
import { CopyObjectCommand, GetObjectCommand, ObjectCannedACL, S3Client } from '@aws-sdk/client-s3';
import { createHash } from 'crypto';
import { setMaxListeners } from 'events';
import { Writable } from 'stream';
import { PART_SIZE } from '../bundle/constants';
import { DestinationTakenError, ResumeMismatchError } from '../bundle/errors';
import { BundleOutput, PartSink, ResumePoint, WrittenPart } from '../bundle/bundleOutput';
import { release } from '../bundle/handOver';
import { partCount, partFileName } from '../bundle/parts';
import { bundleAddress, imageLocation, manifestKey, partKey, resumeKey } from './bundleAddress';
import { BundleAcl, preflightBucket } from './bucket';
import { listBundleObjects } from './bundleObjects';
import { forEachLimited } from './concurrency';
import { awsCall } from './errors';
import { BundleLocation, describeLocation } from './location';
import { StoredObject } from './storedObject';
import { deleteObject, putObject, unquotedEtag } from './objects';

interface UploadedPart {
  index: number;
  key: string;
  size: number;
  /** As S3 answered (the MD5 unless the bucket encrypts with KMS). */
  etag: string;
  sha1: string;
}

export interface S3PartSinkOptions {
  s3: S3Client;
  location: BundleLocation;
  name: string;
  acl: BundleAcl;
  /** Upper bound on the encrypted length, to name parts before the count is known. */
  encryptedBound: number;
  concurrency?: number;
  partSize?: number;
  signal?: AbortSignal;
  /** Parts an earlier attempt stored (still in S3 as it recorded them): not uploaded again when identical. */
  storedParts?: UploadedPart[];
  /** Where `suspend` records an unfinished bundle; without it, the sink cannot be resumed. */
  resumeKey?: string;
}

/** `NAME.resume.json`: an unfinished bundle that the same command, run again, resumes. */
interface ResumeRecord extends ResumePoint {
  version: 1;
  name: string;
  partSize: number;
  parts: UploadedPart[];
}

const HEX = /^[0-9a-f]+$/;

/** The record, checked field by field: it comes from S3 and decides what is not uploaded again. */
function parseResumeRecord(text: string, name: string, where: string): ResumeRecord {
  const refuse = (what: string) =>
    new ResumeMismatchError('bucket', `its resume record is not one this tool wrote (${what})`, `${where} is not a resume record this tool wrote (${what}); delete the unfinished bundle (unikernel-ami delete-bundle -p ${name}) and bundle again`);
  let record: ResumeRecord;
  try {
    record = JSON.parse(text) as ResumeRecord;
  } catch {
    throw refuse('not JSON');
  }
  if (record?.version !== 1 || record.name !== name) throw refuse('version or name');
  if (![record.attempt, record.userEncryptedKey, record.userEncryptedIv, record.signature].every((value) => typeof value === 'string' && HEX.test(value))) throw refuse('attempt, key, IV or signature');
  if (!Number.isInteger(record.partSize) || !Array.isArray(record.parts)) throw refuse('parts');
  for (const part of record.parts) {
    const valid = Number.isInteger(part?.index) && part.index >= 0 && typeof part.key === 'string' && Number.isInteger(part.size) && typeof part.etag === 'string' && typeof part.sha1 === 'string' && /^[0-9a-f]{40}$/.test(part.sha1);
    if (!valid) throw refuse('a part');
  }
  return record;
}

export class S3PartSink implements PartSink {
  readonly writable: Writable;
  private buffered: Buffer[] = [];
  private bufferedBytes = 0;
  private nextIndex = 0;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly uploaded: UploadedPart[] = [];
  /** An upper bound on the part count, that names parts until the count is known. */
  private readonly countBound: number;
  private failure: unknown;
  private readonly partSize: number;
  private readonly concurrency: number;
  /** Parts that an earlier attempt had stored and this one kept instead of uploading. */
  resumedParts = 0;
  /** Every key this sink wrote, so that discard can remove them all. */
  private readonly written = new Set<string>();

  constructor(private readonly options: S3PartSinkOptions) {
    this.partSize = options.partSize ?? PART_SIZE;
    this.concurrency = options.concurrency ?? 4;
    this.countBound = partCount(options.encryptedBound, this.partSize);
    if (options.signal) setMaxListeners(this.concurrency + 10, options.signal);
    this.writable = new Writable({
      highWaterMark: 1024 * 1024,
      write: (chunk: Buffer, _encoding, callback) => this.accept(chunk).then(() => callback(), callback),
      final: (callback) => this.finish().then(() => callback(), callback),
    });
  }

  private keyFor(index: number, count: number): string {
    return partKey(bundleAddress(this.options.location, this.options.name), index, count);
  }

  private async accept(chunk: Buffer): Promise<void> {
    this.buffered.push(chunk);
    this.bufferedBytes += chunk.length;
    while (this.bufferedBytes >= this.partSize) await this.cut(this.partSize);
  }

  private async finish(): Promise<void> {
    if (this.bufferedBytes > 0) await this.cut(this.bufferedBytes);
    await Promise.all(this.inFlight);
    if (this.failure) throw this.failure;
  }

  /** Takes the next `length` bytes as a part and starts its upload, waiting while too many are in flight. */
  private async cut(length: number): Promise<void> {
    if (this.failure) throw this.failure;
    const all = Buffer.concat(this.buffered);
    for (const chunk of this.buffered) release(chunk);
    const body = all.subarray(0, length);
    const rest = all.subarray(length);
    this.buffered = rest.length > 0 ? [rest] : [];
    this.bufferedBytes = rest.length;
    const index = this.nextIndex++;
    const upload = this.upload(index, body).catch((error: unknown) => {
      this.failure ??= error;
    });
    this.inFlight.add(upload);
    void upload.finally(() => this.inFlight.delete(upload));
    while (this.inFlight.size >= this.concurrency) await Promise.race(this.inFlight);
    if (this.failure) throw this.failure;
  }

  private async upload(index: number, body: Buffer): Promise<void> {
    const { s3, location, acl, signal } = this.options;
    const key = this.keyFor(index, this.countBound);
    const sha1 = createHash('sha1').update(body).digest('hex');
    this.written.add(key);
    const stored = this.options.storedParts?.find((part) => part.index === index);
    if (stored && stored.key === key && stored.size === body.length && stored.sha1 === sha1) {
      this.uploaded.push({ ...stored });
      this.resumedParts++;
      return;
    }
    const etag = await putObject(s3, location.bucket, key, body, { acl, contentType: 'application/octet-stream', signal });
    this.uploaded.push({ index, key, size: body.length, etag, sha1 });
  }

  async suspend(point: ResumePoint): Promise<boolean> {
    await Promise.allSettled(this.inFlight);
    const { s3, location, name, resumeKey } = this.options;
    const byIndex = new Map((this.options.storedParts ?? []).map((part) => [part.index, part]));
    for (const part of this.uploaded) byIndex.set(part.index, part);
    if (!resumeKey || byIndex.size === 0) return false;
    const record: ResumeRecord = { version: 1, name, ...point, partSize: this.partSize, parts: [...byIndex.values()].sort((a, b) => a.index - b.index) };
    try {
      // No signal: the run may be failing because it was aborted, and the record must still be stored.
      await putObject(s3, location.bucket, resumeKey, Buffer.from(JSON.stringify(record, null, 1)), { acl: 'none', contentType: 'application/json' });
    } catch (error) {
      // A resumed run re-made the same bytes under the same key and IV: the earlier record still
      // holds for every part it lists that is still there, and the next run checks each one.
      if (this.options.storedParts) return true;
      throw error;
    }
    return true;
  }

  async commit(): Promise<WrittenPart[]> {
    const { s3, location, acl, signal, name } = this.options;
    const parts = [...this.uploaded].sort((a, b) => a.index - b.index);
    const count = parts.length;
    if (String(count).length !== String(this.countBound).length) {
      await forEachLimited(parts, this.concurrency, async (part) => {
        const finalKey = this.keyFor(part.index, count);
        this.written.add(finalKey);
        const copied = await awsCall('CopyObject', `s3://${location.bucket}/${finalKey}`, () =>
          s3.send(
            new CopyObjectCommand({
              Bucket: location.bucket,
              Key: finalKey,
              CopySource: [location.bucket, ...part.key.split('/')].map(encodeURIComponent).join('/'),
              ACL: acl === 'none' ? undefined : (acl as ObjectCannedACL),
            }),
            { abortSignal: signal },
          ),
        );
        await deleteObject(s3, location.bucket, part.key, signal);
        this.written.delete(part.key);
        part.key = finalKey;
        part.etag = unquotedEtag(copied.CopyObjectResult?.ETag) ?? part.etag;
      });
    }
    return parts.map((part) => ({ index: part.index, filename: partFileName(name, part.index, count), size: part.size, digest: part.sha1 }));
  }

  /** Each part's final key and S3 ETag, after commit. */
  partEtags(): StoredObject[] {
    return [...this.uploaded].sort((a, b) => a.index - b.index).map(({ key, etag, size }) => ({ key, etag, size }));
  }

  /** Keys that discard could not delete. */
  readonly leftovers: string[] = [];

  async discard(): Promise<void> {
    await Promise.allSettled(this.inFlight);
    const { s3, location, resumeKey } = this.options;
    // A resumed bundle given up: the parts kept from before and the record go too, or they would be
    // left with nothing to remove or resume them.
    const earlier = this.options.storedParts ? [...this.options.storedParts.map((part) => part.key), ...(resumeKey ? [resumeKey] : [])] : [];
    const keys = [...new Set([...this.written, ...earlier])];
    const results = await Promise.allSettled(keys.map((key) => deleteObject(s3, location.bucket, key)));
    results.forEach((result, index) => {
      if (result.status === 'rejected') this.leftovers.push(keys[index]);
    });
  }
}

export interface S3BundleOutputOptions {
  s3: S3Client;
  location: BundleLocation;
  acl?: BundleAcl;
  createBucket?: boolean;
  /** Parts uploaded at once (memory is about (concurrency + 1) × part size). Default 4. */
  concurrency?: number;
  /** Tests only: a smaller part size; real bundles always use 10 MiB. */
  partSize?: number;
  signal?: AbortSignal;
  /**
   * A failed upload keeps its parts and a `NAME.resume.json` record, and the next run of the same
   * bundle resumes it, uploading only what is missing. Without it (the default) a failure removes
   * everything it uploaded.
   */
  resumable?: boolean;
  /**
   * With `resumable`, whether an unfinished bundle found at the location is taken up (default true).
   * Off, it is refused like any other bundle there: BundledImage's create turns it off, since a
   * record it did not leave may belong to another stack or resource.
   */
  resumeExisting?: boolean;
}

/** A BundleOutput that writes the bundle straight into S3: parts as they are made, the manifest last. */
export class S3BundleOutput implements BundleOutput {
  readonly description: string;
  private sink: S3PartSink | undefined;
  private manifestObject: StoredObject | undefined;
  bucketCreated = false;

  constructor(private readonly options: S3BundleOutputOptions) {
    this.description = describeLocation(options.location);
  }

  private get acl(): BundleAcl {
    return this.options.acl ?? 'aws-exec-read';
  }

  async prepare(name: string): Promise<void> {
    const { s3, location, signal } = this.options;
    const bucket = await preflightBucket({ s3, bucket: location.bucket, acl: this.acl, createBucket: this.options.createBucket, signal });
    this.bucketCreated = bucket.created;
    const earlier = await listBundleObjects(s3, location, name, signal);
    const address = bundleAddress(location, name);
    const recordKey = resumeKey(address);
    const hasManifest = earlier.some((object) => object.key === manifestKey(address));
    const hasRecord = earlier.some((object) => object.key === recordKey);
    const resumeExisting = this.options.resumable && (this.options.resumeExisting ?? true);
    if (resumeExisting && !hasManifest && hasRecord) {
      await this.loadResumeRecord(name, recordKey, earlier);
      return;
    }
    if (earlier.length > 0) {
      throw new DestinationTakenError(
        hasManifest ? 'a manifest is already there' : hasRecord ? 'this run does not take up its resume record' : 'its resume record is missing',
        `${this.description} already holds a bundle named ${name} (${earlier.length} object(s)); delete it (unikernel-ami delete-bundle) or choose another bundle name or prefix`,
      );
    }
  }

  resumeFrom: ResumePoint | undefined;
  private storedParts: UploadedPart[] | undefined;
  private recordKey: string | undefined;

  /** Reads the record of an unfinished bundle; only parts still in S3 as recorded count as stored. */
  private async loadResumeRecord(name: string, recordKey: string, earlier: StoredObject[]): Promise<void> {
    const { s3, location, signal } = this.options;
    const where = `s3://${location.bucket}/${recordKey}`;
    const text = await awsCall('GetObject', where, async () => {
      const answer = await s3.send(new GetObjectCommand({ Bucket: location.bucket, Key: recordKey }), { abortSignal: signal });
      return (await answer.Body?.transformToString('utf8')) ?? '';
    });
    const record = parseResumeRecord(text, name, where);
    if (record.partSize !== (this.options.partSize ?? PART_SIZE)) {
      throw new ResumeMismatchError('bucket', `its resume record has ${record.partSize}-byte parts`, `${where} was written with ${record.partSize}-byte parts; delete the unfinished bundle (unikernel-ami delete-bundle -p ${name}) and bundle again`);
    }
    const inS3 = new Map(earlier.map((object) => [object.key, object]));
    this.storedParts = record.parts.filter((part) => {
      const object = inS3.get(part.key);
      return object !== undefined && object.size === part.size && object.etag.toLowerCase() === part.etag.toLowerCase();
    });
    this.resumeFrom = { attempt: record.attempt, userEncryptedKey: record.userEncryptedKey, userEncryptedIv: record.userEncryptedIv, signature: record.signature };
    this.recordKey = recordKey;
  }

  parts(name: string, encryptedBound: number): PartSink {
    const { s3, location, signal, concurrency, partSize, resumable } = this.options;
    const recordKey = resumable ? resumeKey(bundleAddress(location, name)) : undefined;
    this.sink = new S3PartSink({ s3, location, name, acl: this.acl, encryptedBound, concurrency, partSize, signal, storedParts: this.storedParts, resumeKey: recordKey });
    return this.sink;
  }

  /** Parts of an earlier attempt that this run kept instead of uploading them again. */
  get resumedParts(): number {
    return this.sink?.resumedParts ?? 0;
  }

  async writeManifest(name: string, xml: string): Promise<string> {
    const { s3, location, signal } = this.options;
    const address = bundleAddress(location, name);
    const key = manifestKey(address);
    const body = Buffer.from(xml, 'utf8');
    const etag = await putObject(s3, location.bucket, key, body, { acl: this.acl, contentType: 'application/xml', signal });
    this.manifestObject = { key, etag, size: body.length };
    if (this.recordKey) {
      // The bundle is whole: the record has done its job. Left behind, it is harmless (a manifest wins).
      await deleteObject(s3, location.bucket, this.recordKey, signal).catch(() => undefined);
    }
    return imageLocation(address);
  }

  async removeManifest(name: string): Promise<void> {
    const { s3, location } = this.options;
    const key = manifestKey(bundleAddress(location, name));
    try {
      await deleteObject(s3, location.bucket, key);
    } catch (error) {
      this.manifestLeftover = key;
      throw error;
    }
  }

  private manifestLeftover: string | undefined;

  /** After a failed bundle: the objects this run wrote that could not be removed (usually none). */
  leftovers(): string[] {
    return [...(this.sink?.leftovers ?? []), ...(this.manifestLeftover ? [this.manifestLeftover] : [])];
  }

  /** Every object of the finished bundle with its S3 ETag, parts first, the manifest last. */
  objects(): StoredObject[] {
    if (!this.sink || !this.manifestObject) throw new Error('the bundle is not finished');
    return [...this.sink.partEtags(), this.manifestObject];
  }
}

