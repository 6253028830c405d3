/**
 * RegisteredAmi's pure rules: which source the inputs name, the input checks (shared, then the
 * source's own) and the diff.
 */
import { imageId, kernelId, ramdiskId } from '../../aws/ids';
import { nameProblem } from '../../aws/images';
import { parseImageLocation } from '../../aws/location';
import { CheckFailure, FailureList } from '../failures';
import { positiveSecondsProblem, regionMoves, wholeNumberProblem } from '../inputRules';
import { defaultsOf, keysWhere, parsePlanned, withDefaults } from '../schema';
import { diffProperties, DiffOutcome, isKnown, isUnknown } from '../values';
import { AmiSource, PlannedAmi, registeredAmiSchema } from './types';

type Props = Record<string, unknown>;

/**
 * A raw image (rawImagePath, or its former name imagePath in a state written before the rename)
 * makes an EBS-backed AMI; anything else is registered from a bundle manifest.
 */
export function sourceOf(props: Props): AmiSource {
  return props.rawImagePath !== undefined || props.imagePath !== undefined ? 'image' : 'bundle';
}

/**
 * rawImagePath was called imagePath (the name BundledImage gives a PV-GRUB image) until this
 * release: a program or a state that gives it has it under its new name. Both at once is a failure.
 */
export function withCurrentNames(props: Props): { props: Props; renamed: boolean; both: boolean } {
  const { imagePath, ...rest } = props;
  if (imagePath === undefined) return { props, renamed: false, both: false };
  if (rest.rawImagePath !== undefined) return { props, renamed: false, both: true };
  return { props: { ...rest, rawImagePath: imagePath }, renamed: true, both: false };
}

interface SourceRules {
  /** The input that names the source, checked first. */
  identity(inputs: PlannedAmi, list: FailureList): void;
  architectures: readonly string[];
  /** What AMIs of this source are called in messages. */
  called: string;
  /** Made from a raw image, an AMI is hvm. */
  hvmOnly: boolean;
  /** Where the other source's properties apply, for their message. */
  elsewhere: string;
  /** The source's own checks, after the shared ones. */
  rules(inputs: PlannedAmi, list: FailureList): void;
}

const SOURCE_RULES: Record<AmiSource, SourceRules> = {
  bundle: {
    identity(inputs, list) {
      const location = inputs.manifestLocation;
      if (location === undefined)
        list.fail(
          'manifestLocation',
          'give the bundle manifest location (BundledImage.manifestLocation), or rawImagePath for an EBS-backed AMI',
        );
      else if (isKnown(location)) list.attempt('manifestLocation', () => parseImageLocation(location));
    },
    architectures: ['x86_64', 'i386'],
    called: 'instance-store',
    hvmOnly: false,
    elsewhere: 'EBS-backed AMIs from rawImagePath',
    rules(inputs, list) {
      const { kernelId: kernel, ramdiskId: ramdisk } = inputs;
      if (isKnown(kernel)) list.attempt('kernelId', () => kernelId(kernel, 'kernelId'));
      if (isKnown(ramdisk)) list.attempt('ramdiskId', () => ramdiskId(ramdisk, 'ramdiskId'));
    },
  },
  image: {
    identity(inputs, list) {
      if (inputs.manifestLocation !== undefined)
        list.fail(
          'rawImagePath',
          'give manifestLocation (instance-store AMI) or rawImagePath (EBS-backed AMI), not both',
        );
    },
    architectures: ['x86_64', 'arm64'],
    called: 'EBS-backed',
    hvmOnly: true,
    elsewhere: 'AMIs from a bundle manifest',
    rules(inputs, list) {
      if (isKnown(inputs.bootMode) && !['legacy-bios', 'uefi', 'uefi-preferred'].includes(inputs.bootMode))
        list.fail('bootMode', 'must be legacy-bios, uefi or uefi-preferred');
      if (inputs.architecture === 'arm64' && inputs.bootMode === 'legacy-bios')
        list.fail('bootMode', 'arm64 AMIs boot with uefi only');
      if (isKnown(inputs.imdsSupport) && !['v2.0', 'optional'].includes(inputs.imdsSupport))
        list.fail('imdsSupport', 'must be "v2.0" (IMDSv2 required) or "optional"');
      if (isKnown(inputs.volumeType) && !['gp3', 'gp2', 'io1', 'io2', 'standard'].includes(inputs.volumeType))
        list.fail('volumeType', 'must be gp3, gp2, io1, io2 or standard');
      list.fail('volumeSize', wholeNumberProblem(inputs.volumeSize, 1, 16384, 'GiB'));
      if (inputs.kmsKeyArn !== undefined && inputs.encrypted !== true)
        list.fail('kmsKeyArn', 'a KMS key encrypts only with encrypted: true');
      if (
        isKnown(inputs.kmsKeyArn) &&
        !/^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)\/\S+$/.test(inputs.kmsKeyArn)
      )
        list.fail(
          'kmsKeyArn',
          `"${inputs.kmsKeyArn}" is not a KMS key or alias ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)`,
        );
    },
  },
};

/** The properties of the other source, which the inputs must not give (the two naming a source have their own rule). */
function foreignProperties(source: AmiSource) {
  return keysWhere(
    registeredAmiSchema,
    (property) => property.input !== undefined && property.source !== undefined && property.source !== source,
  ).filter((key) => key !== 'manifestLocation' && key !== 'rawImagePath');
}

