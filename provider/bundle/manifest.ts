/**
 * The 2007-10-10 bundle manifest: its model and its canonical serialization.
 *
 * The bytes must be exactly what Ruby's REXML writes (single-quoted attributes, no whitespace, no
 * encoding declaration, no trailing newline), because Amazon's tools verify the signature over a
 * re-serialization of the parsed document. No XML writer library can be told to produce that exact
 * form, so this small serializer is written by hand.
 */
export interface BlockDeviceMapping {
  /** `ami`, `root`, `swap` or `ephemeralN`. */
  virtual: string;
  /** `sda1`, `/dev/sda1`, `sdb`, ... */
  device: string;
}

export interface ManifestPart {
  index: number;
  filename: string;
  /** Lowercase hex SHA-1 of the part file. */
  digest: string;
}

export type ImageType = 'machine' | 'kernel' | 'ramdisk';

export interface BundlerInfo {
  name?: string;
  version?: string;
  release?: string;
}

export interface MachineConfiguration {
  architecture?: string;
  blockDeviceMappings?: BlockDeviceMapping[];
  kernelId?: string;
  ramdiskId?: string;
  productCodes?: string[];
}

export interface ManifestImage {
  name: string;
  user: string;
  type: ImageType;
  /** Only for `kernel` images. */
  kernelName?: string;
  ancestorAmiIds?: string[];
  /** Lowercase hex SHA-1 of the uncompressed tar stream. */
  digest: string;
  size: number;
  bundledSize: number;
  ec2EncryptedKey: string;
  userEncryptedKey: string;
  ec2EncryptedIv: string;
  userEncryptedIv: string;
  parts: ManifestPart[];
}

export interface Manifest {
  version: string;
  bundler?: BundlerInfo;
  machineConfiguration: MachineConfiguration;
  image: ManifestImage;
  signature: string;
}

export type UnsignedManifest = Omit<Manifest, 'signature'>;

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => ESCAPES[char]);
}

type Attributes = Record<string, string>;

/** One element; an element whose content is undefined or empty is not written at all. */
function element(name: string, content: string | undefined, attributes: Attributes = {}): string {
  if (content === undefined || content === '') return '';
  const attributeText = Object.entries(attributes)
    .map(([key, value]) => ` ${key}='${escapeXml(value)}'`)
    .join('');
  return `<${name}${attributeText}>${content}</${name}>`;
}

const text = (value: string | number | undefined): string | undefined =>
  value === undefined ? undefined : escapeXml(String(value));

function renderBundler(bundler: BundlerInfo | undefined): string {
  if (!bundler) return '';
  return element(
    'bundler',
    element('name', text(bundler.name)) +
      element('version', text(bundler.version)) +
      element('release', text(bundler.release)),
  );
}

/** Mappings sorted by virtual name in plain string order, as the tools write them. */
export function sortMappings(mappings: readonly BlockDeviceMapping[]): BlockDeviceMapping[] {
  return [...mappings].sort((a, b) => (a.virtual < b.virtual ? -1 : a.virtual > b.virtual ? 1 : 0));
}

export function renderMachineConfiguration(configuration: MachineConfiguration): string {
  const mappings = sortMappings(configuration.blockDeviceMappings ?? [])
    .map((mapping) =>
      element('mapping', element('virtual', text(mapping.virtual)) + element('device', text(mapping.device))),
    )
    .join('');
  const productCodes = (configuration.productCodes ?? []).map((code) => element('product_code', text(code))).join('');
  return element(
    'machine_configuration',
    element('architecture', text(configuration.architecture)) +
      element('block_device_mapping', mappings) +
      element('kernel_id', text(configuration.kernelId)) +
      element('ramdisk_id', text(configuration.ramdiskId)) +
      element('product_codes', productCodes),
  );
}

export function renderImage(image: ManifestImage): string {
  const ancestry = (image.ancestorAmiIds ?? []).map((id) => element('ancestor_ami_id', text(id))).join('');
  const parts = image.parts
    .map((part) =>
      element(
        'part',
        element('filename', text(part.filename)) + element('digest', text(part.digest), { algorithm: 'SHA1' }),
        { index: String(part.index) },
      ),
    )
    .join('');
  return element(
    'image',
    element('name', text(image.name)) +
      element('user', text(image.user)) +
      element('type', text(image.type)) +
      (image.type === 'kernel' ? element('kernel_name', text(image.kernelName)) : '') +
      element('ancestry', ancestry) +
      element('digest', text(image.digest), { algorithm: 'SHA1' }) +
      element('size', text(image.size)) +
      element('bundled_size', text(image.bundledSize)) +
      element('ec2_encrypted_key', text(image.ec2EncryptedKey), { algorithm: 'AES-128-CBC' }) +
      element('user_encrypted_key', text(image.userEncryptedKey), { algorithm: 'AES-128-CBC' }) +
      element('ec2_encrypted_iv', text(image.ec2EncryptedIv)) +
      element('user_encrypted_iv', text(image.userEncryptedIv)) +
      // `parts` is written even for zero parts in principle, but a bundle always has at least one.
      `<parts count='${image.parts.length}'>${parts}</parts>`,
  );
}

/** The exact byte string the signature covers: machine_configuration (if any) then image. */
export function signedTextOf(manifest: UnsignedManifest): string {
  return renderMachineConfiguration(manifest.machineConfiguration) + renderImage(manifest.image);
}

export function renderManifest(manifest: Manifest): string {
  return (
    "<?xml version='1.0'?>" +
    '<manifest>' +
    element('version', text(manifest.version)) +
    renderBundler(manifest.bundler) +
    signedTextOf(manifest) +
    element('signature', text(manifest.signature)) +
    '</manifest>'
  );
}

/**
 * The signed text of a serialized manifest, found the way the AMI tools find it: by plain text
 * search for the first opening and closing tags of `machine_configuration` and of `image`.
 */
export function extractSignedText(xml: string): string {
  return slice(xml, 'machine_configuration') + slice(xml, 'image');
}

function slice(xml: string, tag: string): string {
  const start = xml.indexOf(`<${tag}>`);
  const closing = `</${tag}>`;
  const end = xml.indexOf(closing);
  if (start === -1 || end === -1 || end < start) return '';
  return xml.slice(start, end + closing.length);
}
