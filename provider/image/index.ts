/** Disk images from unikernel kernels: a PV-GRUB-bootable ext2 image, made without root or loop mounts. */
export { InputError } from '../common/errors';
export type { Remedy } from '../common/remedy';
export { buildKernelImage, gzipKernel, MAX_KERNEL_SIZE } from './build';
export type { KernelImageOptions, KernelImageProgress, KernelImageResult } from './build';
export { ImageInputError, ImageToolError, E2FSPROGS_INSTALL_HINT } from './errors';
export { findE2fsprogs, MINIMUM_E2FSPROGS } from './e2fsprogs';
export type { E2fsToolPaths, E2fsTools } from './e2fsprogs';
export {
  e2fsEnvironment,
  FILE_SYSTEM_FEATURES,
  metadataFixups,
  mke2fsArguments,
  mke2fsConfiguration,
} from './e2fsCommands';
export {
  DEFAULT_LABEL,
  derivedUuid,
  IMAGE_TIMESTAMP,
  kernelFileName,
  MAX_CMDLINE_LENGTH,
  MENU_LST,
  menuLst,
  validateCmdline,
} from './layout';
export type { MenuOptions } from './layout';
export { DEFAULT_MINIMUM_SIZE, formatSize, minimumImageSize, parseSize, planImage } from './size';
export type { ImagePlan } from './size';
export { parseSuperblock } from './superblock';
export type { Superblock } from './superblock';
export {
  describeNonElf,
  hex,
  inspectXenKernel,
  parseXenGuestString,
  readXenGuestParameters,
  XEN_ELFNOTE,
} from './xenKernel';
export type { KernelArchitecture, XenGuestParameters, XenInfoSource, XenKernelInfo } from './xenKernel';
