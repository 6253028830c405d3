/** Bundling helpers for tests: a bundle made with the test PKI, and the openssl/gzip oracle pipeline. */
import { readFileSync, readdirSync } from 'fs';
import * as path from 'path';
import { bundleImage, BundleOptions, BundleResult, BundleTestHooks } from '../../provider/bundle/bundle';
import { testPki } from './pki';
import { run, shell } from './tools';

export const FIXED_KEY = '00112233445566778899aabbccddeeff';
export const FIXED_IV = 'f0e1d2c3b4a5968778695a4b3c2d1e0f';

export function bundleWithTestKeys(
  imagePath: string,
  destination: string,
  extra: Partial<BundleOptions> = {},
  hooks: BundleTestHooks = {},
): Promise<BundleResult> {
  const pki = testPki();
  return bundleImage(
    {
      imagePath,
      destination,
      privateKey: pki.user.key,
      userCertificate: pki.user.cert,
      ec2Certificate: pki.ec2.cert,
      accountId: '123456789012',
      architecture: 'x86_64',
      ...extra,
    },
    hooks,
  );
}

/** The text between the first <tag> and </tag> of a manifest, without the tags. */
export function elementText(xml: string, tag: string): string {
  const match = new RegExp(`<${tag}(?: [^>]*)?>([^<]*)</${tag}>`).exec(xml);
  if (!match) throw new Error(`no <${tag}> in manifest`);
  return match[1];
}

/** Opens a sealed key or IV with `openssl pkeyutl` (PKCS#1 v1.5), the way ec2-unbundle does. */
export function opensslUnseal(sealedHex: string, keyPath: string): string {
  return run('openssl', ['pkeyutl', '-decrypt', '-inkey', keyPath, '-pkeyopt', 'rsa_padding_mode:pkcs1'], {
    input: Buffer.from(sealedHex, 'hex'),
  }).toString('latin1');
}

function decryptScript(folder: string, name: string, keyHex: string, ivHex: string): string {
  const parts = readdirSync(folder)
    .filter((file) => file.startsWith(`${name}.part.`))
    .sort()
    .map((file) => `'${path.join(folder, file)}'`)
    .join(' ');
  return `cat ${parts} | openssl enc -d -aes-128-cbc -K ${keyHex} -iv ${ivHex}`;
}

/**
 * ec2-unbundle's pipeline with stock tools: cat parts | openssl enc -d | gunzip. Returns the tar stream.
 */
export function opensslDecryptParts(folder: string, name: string, keyHex: string, ivHex: string): Buffer {
  return Buffer.from(shell(`${decryptScript(folder, name, keyHex, ivHex)} | gzip -d | base64 -w0`), 'base64');
}

/** The same without gunzip: the gzip stream of the bundle, for checks of its own. */
export function opensslDecryptToGzip(folder: string, name: string, keyHex: string, ivHex: string): Buffer {
  return Buffer.from(shell(`${decryptScript(folder, name, keyHex, ivHex)} | base64 -w0`), 'base64');
}

export function readManifest(result: BundleResult): string {
  return readFileSync(result.manifestPath, 'utf8');
}
