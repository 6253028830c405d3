/**
 * What EC2 does with an instance-store bundle before PV-GRUB runs: it opens the AES key and IV sealed
 * for its own certificate, decrypts and gunzips the parts, restores the image from the tar member, and
 * gives the disk to PV-GRUB. The local AWS holds the private key of its stand-in EC2 certificate, so it
 * can do the same with the real bundle.
 */
import { createDecipheriv } from 'crypto';
import { pipeline } from 'stream/promises';
import { Readable } from 'stream';
import { createGunzip } from 'zlib';
import { parseManifest } from '../../provider/bundle/manifestParse';
import { PrivateKey, unseal } from '../../provider/bundle/keys';
import { ImageSink, TarMemberReader } from '../../provider/bundle/tarReader';
import { DiskReader } from './ext2Reader';
import { bootWithPvGrub, PvGrubBoot } from './pvGrub';
import { BundleSnapshot, LocalAwsState } from './state';

/** Images whose stored data exceeds this are not restored (the local AWS keeps them in memory). */
const MAX_RESTORED_BYTES = 256 * 1024 * 1024;

export type BundleBoot =
  | { kind: 'booted'; boot: PvGrubBoot }
  /** The bundle's key was sealed for another certificate than the one the local AWS holds. */
  | { kind: 'not-for-this-ec2' }
  | { kind: 'unreadable'; reason: string };

/** The restored image: the data regions the tar member held, zeros elsewhere. */
class MemoryDisk implements ImageSink {
  private readonly regions: Array<{ offset: number; data: Buffer }> = [];
  private stored = 0;

  async write(offset: number, data: Buffer): Promise<void> {
    this.stored += data.length;
    if (this.stored > MAX_RESTORED_BYTES) throw new Error('the image holds more data than the local AWS restores');
    this.regions.push({ offset, data: Buffer.from(data) });
  }

  async finish(): Promise<void> {}

  readonly read: DiskReader = (offset, length) => {
    const out = Buffer.alloc(length);
    for (const region of this.regions) {
      const start = Math.max(offset, region.offset);
      const end = Math.min(offset + length, region.offset + region.data.length);
      if (start < end) region.data.copy(out, start - offset, start - region.offset, end - region.offset);
    }
    return out;
  };
}

export async function bootBundle(
  state: LocalAwsState,
  bundle: BundleSnapshot,
  ec2Key: PrivateKey,
  akiName: string,
  architecture: string,
): Promise<BundleBoot> {
  const bucket = state.buckets.get(bundle.bucket);
  const manifestObject = bucket?.objects.get(bundle.manifestKey);
  if (!bucket || !manifestObject) return { kind: 'unreadable', reason: 'the manifest is gone' };
  const { manifest } = parseManifest(manifestObject.body.toString('utf8'));
  let keyHex: string;
  let ivHex: string;
  try {
    keyHex = unseal(ec2Key, manifest.image.ec2EncryptedKey, 'ec2_encrypted_key');
    ivHex = unseal(ec2Key, manifest.image.ec2EncryptedIv, 'ec2_encrypted_iv');
  } catch {
    return { kind: 'not-for-this-ec2' };
  }
  const parts: Buffer[] = [];
  for (const part of bundle.parts) {
    const object = bucket.objects.get(part.key);
    if (!object) return { kind: 'unreadable', reason: `part ${part.key} is gone` };
    parts.push(object.body);
  }
  const disk = new MemoryDisk();
  try {
    await pipeline(
      Readable.from(parts),
      createDecipheriv('aes-128-cbc', Buffer.from(keyHex, 'hex'), Buffer.from(ivHex, 'hex')),
      createGunzip(),
      new TarMemberReader(disk, { name: manifest.image.name, size: manifest.image.size }),
    );
  } catch (error) {
    return { kind: 'unreadable', reason: error instanceof Error ? error.message : String(error) };
  }
  return { kind: 'booted', boot: bootWithPvGrub(disk.read, akiName, architecture) };
}
