/**
 * Everything the local AWS remembers: buckets and objects, images, instances and reservations, snapshots
 * (block data kept sparsely: only blocks written).
 * Lifecycle states are timelines evaluated against the clock when read, so no timer is ever left
 * running.
 */
import { randomBytes } from 'crypto';
import type { PrivateKey } from '../../provider/bundle/keys';
import { ChecksumAlgorithm, md5Hex } from './checksums';
import { AMAZON_AKI_OWNER, pvGrubKernels } from './catalog';
import { InstancePorts } from './ec2Ports';
import type { RoleRecord, SessionRecord } from './sts';
import {
  LocalBlockDeviceMapping,
  ImageState,
  InstanceStateName,
  ObjectOwnership,
  SnapshotState,
  StateReason,
} from './types';

export interface StateConfig {
  region: string;
  accountId: string;
  instancePendingMs: number;
  instanceShuttingDownMs: number;
  imagePendingMs: number;
  snapshotCompletingMs: number;
  terminatedVisibleMs: number;
  /** Delay after running before GetConsoleOutput without Latest shows the console (EC2 posts it later). */
  consolePostMs: number;
  /** Delay after running before the reachability checks pass or fail. */
  statusCheckMs: number;
  /** A volume modification's time in `modifying`, then in `optimizing`, before `completed`. */
  volumeModifyingMs: number;
  volumeOptimizingMs: number;
  /** Instances get addresses in 127.0.0.0/8, where scripted ports are really listened on (ec2Ports.ts). */
  loopbackAddresses: boolean;
}

/** What a test (or the demo) makes a kernel or an image print once it boots. */
export interface ConsoleScript {
  lines: string[];
  /** Whether the booted system answers the instance reachability check. Default true. */
  reachable?: boolean;
  /** TCP ports the booted system listens on, on the instance's addresses (needs `loopbackAddresses`). */
  ports?: number[];
  /** Delay after running before it listens on them. Default 0. */
  listenAfterMs?: number;
}

/** An instance's serial console, once the local AWS has worked out its boot. */
export interface ConsoleRecord {
  lines: string[];
  reachable: boolean;
  /** False while the bundle is still being read. */
  settled: boolean;
  /** The ports the booted system listens on, and from when after running. */
  listen?: { ports: number[]; afterMs: number };
}

export interface StoredObject {
  key: string;
  body: Buffer;
  md5: string;
  lastModified: Date;
  contentType: string;
  contentEncoding?: string;
  acl?: string;
  metadata: Record<string, string>;
  checksum?: { algorithm: ChecksumAlgorithm; value: string };
}

export interface Bucket {
  name: string;
  region: string;
  creationDate: Date;
  /** Undefined: ownership controls were never set (a bucket from before April 2023). */
  ownership?: ObjectOwnership;
  /** Block Public Access's BlockPublicAcls: requests carrying a public ACL are refused. */
  blockPublicAcls: boolean;
  objects: Map<string, StoredObject>;
  /** Key → the state's change counter when the key was last written or deleted (for conditional writes). */
  changes: Map<string, number>;
}

export interface TimelineEntry<S> {
  at: number;
  state: S;
  reason?: StateReason;
}

/** What the image was registered from, to notice later changes to the bundle. */
export interface BundleSnapshot {
  bucket: string;
  manifestKey: string;
  manifestMd5: string;
  /** Part keys with the SHA-1 the manifest gives for each. */
  parts: Array<{ key: string; sha1: string }>;
}

export interface ImageRecord {
  imageId: string;
  name: string;
  description?: string;
  location: string;
  ownerId: string;
  ownerAlias?: string;
  isPublic: boolean;
  imageType: 'machine' | 'kernel' | 'ramdisk';
  architecture: string;
  virtualizationType: 'paravirtual' | 'hvm';
  kernelId?: string;
  ramdiskId?: string;
  rootDeviceName: string;
  blockDeviceMappings: LocalBlockDeviceMapping[];
  tags: Map<string, string>;
  creationDate: string;
  timeline: TimelineEntry<ImageState>[];
  /** Amazon's kernel images, present from the start. */
  seeded: boolean;
  bundle?: BundleSnapshot;
  rootDeviceType: 'instance-store' | 'ebs';
  /** EBS-backed images: the snapshot of the root device. */
  rootSnapshotId?: string;
  enaSupport: boolean;
  bootMode?: string;
  imdsSupport?: string;
}

