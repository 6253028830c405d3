/**
 * The fake AWS of the tests (tests/fakeAws) for the upload and snapshot benchmarks, behind the few
 * calls they need, either on a worker thread of this process (the default) or on the main thread.
 *
 * On the main thread the fake's own work (reading each 10 MiB body, checking its SHA-256 and MD5,
 * storing it) runs on the uploader's event loop, so it is serialized with the uploader's work and
 * caps the speed-up any concurrency can show; a real S3 does that work on other machines. On a worker
 * thread it runs beside the uploader, as a server would. `--upload-fake main` keeps it on the main
 * thread, to see the difference.
 */
import { createHash } from 'crypto';
import * as path from 'path';
import { Worker } from 'worker_threads';
import { LocalAws, LocalObjectSummary } from '../testing/localAws';

export type FakeThread = 'worker' | 'main';

export interface PutCounts {
  /** Every PutObject the fake received for the bucket, answered or not. */
  total: number;
  /** Answered 200. */
  ok: number;
  /** Connections reset by an injected fault. */
  reset: number;
}

/** What the benchmark asks of the fake; the same code answers on either thread. */
export type FakeCall =
  | { op: 'createBucket'; bucket: string }
  | { op: 'setPutLatency'; ms: number }
  | { op: 'resetPutOnce'; key: string }
  | { op: 'objects'; bucket: string }
  | { op: 'putRequests'; bucket: string }
  | { op: 'emptyBucket'; bucket: string }
  | { op: 'setBlockLatency'; ms: number }
  | { op: 'snapshotCheck'; snapshotId: string }
  | { op: 'deleteSnapshot'; snapshotId: string };

/** What the snapshot benchmark checks of each snapshot. */
export interface SnapshotCheck {
  state?: string;
  /** Hex SHA-256 of the volume from byte 0 to the last block holding data. */
  volumeSha256: string;
  volumeBytes: number;
  blocksHeld: number;
  /** PutSnapshotBlock requests the fake received for the snapshot, and how many it answered 201. */
  putRequests: number;
  putsOk: number;
}

interface FakeResults {
  createBucket: void;
  setPutLatency: void;
  resetPutOnce: void;
  objects: LocalObjectSummary[];
  putRequests: PutCounts;
  emptyBucket: void;
  setBlockLatency: void;
  snapshotCheck: SnapshotCheck;
  deleteSnapshot: void;
}

type Op = FakeCall['op'];
type CallOf<K extends Op> = Extract<FakeCall, { op: K }>;

export function applyCall(fake: LocalAws, call: FakeCall): FakeResults[Op] {
  switch (call.op) {
    case 'createBucket':
      // ACLs enabled, as the uploader's aws-exec-read default needs.
      fake.createBucket(call.bucket, { objectOwnership: 'ObjectWriter' });
      return undefined;
    case 'setPutLatency':
      fake.faults.clear();
      if (call.ms > 0) fake.faults.inject({ service: 's3', operation: 'PutObject', kind: 'latency', ms: call.ms });
      return undefined;
    case 'resetPutOnce': {
      const key = call.key;
      fake.faults.inject({
        service: 's3',
        operation: 'PutObject',
        kind: 'reset',
        times: 1,
        match: (request) => request.key === key,
      });
      return undefined;
    }
    case 'objects':
      return fake.objects(call.bucket);
    case 'putRequests': {
      // The bundle's objects only: a run's claim on the place (NAME.resume.json) is its bookkeeping.
      const puts = fake.requests.filter(
        (request) =>
          request.operation === 'PutObject' && request.bucket === call.bucket && !request.key?.endsWith('.resume.json'),
      );
      return {
        total: puts.length,
        ok: puts.filter((request) => request.status === 200).length,
        reset: puts.filter((request) => request.fault === 'reset').length,
      };
    }
    case 'emptyBucket':
      for (const object of fake.objects(call.bucket)) fake.deleteObjectDirect(call.bucket, object.key);
      return undefined;
    case 'setBlockLatency':
      fake.faults.clear();
      if (call.ms > 0)
        fake.faults.inject({ service: 'ebs', operation: 'PutSnapshotBlock', kind: 'latency', ms: call.ms });
      return undefined;
    case 'snapshotCheck': {
      const volume = fake.snapshotBytes(call.snapshotId);
      const puts = fake.requests.filter(
        (request) => request.operation === 'PutSnapshotBlock' && request.params.SnapshotId === call.snapshotId,
      );
      return {
        state: fake.snapshot(call.snapshotId)?.state,
        volumeSha256: createHash('sha256').update(volume).digest('hex'),
        volumeBytes: volume.length,
        blocksHeld: fake.snapshot(call.snapshotId)?.blockIndexes.length ?? 0,
        putRequests: puts.length,
        putsOk: puts.filter((request) => request.status === 201).length,
      };
    }
    case 'deleteSnapshot':
      // Snapshots hold their blocks in memory: drop each one once checked, and the requests recorded for it.
      fake.deleteSnapshotDirect(call.snapshotId);
      fake.clearRequests();
      return undefined;
  }
}

