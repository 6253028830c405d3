/**
 * `NAME.resume.json`: the record of an unfinished bundle that the same command, run again, resumes
 * (pure). It holds the resume point (key and IV sealed for the user, signed) and each stored part.
 */
import { ResumeMismatchError } from '../bundle/errors';
import type { ResumePoint } from '../bundle/bundleOutput';

/** A part an attempt stored: where, its size, its S3 ETag (the MD5 unless KMS) and its SHA-1. */
export interface RecordedPart {
  index: number;
  key: string;
  size: number;
  etag: string;
  sha1: string;
}

export interface ResumeRecord extends ResumePoint {
  version: 1;
  name: string;
  partSize: number;
  parts: RecordedPart[];
}

const HEX = /^[0-9a-f]+$/;

/** The refusal for a record this tool cannot use, with the remedy. */
export function unusableRecord(name: string, where: string, what: string): ResumeMismatchError {
  return new ResumeMismatchError(
    'destination',
    `its resume record is not one this tool wrote (${what})`,
    `${where} is not a resume record this tool wrote (${what})`,
    { kind: 'deleteAndRebundle', name, location: where },
  );
}

/** The record, checked field by field: it comes from S3 and decides what is not uploaded again. */
export function parseResumeRecord(text: string, name: string, where: string): ResumeRecord {
  let record: ResumeRecord;
  try {
    // Checked field by field below before anything is read from it.
    record = JSON.parse(text) as ResumeRecord;
  } catch {
    throw unusableRecord(name, where, 'not JSON');
  }
  if (record?.version !== 1 || record.name !== name) throw unusableRecord(name, where, 'version or name');
  if (
    ![record.attempt, record.userEncryptedKey, record.userEncryptedIv, record.signature].every(
      (value) => typeof value === 'string' && HEX.test(value),
    )
  ) {
    throw unusableRecord(name, where, 'attempt, key, IV or signature');
  }
  if (!Number.isInteger(record.partSize) || !Array.isArray(record.parts)) throw unusableRecord(name, where, 'parts');
  for (const part of record.parts) {
    const valid =
      Number.isInteger(part?.index) &&
      part.index >= 0 &&
      typeof part.key === 'string' &&
      Number.isInteger(part.size) &&
      typeof part.etag === 'string' &&
      typeof part.sha1 === 'string' &&
      /^[0-9a-f]{40}$/.test(part.sha1);
    if (!valid) throw unusableRecord(name, where, 'a part');
  }
  return record;
}

export function renderResumeRecord(
  name: string,
  point: ResumePoint,
  partSize: number,
  parts: readonly RecordedPart[],
): string {
  const record: ResumeRecord = {
    version: 1,
    name,
    ...point,
    partSize,
    parts: [...parts].sort((a, b) => a.index - b.index),
  };
  return JSON.stringify(record, null, 1);
}
