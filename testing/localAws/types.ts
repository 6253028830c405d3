/** Public shapes of the local AWS: options, recorded requests, state snapshots and fault rules. */

export type ServiceName = 's3' | 'ec2' | 'ebs' | 'sts';

export interface LocalAwsOptions {
  /** The EC2 region the local AWS serves, and the default S3 region. Default 'us-east-1'. */
  region?: string;
  /** The account every credential belongs to. Default '123456789012'. */
  accountId?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  /** Delay from pending to running. Default 50 ms. */
  instancePendingMs?: number;
  /** Delay from shutting-down to terminated. Default 50 ms. */
  instanceShuttingDownMs?: number;
  /** Delay from pending to available for a registered image. Default 20 ms. */
  imagePendingMs?: number;
  /** Delay from CompleteSnapshot to completed (or error) for a snapshot written through the EBS direct APIs. Default 20 ms. */
  snapshotCompletingMs?: number;
  /** How long a terminated instance stays visible to DescribeInstances. Default one hour, as on AWS. */
  terminatedVisibleMs?: number;
  /** Delay after running before GetConsoleOutput without `Latest` shows the console. Default 100 ms. */
  consolePostMs?: number;
  /** Delay after running before DescribeInstanceStatus's reachability checks leave `initializing`. Default 100 ms. */
  statusCheckMs?: number;
  /** A volume modification's time in `modifying` (default 50 ms), then in `optimizing` (default 100 ms). */
  volumeModifyingMs?: number;
  volumeOptimizingMs?: number;
  /**
   * Give instances addresses in 127.0.0.0/8 (private 127.31.x.y, public 127.54.x.y) instead of
   * 172.31.x.y and 54.x.y.z, so that the ports a console script names are really listened on there
   * once the instance runs, and a TCP connection to any other port is refused. Default false.
   */
  loopbackAddresses?: boolean;
  /**
   * The stand-in EC2 bundling certificate and its private key (PEM). Without it, one is made the
   * first time `ec2Certificate` is read. Bundles sealed for it are booted for real (PV-GRUB's work).
   */
  ec2Identity?: { certificatePem: string; privateKeyPem: string };
  /** Port to listen on (127.0.0.1). Default 0: any free port. */
  port?: number;
}

export interface RecordedRequest {
  service: ServiceName;
  /** The SDK command name without "Command": 'PutObject', 'RunInstances', … */
  operation: string;
  method: string;
  /** The path exactly as received, still percent-encoded. */
  path: string;
  query: Record<string, string>;
  /** EC2: every form field of the body. EBS: the path parameters (SnapshotId, BlockIndex). S3: empty. */
  params: Record<string, string>;
  /** S3 only. */
  bucket?: string;
  /** S3 only, decoded. */
  key?: string;
  /** Lower-case header names. */
  headers: Record<string, string>;
  /** The access key that signed it, once the signature checked out. */
  accessKeyId?: string;
  /** Bytes of body received, as sent on the wire (aws-chunked framing included). */
  bodyBytes: number;
  /** HTTP status answered; 0 while in flight, and for a connection reset by a fault. */
  status: number;
  errorCode?: string;
  requestId: string;
  time: Date;
  /** The injected fault that decided the answer, if any. */
  fault?: FaultKind;
}

export type ObjectOwnership = 'BucketOwnerEnforced' | 'ObjectWriter' | 'BucketOwnerPreferred';

export interface BucketOptions {
  region?: string;
  /** When absent, the bucket behaves like a bucket created before 2023 that never had ownership controls set. */
  objectOwnership?: ObjectOwnership;
  /**
   * Block Public Access's BlockPublicAcls: a public canned ACL (public-read, public-read-write,
   * authenticated-read) is refused with 403 AccessDenied. Default: on when objectOwnership is given
   * (S3's default for buckets created since April 2023), off for a bucket from before.
   */
  blockPublicAcls?: boolean;
}

export interface LocalObjectSummary {
  key: string;
  size: number;
  /** Lower-case hex MD5 of the stored (decoded) data. */
  md5: string;
  acl?: string;
}

export type ImageState = 'pending' | 'available' | 'failed' | 'deregistered';

export interface StateReason {
  code: string;
  message: string;
}

export interface LocalBlockDeviceMapping {
  deviceName: string;
  virtualName?: string;
  noDevice?: boolean;
  ebs?: Record<string, string>;
}

