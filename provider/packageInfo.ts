/**
 * This package's name and version, read from its package.json at run time: the file sits two
 * folders above the compiled module (dist/provider/), in a checkout and in an installed package alike.
 */
import { readFileSync } from 'fs';
import * as path from 'path';

export interface PackageInfo {
  name: string;
  version: string;
}

function readPackageInfo(): PackageInfo {
  const file = path.join(__dirname, '..', '..', 'package.json');
  const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
  if (typeof parsed === 'object' && parsed !== null && 'name' in parsed && 'version' in parsed) {
    const { name, version } = parsed;
    if (typeof name === 'string' && typeof version === 'string') {
      return { name, version };
    }
  }
  throw new Error(`${file} has no name and version: reinstall pulumi-unikernel`);
}

export const packageInfo: PackageInfo = readPackageInfo();
