/** The AWS layer: S3 bundle upload/delete, AMI registration, instances (AWS SDK v3). */
export * from './ids';
export * from './errors';
export * from './clients';
export * from './location';
export * from './bucket';
export { uploadBundle, DEFAULT_UPLOAD_CONCURRENCY } from './upload';
export type { UploadBundleOptions, UploadProgress, UploadResult } from './upload';
export { deleteBundle } from './deleteBundle';
export type { DeleteBundleOptions, DeleteBundleResult } from './deleteBundle';
export { listBundleObjects } from './bundleObjects';
export { planUpload } from './uploadPlan';
export type { LocalFile, RemoteObject, UploadPlan } from './uploadPlan';
export * from './images';
export * from './instances';
export { findPvGrubKernel, pickPvGrubKernel } from './kernels';
export * from './tags';
export type { WaitOptions } from './waiting';
export { bootProblem } from './instanceTypes';
