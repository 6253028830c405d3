/**
 * The local AWS: S3 (path-style), EC2 (Query API), the EBS direct APIs (REST-JSON) and STS (AssumeRole) on one HTTP
 * server on 127.0.0.1, spoken to by the real SDK clients and the AWS CLI. It checks SigV4 on every
 * request, keeps state in memory, records every request and can inject failures. What it models,
 * and how strictly, is in docs/LOCAL-AWS.md.
 */
import { randomBytes } from 'crypto';
import { createSigningIdentity } from '../../provider/bundle/identity';
import { readPrivateKey } from '../../provider/bundle/keys';
import { FaultInjector } from './faults';
import { LocalAwsServer } from './server';
import { isDefaultSubnet } from './ec2Subnets';
import { defaultSubnetOf } from './ec2LaunchSettings';
import { volumeTagsOf } from './ec2Tags';
import { ConsoleScript, LocalAwsState, ImageRecord, InstanceRecord, SnapshotRecord, TimelineEntry } from './state';
import {
  BucketOptions,
  LocalAwsOptions,
  LocalImage,
  LocalInstance,
  LocalObjectSummary,
  LocalSnapshot,
  InstanceStateName,
  RecordedRequest,
} from './types';

export * from './types';
export type { ConsoleScript } from './state';
export { FaultInjector } from './faults';
/** Lower-case hex MD5, the form `objects()` reports. */
export { md5Hex } from './checksums';

/** What an SDK client needs to talk to the local AWS (spread it into the client configuration). */
export interface LocalAwsClientConfig {
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  forcePathStyle: true;
}

export class LocalAws {
  readonly requests: RecordedRequest[] = [];
  readonly faults = new FaultInjector();
  readonly region: string;
  readonly accountId: string;
  readonly credentials: { accessKeyId: string; secretAccessKey: string };
  private readonly state: LocalAwsState;
  private ec2CertificatePem: string | undefined;
  private readonly server: LocalAwsServer;
  private port = 0;

  private constructor(options: LocalAwsOptions) {
    this.region = options.region ?? 'us-east-1';
    this.accountId = options.accountId ?? '123456789012';
    this.credentials = {
      accessKeyId: options.accessKeyId ?? 'AKIDLOCALAWS',
      secretAccessKey: options.secretAccessKey ?? 'local-aws-secret',
    };
    this.state = new LocalAwsState({
      region: this.region,
      accountId: this.accountId,
      instancePendingMs: options.instancePendingMs ?? 50,
      instanceShuttingDownMs: options.instanceShuttingDownMs ?? 50,
      imagePendingMs: options.imagePendingMs ?? 20,
      snapshotCompletingMs: options.snapshotCompletingMs ?? 20,
      terminatedVisibleMs: options.terminatedVisibleMs ?? 60 * 60 * 1000,
      consolePostMs: options.consolePostMs ?? 100,
      statusCheckMs: options.statusCheckMs ?? 100,
      volumeModifyingMs: options.volumeModifyingMs ?? 50,
      volumeOptimizingMs: options.volumeOptimizingMs ?? 100,
      loopbackAddresses: options.loopbackAddresses ?? false,
    });
    if (options.ec2Identity) this.useEc2Identity(options.ec2Identity.certificatePem, options.ec2Identity.privateKeyPem);
    this.server = new LocalAwsServer({
      state: this.state,
      faults: this.faults,
      requests: this.requests,
      secrets: new Map([[this.credentials.accessKeyId, this.credentials.secretAccessKey]]),
    });
  }