export interface FakeS3 {
  readonly thread: FakeThread;
  readonly endpoint: string;
  readonly region: string;
  readonly credentials: { accessKeyId: string; secretAccessKey: string };
  call<K extends Op>(call: CallOf<K>): Promise<FakeResults[K]>;
  stop(): Promise<void>;
}

/** Messages between this module and bench/fakeAwsWorker.ts. */
export interface WorkerReady {
  ready: { endpoint: string; region: string; credentials: { accessKeyId: string; secretAccessKey: string } };
}
export type WorkerRequest = { id: number; call: FakeCall } | { id: number; stop: true };
export type WorkerReply = { id: number; result: unknown } | { id: number; error: string };

async function onMainThread(): Promise<FakeS3> {
  const fake = await LocalAws.start();
  return {
    thread: 'main',
    endpoint: fake.endpoint,
    region: fake.region,
    credentials: fake.credentials,
    call: async <K extends Op>(call: CallOf<K>) => applyCall(fake, call) as FakeResults[K],
    stop: () => fake.stop(),
  };
}

async function onWorkerThread(): Promise<FakeS3> {
  const worker = new Worker(path.join(__dirname, 'fakeAwsWorker.js'));
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  let failure: Error | undefined;
  const failAll = (error: Error) => {
    failure ??= error;
    for (const waiter of pending.values()) waiter.reject(error);
    pending.clear();
  };
  const ready = await new Promise<WorkerReady['ready']>((resolve, reject) => {
    worker.once('error', reject);
    worker.once('message', (message: WorkerReady) => resolve(message.ready));
  });
  worker.on('error', (error) => failAll(new Error(`fake AWS worker: ${error.message}`)));
  worker.on('exit', (code) => failAll(new Error(`fake AWS worker exited (code ${code})`)));
  worker.on('message', (reply: WorkerReply) => {
    const waiter = pending.get(reply.id);
    if (!waiter) return;
    pending.delete(reply.id);
    if ('error' in reply) waiter.reject(new Error(`fake AWS worker: ${reply.error}`));
    else waiter.resolve(reply.result);
  });
  let nextId = 0;
  const send = (request: Omit<WorkerRequest, 'id'>): Promise<unknown> => {
    if (failure) return Promise.reject(failure);
    const id = nextId++;
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject });
      worker.postMessage({ id, ...request });
    });
  };
  return {
    thread: 'worker',
    ...ready,
    call: async <K extends Op>(call: CallOf<K>) => (await send({ call })) as FakeResults[K],
    stop: async () => {
      try {
        if (!failure) await send({ stop: true });
      } finally {
        await worker.terminate();
      }
    },
  };
}

export function startFakeS3(thread: FakeThread): Promise<FakeS3> {
  return thread === 'worker' ? onWorkerThread() : onMainThread();
}
