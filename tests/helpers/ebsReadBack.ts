/** A snapshot read back through the EBS direct APIs (ListSnapshotBlocks, GetSnapshotBlock) of the local AWS. */
import { strict as assert } from 'assert';
import { readFileSync } from 'fs';
import * as path from 'path';
import { EBSClient, GetSnapshotBlockCommand, ListSnapshotBlocksCommand } from '@aws-sdk/client-ebs';
import { EBS_BLOCK_BYTES } from '../../provider/aws/ebsBlocks';

/**
 * The volume as EBS gives it back, up to the end of its last block holding data: every listed block
 * fetched with its token, the rest zeros.
 */
export async function readBack(ebs: EBSClient, snapshotId: string): Promise<Buffer> {
  const blocks: { index: number; token: string }[] = [];
  let volumeGiB: number | undefined;
  let pageToken: string | undefined;
  do {
    const page = await ebs.send(
      new ListSnapshotBlocksCommand({ SnapshotId: snapshotId, NextToken: pageToken, MaxResults: 100 }),
    );
    volumeGiB = page.VolumeSize ?? 0;
    assert.equal(page.BlockSize, EBS_BLOCK_BYTES);
    for (const block of page.Blocks ?? [])
      blocks.push({ index: block.BlockIndex ?? -1, token: block.BlockToken ?? '' });
    pageToken = page.NextToken;
  } while (pageToken);
  assert.ok((volumeGiB ?? 0) >= 1);
  const volume = Buffer.alloc((Math.max(-1, ...blocks.map((block) => block.index)) + 1) * EBS_BLOCK_BYTES);
  for (const { index, token } of blocks) {
    const got = await ebs.send(
      new GetSnapshotBlockCommand({ SnapshotId: snapshotId, BlockIndex: index, BlockToken: token }),
    );
    const data = Buffer.from(
      await (got.BlockData as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
    );
    assert.equal(data.length, EBS_BLOCK_BYTES);
    data.copy(volume, index * EBS_BLOCK_BYTES);
  }
  return volume;
}

/** Whether the volume read back holds the image, then only zeros. */
export async function holdsImage(ebs: EBSClient, snapshotId: string, file: string): Promise<void> {
  const volume = await readBack(ebs, snapshotId);
  const image = readFileSync(file);
  const length = Math.max(volume.length, image.length);
  const expected = Buffer.alloc(length);
  image.copy(expected);
  const actual = Buffer.alloc(length);
  volume.copy(actual);
  if (!actual.equals(expected)) {
    const differs = actual.findIndex((byte, offset) => byte !== expected[offset]);
    assert.fail(`${snapshotId} differs from ${path.basename(file)} at byte ${differs}`);
  }
}
