/**
 * `pulumi-unikernel/testing`: test a stack without an AWS account.
 *
 * - `LocalAws`: S3, EC2 and the EBS direct APIs on 127.0.0.1, in memory, for the real AWS SDK
 *   clients (and `unikernel-ami local-aws` as a server for any client), with fault injection and a
 *   record of every request.
 * - `startPlugin`: Pulumi's own dynamic-provider plugin, driven over gRPC as the engine drives it.
 * - `buildXenKernel`: a minimal Xen PV kernel, written byte by byte, to bundle and boot-check.
 * - `EngineModel`: the engine's preview, up, refresh and destroy steps over that plugin, for whole stacks.
 *
 * This entry loads the gRPC and signing libraries it needs; the main entry never loads it.
 */
export * from './engineModel';
export * from './localAws';
export * from './pluginHarness';
export * from './xenKernel';