export interface LocalImage {
  imageId: string;
  name: string;
  description?: string;
  /** ImageLocation as given to RegisterImage: `bucket/key`. */
  location: string;
  state: ImageState;
  stateReason?: StateReason;
  ownerId: string;
  imageType: 'machine' | 'kernel' | 'ramdisk';
  architecture: string;
  virtualizationType: 'paravirtual' | 'hvm';
  kernelId?: string;
  ramdiskId?: string;
  rootDeviceName: string;
  rootDeviceType: 'instance-store' | 'ebs';
  blockDeviceMappings: LocalBlockDeviceMapping[];
  tags: Record<string, string>;
  creationDate: string;
  enaSupport: boolean;
  bootMode?: string;
  imdsSupport?: string;
}

export type SnapshotState = 'pending' | 'completed' | 'error';

export interface LocalSnapshot {
  snapshotId: string;
  state: SnapshotState;
  /** EC2's StateMessage, set in the error state. */
  stateMessage?: string;
  ownerId: string;
  volumeSizeGiB: number;
  description?: string;
  encrypted: boolean;
  kmsKeyArn?: string;
  parentSnapshotId?: string;
  tags: Record<string, string>;
  clientToken?: string;
  /** StartSnapshot's Timeout, in minutes. */
  timeoutMinutes: number;
  startTime: string;
  /** Indexes of the blocks holding data (written, or inherited from the parent), ascending. */
  blockIndexes: number[];
  /** PutSnapshotBlock requests accepted. */
  blocksWritten: number;
  /** What CompleteSnapshot said, once it was called. */
  completion?: {
    changedBlocksCount: number;
    checksum?: string;
    checksumAlgorithm?: string;
    aggregationMethod?: string;
  };
}

export type InstanceStateName = 'pending' | 'running' | 'shutting-down' | 'terminated' | 'stopping' | 'stopped';

export interface LocalInstance {
  instanceId: string;
  reservationId: string;
  imageId: string;
  instanceType: string;
  state: InstanceStateName;
  stateReason?: StateReason;
  architecture: string;
  virtualizationType: 'paravirtual' | 'hvm';
  kernelId?: string;
  ramdiskId?: string;
  keyName?: string;
  securityGroupIds: string[];
  subnetId: string;
  /** User data decoded from base64, when some was given. */
  userData?: Buffer;
  httpTokens: 'optional' | 'required';
  tags: Record<string, string>;
  clientToken: string;
  launchTime: string;
  amiLaunchIndex: number;
  rootDeviceType: 'instance-store' | 'ebs';
  /** The ARN of the instance profile associated, if any. */
  iamInstanceProfileArn?: string;
}

export type FaultKind = FaultRule['kind'];

export interface FaultScope {
  service?: ServiceName;
  /** Operation name as recorded ('PutObject', 'RunInstances'), or '*' for any. */
  operation: string;
  /** How many matching requests (or, for the state faults, created resources) it affects. Default: unlimited. */
  times?: number;
  /** Extra condition on the recorded request. S3 reset rules test it before the body is read (bodyBytes still 0). */
  match?: (request: RecordedRequest) => boolean;
}

export type FaultRule = FaultScope &
  (
    | { kind: 'status'; status: number; code: string; message?: string }
    /** EC2: 400 RequestLimitExceeded. S3: 503 SlowDown. EBS: 400 RequestThrottledException. */
    | { kind: 'throttle' }
    /** Destroys the socket without answering, after reading `afterBytes` of the body (default: half of it). */
    | { kind: 'reset'; afterBytes?: number }
    /** Carries the request out, then destroys the socket instead of answering: the answer is lost (the client retries what already happened). */
    | { kind: 'answerLost' }
    /**
     * Holds the request `ms` before it is carried out, and, with `until`, also until that promise
     * settles: a test then lets the request go at the moment it chooses.
     */
    | { kind: 'latency'; ms: number; until?: Promise<unknown> }
    /**
     * On RegisterImage, RunInstances or StartSnapshot: the new ids stay unknown
     * (InvalidAMIID.NotFound / InvalidInstanceID.NotFound; for a snapshot ResourceNotFoundException
     * from the EBS direct APIs and InvalidSnapshot.NotFound from EC2) for `forMs` milliseconds and/or
     * the next `forCalls` calls naming them. Default: one call.
     */
    | { kind: 'notFoundAfterCreate'; forMs?: number; forCalls?: number }
    /** On RegisterImage or RunInstances: new images or instances never leave pending. On CompleteSnapshot: the snapshot never leaves pending. */
    | { kind: 'stuckPending' }
    /** On RegisterImage: the image goes from pending to failed, with this state reason. */
    | { kind: 'imageFails'; code?: string; message?: string }
    /** On CompleteSnapshot: the snapshot goes from pending to error, with this StateMessage. */
    | { kind: 'snapshotFails'; message?: string }
  );

export interface InjectedFault {
  readonly rule: FaultRule;
  /** Requests (or resources) affected so far. */
  readonly hits: number;
  remove(): void;
}
