/**
 * What a killed create left (SIGKILL cannot be caught, so nothing was recorded): BundledImage makes
 * each bundle in a folder of its own (`CONTENT-xxxxxxxx/`), and a run that dies mid-upload leaves
 * its parts and its claim there, with no state naming the folder. A later create of the same bundle
 * lists the sibling folders, and removes each whose record is the claim of a dead fresh run on this
 * host. A live run's folder (its process runs, or its host is another), a resume record (a state
 * names it as unfinished) and a finished bundle (no claim) are never touched.
 */
import { S3Client } from '@aws-sdk/client-s3';
import { hostname } from 'os';
import { BundleAddress, describeAddress, siblingOf, siblingsPrefix } from './bundleAddress';
import { processRuns, readRecord } from './bundleClaim';
import { listBundleObjects, listObjects } from './bundleObjects';
import { claimIsStale, ClaimHolder, describeHolder, parseClaim } from './claimRecord';
import { deleteBundle } from './deleteBundle';
import { BundleLocation } from './location';

export interface RemovedSibling {
  address: BundleAddress;
  holder: ClaimHolder;
  /** Objects that were there and were deleted. */
  deleted: number;
}

/** The claim in `text` when it is a dead fresh run's: the folder is an orphan. */
export function orphanClaim(text: string, host: string, running: (pid: number) => boolean): ClaimHolder | undefined {
  const holder = parseClaim(text);
  return holder?.fresh === true && claimIsStale(holder, host, running) ? holder : undefined;
}

/** Removes the folders of dead fresh runs next to `stem-…/` under `parent` for the bundle `name`. */
export async function removeDeadSiblings(options: {
  s3: S3Client;
  parent: BundleLocation;
  stem: string;
  name: string;
  signal?: AbortSignal;
}): Promise<RemovedSibling[]> {
  const { s3, parent, stem, name, signal } = options;
  const prefix = siblingsPrefix(parent, stem);
  const folders = (await listObjects(s3, parent.bucket, prefix, signal))
    .map((object) => siblingOf(parent, stem, name, object.key))
    .filter((sibling): sibling is BundleAddress => sibling !== undefined);
  const removed: RemovedSibling[] = [];
  for (const address of folders) {
    const record = await readRecord(s3, address, signal);
    const holder = record && orphanClaim(record.text, hostname(), processRuns);
    if (!holder) continue;
    const stored = await listBundleObjects(s3, address.location, name, signal);
    await deleteBundle({ s3, location: address.location, name, signal });
    removed.push({ address, holder, deleted: stored.length });
  }
  return removed;
}

/** For the log: what was removed, and why. */
export function describeRemovedSibling(removed: RemovedSibling): string {
  return `removed ${removed.deleted} object(s) left in ${describeAddress(removed.address)} by ${describeHolder(removed.holder)}, a create of this bundle that was killed before it finished (no state names that folder)`;
}
