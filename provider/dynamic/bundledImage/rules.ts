/** BundledImage's pure rules: input checks, the bundle key and location, and the diff. */
import { createHash } from 'crypto';
import { BUNDLE_ACLS } from '../../aws/acl';
import { BundleAddress, bundleAddress } from '../../aws/bundleAddress';
import { bucketName, bucketNameProblem } from '../../aws/ids';
import { keyPrefixProblem, normalizeKeyPrefix, subLocation } from '../../aws/location';
import { readCertificate } from '../../bundle/keys';
import { checkBundleParameters, BundleParameters } from '../../bundle/parameters';
import { BundleInputError } from '../../bundle/errors';
import { readBundleKeys } from '../../bundle/bundle';
import { CheckFailure, FailureList } from '../failures';
import { positiveSecondsProblem, regionMoves } from '../inputRules';
import { pulumiReason } from '../remedies';
import { defaultsOf, Kind, keysWhere, parsePlanned, withDefaults } from '../schema';
import { canonicalJson, DiffOutcome, isKnown, isUnknown, sameValue } from '../values';
import { BundledImageInputs, BundledImageState, bundledImageSchema, PlannedBundledImage, UNFINISHED } from './types';
import * as path from 'path';

const PARAMETER_FIELDS: Record<string, keyof BundledImageInputs> = {
  name: 'bundleName',
  accountId: 'accountId',
  architecture: 'architecture',
  kernelId: 'kernelId',
  ramdiskId: 'ramdiskId',
  blockDeviceMappings: 'blockDeviceMappings',
  productCodes: 'productCodes',
  privateKey: 'privateKey',
  userCertificate: 'certificate',
  ec2Certificate: 'ec2Certificate',
};

export function defaultBundleName(
  inputs: Pick<BundledImageInputs, 'bundleName' | 'imagePath' | 'kernelPath'>,
): string | undefined {
  if (inputs.bundleName !== undefined) return inputs.bundleName;
  if (inputs.imagePath !== undefined) return path.basename(inputs.imagePath);
  if (inputs.kernelPath !== undefined) return `${path.basename(inputs.kernelPath).replace(/\.xen$/, '')}.img`;
  return undefined;
}

type Props = Record<string, unknown>;