export interface SnapshotRecord {
  snapshotId: string;
  ownerId: string;
  volumeSizeGiB: number;
  description?: string;
  tags: Map<string, string>;
  encrypted: boolean;
  kmsKeyArn?: string;
  parentSnapshotId?: string;
  clientToken?: string;
  /** StartSnapshot's parameters, to recognise a retried request by its ClientToken. */
  fingerprint: string;
  timeoutMinutes: number;
  startTime: Date;
  /** Block index → 512 KiB of data; blocks never written are absent (they read as zeros). */
  blocks: Map<number, Buffer>;
  /** Block index → SHA-256 digest of the block as written. */
  digests: Map<number, Buffer>;
  /** PutSnapshotBlock requests accepted. */
  blocksWritten: number;
  /** The last x-amz-Progress a block came with. */
  progress?: number;
  completion?: {
    changedBlocksCount: number;
    checksum?: string;
    checksumAlgorithm?: string;
    aggregationMethod?: string;
  };
  timeline: TimelineEntry<SnapshotState>[];
}

export interface InstanceRecord {
  instanceId: string;
  reservationId: string;
  imageId: string;
  instanceType: string;
  architecture: string;
  virtualizationType: 'paravirtual' | 'hvm';
  kernelId?: string;
  ramdiskId?: string;
  rootDeviceName: string;
  rootDeviceType: 'instance-store' | 'ebs';
  /** legacy-bios or uefi: the mode the instance started in. */
  bootMode: string;
  keyName?: string;
  securityGroupIds: string[];
  subnetId: string;
  userData?: Buffer;
  httpTokens: 'optional' | 'required';
  tags: Map<string, string>;
  clientToken: string;
  launchTime: Date;
  amiLaunchIndex: number;
  /** Last octets of the private address, fixed at launch. */
  addressIndex: number;
  timeline: TimelineEntry<InstanceStateName>[];
  /** What RunInstances set and ModifyInstanceAttribute and its kin change. */
  settings: InstanceSettings;
}

/** An instance's settings beyond its identity (`aws.ec2.Instance`'s inputs, as EC2 keeps them). */
export interface InstanceSettings {
  availabilityZone: string;
  /** The primary private address asked for at launch (otherwise derived from the address index). */
  privateIp?: string;
  /** Whether the primary interface has a public address while running. */
  publicIp: boolean;
  /** Last octets of the public address: a new one after each start. */
  publicAddressIndex: number;
  disableApiTermination: boolean;
  shutdownBehavior: 'stop' | 'terminate';
  monitoring: 'disabled' | 'enabled';
  /** Burstable types only. */
  cpuCredits?: 'standard' | 'unlimited';
  httpEndpoint: 'enabled' | 'disabled';
  httpPutResponseHopLimit: number;
  instanceMetadataTags: 'enabled' | 'disabled';
  placementGroup?: string;
  iamInstanceProfileArn?: string;
  /** The association of that profile (iip-assoc-…), new at each association or replacement. */
  iamInstanceProfileAssociationId?: string;
  /** EBS-backed instances: the root volume made at launch. */
  rootVolume?: RootVolume;
}

export interface RootVolume {
  volumeId: string;
  sizeGiB: number;
  volumeType: string;
  iops?: number;
  throughput?: number;
  encrypted: boolean;
  kmsKeyId?: string;
  deleteOnTermination: boolean;
}

/** A volume's performance settings, before and after a modification. */
export interface VolumeConfiguration {
  sizeGiB: number;
  volumeType: string;
  iops?: number;
  throughput?: number;
}