export function checkAmiInputs(props: Props): CheckFailure[] {
  const list = new FailureList();
  const { planned: inputs, failures } = parsePlanned(registeredAmiSchema, props);
  for (const failure of failures) list.fail(failure.property, failure.reason);
  const source = sourceOf(props);
  const rules = SOURCE_RULES[source];
  if (inputs.adoptImageId === undefined) rules.identity(inputs, list);
  else if (inputs.manifestLocation !== undefined || inputs.rawImagePath !== undefined)
    list.fail('adoptImageId', 'takes over an existing AMI: give no manifestLocation or rawImagePath with it');
  else if (isKnown(inputs.adoptImageId)) list.attempt('adoptImageId', () => imageId(inputs.adoptImageId as string));
  if (!inputs.name) list.fail('name', 'give the AMI a name (3 to 128 characters)');
  else if (isKnown(inputs.name)) {
    const problem = nameProblem(inputs.name);
    if (problem) list.fail('name', `AMI name "${inputs.name}" ${problem}`);
    else if (inputs.exactName !== true && inputs.name.length + NAME_SUFFIX_LENGTH > 128)
      list.fail(
        'name',
        `AMI name "${inputs.name}" must be at most ${128 - NAME_SUFFIX_LENGTH} characters: the AMI is registered as NAME-xxxxxxxx (or set exactName)`,
      );
  }
  if (isKnown(inputs.architecture) && !rules.architectures.includes(inputs.architecture)) {
    list.fail(
      'architecture',
      `"${inputs.architecture}" is not an architecture for ${rules.called} AMIs; use ${rules.architectures.join(' or ')}`,
    );
  }
  if (isKnown(inputs.virtualizationType) && !['paravirtual', 'hvm'].includes(inputs.virtualizationType))
    list.fail('virtualizationType', `"${inputs.virtualizationType}" is not paravirtual or hvm`);
  else if (rules.hvmOnly && isKnown(inputs.virtualizationType) && inputs.virtualizationType !== 'hvm')
    list.fail('virtualizationType', 'EBS-backed AMIs made from a raw image are hvm');
  for (const property of foreignProperties(source)) {
    if (props[property] !== undefined) list.fail(property, `only applies to ${rules.elsewhere}`);
  }
  rules.rules(inputs, list);
  if (isKnown(inputs.description) && inputs.description.length > 255)
    list.fail('description', 'AMI descriptions are at most 255 characters');
  list.fail('timeoutSeconds', positiveSecondsProblem(inputs.timeoutSeconds));
  return list.failures;
}

/** "-" and 8 hex digits. */
const NAME_SUFFIX_LENGTH = 9;

/** The name an AMI is registered under: `name-suffix` (a suffix new for each AMI), or exactly `name` with exactName. */
export function registeredName(inputs: { name: string; exactName?: boolean }, suffix: string): string {
  if (!/^[0-9a-f]{8}$/.test(suffix)) throw new Error(`AMI name suffix ${suffix} is not 8 hex digits`);
  return inputs.exactName === true ? inputs.name : `${inputs.name}-${suffix}`;
}

/** Replacing properties compared as given; the region is compared as it takes effect, below. */
const REPLACE_ON = keysWhere(registeredAmiSchema, (property) => property.change === 'replace').filter(
  (key) => key !== 'region',
);
const UPDATE_ON = keysWhere(registeredAmiSchema, (property) => property.change === 'update');

/** Each side with the defaults of its own source, so that stating a default is no change. */
function effective(props: Props): Props {
  return withDefaults(props, defaultsOf(registeredAmiSchema, sourceOf(props)));
}

/** `effectiveRegion`: the region the new inputs would use, unknown in preview, undefined if none is configured. */
export function diffAmi(olds: Props, news: Props, effectiveRegion: string | undefined): DiffOutcome {
  const outcome = diffProperties(effective(olds), effective(sameBundleEtag(olds, news)), {
    replaceOn: REPLACE_ON,
    updateOn: UPDATE_ON,
  });
  // An adopted AMI is the one named: only another id (or a region, or a state other than available)
  // replaces it; the rest describes it and is kept in the state.
  const adopted = olds.adoptImageId !== undefined && olds.adoptImageId === news.adoptImageId;
  const replaces = adopted ? outcome.replaces.filter((key) => key === 'adoptImageId') : [...outcome.replaces];
  if (!adopted && sourceOf(olds) !== sourceOf(news) && !replaces.includes('rawImagePath'))
    replaces.push('rawImagePath');
  if (regionMoves(typeof olds.region === 'string' ? olds.region : undefined, effectiveRegion)) replaces.push('region');
  if (olds.state !== undefined && olds.state !== 'available') replaces.push('state');
  if (replaces.length === 0) return { changes: outcome.changes, replaces };
  // AMI names are unique in an account and region. Registered under a name of its own (the default),
  // the replacement is registered first; with exactName, a replacement that keeps the name can only
  // be registered once the old AMI is deregistered.
  const keepsExactName = news.exactName === true && olds.exactName === true && !replaces.includes('name');
  return keepsExactName ? { changes: true, replaces, deleteBeforeReplace: true } : { changes: true, replaces };
}

/**
 * The manifest's ETag is unknown in a preview whenever the bundle changes in place (an output the
 * engine does not know until the update runs), but a bundle made again always gets a new location:
 * with the location known and the same, the ETag is the stored one.
 */
function sameBundleEtag(olds: Props, news: Props): Props {
  const sameLocation =
    isKnown(news.manifestLocation) && news.manifestLocation === olds.manifestLocation && isUnknown(news.manifestEtag);
  return sameLocation ? { ...news, manifestEtag: olds.manifestEtag } : news;
}
