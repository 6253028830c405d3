/**
 * Throwaway RSA keys and self-signed certificates made by the real openssl, once per test run:
 * a user pair (2048 bits) and a stand-in "EC2" pair, so tests can open both sealed copies.
 */
import { readFileSync } from 'fs';
import * as path from 'path';
import { run, temporaryFolder } from './tools';

export interface KeyPair {
  keyPath: string;
  certPath: string;
  key: string;
  cert: string;
}

export interface TestPki {
  dir: string;
  user: KeyPair;
  ec2: KeyPair;
  /** A second user pair, for "key does not match" cases. */
  other: KeyPair;
}

let cached: TestPki | undefined;

function makePair(dir: string, name: string, bits: number): KeyPair {
  const keyPath = path.join(dir, `${name}-pk.pem`);
  const certPath = path.join(dir, `${name}-cert.pem`);
  run('openssl', [
    'req',
    '-x509',
    '-newkey',
    `rsa:${bits}`,
    '-nodes',
    '-keyout',
    keyPath,
    '-out',
    certPath,
    '-days',
    '2',
    '-subj',
    `/CN=${name}`,
  ]);
  return { keyPath, certPath, key: readFileSync(keyPath, 'utf8'), cert: readFileSync(certPath, 'utf8') };
}

export function testPki(): TestPki {
  if (cached) return cached;
  const { dir, cleanup } = temporaryFolder('unikernel-pki');
  process.once('exit', cleanup);
  cached = {
    dir,
    user: makePair(dir, 'user', 2048),
    ec2: makePair(dir, 'ec2', 1024),
    other: makePair(dir, 'other', 2048),
  };
  return cached;
}

/**
 * The test PKI's EC2 pair as the local AWS's `ec2Identity`: it then opens bundles sealed for
 * `testPki().ec2.cert` and boots them, as EC2 does those sealed for its own certificate.
 */
export function testEc2Identity(): { certificatePem: string; privateKeyPem: string } {
  const { ec2 } = testPki();
  return { certificatePem: ec2.cert, privateKeyPem: ec2.key };
}

/** `unikernel-ami bundle` of `image` with the test keys, for `accountId`, x86_64; the caller adds -d or -b. */
export function bundleCliArgs(image: string, accountId = '123456789012'): string[] {
  const pki = testPki();
  const keys = ['-k', pki.user.keyPath, '-c', pki.user.certPath, '--ec2cert', pki.ec2.certPath];
  return ['bundle', '-i', image, ...keys, '-u', accountId, '-r', 'x86_64'];
}