export interface VolumeModificationRecord {
  startTime: number;
  original: VolumeConfiguration;
  target: VolumeConfiguration;
}

/** An EBS volume: an instance's root volume (the same object as its settings' rootVolume), attached at launch. */
export interface VolumeRecord {
  volume: RootVolume;
  instanceId: string;
  device: string;
  availabilityZone: string;
  snapshotId?: string;
  createTime: number;
  /** ModifyVolume's requests, oldest first. */
  modifications: VolumeModificationRecord[];
}

export interface Reservation {
  reservationId: string;
  ownerId: string;
  instanceIds: string[];
}

export interface IdempotencyRecord {
  reservationId: string;
  fingerprint: string;
}

interface Hiding {
  until: number;
  callsLeft: number;
}

export function stateAt<S>(timeline: readonly TimelineEntry<S>[], now: number): TimelineEntry<S> {
  let current = timeline[0];
  for (const entry of timeline) if (entry.at <= now) current = entry;
  return current;
}

export class LocalAwsState {
  readonly buckets = new Map<string, Bucket>();
  readonly images = new Map<string, ImageRecord>();
  readonly instances = new Map<string, InstanceRecord>();
  readonly reservations = new Map<string, Reservation>();
  readonly clientTokens = new Map<string, IdempotencyRecord>();
  readonly snapshots = new Map<string, SnapshotRecord>();
  /** EBS volumes by id (root volumes, made by RunInstances). */
  readonly volumes = new Map<string, VolumeRecord>();
  /** StartSnapshot ClientToken → snapshot id. */
  readonly snapshotTokens = new Map<string, string>();
  /** `kernel:SHA256` or `image:AMI` → what it prints when it boots. */
  readonly consoleScripts = new Map<string, ConsoleScript>();
  /** Instance id → its console. */
  readonly consoles = new Map<string, ConsoleRecord>();
  /** Instance ids whose instance status check a test impaired. */
  readonly impaired = new Set<string>();
  /** Roles AssumeRole can assume, by ARN, and the temporary credentials it issued, by access key id. */
  readonly roles = new Map<string, RoleRecord>();
  readonly sessions = new Map<string, SessionRecord>();
  /** The TCP listeners of booted instances. */
  readonly ports: InstancePorts;
  /** What exists besides the defaults: key pair names, security group ids, subnet ids, instance profile names. */
  readonly keyPairs = new Set<string>();
  readonly securityGroups = new Set<string>();
  readonly subnets = new Set<string>();
  /** MapPublicIpOnLaunch of a subnet made by a test, or of a default subnet a test changed (default subnets: true). */
  readonly subnetPublicIp = new Map<string, boolean>();
  /** Volume id → its tags (root volumes of EBS-backed instances, tagged at launch or by CreateTags). */
  readonly volumeTags = new Map<string, Map<string, string>>();
  readonly instanceProfiles = new Set<string>();
  /** Placement group names (none exist by default). */
  readonly placementGroups = new Set<string>();
  /** The private key of the local AWS's stand-in EC2 certificate, once one exists. */
  ec2Key?: PrivateKey;
  private readonly hidden = new Map<string, Hiding>();
  private addresses = 0;
  /** Counts every object write and delete: a request notes it on arrival to see what changed while it was in flight. */
  changeCount = 0;

  constructor(readonly config: StateConfig) {
    this.ports = new InstancePorts(this);
    for (const kernel of pvGrubKernels(config.region)) {
      this.images.set(kernel.imageId, {
        imageId: kernel.imageId,
        name: kernel.name,
        description: `PV-GRUB release ${kernel.name.replace(/^.*_(\d\.\d\d)-.*$/, '$1')}, ${kernel.architecture === 'x86_64' ? '64' : '32'}-bit`,
        location: `pv-grub/${kernel.name}.manifest.xml`,
        ownerId: AMAZON_AKI_OWNER,
        ownerAlias: 'amazon',
        isPublic: true,
        imageType: 'kernel',
        architecture: kernel.architecture,
        virtualizationType: 'paravirtual',
        rootDeviceName: '/dev/sda1',
        blockDeviceMappings: [],
        tags: new Map(),
        creationDate: kernel.creationDate,
        timeline: [{ at: 0, state: 'available' }],
        seeded: true,
        rootDeviceType: 'instance-store',
        enaSupport: false,
      });
    }
  }

