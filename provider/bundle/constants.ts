/** Fixed numbers of the ec2-bundle-image format (see docs/ARCHITECTURE.md and the bundle format spec). */
export const TAR_BLOCK_SIZE = 512;
/** GNU tar's default blocking factor 20: the archive is padded to a multiple of this. */
export const TAR_RECORD_SIZE = 20 * TAR_BLOCK_SIZE;
export const PART_SIZE = 10 * 1024 * 1024;
export { MAX_IMAGE_SIZE } from '../common/constants';
export const MANIFEST_VERSION = '2007-10-10';
export const AES_ALGORITHM = 'aes-128-cbc';
/** Key and IV are 16 random bytes each, carried everywhere as 32 lowercase hex characters. */
export const AES_KEY_BYTES = 16;
export const ARCHITECTURES = ['i386', 'x86_64'] as const;
export type Architecture = (typeof ARCHITECTURES)[number];
