/** EC2's view of EBS snapshots: DescribeSnapshots and DeleteSnapshot (snapshots are written through the EBS direct APIs). */
import { AwsError } from './errors';
import { Ec2Action, Ec2Context, paginate } from './ec2Context';
import { tagSet } from './ec2Images';
import { filters, passesFilters, required, scalarList } from './ec2Params';
import { LocalAwsState, SnapshotRecord } from './state';
import { el, items, opt, XmlContent } from './xml';

const SNAPSHOT_ID = /^snap-([0-9a-f]{8}|[0-9a-f]{17})$/;

/** What EC2 shows as the volume of a snapshot that was not taken from one (the EBS direct APIs). */
const NO_VOLUME = 'vol-ffffffff';

const SNAPSHOT_FILTERS = [
  'description',
  'encrypted',
  'owner-id',
  'progress',
  'snapshot-id',
  'start-time',
  'status',
  'volume-id',
  'volume-size',
];

export function checkSnapshotId(id: string): void {
  if (!SNAPSHOT_ID.test(id))
    throw new AwsError(400, 'InvalidSnapshotID.Malformed', `Invalid id: "${id}" (expecting "snap-...")`);
}

export function snapshotsNotFound(ids: readonly string[]): AwsError {
  return new AwsError(
    400,
    'InvalidSnapshot.NotFound',
    ids.length === 1 ? `The snapshot '${ids[0]}' does not exist.` : `The snapshots '${ids.join(', ')}' do not exist.`,
  );
}

/** The snapshot an id names, or undefined when EC2 would not know it (deleted, never created, or still hidden by a fault). */
export function lookUpSnapshot(state: LocalAwsState, id: string): SnapshotRecord | undefined {
  checkSnapshotId(id);
  const snapshot = state.snapshots.get(id);
  if (!snapshot || state.isHidden(id, true)) return undefined;
  return snapshot;
}

function progress(state: LocalAwsState, snapshot: SnapshotRecord): string {
  const current = state.snapshotState(snapshot).state;
  if (current === 'completed') return '100%';
  return `${snapshot.progress ?? 0}%`;
}

function renderSnapshot(state: LocalAwsState, snapshot: SnapshotRecord): XmlContent {
  const current = state.snapshotState(snapshot);
  return [
    el('snapshotId', snapshot.snapshotId),
    el('volumeId', NO_VOLUME),
    el('status', current.state),
    current.state === 'error' ? el('statusMessage', current.reason?.message ?? '') : undefined,
    el('startTime', snapshot.startTime.toISOString()),
    el('progress', progress(state, snapshot)),
    el('ownerId', snapshot.ownerId),
    el('volumeSize', snapshot.volumeSizeGiB),
    opt('description', snapshot.description),
    el('encrypted', snapshot.encrypted),
    opt('kmsKeyId', snapshot.kmsKeyArn),
    tagSet(snapshot.tags),
    el('storageTier', 'standard'),
  ];
}

export const describeSnapshots: Ec2Action = (context: Ec2Context) => {
  const { state, params } = context;
  const ids = scalarList(params, 'SnapshotId');
  const owners = scalarList(params, 'Owner');
  const filterList = filters(params);
  let candidates: SnapshotRecord[];
  if (ids.length > 0) {
    ids.forEach(checkSnapshotId);
    const missing: string[] = [];
    candidates = [];
    for (const id of ids) {
      const snapshot = lookUpSnapshot(state, id);
      if (snapshot) candidates.push(snapshot);
      else missing.push(id);
    }
    if (missing.length > 0) throw snapshotsNotFound(missing);
  } else {
    candidates = [...state.snapshots.values()].filter((snapshot) => !state.isHidden(snapshot.snapshotId, false));
  }
  const selected = candidates.filter((snapshot) => {
    if (
      owners.length > 0 &&
      !owners.some((owner) =>
        owner === 'self' ? snapshot.ownerId === state.config.accountId : snapshot.ownerId === owner,
      )
    )
      return false;
    const fields: Record<string, string[]> = {
      description: snapshot.description === undefined ? [] : [snapshot.description],
      encrypted: [String(snapshot.encrypted)],
      'owner-id': [snapshot.ownerId],
      progress: [progress(state, snapshot)],
      'snapshot-id': [snapshot.snapshotId],
      'start-time': [snapshot.startTime.toISOString()],
      status: [state.snapshotState(snapshot).state],
      'volume-id': [NO_VOLUME],
      'volume-size': [String(snapshot.volumeSizeGiB)],
    };
    return passesFilters(filterList, fields, snapshot.tags, SNAPSHOT_FILTERS);
  });
  const { page, nextToken } = paginate(context, selected, ids.length > 0);
  return [items('snapshotSet', page, (snapshot) => renderSnapshot(state, snapshot)), opt('nextToken', nextToken)];
};

/** A snapshot that is the root of a registered AMI cannot be deleted (InvalidSnapshot.InUse). */
export const deleteSnapshot: Ec2Action = (context) => {
  const { state, params } = context;
  const id = required(params, 'SnapshotId');
  const snapshot = lookUpSnapshot(state, id);
  if (!snapshot) throw snapshotsNotFound([id]);
  const user = state.imagesUsingSnapshot(id)[0];
  if (user)
    throw new AwsError(400, 'InvalidSnapshot.InUse', `The snapshot ${id} is currently in use by ${user.imageId}`);
  state.snapshots.delete(id);
  return el('return', true);
};
