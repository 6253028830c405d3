/**
 * The claim on a bundle's place in S3 (pure). A run that writes or deletes a bundle first stores
 * `NAME.resume.json` with If-None-Match (or If-Match over what it found), holding who claims it; two
 * runs cannot both hold it, and a run that finds its claim replaced stops before its manifest counts.
 * A failed bundle later replaces the claim with its resume record, which any run may take up.
 */

export type ClaimAction = 'bundle' | 'upload' | 'delete';

/**
 * The most a claim or resume record may be, in bytes: anything larger is not a record this tool
 * wrote, and is refused without being read. A claim is a few hundred bytes; a resume record lists
 * each stored part, about 150 bytes and its key (at most 1,024 bytes, S3's limit), and a bundle of
 * the largest image (10 GiB) has about 1,025 parts of 10 MiB: at most about 1.3 MB.
 */
export const MAX_RECORD_BYTES = 2 * 1024 * 1024;

export interface ClaimHolder {
  action: ClaimAction;
  /** Random: tells one run's claim from another's. */
  token: string;
  host: string;
  pid: number;
  /** ISO time the claim was taken. */
  since: string;
  /**
   * The run makes this folder new (BundledImage's create, in a folder of its own): no state names
   * the folder until the run answers, so its claim left by a dead run marks an orphan that a later
   * create of the same bundle removes (see deadSiblings.ts). Absent in every other claim.
   */
  fresh?: true;
}

export interface ClaimRecord {
  version: 1;
  name: string;
  claim: ClaimHolder;
}

export function renderClaim(name: string, holder: ClaimHolder): string {
  const record: ClaimRecord = { version: 1, name, claim: holder };
  return JSON.stringify(record, null, 1);
}

const ACTIONS: readonly ClaimAction[] = ['bundle', 'upload', 'delete'];

/** The claim the text holds, or undefined when it is something else (a resume record, or garbage). */
export function parseClaim(text: string): ClaimHolder | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || !('claim' in value)) return undefined;
  // Each field is checked below before anything is read from it.
  const holder = (value as { claim: Partial<ClaimHolder> | null }).claim;
  if (
    holder === null ||
    typeof holder !== 'object' ||
    !ACTIONS.includes(holder.action as ClaimAction) ||
    typeof holder.token !== 'string' ||
    typeof holder.host !== 'string' ||
    !Number.isInteger(holder.pid) ||
    typeof holder.since !== 'string' ||
    (holder.fresh !== undefined && holder.fresh !== true)
  ) {
    return undefined;
  }
  return holder as ClaimHolder;
}

/**
 * Whether a claim is known to be dead: taken on this host by a process that no longer runs (a run
 * killed with SIGKILL). A claim from another host is taken to be alive: nothing here can tell.
 */
export function claimIsStale(holder: ClaimHolder, host: string, running: (pid: number) => boolean): boolean {
  return holder.host === host && !running(holder.pid);
}

/** For messages: "a bundle run (pid 42 on build-1, since 2026-12-06T19:00:00.000Z)". */
export function describeHolder(holder: ClaimHolder): string {
  const what =
    holder.action === 'delete'
      ? 'a delete-bundle run'
      : `${holder.action === 'upload' ? 'an' : 'a'} ${holder.action} run`;
  return `${what} (pid ${holder.pid} on ${holder.host}, since ${holder.since})`;
}
