/** pulumi-unikernel: unikernels on Amazon EC2 as Pulumi resources. */
export { BundledImage } from './bundledImage';
export type { BundledImageArgs } from './bundledImage';
export { RegisteredAmi } from './registeredAmi';
export type { RegisteredAmiArgs } from './registeredAmi';
export { UnikernelInstance } from './unikernelInstance';
export type { UnikernelInstanceArgs } from './unikernelInstance';
export { Unikernel } from './unikernel';
export type { BundlePathArgs, RawImagePathArgs, UnikernelArgs } from './unikernel';
export { EbsUnikernel } from './ebsUnikernel';
export type { EbsUnikernelArgs } from './ebsUnikernel';