  static async start(options: LocalAwsOptions = {}): Promise<LocalAws> {
    const local = new LocalAws(options);
    local.port = await local.server.listen(options.port ?? 0);
    return local;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  clientConfig(): LocalAwsClientConfig {
    return { endpoint: this.endpoint, region: this.region, credentials: { ...this.credentials }, forcePathStyle: true };
  }

  clearRequests(): void {
    this.requests.length = 0;
  }

  async stop(): Promise<void> {
    await this.state.ports.closeAll();
    await this.server.close();
  }

  // S3 state

  createBucket(name: string, options: BucketOptions = {}): void {
    if (this.state.buckets.has(name)) throw new Error(`bucket ${name} already exists`);
    this.state.createBucket(name, options.region ?? this.region, options.objectOwnership, options.blockPublicAcls);
  }

  private bucket(name: string) {
    const bucket = this.state.buckets.get(name);
    if (!bucket) throw new Error(`no bucket ${name}`);
    return bucket;
  }

  /** The bucket's objects in key order. */
  objects(bucket: string): LocalObjectSummary[] {
    return [...this.bucket(bucket).objects.values()]
      .sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)))
      .map((object) => ({ key: object.key, size: object.body.length, md5: object.md5, acl: object.acl }));
  }

  getObject(bucket: string, key: string): Buffer | undefined {
    const object = this.state.buckets.get(bucket)?.objects.get(key);
    return object ? Buffer.from(object.body) : undefined;
  }

  /** Writes an object behind the client's back; an existing object keeps its ACL unless one is given. */
  putObjectDirect(bucket: string, key: string, body: Buffer, options: { acl?: string } = {}): void {
    const target = this.bucket(bucket);
    const previous = target.objects.get(key);
    this.state.storeObject(target, {
      key,
      body: Buffer.from(body),
      contentType: previous?.contentType ?? 'binary/octet-stream',
      acl: options.acl ?? previous?.acl,
      metadata: {},
    });
  }

  deleteObjectDirect(bucket: string, key: string): void {
    this.state.removeObject(this.bucket(bucket), key);
  }

  // EC2 state

  /** Registered images (not Amazon's seeded kernels), deregistered ones included. */
  images(): LocalImage[] {
    return [...this.state.images.values()].filter((image) => !image.seeded).map((image) => this.imageSnapshot(image));
  }

  instances(): LocalInstance[] {
    return [...this.state.instances.values()].map((instance) => this.instanceSnapshot(instance));
  }

  /**
   * Moves an instance to a state as if it happened outside the client; shutting-down, pending and
   * stopping continue on to terminated, running and stopped after the usual delays.
   */
  setInstanceStateDirect(instanceId: string, state: InstanceStateName): void {
    const instance = this.state.instances.get(instanceId);
    if (!instance) throw new Error(`no instance ${instanceId}`);
    const now = this.state.now();
    const reason = { code: 'Client.LocalAwsDirect', message: `Client.LocalAwsDirect: set to ${state} by the test` };
    const timeline: TimelineEntry<InstanceStateName>[] = [{ at: now, state, reason }];
    const { instancePendingMs, instanceShuttingDownMs } = this.state.config;
    if (state === 'pending') timeline.push({ at: now + instancePendingMs, state: 'running' });
    if (state === 'shutting-down') timeline.push({ at: now + instanceShuttingDownMs, state: 'terminated', reason });
    if (state === 'stopping') timeline.push({ at: now + instanceShuttingDownMs, state: 'stopped', reason });
    instance.timeline = timeline;
    if (state !== 'running') this.state.ports.close(instanceId);
  }

  // Console and status checks

  /**
   * The stand-in EC2 bundling certificate (PEM): bundles sealed for it (`ec2Certificate`) are booted
   * for real, PV-GRUB reading the restored image. Made on first use unless given at start.
   */
  get ec2Certificate(): string {
    if (!this.ec2CertificatePem) {
      const identity = createSigningIdentity('local AWS stand-in EC2 certificate', 3650, 2048);
      this.useEc2Identity(identity.certificatePem, identity.privateKeyPem);
    }
    return this.ec2CertificatePem as string;
  }

  private useEc2Identity(certificatePem: string, privateKeyPem: string): void {
    this.state.ec2Key = readPrivateKey(privateKeyPem, 'ec2Identity.privateKeyPem');
    this.ec2CertificatePem = certificatePem;
  }

  /**
   * What a kernel (by the SHA-256 of its uncompressed bytes: PV-GRUB boots it from an instance-store
   * bundle) or an image (EBS-backed, HVM, or a bundle the local AWS cannot open) prints on its console
   * once it boots, and whether it then answers the reachability check. Applies to instances launched
   * afterwards.
   */
  scriptConsole(target: { kernelSha256: string } | { imageId: string }, script: ConsoleScript): void {
    const key = 'kernelSha256' in target ? `kernel:${target.kernelSha256.toLowerCase()}` : `image:${target.imageId}`;
    if (script.ports && !this.state.config.loopbackAddresses)
      throw new Error('a script with ports needs the local AWS started with loopbackAddresses: true');
    for (const port of script.ports ?? [])
      if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`not a TCP port: ${port}`);
    this.state.consoleScripts.set(key, {
      lines: [...script.lines],
      reachable: script.reachable,
      ports: script.ports && [...script.ports],
      listenAfterMs: script.listenAfterMs,
    });
  }

  /** The whole console of an instance as the local AWS worked it out (undefined while the bundle is read). */
  consoleLines(instanceId: string): string[] | undefined {
    const record = this.state.consoles.get(instanceId);
    return record?.settled ? [...record.lines] : undefined;
  }

  /** Makes the instance reachability check of a running instance fail from now on. */
  impairInstanceDirect(instanceId: string): void {
    if (!this.state.instances.has(instanceId)) throw new Error(`no instance ${instanceId}`);
    this.state.impaired.add(instanceId);
  }

  // Network, key pairs and instance profiles (only their existence is modelled, and subnets' MapPublicIpOnLaunch)

  createKeyPairDirect(name: string): void {
    this.state.keyPairs.add(name);
  }

  /** A new security group; returns its id. */
  createSecurityGroupDirect(): string {
    const id = this.state.newId('sg');
    this.state.securityGroups.add(id);
    return id;
  }

  /**
   * A new subnet (in zone a); returns its id. Its MapPublicIpOnLaunch is false, as a subnet made
   * with CreateSubnet's is, unless `mapPublicIpOnLaunch` says otherwise.
   */
  createSubnetDirect(options: { mapPublicIpOnLaunch?: boolean } = {}): string {
    const id = this.state.newId('subnet');
    this.state.subnets.add(id);
    this.state.subnetPublicIp.set(id, options.mapPublicIpOnLaunch ?? false);
    return id;
  }

  /** Sets a subnet's MapPublicIpOnLaunch (as ModifySubnetAttribute does), a default subnet's too. */
  setSubnetMapPublicIpDirect(subnetId: string, value: boolean): void {
    if (!isDefaultSubnet(this.state, subnetId) && !this.state.subnets.has(subnetId))
      throw new Error(`no subnet ${subnetId}`);
    this.state.subnetPublicIp.set(subnetId, value);
  }

  /** The default subnet of a zone of the region (zone a when none is named). */
  defaultSubnetIdDirect(zone = `${this.region}a`): string {
    return defaultSubnetOf(this.state, zone);
  }

  /**
   * Gives a running instance a public address or takes it away, as associating an Elastic IP with an
   * instance that had none, or releasing one, does outside the program.
   */
  setPublicAddressDirect(instanceId: string, hasOne: boolean): void {
    const instance = this.state.instances.get(instanceId);
    if (!instance) throw new Error(`no instance ${instanceId}`);
    instance.settings.publicIp = hasOne;
  }

  /** The tags of a volume (a root volume made at launch), or undefined if there is no such volume. */
  volumeTagsDirect(volumeId: string): Record<string, string> | undefined {
    const tags = volumeTagsOf(this.state, volumeId);
    return tags && Object.fromEntries(tags);
  }

  /**
   * A role STS's AssumeRole can assume (any caller may: trust policies are not modelled), with the
   * external id it requires and its longest session (default 3600 s, as IAM's default); returns its ARN.
   */
  createRoleDirect(name: string, options: { externalId?: string; maxSessionDurationSeconds?: number } = {}): string {
    const arn = `arn:aws:iam::${this.accountId}:role/${name}`;
    this.state.roles.set(arn, {
      arn,
      roleId: `AROA${randomBytes(8).toString('hex').toUpperCase().slice(0, 17)}`,
      externalId: options.externalId,
      maxSessionDurationSeconds: options.maxSessionDurationSeconds ?? 3600,
    });
    return arn;
  }

  /** A new placement group of this name. */
  createPlacementGroupDirect(name: string): void {
    this.state.placementGroups.add(name);
  }

  /** A new instance profile; returns its ARN. */
  createInstanceProfileDirect(name: string): string {
    this.state.instanceProfiles.add(name);
    return `arn:aws:iam::${this.accountId}:instance-profile/${name}`;
  }

  deregisterImageDirect(imageId: string): void {
    const image = this.state.images.get(imageId);
    if (!image || image.seeded) throw new Error(`no registered image ${imageId}`);
    image.timeline = [{ at: this.state.now(), state: 'deregistered' }];
  }

  // EBS snapshots

  /** Every snapshot that exists (deleted ones are gone), in creation order. */
  snapshots(): LocalSnapshot[] {
    return [...this.state.snapshots.values()].map((snapshot) => this.snapshotView(snapshot));
  }

  snapshot(snapshotId: string): LocalSnapshot | undefined {
    const snapshot = this.state.snapshots.get(snapshotId);
    return snapshot ? this.snapshotView(snapshot) : undefined;
  }

  /**
   * The volume as the snapshot holds it, from byte 0 to the end of the last block holding data
   * (blocks never written read as zeros). Compare with the image padded with zeros to 512 KiB.
   */
  snapshotBytes(snapshotId: string): Buffer {
    const snapshot = this.state.snapshots.get(snapshotId);
    if (!snapshot) throw new Error(`no snapshot ${snapshotId}`);
    const indexes = [...snapshot.blocks.keys()];
    if (indexes.length === 0) return Buffer.alloc(0);
    const blockBytes = 512 * 1024;
    const volume = Buffer.alloc((Math.max(...indexes) + 1) * blockBytes);
    for (const [index, data] of snapshot.blocks) data.copy(volume, index * blockBytes);
    return volume;
  }

  /** Deletes a snapshot behind the client's back (even one an AMI uses, which EC2 itself refuses). */
  deleteSnapshotDirect(snapshotId: string): void {
    if (!this.state.snapshots.delete(snapshotId)) throw new Error(`no snapshot ${snapshotId}`);
  }

  private snapshotView(snapshot: SnapshotRecord): LocalSnapshot {
    const current = this.state.snapshotState(snapshot);
    return {
      snapshotId: snapshot.snapshotId,
      state: current.state,
      stateMessage: current.reason?.message,
      ownerId: snapshot.ownerId,
      volumeSizeGiB: snapshot.volumeSizeGiB,
      description: snapshot.description,
      encrypted: snapshot.encrypted,
      kmsKeyArn: snapshot.kmsKeyArn,
      parentSnapshotId: snapshot.parentSnapshotId,
      tags: Object.fromEntries(snapshot.tags),
      clientToken: snapshot.clientToken,
      timeoutMinutes: snapshot.timeoutMinutes,
      startTime: snapshot.startTime.toISOString(),
      blockIndexes: [...snapshot.blocks.keys()].sort((a, b) => a - b),
      blocksWritten: snapshot.blocksWritten,
      completion: snapshot.completion ? { ...snapshot.completion } : undefined,
    };
  }

  private imageSnapshot(image: ImageRecord): LocalImage {
    const current = this.state.imageState(image);
    return {
      imageId: image.imageId,
      name: image.name,
      description: image.description,
      location: image.location,
      state: current.state,
      stateReason: current.reason,
      ownerId: image.ownerId,
      imageType: image.imageType,
      architecture: image.architecture,
      virtualizationType: image.virtualizationType,
      kernelId: image.kernelId,
      ramdiskId: image.ramdiskId,
      rootDeviceName: image.rootDeviceName,
      rootDeviceType: image.rootDeviceType,
      blockDeviceMappings: image.blockDeviceMappings.map((mapping) =>
        mapping.ebs ? { ...mapping, ebs: { ...mapping.ebs } } : { ...mapping },
      ),
      tags: Object.fromEntries(image.tags),
      creationDate: image.creationDate,
      enaSupport: image.enaSupport,
      bootMode: image.bootMode,
      imdsSupport: image.imdsSupport,
    };
  }

  private instanceSnapshot(instance: InstanceRecord): LocalInstance {
    const current = this.state.instanceState(instance);
    return {
      instanceId: instance.instanceId,
      reservationId: instance.reservationId,
      imageId: instance.imageId,
      instanceType: instance.instanceType,
      state: current.state,
      stateReason: current.reason,
      architecture: instance.architecture,
      virtualizationType: instance.virtualizationType,
      kernelId: instance.kernelId,
      ramdiskId: instance.ramdiskId,
      keyName: instance.keyName,
      securityGroupIds: [...instance.securityGroupIds],
      subnetId: instance.subnetId,
      userData: instance.userData ? Buffer.from(instance.userData) : undefined,
      httpTokens: instance.httpTokens,
      tags: Object.fromEntries(instance.tags),
      clientToken: instance.clientToken,
      launchTime: instance.launchTime.toISOString(),
      amiLaunchIndex: instance.amiLaunchIndex,
      rootDeviceType: instance.rootDeviceType,
      iamInstanceProfileArn: instance.settings.iamInstanceProfileArn,
    };
  }
}
