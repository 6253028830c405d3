/**
 * Reads a manifest with a real, strict XML parser (saxes, through xmlTree.ts). Document type
 * declarations are refused outright, so no entity can be declared or expanded (the "billion
 * laughs" bomb).
 */
import { parseXmlTree, XmlElement, XmlTreeError } from './xmlTree';
import { BundleIntegrityError } from './errors';
import { renderManifest, BlockDeviceMapping, ImageType, Manifest, ManifestPart } from './manifest';

/** Manifests are a few kilobytes; 10 GiB of parts is about 1,000 part entries (about 150 KB). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
/** The deepest manifest element is manifest/image/parts/part/digest, at depth 5. */
export const MAX_MANIFEST_DEPTH = 8;
/** About 3 elements a part: room for more than 5,000 parts (10 GiB in 10 MiB parts is 1,024). */
export const MAX_MANIFEST_ELEMENTS = 16_384;

function parseXml(xml: string): XmlElement {
  try {
    return parseXmlTree(xml, { maxDepth: MAX_MANIFEST_DEPTH, maxElements: MAX_MANIFEST_ELEMENTS });
  } catch (error) {
    if (!(error instanceof XmlTreeError)) throw error;
    if (error.kind === 'doctype') {
      throw new BundleIntegrityError(
        'manifest-dtd',
        'the manifest contains a document type declaration (<!DOCTYPE>); bundle manifests never have one, and it can carry an entity-expansion bomb',
      );
    }
    if (error.kind === 'limits') {
      throw new BundleIntegrityError(
        'manifest-limits',
        `the manifest is not one a bundler writes: ${error.message}; refused before reading further`,
      );
    }
    if (error.kind === 'empty')
      throw new BundleIntegrityError('manifest-xml', 'the manifest has no <manifest> root element');
    throw new BundleIntegrityError('manifest-xml', `the manifest is not well-formed XML: ${error.message}`);
  }
}

function child(node: XmlElement | undefined, name: string): XmlElement | undefined {
  return node?.children.find((candidate) => candidate.name === name);
}

function children(node: XmlElement | undefined, name: string): XmlElement[] {
  return node ? node.children.filter((candidate) => candidate.name === name) : [];
}

/** The same errors, in the same words, as ec2-unbundle. */
function required(node: XmlElement | undefined, path: string[]): string {
  let current = node;
  for (const name of path) current = child(current, name);
  const where = path.join('/');
  if (!current) throw new BundleIntegrityError('manifest-field', `invalid AMI manifest, ${where} element not present`);
  if (current.text === '')
    throw new BundleIntegrityError('manifest-field', `invalid AMI manifest, ${where} element empty`);
  return current.text;
}

function optional(node: XmlElement | undefined, name: string): string | undefined {
  const value = child(node, name)?.text;
  return value === undefined || value === '' ? undefined : value;
}

function decimal(value: string, where: string): number {
  if (!/^[0-9]{1,16}$/.test(value) || !Number.isSafeInteger(Number(value))) {
    throw new BundleIntegrityError(
      'manifest-field',
      `invalid AMI manifest, ${where} is not a decimal number: ${JSON.stringify(value)}`,
    );
  }
  return Number(value);
}

const HEX = /^[0-9a-fA-F]+$/;

function hexField(node: XmlElement, path: string[]): string {
  const value = required(node, path);
  if (!HEX.test(value)) {
    throw new BundleIntegrityError('manifest-field', `invalid AMI manifest, ${path.join('/')} is not hexadecimal`);
  }
  return value;
}