  now(): number {
    return Date.now();
  }

  /** `prefix-` followed by 17 lower-case hex digits, the long EC2 id format. */
  newId(prefix: string): string {
    return `${prefix}-${randomBytes(9).toString('hex').slice(0, 17)}`;
  }

  nextAddressIndex(): number {
    return ++this.addresses;
  }

  // S3

  createBucket(
    name: string,
    region: string,
    ownership: ObjectOwnership | undefined,
    blockPublicAcls: boolean = ownership !== undefined,
  ): Bucket {
    const bucket: Bucket = {
      name,
      region,
      creationDate: new Date(Math.floor(this.now() / 1000) * 1000),
      ownership,
      blockPublicAcls,
      objects: new Map(),
      changes: new Map(),
    };
    this.buckets.set(name, bucket);
    return bucket;
  }

  storeObject(bucket: Bucket, object: Omit<StoredObject, 'md5' | 'lastModified'>): StoredObject {
    const stored: StoredObject = {
      ...object,
      md5: md5Hex(object.body),
      lastModified: new Date(Math.floor(this.now() / 1000) * 1000),
    };
    bucket.objects.set(object.key, stored);
    bucket.changes.set(object.key, ++this.changeCount);
    return stored;
  }

  removeObject(bucket: Bucket, key: string): void {
    if (bucket.objects.delete(key)) bucket.changes.set(key, ++this.changeCount);
  }

  /** Whether the key was written or deleted after the change count `since`. */
  changedSince(bucket: Bucket, key: string, since: number): boolean {
    return (bucket.changes.get(key) ?? 0) > since;
  }

  // EC2 lifecycle

  imageState(image: ImageRecord): TimelineEntry<ImageState> {
    return stateAt(image.timeline, this.now());
  }

  instanceState(instance: InstanceRecord): TimelineEntry<InstanceStateName> {
    return stateAt(instance.timeline, this.now());
  }

  snapshotState(snapshot: SnapshotRecord): TimelineEntry<SnapshotState> {
    return stateAt(snapshot.timeline, this.now());
  }

  /** Images (not deregistered) whose root device is this snapshot. */
  imagesUsingSnapshot(snapshotId: string): ImageRecord[] {
    return [...this.images.values()].filter(
      (image) => image.rootSnapshotId === snapshotId && this.imageState(image).state !== 'deregistered',
    );
  }

  /** Terminated instances disappear from every answer some time after they terminate. */
  instanceGone(instance: InstanceRecord): boolean {
    const current = this.instanceState(instance);
    return current.state === 'terminated' && this.now() - current.at > this.config.terminatedVisibleMs;
  }

  hide(id: string, forMs: number | undefined, forCalls: number | undefined): void {
    const calls = forMs === undefined && forCalls === undefined ? 1 : (forCalls ?? 0);
    this.hidden.set(id, { until: this.now() + (forMs ?? 0), callsLeft: calls });
  }

  /**
   * Whether an id is still unknown to the API (eventual consistency after creation). A lookup that
   * names the id uses up one of its hidden calls; a listing does not.
   */
  isHidden(id: string, namedLookup: boolean): boolean {
    const hiding = this.hidden.get(id);
    if (!hiding) return false;
    const hidden = hiding.callsLeft > 0 || this.now() < hiding.until;
    if (!hidden) {
      this.hidden.delete(id);
      return false;
    }
    if (namedLookup && hiding.callsLeft > 0) hiding.callsLeft--;
    return true;
  }
}