/** Every problem with the inputs, one per property (unknown values are not judged). */
export function checkInputs(props: Props): CheckFailure[] {
  const list = new FailureList();
  const { planned: inputs, failures: wrongKinds } = parsePlanned(bundledImageSchema, props);
  for (const failure of wrongKinds) list.fail(failure.property, failure.reason);
  const { failures } = list;
  const fail = list.fail.bind(list);
  const known = isKnown;
  const values: Props = inputs;
  if (inputs.imagePath === undefined && inputs.kernelPath === undefined) {
    fail('imagePath', 'give imagePath (a disk image) or kernelPath (a Xen PV kernel to build an image from)');
  }
  if (inputs.imagePath !== undefined && inputs.kernelPath !== undefined) {
    fail('kernelPath', 'give imagePath or kernelPath, not both');
  }
  if (inputs.imagePath !== undefined && (inputs.imageSize !== undefined || inputs.kernelCommandLine !== undefined)) {
    fail(
      inputs.imageSize !== undefined ? 'imageSize' : 'kernelCommandLine',
      'only applies to an image built from kernelPath',
    );
  }
  if (!inputs.bucket) fail('bucket', 'give the S3 bucket for the bundle');
  else if (known(inputs.bucket)) {
    const problem = bucketNameProblem(inputs.bucket);
    if (problem) fail('bucket', `bucket name "${inputs.bucket}" ${problem}`);
  }
  if (known(inputs.keyPrefix)) fail('keyPrefix', keyPrefixProblem(inputs.keyPrefix));
  const { acl } = inputs;
  if (known(acl) && !BUNDLE_ACLS.some((each) => each === acl))
    fail('acl', `"${acl}" is not one of ${BUNDLE_ACLS.join(', ')}`);
  fail('timeoutSeconds', positiveSecondsProblem(inputs.timeoutSeconds));

  /** A list whose items are of their kind (a program not checked by TypeScript may give others: its property fails). */
  const listOf = <T>(property: keyof BundledImageInputs & string, kind: Kind<T, unknown>): T | undefined => {
    const value = values[property];
    if (kind.is(value)) return value;
    if (known(value)) fail(property, `${JSON.stringify(value)} is not a value ${property} takes`);
    return undefined;
  };
  const name = defaultBundleName(inputs);
  const parameters: BundleParameters = {
    name: name ?? 'placeholder',
    accountId: inputs.accountId ?? '',
    architecture: inputs.architecture ?? 'x86_64',
    kernelId: inputs.kernelId,
    ramdiskId: inputs.ramdiskId,
    blockDeviceMappings: listOf('blockDeviceMappings', bundledImageSchema.blockDeviceMappings.kind),
    productCodes: listOf('productCodes', bundledImageSchema.productCodes.kind),
  };
  for (const problem of checkBundleParameters(parameters)) {
    const property = PARAMETER_FIELDS[problem.field] ?? problem.field;
    if (!known(values[property]) && property !== 'bundleName') continue;
    if (property === 'bundleName' && (name === undefined || isUnknown(name))) continue;
    fail(property, problem.message);
  }
  if (
    [inputs.privateKey, inputs.certificate, inputs.ec2Certificate, inputs.privateKeyPassphrase].every(
      (value) => !isUnknown(value),
    )
  ) {
    if (!inputs.privateKey)
      fail('privateKey', 'give the PEM RSA private key that signs the manifest (keep it a secret)');
    if (!inputs.certificate) fail('certificate', 'give the PEM certificate of the private key');
    if (!inputs.ec2Certificate) {
      fail(
        'ec2Certificate',
        "give EC2's bundling certificate for the region, from Amazon's ec2-ami-tools: cert-ec2.pem for the commercial regions that existed before 2019; " +
          'an opt-in region (af-south-1, ap-east-1, me-south-1, il-central-1, …) has its own in newer ec2-ami-tools; cert-ec2-cn*.pem for China; cert-ec2-gov.pem for GovCloud',
      );
    }
    if (inputs.privateKey && inputs.certificate && inputs.ec2Certificate) {
      try {
        readBundleKeys({
          privateKey: inputs.privateKey,
          privateKeyPassphrase: inputs.privateKeyPassphrase,
          userCertificate: inputs.certificate,
          ec2Certificate: inputs.ec2Certificate,
        });
      } catch (error) {
        if (!(error instanceof BundleInputError)) throw error;
        const property = PARAMETER_FIELDS[error.input] ?? error.input;
        fail(property, `${property} ${pulumiReason(error)}`);
      }
    }
  }
  return failures;
}

export function certificateFingerprint(pem: string): string {
  const { publicKey } = readCertificate(pem, 'certificate');
  const { n, e } = publicKey.export({ format: 'jwk' });
  // Hex without leading zeros, as the first releases wrote it: stored bundle keys depend on it.
  const hex = (base64url: string | undefined) =>
    Buffer.from(base64url ?? '', 'base64url')
      .toString('hex')
      .replace(/^0+(?=.)/, '');
  return createHash('sha256')
    .update(`${hex(n)}:${hex(e)}`)
    .digest('hex');
}

/**
 * Everything that goes into the manifest: any change makes a different bundle. A bundle's folder is
 * this key plus a suffix of its own ({@link bundleFolder}).
 */
export function bundleKeyOf(inputs: BundledImageInputs): string {
  const identity = {
    format: 1,
    sourceHash: inputs.sourceHash,
    bundleName: defaultBundleName(inputs),
    accountId: inputs.accountId.replace(/-/g, ''),
    architecture: inputs.architecture ?? 'x86_64',
    kernelId: inputs.kernelId,
    ramdiskId: inputs.ramdiskId,
    blockDeviceMappings: inputs.blockDeviceMappings,
    productCodes: inputs.productCodes,
    sparse: inputs.sparse ?? true,
    certificate: certificateFingerprint(inputs.certificate),
    ec2Certificate: certificateFingerprint(inputs.ec2Certificate),
  };
  return createHash('sha256').update(canonicalJson(identity)).digest('hex').slice(0, 16);
}

/** The folder of one bundle made: the content key and `suffix` (random per create, so that a replacement never lands on the bundle it replaces). */
export function bundleFolder(inputs: BundledImageInputs, suffix: string): string {
  if (!/^[0-9a-f]{8}$/.test(suffix)) throw new Error(`bundle folder suffix ${suffix} is not 8 hex digits`);
  return `${bundleKeyOf(inputs)}-${suffix}`;
}

