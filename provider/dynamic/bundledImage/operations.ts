/**
 * BundledImage's create/read/update/delete and the I/O half of check. The bundle goes straight into
 * S3 as it is made (an image built from a kernel is the only local file, in a temporary folder that
 * is always removed). A failed upload keeps its parts for a resume, or removes them when it cannot;
 * either way what stays in S3 is reported as a partial failure, so the engine keeps its location.
 */
import { deadline, trackedOperations } from '../cancellation';
import { randomBytes } from 'crypto';
import { readSmallFileBytes, SmallFileError } from '../../common/smallFile';
import { promises as fs } from 'fs';
import { tmpdir } from 'os';
import * as path from 'path';
import { createClients } from '../../aws/clients';
import { deleteBundle } from '../../aws/deleteBundle';
import { headEtag } from '../../aws/objects';
import { errorCode } from '../../aws/errors';
import { listBundleObjects } from '../../aws/bundleObjects';
import { BundleAddress, describeAddress, imageLocation, manifestKey, resumeKey } from '../../aws/bundleAddress';
import { bundleToS3, S3LeftoversError } from '../../aws/bundleToS3';
import { describeRemovedSibling, removeDeadSiblings } from '../../aws/deadSiblings';
import { bucketName } from '../../aws/ids';
import type { S3Client } from '@aws-sdk/client-s3';
import { StoredObject } from '../../aws/storedObject';
import { BundleOptions, BundleSuspendedError } from '../../bundle/bundle';
import { resumeFileName } from '../../bundle/parts';
import { BundleInputError } from '../../bundle/errors';
import { InputError } from '../../common/errors';
import { inPulumiWords, pulumiReason, pulumiRemedy } from '../remedies';
import { withRemedy } from '../../common/remedy';
import { statImage } from '../../bundle/imageFile';
import { buildKernelImage, MAX_KERNEL_SIZE } from '../../image/build';
import { parseSize } from '../../image/size';
import { inspectXenKernel } from '../../image/xenKernel';
import { IMAGE_TIMESTAMP } from '../../image/layout';
import { CheckFailure, PartialFailure, reason } from '../failures';
import { percentReporter, progress } from '../log';
import { awsSettings, plannedRegion, resolveRegion } from '../settings';
import { parseInputs, parseOutputs, parsePlanned } from '../schema';
import { isUnknown, pick, UNKNOWN } from '../values';
import { normalizeKeyPrefix } from '../../aws/location';
import {
  bundleAddressOf,
  bundleFolder,
  bundleKeyOf,
  certificateFingerprint,
  checkInputs,
  defaultBundleName,
  diffBundledImage,
  IN_PLACE_PROPERTIES,
} from './rules';
import { fileIdentity, sourceHash } from '../source';
import {
  BundledImageInputs,
  BundledImageOutputs,
  bundledImageSchema,
  BundledImageState,
  BundleStatus,
  PlannedBundledImage,
  PUBLIC_INPUTS,
  UNFINISHED,
} from './types';

type Props = Record<string, unknown>;
const RESOURCE = 'BundledImage';
const DEFAULT_TIMEOUT_SECONDS = 1800;

async function checkSourceFiles(inputs: PlannedBundledImage, failures: CheckFailure[]): Promise<void> {
  const fail = (property: string, error: unknown) => {
    if (!(error instanceof InputError)) throw error;
    failures.push({ property, reason: pulumiReason(error) });
  };
  if (inputs.imagePath !== undefined && !isUnknown(inputs.imagePath)) {
    await statImage(inputs.imagePath).catch((error: unknown) => fail('imagePath', error));
  }
  if (inputs.kernelPath !== undefined && !isUnknown(inputs.kernelPath)) {
    try {
      // A regular file of bounded size only, read without blocking: a FIFO must not hang the check.
      inspectXenKernel(await readSmallFileBytes(inputs.kernelPath, MAX_KERNEL_SIZE), inputs.kernelPath);
    } catch (error) {
      if (error instanceof SmallFileError && error.problem === 'missing') {
        failures.push({
          property: 'kernelPath',
          reason: `${inputs.kernelPath} does not exist; give the Xen kernel the unikernel build produced`,
        });
      } else if (error instanceof SmallFileError) {
        failures.push({ property: 'kernelPath', reason: `${inputs.kernelPath}: ${error.message}` });
      } else fail('kernelPath', error);
    }
  }
  if (inputs.imageSize !== undefined && !isUnknown(inputs.imageSize)) {
    try {
      parseSize(inputs.imageSize);
    } catch (error) {
      fail('imageSize', error);
    }
  }
}

