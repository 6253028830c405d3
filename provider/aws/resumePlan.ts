/**
 * Resuming an unfinished bundle in S3, decided without I/O: from the listing of the bundle's
 * objects, whether to start afresh, read the resume record or refuse the place as taken; from the
 * record and the listing, which stored parts can be kept; for each part made, keep or upload.
 */
import { DestinationTakenError, ResumeMismatchError } from '../bundle/errors';
import type { ResumePoint } from '../bundle/bundleOutput';
import { BundleAddress, manifestKey, resumeKey } from './bundleAddress';
import type { RecordedPart, ResumeRecord } from './resumeRecord';
import type { StoredObject } from './storedObject';

/**
 * What to do with an unfinished bundle of the same name at the location: `resume` it (the CLI: the
 * same command run again), `refuse` it like any bundle there (BundledImage's create: it may be
 * another stack's), or resume it and, when it cannot be, remove it and `restart` (BundledImage's
 * update: its state owns that location).
 */
export type UnfinishedPolicy = 'resume' | 'refuse' | 'restart';

/** Whether an attempt takes up an unfinished bundle it finds. */
export function takesUp(policy: UnfinishedPolicy): boolean {
  return policy !== 'refuse';
}

/** After a failed attempt: the reason to remove what is there and start again, or undefined to fail. */
export function restartReason(policy: UnfinishedPolicy, error: unknown): string | undefined {
  if (policy !== 'restart') return undefined;
  return error instanceof ResumeMismatchError || error instanceof DestinationTakenError ? error.problem : undefined;
}

export type ResumeStart =
  { kind: 'fresh' } | { kind: 'resume'; recordKey: string } | { kind: 'taken'; problem: string };

/**
 * What an attempt finds at the address. `takeUp`: whether an unfinished bundle (a record, no
 * manifest) is resumed; otherwise it is refused like any other bundle there.
 */
export function resumeStart(address: BundleAddress, listing: readonly StoredObject[], takeUp: boolean): ResumeStart {
  const recordKey = resumeKey(address);
  const hasManifest = listing.some((object) => object.key === manifestKey(address));
  const hasRecord = listing.some((object) => object.key === recordKey);
  if (takeUp && !hasManifest && hasRecord) return { kind: 'resume', recordKey };
  if (listing.length === 0) return { kind: 'fresh' };
  return {
    kind: 'taken',
    problem: hasManifest
      ? 'a manifest is already there'
      : hasRecord
        ? 'this run does not take up its resume record'
        : 'its resume record is missing',
  };
}

export interface ResumePlan {
  /** The key, IV and attempt of the earlier run: the bundler checks and opens it. */
  point: ResumePoint;
  /** Parts still in S3 as the record lists them. */
  stored: readonly RecordedPart[];
  recordKey: string;
}

/** The record and the listing give the plan; a record made with another part size is refused. */
export function planResume(
  record: ResumeRecord,
  listing: readonly StoredObject[],
  partSize: number,
  recordKey: string,
  where: string,
): ResumePlan {
  if (record.partSize !== partSize) {
    throw new ResumeMismatchError(
      'destination',
      `its resume record has ${record.partSize}-byte parts`,
      `${where} was written with ${record.partSize}-byte parts`,
      { kind: 'deleteAndRebundle', name: record.name, location: where },
    );
  }
  const inS3 = new Map(listing.map((object) => [object.key, object]));
  const stored = record.parts.filter((part) => {
    const object = inS3.get(part.key);
    return object !== undefined && object.size === part.size && object.etag.toLowerCase() === part.etag.toLowerCase();
  });
  const point: ResumePoint = {
    attempt: record.attempt,
    userEncryptedKey: record.userEncryptedKey,
    userEncryptedIv: record.userEncryptedIv,
    signature: record.signature,
  };
  return { point, stored, recordKey };
}

/** The stored part to keep instead of uploading the one just made (same key, size and SHA-1), if any. */
export function keptPart(plan: ResumePlan | undefined, made: Omit<RecordedPart, 'etag'>): RecordedPart | undefined {
  const stored = plan?.stored.find((part) => part.index === made.index);
  return stored && stored.key === made.key && stored.size === made.size && stored.sha1 === made.sha1
    ? { ...stored }
    : undefined;
}

/** The parts a suspended run records: the earlier ones, replaced by any this run stored. */
export function partsToRecord(plan: ResumePlan | undefined, stored: readonly RecordedPart[]): RecordedPart[] {
  const byIndex = new Map((plan?.stored ?? []).map((part) => [part.index, part]));
  for (const part of stored) byIndex.set(part.index, part);
  return [...byIndex.values()].sort((a, b) => a.index - b.index);
}

/** A resumed bundle given up: the parts kept from before and the record go too, or nothing would remove them. */
export function earlierKeys(plan: ResumePlan | undefined): string[] {
  return plan ? [...plan.stored.map((part) => part.key), plan.recordKey] : [];
}