function parseParts(image: XmlElement): ManifestPart[] {
  const partsNode = child(image, 'parts');
  if (!partsNode)
    throw new BundleIntegrityError('manifest-field', 'invalid AMI manifest, image/parts element not present');
  const parts = children(partsNode, 'part').map((part): ManifestPart => {
    const indexText = part.attributes.index;
    if (indexText === undefined)
      throw new BundleIntegrityError('manifest-parts', 'invalid AMI manifest, a part has no index attribute');
    return {
      index: decimal(indexText, 'a part index'),
      filename: required(part, ['filename']),
      digest: hexField(part, ['digest']),
    };
  });
  const countText = partsNode.attributes.count;
  if (countText !== undefined && decimal(countText, 'image/parts count') !== parts.length) {
    throw new BundleIntegrityError(
      'manifest-parts',
      `the manifest says count='${countText}' but lists ${parts.length} parts`,
    );
  }
  if (parts.length === 0) throw new BundleIntegrityError('manifest-parts', 'the manifest lists no parts');
  parts.sort((a, b) => a.index - b.index);
  parts.forEach((part, position) => {
    if (part.index !== position) {
      throw new BundleIntegrityError(
        'manifest-parts',
        `the manifest's part indexes are not 0..${parts.length - 1} (index ${part.index} is out of place)`,
      );
    }
  });
  return parts;
}

function parseMappings(configuration: XmlElement | undefined): BlockDeviceMapping[] | undefined {
  const node = child(configuration, 'block_device_mapping');
  if (!node) return undefined;
  return children(node, 'mapping').map((mapping) => ({
    virtual: required(mapping, ['virtual']),
    device: required(mapping, ['device']),
  }));
}

function listOf(node: XmlElement | undefined, name: string): string[] | undefined {
  if (!node) return undefined;
  return children(node, name).map((item) => item.text);
}

export interface ParsedManifest {
  manifest: Manifest;
  /** True when re-serializing the parsed manifest gives back exactly the same text. */
  canonical: boolean;
}

export function parseManifest(xml: string): ParsedManifest {
  const root = parseXml(xml);
  if (root.name !== 'manifest') {
    throw new BundleIntegrityError('manifest-xml', 'the manifest has no <manifest> root element');
  }
  const version = optional(root, 'version');
  if (version === undefined)
    throw new BundleIntegrityError('manifest-version', 'Invalid manifest: it has no version element');
  if (version !== '2007-10-10') {
    throw new BundleIntegrityError(
      'manifest-version',
      `manifest version ${JSON.stringify(version)} is not supported; only 2007-10-10 bundles can be read`,
    );
  }
  const bundlerNode = child(root, 'bundler');
  const configuration = child(root, 'machine_configuration');
  const image = child(root, 'image');
  if (!image) throw new BundleIntegrityError('manifest-field', 'invalid AMI manifest, image element not present');
  const type = required(image, ['type']);
  if (type !== 'machine' && type !== 'kernel' && type !== 'ramdisk') {
    throw new BundleIntegrityError(
      'manifest-field',
      `invalid AMI manifest, image/type ${JSON.stringify(type)} is not machine, kernel or ramdisk`,
    );
  }
  const manifest: Manifest = {
    version,
    bundler: bundlerNode
      ? {
          name: optional(bundlerNode, 'name'),
          version: optional(bundlerNode, 'version'),
          release: optional(bundlerNode, 'release'),
        }
      : undefined,
    machineConfiguration: {
      architecture: optional(configuration, 'architecture'),
      blockDeviceMappings: parseMappings(configuration),
      kernelId: optional(configuration, 'kernel_id'),
      ramdiskId: optional(configuration, 'ramdisk_id'),
      productCodes: listOf(child(configuration, 'product_codes'), 'product_code'),
    },
    image: {
      name: required(image, ['name']),
      user: required(image, ['user']),
      type: type as ImageType,
      kernelName: optional(image, 'kernel_name'),
      ancestorAmiIds: listOf(child(image, 'ancestry'), 'ancestor_ami_id'),
      digest: hexField(image, ['digest']),
      size: decimal(required(image, ['size']), 'image/size'),
      bundledSize: decimal(required(image, ['bundled_size']), 'image/bundled_size'),
      ec2EncryptedKey: hexField(image, ['ec2_encrypted_key']),
      userEncryptedKey: hexField(image, ['user_encrypted_key']),
      ec2EncryptedIv: hexField(image, ['ec2_encrypted_iv']),
      userEncryptedIv: hexField(image, ['user_encrypted_iv']),
      parts: parseParts(image),
    },
    signature: optional(root, 'signature') ?? '',
  };
  return { manifest, canonical: renderManifest(manifest) === xml };
}