export async function check(
  _olds: Props,
  news: Props,
): Promise<{ inputs: Props & { sourceHash: string }; failures: CheckFailure[] }> {
  const failures = checkInputs(news);
  const { planned } = parsePlanned(bundledImageSchema, news);
  await checkSourceFiles(planned, failures);
  const sourceKnown =
    !isUnknown(planned.imagePath) &&
    !isUnknown(planned.kernelPath) &&
    !isUnknown(planned.imageSize) &&
    !isUnknown(planned.kernelCommandLine);
  const hash = failures.length === 0 && sourceKnown ? await sourceHash(planned) : UNKNOWN;
  return { inputs: { ...news, sourceHash: hash }, failures };
}

export function diff(oldState: Props, newInputs: Props) {
  const olds = parseOutputs(bundledImageSchema, oldState, RESOURCE);
  const news = parsePlanned(bundledImageSchema, newInputs).planned;
  const outcome = diffBundledImage(olds, news, plannedRegion(news.region));
  if (outcome.replaces.includes('bundleStatus')) {
    progress(
      `BundledImage ${olds.bundleName}`,
      `the bundle in S3 is damaged (${olds.bundleStatus}); it will be made and uploaded again`,
    );
  } else if (olds.bundleStatus === UNFINISHED && outcome.replaces.length === 0) {
    progress(`BundledImage ${olds.bundleName}`, 'the upload stopped before it finished; the update resumes it');
  }
  return outcome;
}

function outputsFrom(
  inputs: BundledImageInputs,
  region: string,
  bundleKey: string,
  manifestLocation: string,
  objects: StoredObject[],
  facts: { imageDigest: string; imageSha256: string; imageBytes: number; bundledSize: number },
): BundledImageOutputs {
  const parts = objects.slice(0, -1);
  const manifest = objects[objects.length - 1];
  return {
    ...pick(inputs, PUBLIC_INPUTS),
    sourceHash: inputs.sourceHash as string,
    region,
    bundleName: defaultBundleName(inputs) as string,
    keyPrefix: normalizeKeyPrefix(inputs.keyPrefix),
    bundleKey,
    manifestLocation,
    manifestKey: manifest.key,
    manifestEtag: manifest.etag,
    partKeys: parts.map((part) => part.key),
    partEtags: parts.map((part) => part.etag),
    imageDigest: facts.imageDigest,
    imageSha256: facts.imageSha256,
    imageBytes: facts.imageBytes,
    bundledSize: facts.bundledSize,
    partCount: parts.length,
    certificateFingerprint: certificateFingerprint(inputs.certificate),
    ec2CertificateFingerprint: certificateFingerprint(inputs.ec2Certificate),
    bundleStatus: 'intact',
  };
}

async function createNow(props: Props): Promise<{ id: string; outs: BundledImageOutputs }> {
  return bundleIntoS3(props, undefined);
}

/**
 * Makes the bundle straight into S3. A failure that is not a bad input keeps the parts uploaded so
 * far with NAME.resume.json and is reported as a partial failure whose state says "unfinished": the
 * engine keeps the location, `destroy` removes it, and the next update resumes the upload.
 *
 * Each create makes its own folder (the content key plus a random suffix): a replacement is made
 * next to the bundle it replaces, which stays intact for the AMI and instance still using it until
 * the engine deletes it, after their replacements.
 *
 * `resuming`: the bundle key of an unfinished upload the state holds as its own. Its parts that match
 * are kept and only the rest is uploaded; leftovers that cannot be resumed (another copy of the image,
 * a record gone or unreadable) are removed and the bundle made from the start. A create never takes
 * over what it finds: an unfinished upload there may be another stack's or resource's, and is refused.
 */
