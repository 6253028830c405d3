/**
 * RSA for bundles: reading the user's key and the certificates, sealing the AES key and IV
 * (RSAES-PKCS1-v1_5) for a certificate, opening them with the user's key, and the RSA-SHA1 manifest
 * signature.
 *
 * Node's crypto (OpenSSL) does the reading, sealing, signing and verifying. Opening a sealed key is
 * the one thing it refuses: Node 20 disables PKCS#1 v1.5 private decryption (the Marvin timing
 * attack), which unbundling needs, so `unseal` alone uses node-forge, loaded only when called.
 * Loading forge costs about 10 MB of RSS, a fifth of the bundler's memory budget, which is why the
 * bundling path does without it.
 */
import {
  constants,
  createPrivateKey,
  createPublicKey,
  KeyObject,
  publicEncrypt,
  sign as rsaSign,
  verify as rsaVerify,
  X509Certificate,
} from 'crypto';
import type * as Forge from 'node-forge';
import { BundleInputError, BundleIntegrityError } from './errors';

export interface Certificate {
  publicKey: KeyObject;
  /** Modulus length in bytes: every ciphertext and signature is exactly this long. */
  modulusBytes: number;
}

export interface PrivateKey {
  key: KeyObject;
  publicKey: KeyObject;
  modulusBytes: number;
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----/;

function modulusBytesOf(key: KeyObject): number {
  return Math.ceil((key.asymmetricKeyDetails?.modulusLength ?? 0) / 8);
}

/**
 * Reads a PEM X.509 certificate. Only its RSA public key matters: validity dates and chains are
 * deliberately not checked, because EC2's own bundling certificates expired long ago.
 */
export function readCertificate(pem: string, input: string): Certificate {
  const kind = PEM_BLOCK.exec(pem)?.[1];
  if (kind !== 'CERTIFICATE') {
    throw new BundleInputError(
      input,
      kind
        ? `is a PEM "${kind}", not a certificate; give the X.509 certificate (-----BEGIN CERTIFICATE-----)`
        : 'is not a PEM certificate; give the X.509 certificate file (-----BEGIN CERTIFICATE-----)',
    );
  }
  let publicKey: KeyObject;
  try {
    publicKey = new X509Certificate(pem).publicKey;
  } catch (error) {
    throw new BundleInputError(
      input,
      `could not be read as an RSA X.509 certificate (${(error as Error).message}); bundles need an RSA certificate`,
    );
  }
  if (publicKey.asymmetricKeyType !== 'rsa') {
    throw new BundleInputError(
      input,
      `holds a ${publicKey.asymmetricKeyType} key, not an RSA key; bundles need an RSA certificate`,
    );
  }
  return { publicKey, modulusBytes: modulusBytesOf(publicKey) };
}

/** Reads an RSA private key in any PEM form Node understands, decrypting it with `passphrase`. */
export function readPrivateKey(pem: string, input: string, passphrase?: string): PrivateKey {
  const kind = PEM_BLOCK.exec(pem)?.[1];
  if (!kind || !/PRIVATE KEY$/.test(kind)) {
    throw new BundleInputError(
      input,
      kind
        ? `is a PEM "${kind}", not a private key; give the RSA private key (-----BEGIN PRIVATE KEY----- or -----BEGIN RSA PRIVATE KEY-----)`
        : 'is not a PEM private key; give the RSA private key file (-----BEGIN PRIVATE KEY----- or -----BEGIN RSA PRIVATE KEY-----)',
    );
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem', passphrase: passphrase ?? '' });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const encrypted = /ENCRYPTED/.test(pem);
    if (encrypted && !passphrase) {
      throw new BundleInputError(input, 'is encrypted and no passphrase was given', { kind: 'passphrase' });
    }
    if (encrypted) {
      throw new BundleInputError(input, 'could not be decrypted with the passphrase given; check the passphrase');
    }
    throw new BundleInputError(input, `could not be read as a private key (${code ?? (error as Error).message})`);
  }
  if (key.asymmetricKeyType !== 'rsa') {
    throw new BundleInputError(input, `is a ${key.asymmetricKeyType} key; bundles need an RSA key`);
  }
  return { key, publicKey: createPublicKey(key), modulusBytes: modulusBytesOf(key) };
}

export function sameKey(a: KeyObject, b: KeyObject): boolean {
  return a.equals(b);
}

/** RSAES-PKCS1-v1_5 of the 32 ASCII hex characters (not the raw bytes), as lowercase hex. */
export function seal(certificate: Certificate, hexText: string): string {
  const sealed = publicEncrypt(
    { key: certificate.publicKey, padding: constants.RSA_PKCS1_PADDING },
    Buffer.from(hexText, 'latin1'),
  );
  return sealed.toString('hex').padStart(certificate.modulusBytes * 2, '0');
}

const forgeKeys = new WeakMap<KeyObject, Forge.pki.rsa.PrivateKey>();

function forgeKeyOf(privateKey: PrivateKey): { forge: typeof Forge; key: Forge.pki.rsa.PrivateKey } {
  const forge = require('node-forge') as typeof Forge;
  let key = forgeKeys.get(privateKey.key);
  if (!key) {
    key = forge.pki.privateKeyFromPem(privateKey.key.export({ format: 'pem', type: 'pkcs1' }).toString());
    forgeKeys.set(privateKey.key, key);
  }
  return { forge, key };
}

/** Opens a sealed key or IV: a leading 0 is added to odd-length hex, as ec2-unbundle does. */
export function unseal(privateKey: PrivateKey, sealedHex: string, what: string): string {
  const hex = sealedHex.length % 2 === 1 ? `0${sealedHex}` : sealedHex;
  const { forge, key } = forgeKeyOf(privateKey);
  let plain: string;
  try {
    plain = key.decrypt(forge.util.hexToBytes(hex), 'RSAES-PKCS1-V1_5');
  } catch {
    throw new BundleIntegrityError(
      'unseal',
      `could not decrypt ${what} with the private key given (padding check failed): the bundle was not made for this key`,
    );
  }
  if (!/^[0-9a-fA-F]{32}$/.test(plain)) {
    throw new BundleIntegrityError(
      'unseal',
      `${what} decrypts to something other than 32 hex characters; the bundle is corrupt`,
    );
  }
  return plain.toLowerCase();
}

/** RSASSA-PKCS1-v1_5 with SHA-1 over the UTF-8 bytes of `text`, as lowercase hex. */
export function sign(privateKey: PrivateKey, text: string): string {
  const signature = rsaSign('sha1', Buffer.from(text, 'utf8'), {
    key: privateKey.key,
    padding: constants.RSA_PKCS1_PADDING,
  });
  return signature.toString('hex').padStart(privateKey.modulusBytes * 2, '0');
}

export function verifySignature(publicKey: KeyObject, text: string, signatureHex: string): boolean {
  if (!/^[0-9a-fA-F]+$/.test(signatureHex)) return false;
  const hex = signatureHex.length % 2 === 1 ? `0${signatureHex}` : signatureHex;
  try {
    return rsaVerify(
      'sha1',
      Buffer.from(text, 'utf8'),
      { key: publicKey, padding: constants.RSA_PKCS1_PADDING },
      Buffer.from(hex, 'hex'),
    );
  } catch {
    return false;
  }
}
