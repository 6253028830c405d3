/**
 * The descriptive parameters of a bundle (everything but the image and the keys), validated and
 * normalized without any I/O, so that the CLI and the Pulumi `check` share one set of rules.
 */
import { ARCHITECTURES, Architecture } from './constants';
import { BundleInputError } from './errors';
import { BlockDeviceMapping } from './manifest';
import { validateMemberName } from './tarHeader';

export interface BundleParameters {
  /** The bundle name (ec2-bundle-image's `-p` prefix, or the image file's basename). */
  name: string;
  /** The AWS account id: 12 digits, hyphens allowed. */
  accountId: string;
  architecture: string;
  kernelId?: string;
  ramdiskId?: string;
  /** `virtual=device` pairs, as a list or as ec2-bundle-image's comma-separated `-B` text. */
  blockDeviceMappings?: BlockDeviceMapping[] | string;
  /** Product codes, as a list or as comma-separated text. */
  productCodes?: string[] | string;
  ancestorAmiIds?: string[];
}

export interface NormalizedParameters {
  name: string;
  accountId: string;
  architecture: Architecture;
  kernelId?: string;
  ramdiskId?: string;
  blockDeviceMappings?: BlockDeviceMapping[];
  productCodes?: string[];
  ancestorAmiIds?: string[];
}

export type ParameterField = keyof BundleParameters;

export interface FieldProblem {
  field: ParameterField;
  message: string;
}

const NAME_CHARACTERS = /^[A-Za-z0-9._-]+$/;
const VIRTUAL_NAME = /^(ami|root|swap|ephemeral[0-9]{1,2})$/;
const DEVICE_NAME = /^(\/dev\/)?(sd|xvd|hd)[a-z]{1,2}[0-9]{0,2}$/;
const PRODUCT_CODE = /^[A-Za-z0-9]{1,64}$/;

function awsId(prefix: string): RegExp {
  return new RegExp(`^${prefix}-([0-9a-f]{8}|[0-9a-f]{17})$`);
}

export function problemWithName(name: string): string | undefined {
  const problem = validateMemberName(name);
  if (problem) return `${problem}; give a bundle name such as my-app.img`;
  if (!NAME_CHARACTERS.test(name)) {
    return 'may contain only letters, digits, ".", "_" and "-"; give a bundle name such as my-app.img';
  }
  return undefined;
}

/** Account id without hyphens, or undefined when it is not exactly 12 digits. */
export function normalizeAccountId(accountId: string): string | undefined {
  const digits = accountId.replace(/-/g, '');
  return /^[0-9]{12}$/.test(digits) ? digits : undefined;
}

function splitList(value: string[] | string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const items = (typeof value === 'string' ? value.split(',') : value).map((item) => item.trim());
  return items.length === 0 || (items.length === 1 && items[0] === '') ? undefined : items;
}

export function parseBlockDeviceMappings(value: BlockDeviceMapping[] | string): BlockDeviceMapping[] {
  if (typeof value !== 'string') return value;
  return value.split(',').map((pair) => {
    const [virtual, device, ...rest] = pair.trim().split('=');
    if (rest.length > 0 || virtual === undefined || device === undefined) {
      throw new RangeError(`"${pair}" is not a virtual=device pair`);
    }
    return { virtual: virtual.trim(), device: device.trim() };
  });
}

function mappingProblem(value: BlockDeviceMapping[] | string): string | undefined {
  let mappings: BlockDeviceMapping[];
  try {
    mappings = parseBlockDeviceMappings(value);
  } catch (error) {
    return `${(error as Error).message}; write mappings as virtual=device pairs, e.g. ami=sda1,root=/dev/sda1,ephemeral0=sdb`;
  }
  const seen = new Set<string>();
  for (const { virtual, device } of mappings) {
    if (!VIRTUAL_NAME.test(virtual)) {
      return `"${virtual}" is not a virtual device name; use ami, root, swap or ephemeralN`;
    }
    if (!DEVICE_NAME.test(device)) {
      return `"${device}" is not a device name; use names like sda1, /dev/sda1, sdb or xvdb`;
    }
    if (seen.has(virtual)) return `"${virtual}" is mapped more than once`;
    seen.add(virtual);
  }
  return undefined;
}

/** Every problem with the parameters, one per field, for a preview that reports them all. */
export function checkBundleParameters(parameters: BundleParameters): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const report = (field: ParameterField, message: string | undefined) => {
    if (message) problems.push({ field, message });
  };
  report('name', problemWithName(parameters.name));
  if (normalizeAccountId(parameters.accountId) === undefined) {
    report(
      'accountId',
      `"${parameters.accountId}" is not a 12-digit AWS account id (hyphens allowed, e.g. 1234-5678-9012)`,
    );
  }
  if (!(ARCHITECTURES as readonly string[]).includes(parameters.architecture)) {
    report('architecture', `"${parameters.architecture}" is not a bundle architecture; use i386 or x86_64`);
  }
  if (parameters.kernelId !== undefined && !awsId('aki').test(parameters.kernelId)) {
    report(
      'kernelId',
      `"${parameters.kernelId}" is not a kernel id; expected aki- and 8 or 17 hex digits, e.g. aki-fc8f11cc`,
    );
  }
  if (parameters.ramdiskId !== undefined && !awsId('ari').test(parameters.ramdiskId)) {
    report(
      'ramdiskId',
      `"${parameters.ramdiskId}" is not a ramdisk id; expected ari- and 8 or 17 hex digits, e.g. ari-12345678`,
    );
  }
  if (parameters.blockDeviceMappings !== undefined) {
    report('blockDeviceMappings', mappingProblem(parameters.blockDeviceMappings));
  }
  const badCode = splitList(parameters.productCodes)?.find((code) => !PRODUCT_CODE.test(code));
  if (badCode !== undefined) {
    report('productCodes', `"${badCode}" is not a product code; product codes are letters and digits, comma-separated`);
  }
  const badAncestor = parameters.ancestorAmiIds?.find((id) => !awsId('ami').test(id));
  if (badAncestor !== undefined) {
    report('ancestorAmiIds', `"${badAncestor}" is not an AMI id; expected ami- and 8 or 17 hex digits`);
  }
  return problems;
}

/** The normalized parameters, or a BundleInputError naming the first bad field. */
export function normalizeBundleParameters(parameters: BundleParameters): NormalizedParameters {
  const [problem] = checkBundleParameters(parameters);
  if (problem) throw new BundleInputError(problem.field, problem.message);
  return {
    name: parameters.name,
    accountId: normalizeAccountId(parameters.accountId) as string,
    architecture: parameters.architecture as Architecture,
    kernelId: parameters.kernelId,
    ramdiskId: parameters.ramdiskId,
    blockDeviceMappings:
      parameters.blockDeviceMappings === undefined
        ? undefined
        : parseBlockDeviceMappings(parameters.blockDeviceMappings),
    productCodes: splitList(parameters.productCodes),
    ancestorAmiIds: parameters.ancestorAmiIds?.length ? parameters.ancestorAmiIds : undefined,
  };
}
