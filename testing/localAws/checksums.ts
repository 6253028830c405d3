/** The digests S3 checks: Content-MD5 and the flexible checksums (x-amz-checksum-*), base64 as on the wire. */
import { createHash } from 'crypto';
import { crc32 } from 'zlib';

export type ChecksumAlgorithm = 'crc32' | 'crc32c' | 'crc64nvme' | 'sha1' | 'sha256';

export const CHECKSUM_ALGORITHMS: readonly ChecksumAlgorithm[] = ['crc32', 'crc32c', 'crc64nvme', 'sha1', 'sha256'];

/** How S3 spells each algorithm in its BadDigest messages. */
export const CHECKSUM_NAMES: Record<ChecksumAlgorithm, string> = {
  crc32: 'CRC32',
  crc32c: 'CRC32C',
  crc64nvme: 'CRC64NVME',
  sha1: 'SHA1',
  sha256: 'SHA256',
};

const DIGEST_BYTES: Record<ChecksumAlgorithm, number> = { crc32: 4, crc32c: 4, crc64nvme: 8, sha1: 20, sha256: 32 };

export function md5Hex(data: Buffer): string {
  return createHash('md5').update(data).digest('hex');
}

export function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

export function sha1Hex(data: Buffer): string {
  return createHash('sha1').update(data).digest('hex');
}

/** The bytes of a base64 header value, or undefined when it is not canonical base64 of the expected length. */
export function decodeBase64Digest(value: string, bytes: number): Buffer | undefined {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(value)) return undefined;
  const decoded = Buffer.from(value, 'base64');
  return decoded.length === bytes && decoded.toString('base64') === value ? decoded : undefined;
}

export function checksumByteLength(algorithm: ChecksumAlgorithm): number {
  return DIGEST_BYTES[algorithm];
}

function uint32(value: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(value >>> 0);
  return out;
}

const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32c(data: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of data) crc = CRC32C_TABLE[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

const CRC64_MASK = (1n << 64n) - 1n;
const CRC64NVME_TABLE = (() => {
  const table: bigint[] = [];
  for (let n = 0n; n < 256n; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1n ? 0x9a6c9329ac4bc9b5n ^ (c >> 1n) : c >> 1n;
    table.push(c);
  }
  return table;
})();

function crc64nvme(data: Buffer): Buffer {
  let crc = CRC64_MASK;
  for (const byte of data) crc = CRC64NVME_TABLE[Number((crc ^ BigInt(byte)) & 0xffn)] ^ (crc >> 8n);
  const out = Buffer.alloc(8);
  out.writeBigUInt64BE((crc ^ CRC64_MASK) & CRC64_MASK);
  return out;
}

export function checksumBase64(algorithm: ChecksumAlgorithm, data: Buffer): string {
  switch (algorithm) {
    case 'crc32':
      return uint32(crc32(data)).toString('base64');
    case 'crc32c':
      return uint32(crc32c(data)).toString('base64');
    case 'crc64nvme':
      return crc64nvme(data).toString('base64');
    case 'sha1':
      return createHash('sha1').update(data).digest('base64');
    case 'sha256':
      return createHash('sha256').update(data).digest('base64');
  }
}