async function bundleIntoS3(
  props: Props,
  resuming: string | undefined,
): Promise<{ id: string; outs: BundledImageOutputs }> {
  const inputs = parseInputs(bundledImageSchema, props, RESOURCE);
  const name = defaultBundleName(inputs) as string;
  const label = `BundledImage ${name}`;
  const region = await resolveRegion(inputs.region);
  const aws = createClients(awsSettings(region));
  const signal = deadline(inputs.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS);
  const bundleKey = resuming ?? bundleFolder(inputs, randomBytes(4).toString('hex'));
  const address = bundleAddressOf({ ...inputs, bundleKey, bundleName: name });
  const work = await fs.mkdtemp(path.join(tmpdir(), 'unikernel-bundle-'));
  try {
    const { imagePath, imageSha256 } = await imageToBundle(inputs, name, label, work, signal);
    const options = bundleOptions(inputs, imagePath, name, signal, percentReporter(label, 'bundling and uploading'));
    if (resuming === undefined) await removeKilledCreates(aws.s3, inputs, name, label, signal);
    progress(label, `bundling straight into ${describeAddress(address)}`);
    const bundle = await bundleToS3({
      ...options,
      s3: aws.s3,
      location: address.location,
      acl: inputs.acl,
      createBucket: inputs.createBucket,
      unfinished: resuming !== undefined ? 'restart' : 'refuse',
      fresh: resuming === undefined ? true : undefined,
      onRestart: (problem) =>
        progress(
          label,
          `the unfinished upload cannot be resumed (${problem}); removing it and bundling from the start`,
        ),
    });
    const resumed = bundle.resumedParts > 0 ? `, ${bundle.resumedParts} of them kept from the unfinished upload` : '';
    progress(
      label,
      `uploaded: ${bundle.manifestPath} (${bundle.parts.length} part(s)${resumed}, ${bundle.bundledSize} bytes)`,
    );
    const outs = outputsFrom(inputs, region, bundleKey, bundle.manifestPath, bundle.objects, {
      imageDigest: bundle.digest,
      imageSha256,
      imageBytes: bundle.imageSize,
      bundledSize: bundle.bundledSize,
    });
    return { id: bundle.manifestPath, outs };
  } catch (error) {
    const where = { inputs, props, region, bundleKey, address };
    const cause = error instanceof S3LeftoversError ? error.cause : error;
    if (cause instanceof BundleSuspendedError) {
      const fault = `bundling stopped (${reason(cause.cause)}); the parts uploaded so far stay in ${describeAddress(address)} with ${resumeFileName(name)}`;
      throw unfinishedState(where, UNFINISHED, [withRemedy(fault, cause.remedy, pulumiRemedy)]);
    }
    // A failed upload that could not be kept for a resume is removed; whatever could not be removed
    // is reported with the bundle's location, so that Pulumi keeps it and a destroy removes it.
    if (error instanceof S3LeftoversError) {
      const { leftovers } = error;
      throw unfinishedState(where, 'incomplete upload', [
        `uploading failed (${reason(cause)}) and ${leftovers.length} object(s) could not be removed (${leftovers.slice(0, 3).join(', ')}); destroy or update again to clean them up`,
      ]);
    }
    throw inPulumiWords(error);
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
}

/** Before a create: the folders of earlier creates of this bundle that were killed mid-upload (see deadSiblings.ts). */
async function removeKilledCreates(
  s3: S3Client,
  inputs: BundledImageInputs,
  name: string,
  label: string,
  signal: AbortSignal,
): Promise<void> {
  const parent = { bucket: bucketName(inputs.bucket), keyPrefix: normalizeKeyPrefix(inputs.keyPrefix) };
  const removed = await removeDeadSiblings({ s3, parent, stem: bundleKeyOf(inputs), name, signal }).catch(
    (error: unknown) => {
      // Not this create's business to fail over: the leftovers stay, and the next create looks again.
      progress(label, `could not look for leftovers of killed creates (${reason(error)}); they are left as they are`);
      return [];
    },
  );
  for (const each of removed) progress(label, describeRemovedSibling(each));
}

function bundleOptions(
  inputs: BundledImageInputs,
  imagePath: string,
  name: string,
  signal: AbortSignal,
  bundling: (bytes: number, total: number) => void,
): Omit<BundleOptions, 'output'> {
  return {
    imagePath,
    name,
    privateKey: inputs.privateKey,
    privateKeyPassphrase: inputs.privateKeyPassphrase,
    userCertificate: inputs.certificate,
    ec2Certificate: inputs.ec2Certificate,
    accountId: inputs.accountId,
    architecture: inputs.architecture ?? 'x86_64',
    kernelId: inputs.kernelId,
    ramdiskId: inputs.ramdiskId,
    blockDeviceMappings: inputs.blockDeviceMappings,
    productCodes: inputs.productCodes,
    sparse: inputs.sparse,
    signal,
    onProgress: (event) => event.phase === 'bundle' && bundling(event.bytes, event.totalBytes),
  };
}

/** The image to bundle: the one given (checked unchanged since check hashed it), or one built from the kernel in `work`. */
async function imageToBundle(
  inputs: BundledImageInputs,
  name: string,
  label: string,
  work: string,
  signal: AbortSignal,
): Promise<{ imagePath: string; imageSha256: string }> {
  if (inputs.imagePath !== undefined) {
    const imageSha256 = await fileIdentity(inputs.imagePath);
    if (imageSha256 !== inputs.sourceHash) {
      throw new BundleInputError('imagePath', `${inputs.imagePath} changed since it was checked; run the update again`);
    }
    return { imagePath: inputs.imagePath, imageSha256 };
  }
  progress(label, `building a PV-GRUB image from ${inputs.kernelPath}`);
  const built = await buildKernelImage({
    kernelPath: inputs.kernelPath as string,
    outPath: path.join(work, name),
    size: inputs.imageSize,
    cmdline: inputs.kernelCommandLine,
    temporaryDirectory: work,
    signal,
  });
  // The tar header carries the image's mtime: fixed, every build of the same kernel gives the same
  // tar stream, so an unfinished upload of it can be resumed.
  await fs.utimes(built.imagePath, IMAGE_TIMESTAMP, IMAGE_TIMESTAMP);
  return { imagePath: built.imagePath, imageSha256: built.sha256 };
}

interface BundlePlace {
  inputs: BundledImageInputs;
  props: Props;
  region: string;
  bundleKey: string;
  address: BundleAddress;
}

/** A partial failure holding the bundle's location, so that the engine keeps it in state. */
function unfinishedState(
  { inputs, props, region, bundleKey, address }: BundlePlace,
  bundleStatus: BundleStatus,
  reasons: string[],
): PartialFailure {
  const manifestLocation = imageLocation(address);
  const state: Partial<BundledImageOutputs> = {
    ...pick(inputs, PUBLIC_INPUTS),
    region,
    bundleName: address.name,
    keyPrefix: normalizeKeyPrefix(inputs.keyPrefix),
    bundleKey,
    manifestLocation,
    manifestKey: manifestKey(address),
    manifestEtag: '',
    partKeys: [],
    partEtags: [],
    certificateFingerprint: certificateFingerprint(inputs.certificate),
    ec2CertificateFingerprint: certificateFingerprint(inputs.ec2Certificate),
    bundleStatus,
  };
  return new PartialFailure(manifestLocation, { ...state, __provider: props.__provider }, reasons);
}

export async function read(id: string, props: Props) {
  const outputs = parseOutputs(bundledImageSchema, props, RESOURCE);
  const aws = createClients(awsSettings(outputs.region));
  let remote;
  try {
    remote = await listBundleObjects(aws.s3, bundleAddressOf(outputs).location, outputs.bundleName);
  } catch (error) {
    if (errorCode(error) === 'NoSuchBucket') return { id: '' };
    throw error;
  }
  if (remote.length === 0) return { id: '' };
  if (outputs.bundleStatus === UNFINISHED) {
    const refreshed = { ...outputs, bundleStatus: unfinishedStatus(outputs, remote) };
    return { id, props: refreshed, inputs: pick(refreshed, PUBLIC_INPUTS) };
  }
  const byKey = new Map(remote.map((object) => [object.key, object.etag.toLowerCase()]));
  const problems: string[] = [];
  const expect = (key: string, etag: string, what: string) => {
    const found = byKey.get(key);
    if (found === undefined) problems.push(`${what} ${key} is missing`);
    else if (found !== etag) problems.push(`${what} ${key} was changed`);
  };
  expect(outputs.manifestKey, outputs.manifestEtag, 'manifest');
  (outputs.partKeys ?? []).forEach((key, index) => expect(key, outputs.partEtags?.[index] ?? '', 'part'));
  const bundleStatus: BundleStatus = problems.length === 0 ? 'intact' : `damaged: ${problems.join('; ')}`;
  const refreshed = { ...outputs, bundleStatus };
  return { id, props: refreshed, inputs: pick(refreshed, PUBLIC_INPUTS) };
}

/** An unfinished upload stays resumable while its record is there and no manifest has appeared. */
function unfinishedStatus(outputs: BundledImageState, remote: StoredObject[]): BundleStatus {
  const keys = new Set(remote.map((object) => object.key));
  const recordKey = resumeKey(bundleAddressOf(outputs));
  if (keys.has(recordKey) && !keys.has(outputs.manifestKey)) return UNFINISHED;
  return `damaged: the upload was unfinished and ${keys.has(outputs.manifestKey) ? `a manifest ${outputs.manifestKey} appeared` : `its resume record ${recordKey} is missing`}`;
}

async function updateNow(_id: string, olds: Props, news: Props) {
  // An unfinished upload at the same location (anything else is a replacement): resume it.
  const before = parseOutputs(bundledImageSchema, olds, RESOURCE);
  if (before.bundleStatus === UNFINISHED) return { outs: (await bundleIntoS3(news, before.bundleKey)).outs };
  const refreshed: Props = { ...olds };
  for (const property of IN_PLACE_PROPERTIES) {
    if (news[property] === undefined) delete refreshed[property];
    else refreshed[property] = news[property];
  }
  return { outs: refreshed };
}

async function removeNow(_id: string, props: Props): Promise<void> {
  const outputs = parseOutputs(bundledImageSchema, props, RESOURCE);
  const aws = createClients(awsSettings(outputs.region));
  try {
    // A bundle whose manifest is not the one this resource wrote belongs to someone else now
    // (another stack made its own there after this one's was removed): it is left alone.
    if (outputs.bundleStatus !== UNFINISHED && outputs.manifestEtag) {
      const now = await headEtag(aws.s3, outputs.bucket, outputs.manifestKey);
      if (now !== undefined && now !== outputs.manifestEtag.toLowerCase()) {
        progress(
          `BundledImage ${outputs.bundleName}`,
          `left s3://${outputs.bucket}/${outputs.manifestKey} as it is: its manifest is not the one this resource wrote (ETag ${now}, not ${outputs.manifestEtag})`,
        );
        return;
      }
    }
    const deleted = await deleteBundle({
      s3: aws.s3,
      location: bundleAddressOf(outputs).location,
      name: outputs.bundleName,
      deadlineMs: (outputs.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS) * 1000,
    });
    progress(
      `BundledImage ${outputs.bundleName}`,
      `deleted ${deleted.deleted.length} object(s) from s3://${outputs.bucket}`,
    );
  } catch (error) {
    if (errorCode(error) === 'NoSuchBucket') return;
    throw error;
  }
}

// Creates, updates and deletes are waited for when the plugin is signalled (see ../cancellation).
export const { create, update, remove } = trackedOperations({
  create: createNow,
  update: updateNow,
  remove: removeNow,
});
