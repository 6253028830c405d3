/**
 * A BundleOutput that writes the bundle straight into S3: parts uploaded as the cutter makes them
 * (nothing touches the local disk), the manifest last. With `resumable`, a failure keeps the parts
 * and a `NAME.resume.json` record that the next run of the same bundle resumes from.
 */
import { S3Client } from '@aws-sdk/client-s3';
import { createHash } from 'crypto';
import { PART_SIZE } from '../bundle/constants';
import { DestinationTakenError } from '../bundle/errors';
import { BundleOutput, PartSink, ResumePoint } from '../bundle/bundleOutput';
import { PartCutter } from '../bundle/partCutter';
import { partCount } from '../bundle/parts';
import { BundleAcl, preflightBucket } from './bucket';
import { bundleAddress, imageLocation, manifestKey, resumeKey } from './bundleAddress';
import { conditionalPut, liveClaimError, listWithRecord, LocationClaim, lostPlace } from './bundleClaim';
import { parseClaim } from './claimRecord';
import { BundleLocation, describeLocation } from './location';
import { deleteObjectIfUnchanged } from './objects';
import { parseResumeRecord } from './resumeRecord';
import { planResume, ResumePlan, resumeStart } from './resumePlan';
import { S3PartStore } from './s3PartStore';
import { StoredObject } from './storedObject';

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
  /** The folder is new for this run (BundledImage's create): its claim says so (see claimRecord.ts). */
  fresh?: true;
}

export class S3BundleOutput implements BundleOutput {
  readonly description: string;
  private store: S3PartStore | undefined;
  private manifestObject: StoredObject | undefined;
  private plan: ResumePlan | undefined;
  private manifestLeftover: string | undefined;
  /** The MD5 (S3 ETag) of the manifest this run writes, once made. */
  private manifestMd5: string | undefined;
  private claim: LocationClaim | undefined;
  private existing = new Map<string, string>();
  bucketCreated = false;
  /** The claim object this run could not remove once the bundle was whole, with why. */
  claimLeft: string | undefined;

  constructor(private readonly options: S3BundleOutputOptions) {
    this.description = describeLocation(options.location);
  }

  private get acl(): BundleAcl {
    return this.options.acl ?? 'aws-exec-read';
  }

  private get partSize(): number {
    return this.options.partSize ?? PART_SIZE;
  }

  async prepare(name: string): Promise<void> {
    const { s3, location, signal } = this.options;
    const bucket = await preflightBucket({
      s3,
      bucket: location.bucket,
      acl: this.acl,
      createBucket: this.options.createBucket,
      signal,
    });
    this.bucketCreated = bucket.created;
    const address = bundleAddress(location, name);
    // The listing and the record as they were at one moment (a run ending in between would leave
    // this one a listing without that run's manifest, and no record to be refused by).
    const { listing: earlier, found } = await listWithRecord(s3, location, name, signal);
    const start = resumeStart(
      address,
      earlier,
      this.options.resumable === true && (this.options.resumeExisting ?? true),
    );
    const holder = found ? parseClaim(found.text) : undefined;
    if (start.kind === 'taken') {
      // A claim there is another run at work (or a dead one's): say which.
      const held = found && liveClaimError(address, found);
      if (held) throw held;
      throw new DestinationTakenError(
        start.problem,
        `${this.description} already holds a bundle named ${name} (${earlier.length} object(s))`,
        { kind: 'deleteOrRename', name, location: this.description },
      );
    }
    this.existing = new Map(earlier.map((object) => [object.key, object.etag.toLowerCase()]));
    if (start.kind === 'resume' && found && !holder) {
      const where = `s3://${location.bucket}/${start.recordKey}`;
      this.plan = planResume(
        parseResumeRecord(found.text, name, where),
        earlier,
        this.partSize,
        start.recordKey,
        where,
      );
      this.claim = LocationClaim.adopt(s3, address, found.etag);
      return;
    }
    // Nothing there, or the claim of a run that died: this run claims the place (a live claim is refused).
    this.claim = await LocationClaim.take(s3, address, 'bundle', found, { signal, fresh: this.options.fresh });
  }

  /** Set by prepare when an unfinished attempt at this bundle is taken up. */
  get resumeFrom(): ResumePoint | undefined {
    return this.plan?.point;
  }

  parts(name: string, encryptedBound: number): PartSink {
    const { s3, location, signal, resumable } = this.options;
    const address = bundleAddress(location, name);
    const concurrency = this.options.concurrency ?? 4;
    this.store = new S3PartStore({
      s3,
      address,
      acl: this.acl,
      countBound: partCount(encryptedBound, this.partSize),
      partSize: this.partSize,
      concurrency,
      signal,
      plan: this.plan,
      recordKey: resumable ? resumeKey(address) : undefined,
      existing: this.existing,
      claim: this.claim,
    });
    return new PartCutter(this.store, this.partSize);
  }

  /** Parts of an earlier attempt that this run kept instead of uploading them again. */
  get resumedParts(): number {
    return this.store?.resumedParts ?? 0;
  }

  /**
   * The manifest goes in last, and only while the place is still this run's: every part as this run
   * stored it and its claim still there, checked before and again after, since a run deleting the
   * bundle could have started in between. Then the claim (or the record taken up) is removed.
   */
  async writeManifest(name: string, xml: string): Promise<string> {
    const { s3, location, signal } = this.options;
    const address = bundleAddress(location, name);
    const key = manifestKey(address);
    const body = Buffer.from(xml, 'utf8');
    // Its ETag, known before the PUT: a failed run removes the manifest only while it is this one.
    this.manifestMd5 = createHash('md5').update(body).digest('hex');
    const checkStillOurs = async () => {
      await this.store?.verifyStored();
      await this.claim?.check(signal);
    };
    await checkStillOurs();
    const etag = await conditionalPut(
      s3,
      location.bucket,
      key,
      body,
      { acl: this.acl, contentType: 'application/xml', signal, condition: { ifNoneMatch: true } },
      () => lostPlace(address, key, 'was written'),
    );
    this.manifestObject = { key, etag, size: body.length };
    await checkStillOurs();
    if (this.claim) {
      // The bundle is whole: the claim or record has done its job, and is removed only if still this
      // run's. Left behind (S3 failed), it is harmless to this bundle (a manifest wins), and said.
      const claimKey = this.claim.key;
      await this.claim.release(signal).catch((error: unknown) => {
        this.claimLeft = `s3://${location.bucket}/${claimKey} (${error instanceof Error ? error.message : String(error)})`;
      });
    }
    return imageLocation(address);
  }

  /**
   * Removes the manifest this run wrote, only while it is still this run's (S3's conditional delete
   * on its ETag): a manifest another run wrote at the place, which made this one's PUT fail, is kept.
   */
  async removeManifest(name: string): Promise<void> {
    const { s3, location } = this.options;
    const key = manifestKey(bundleAddress(location, name));
    if (this.manifestMd5 === undefined) return;
    try {
      await deleteObjectIfUnchanged(s3, location.bucket, key, this.manifestMd5);
    } catch (error) {
      this.manifestLeftover = key;
      throw error;
    }
  }

  /** After a failed bundle: the objects this run wrote that could not be removed (usually none). */
  leftovers(): string[] {
    return [...(this.store?.leftovers ?? []), ...(this.manifestLeftover ? [this.manifestLeftover] : [])];
  }

  /** Every object of the finished bundle with its S3 ETag, parts first, the manifest last. */
  objects(): StoredObject[] {
    if (!this.store || !this.manifestObject) throw new Error('the bundle is not finished');
    return [...this.store.storedParts(), this.manifestObject];
  }
}
