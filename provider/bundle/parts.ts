/** Bundle file names (parts, manifest, resume record) and part sizes (pure). */
import { PART_SIZE } from './constants';

/** `NAME.part.I`, the index zero-padded to as many digits as the part count has. */
export function partFileName(name: string, index: number, count: number): string {
  return `${name}.part.${String(index).padStart(String(count).length, '0')}`;
}

export function partCount(encryptedLength: number, partSize = PART_SIZE): number {
  return Math.ceil(encryptedLength / partSize);
}

/** AES-128-CBC with PKCS#7 always adds 1 to 16 bytes. */
export function encryptedLength(plainLength: number): number {
  return 16 * (Math.floor(plainLength / 16) + 1);
}

export function manifestFileName(name: string): string {
  return `${name}.manifest.xml`;
}

/** The record of an unfinished bundle that a later run can resume (S3 outputs only). */
export function resumeFileName(name: string): string {
  return `${name}.resume.json`;
}

/** Matches the files an earlier bundle of `name` leaves in a folder. */
export function isBundleFileOf(name: string, fileName: string): boolean {
  if (fileName === manifestFileName(name) || fileName === resumeFileName(name)) return true;
  const prefix = `${name}.part.`;
  return fileName.startsWith(prefix) && /^[0-9]+$/.test(fileName.slice(prefix.length));
}
