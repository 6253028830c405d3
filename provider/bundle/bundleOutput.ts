/**
 * Where a bundle goes while it is being made: part files in a folder, or objects in S3 (the AWS
 * layer's streaming output). The bundler only sees this interface, so it stays free of AWS.
 */
import type { Writable } from 'stream';
import type { ResumePoint } from './resumePoint';

export type { ResumePoint } from './resumePoint';

export interface WrittenPart {
  index: number;
  filename: string;
  size: number;
  /** Lowercase hex SHA-1 of the part. */
  digest: string;
}

/** Receives the encrypted stream and cuts it into parts as it flows. */
export interface PartSink {
  readonly writable: Writable;
  /** Gives every part its final name once the stream has ended (names depend on the part count). */
  commit(): Promise<WrittenPart[]>;
  /** Removes every part this sink made, whatever its state. */
  discard(): Promise<void>;
  /**
   * Keeps the parts stored so far for a later run to resume from `point`, where the output can
   * resume. Resolves false when it cannot (nothing stored, or the output does not resume); the
   * caller then discards.
   */
  suspend?(point: ResumePoint): Promise<boolean>;
}

export interface BundleOutput {
  /** Human-readable place, for messages: a folder, or s3://bucket/prefix/. */
  readonly description: string;
  /** Refuses to start when the output cannot take a bundle of this name (missing, not writable, taken). */
  prepare(name: string): Promise<void>;
  /** Set by prepare() when the output holds an unfinished attempt at this bundle that can be resumed. */
  readonly resumeFrom?: ResumePoint;
  /** `encryptedBound`: an upper bound on the encrypted length, for naming parts early. */
  parts(name: string, encryptedBound: number): PartSink;
  /** Stores the manifest last; returns where it is (a path, or bucket/key). */
  writeManifest(name: string, xml: string): Promise<string>;
  /** Removes the manifest written by writeManifest, if any. */
  removeManifest(name: string): Promise<void>;
}

/** An upper bound of the gzip + AES-CBC length of `plainLength` bytes (zlib's deflateBound, generously). */
export function encryptedLengthBound(plainLength: number): number {
  const deflateBound = plainLength + Math.ceil(plainLength / 4096) + Math.ceil(plainLength / 16384) + 64;
  const perChunkFlushes = Math.ceil(plainLength / 65536) * 8;
  return deflateBound + perChunkFlushes + 18 + 16;
}
