/** The AWS layer: S3 bundle upload/delete, EBS snapshot upload, AMI registration, instances (AWS SDK v3). */
export { InputError } from '../common/errors';
export type { Remedy } from '../common/remedy';
export * from './ids';
export * from './errors';
export * from './clients';
export * from './location';
export * from './bucket';
export { BUNDLE_ACLS, needsAclsEnabled } from './acl';
export { uploadBundle, DEFAULT_UPLOAD_CONCURRENCY } from './upload';
export type { UploadBundleOptions, UploadProgress, UploadResult } from './upload';
export { deleteBundle } from './deleteBundle';
export type { DeleteBundleOptions, DeleteBundleResult } from './deleteBundle';
export { listBundleObjects } from './bundleObjects';
export { bundleToS3, S3LeftoversError } from './bundleToS3';
export type { BundleToS3Options, S3BundleResult } from './bundleToS3';
export type { UnfinishedPolicy } from './resumePlan';
export { planUpload } from './uploadPlan';
export type { LocalFile, UploadPlan } from './uploadPlan';
export type { StoredObject } from './storedObject';
export * from './bundleAddress';
export * from './images';
export * from './instances';
export { findPvGrubKernel, pickPvGrubKernel } from './kernels';
export * from './tags';
export type { WaitOptions } from './waiting';
export { bootProblem } from './instanceTypes';
export * from './ebsBlocks';
export * from './snapshots';
export {
  uploadSnapshot,
  SnapshotUploadError,
  DEFAULT_SNAPSHOT_CONCURRENCY,
  DEFAULT_SNAPSHOT_TIMEOUT_MINUTES,
} from './ebsUpload';
export type { UploadSnapshotOptions, SnapshotUploadProgress, SnapshotUploadResult, BlockRetry } from './ebsUpload';
export * from './ebsImages';
