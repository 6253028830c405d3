/** Bundles in a local AWS bucket, checked as a whole: every manifest verified, every other object accounted for. */
import { promises as fs } from 'fs';
import * as path from 'path';
import { parseManifest } from '../../provider/bundle/manifestParse';
import { verifyBundle } from '../../provider/bundle/unbundle';
import { LocalAws } from '../../testing/localAws';
import { testPki } from './pki';

export interface BucketAudit {
  /** Manifest key → the image digest of the bundle, which verified (signature, parts, image digest). */
  bundles: Map<string, string>;
  /** Manifest key → why it did not verify. */
  broken: Map<string, string>;
  /** Objects that belong to no manifest and are no claim or resume record. */
  orphans: string[];
  /** Claims and resume records left (an unfinished bundle a later run can resume or delete). */
  records: string[];
}

/** Downloads each bundle of the bucket into `folder` and verifies it with the library's verify. */
export async function auditBucket(local: LocalAws, bucket: string, folder: string): Promise<BucketAudit> {
  const objects = local.objects(bucket);
  const audit: BucketAudit = { bundles: new Map(), broken: new Map(), orphans: [], records: [] };
  const accounted = new Set<string>();
  const pki = testPki();
  let index = 0;
  for (const manifest of objects.filter((object) => object.key.endsWith('.manifest.xml'))) {
    accounted.add(manifest.key);
    const prefix = manifest.key.slice(0, manifest.key.lastIndexOf('/') + 1);
    const target = path.join(folder, `audit-${bucket}-${index++}`);
    await fs.mkdir(target, { recursive: true });
    const xml = (local.getObject(bucket, manifest.key) as Buffer).toString('utf8');
    const manifestPath = path.join(target, manifest.key.slice(prefix.length));
    await fs.writeFile(manifestPath, xml);
    try {
      for (const part of parseManifest(xml).manifest.image.parts) {
        accounted.add(prefix + part.filename);
        const body = local.getObject(bucket, prefix + part.filename);
        if (body) await fs.writeFile(path.join(target, part.filename), body);
      }
      const report = await verifyBundle({ manifestPath, privateKey: pki.user.key, userCertificate: pki.user.cert });
      audit.bundles.set(manifest.key, report.digest);
    } catch (error) {
      audit.broken.set(manifest.key, error instanceof Error ? error.message : String(error));
    }
    await fs.rm(target, { recursive: true, force: true });
  }
  // The parts a resume record lists are kept on purpose, for the next run to resume from.
  for (const record of objects.filter((object) => object.key.endsWith('.resume.json'))) {
    const prefix = record.key.slice(0, record.key.lastIndexOf('/') + 1);
    try {
      const parsed: unknown = JSON.parse((local.getObject(bucket, record.key) as Buffer).toString('utf8'));
      const parts = (parsed as { parts?: Array<{ key?: unknown }> }).parts ?? [];
      for (const part of parts)
        if (typeof part.key === 'string' && part.key.startsWith(prefix)) accounted.add(part.key);
    } catch {
      // Not JSON: its parts, if any, count as orphans.
    }
  }
  for (const object of objects) {
    if (accounted.has(object.key)) continue;
    if (object.key.endsWith('.resume.json')) audit.records.push(object.key);
    else audit.orphans.push(object.key);
  }
  return audit;
}