/** Where a BundledImage's bundle lives: `bucket/prefix/bundle key/NAME.*`, from its inputs or its outputs. */
export function bundleAddressOf(place: {
  bucket: string;
  keyPrefix?: string;
  bundleKey: string;
  bundleName: string;
}): BundleAddress {
  return bundleAddress(
    subLocation({ bucket: bucketName(place.bucket), keyPrefix: normalizeKeyPrefix(place.keyPrefix) }, place.bundleKey),
    place.bundleName,
  );
}

/** Properties that change nothing in S3 (declared as updated in place). */
export const IN_PLACE_PROPERTIES = keysWhere(bundledImageSchema, (property) => property.change === 'update');
/** Properties that change what is in the bundle or where it is (declared as replacing it), in declaration order. */
const REPLACING_PROPERTIES = keysWhere(bundledImageSchema, (property) => property.change === 'replace');
const DEFAULTS = defaultsOf(bundledImageSchema);

function changed(before: unknown, after: unknown): boolean {
  return isUnknown(after) || !sameValue(before, after);
}

function withoutDashes(value: unknown): unknown {
  return typeof value === 'string' ? value.replace(/-/g, '') : value;
}

/**
 * The properties compared with something other than the stored input: what the bundle name and key
 * prefix come to, the effective region, the certificates' fingerprints (the state keeps no PEM
 * comparison of its own), the account id without dashes. `region` is the effective region.
 */
const COMPARED: Partial<
  Record<
    (typeof REPLACING_PROPERTIES)[number],
    (olds: BundledImageState, news: PlannedBundledImage, region: string | undefined) => boolean
  >
> = {
  accountId: (olds, news) => changed(withoutDashes(olds.accountId), withoutDashes(news.accountId)),
  bundleName: (olds, news) =>
    changed(
      olds.bundleName,
      isUnknown(news.bundleName) || isUnknown(news.imagePath) || isUnknown(news.kernelPath)
        ? (news.bundleName ?? news.imagePath ?? news.kernelPath)
        : defaultBundleName(news),
    ),
  keyPrefix: (olds, news) =>
    changed(olds.keyPrefix, isUnknown(news.keyPrefix) ? news.keyPrefix : normalizeKeyPrefix(news.keyPrefix)),
  region: (olds, _news, region) => regionMoves(olds.region, region),
  certificate: (olds, news) => fingerprintChanged(news.certificate, olds.certificateFingerprint),
  ec2Certificate: (olds, news) => fingerprintChanged(news.ec2Certificate, olds.ec2CertificateFingerprint),
};

function fingerprintChanged(pem: string | undefined, fingerprint: string): boolean {
  return isUnknown(pem) || (pem ? certificateFingerprint(pem) !== fingerprint : false);
}

/**
 * Cheap: no file is read (check already hashed the source). `effectiveRegion` is the region the
 * new inputs would use (the input, else the provider's configured region), or undefined if unknown.
 */
export function diffBundledImage(
  olds: BundledImageState,
  news: PlannedBundledImage,
  effectiveRegion: string | undefined,
): DiffOutcome {
  const oldRecord: Props = withDefaults(olds, DEFAULTS);
  const newRecord: Props = withDefaults(news, DEFAULTS);
  const replaces: string[] = REPLACING_PROPERTIES.filter((property) => {
    const compare = COMPARED[property];
    return compare ? compare(olds, news, effectiveRegion) : changed(oldRecord[property], newRecord[property]);
  });
  const updates: string[] = IN_PLACE_PROPERTIES.filter((property) => changed(oldRecord[property], newRecord[property]));
  // An unfinished upload is resumed in place; a damaged or half-removed bundle is made again.
  if (olds.bundleStatus === UNFINISHED) updates.push('bundleStatus');
  else if (olds.bundleStatus !== undefined && olds.bundleStatus !== 'intact') replaces.push('bundleStatus');
  if (replaces.length === 0) return { changes: updates.length > 0, replaces: [] };
  // Every bundle made goes to a folder of its own (the content key plus a suffix per create), so the
  // replacement is uploaded next to the bundle it replaces, which is deleted only once every
  // dependent has moved to the new one.
  return { changes: true, replaces };
}
