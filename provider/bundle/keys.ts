/**
 * RSA for bundles, with node-forge: reading the user's key and the certificates, sealing the AES
 * key and IV (RSAES-PKCS1-v1_5) for a certificate, opening them with the user's key, and the
 * RSA-SHA1 manifest signature. Node's own crypto refuses PKCS#1 v1.5 private decryption, which
 * unbundling needs; Node is used only to read keys in every PEM flavour (PKCS#1, PKCS#8, encrypted).
 */
import { createPrivateKey, KeyObject } from 'crypto';
import forge from 'node-forge';
import { BundleInputError, BundleIntegrityError } from './errors';

export interface Certificate {
  publicKey: forge.pki.rsa.PublicKey;
  /** Modulus length in bytes: every ciphertext and signature is exactly this long. */
  modulusBytes: number;
}

export interface PrivateKey {
  key: forge.pki.rsa.PrivateKey;
  publicKey: forge.pki.rsa.PublicKey;
  modulusBytes: number;
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----/;

/**
 * Reads a PEM X.509 certificate. Only its RSA public key matters: validity dates and chains are
 * deliberately not checked, because EC2's own bundling certificates expired long ago.
 */
export function readCertificate(pem: string, input: string): Certificate {
  const kind = PEM_BLOCK.exec(pem)?.[1];
  if (kind !== 'CERTIFICATE') {
    throw new BundleInputError(input, kind
      ? `is a PEM "${kind}", not a certificate; give the X.509 certificate (-----BEGIN CERTIFICATE-----)`
      : 'is not a PEM certificate; give the X.509 certificate file (-----BEGIN CERTIFICATE-----)');
  }
  let certificate: forge.pki.Certificate;
  try {
    certificate = forge.pki.certificateFromPem(pem);
  } catch (error) {
    throw new BundleInputError(input, `could not be read as an RSA X.509 certificate (${(error as Error).message}); bundles need an RSA certificate`);
  }
  const publicKey = certificate.publicKey as forge.pki.rsa.PublicKey;
  return { publicKey, modulusBytes: Math.ceil(publicKey.n.bitLength() / 8) };
}

/** Reads an RSA private key in any PEM form Node understands, decrypting it with `passphrase`. */
export function readPrivateKey(pem: string, input: string, passphrase?: string): PrivateKey {
  const kind = PEM_BLOCK.exec(pem)?.[1];
  if (!kind || !/PRIVATE KEY$/.test(kind)) {
    throw new BundleInputError(input, kind
      ? `is a PEM "${kind}", not a private key; give the RSA private key (-----BEGIN PRIVATE KEY----- or -----BEGIN RSA PRIVATE KEY-----)`
      : 'is not a PEM private key; give the RSA private key file (-----BEGIN PRIVATE KEY----- or -----BEGIN RSA PRIVATE KEY-----)');
  }
  let keyObject: KeyObject;
  try {
    keyObject = createPrivateKey({ key: pem, format: 'pem', passphrase: passphrase ?? '' });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const encrypted = /ENCRYPTED/.test(pem);
    if (encrypted && !passphrase) {
      throw new BundleInputError(input, 'is encrypted and no passphrase was given; set UNIKERNEL_AMI_KEY_PASSPHRASE or pass --passphrase-file');
    }
    if (encrypted) {
      throw new BundleInputError(input, 'could not be decrypted with the passphrase given; check the passphrase');
    }
    throw new BundleInputError(input, `could not be read as a private key (${code ?? (error as Error).message})`);
  }
  if (keyObject.asymmetricKeyType !== 'rsa') {
    throw new BundleInputError(input, `is a ${keyObject.asymmetricKeyType} key; bundles need an RSA key`);
  }
  const key = forge.pki.privateKeyFromPem(keyObject.export({ format: 'pem', type: 'pkcs1' }).toString());
  const publicKey = forge.pki.setRsaPublicKey(key.n, key.e);
  return { key, publicKey, modulusBytes: Math.ceil(key.n.bitLength() / 8) };
}

export function sameKey(a: forge.pki.rsa.PublicKey, b: forge.pki.rsa.PublicKey): boolean {
  return a.n.equals(b.n) && a.e.equals(b.e);
}

function toHex(bytes: string, modulusBytes: number): string {
  return forge.util.bytesToHex(bytes).padStart(modulusBytes * 2, '0');
}

/** RSAES-PKCS1-v1_5 of the 32 ASCII hex characters (not the raw bytes), as lowercase hex. */
export function seal(certificate: Certificate, hexText: string): string {
  return toHex(certificate.publicKey.encrypt(hexText, 'RSAES-PKCS1-V1_5'), certificate.modulusBytes);
}

/** Opens a sealed key or IV: a leading 0 is added to odd-length hex, as ec2-unbundle does. */
export function unseal(privateKey: PrivateKey, sealedHex: string, what: string): string {
  const hex = sealedHex.length % 2 === 1 ? `0${sealedHex}` : sealedHex;
  let plain: string;
  try {
    plain = privateKey.key.decrypt(forge.util.hexToBytes(hex), 'RSAES-PKCS1-V1_5');
  } catch {
    throw new BundleIntegrityError(
      'unseal',
      `could not decrypt ${what} with the private key given (padding check failed): the bundle was not made for this key`,
    );
  }
  if (!/^[0-9a-fA-F]{32}$/.test(plain)) {
    throw new BundleIntegrityError('unseal', `${what} decrypts to something other than 32 hex characters; the bundle is corrupt`);
  }
  return plain.toLowerCase();
}

function sha1Of(text: string): forge.md.MessageDigest {
  const digest = forge.md.sha1.create();
  digest.update(text, 'utf8');
  return digest;
}

/** RSASSA-PKCS1-v1_5 with SHA-1 over the UTF-8 bytes of `text`, as lowercase hex. */
export function sign(privateKey: PrivateKey, text: string): string {
  return toHex(privateKey.key.sign(sha1Of(text)), privateKey.modulusBytes);
}

export function verifySignature(publicKey: forge.pki.rsa.PublicKey, text: string, signatureHex: string): boolean {
  if (!/^[0-9a-fA-F]+$/.test(signatureHex)) return false;
  const hex = signatureHex.length % 2 === 1 ? `0${signatureHex}` : signatureHex;
  try {
    return publicKey.verify(sha1Of(text).digest().bytes(), forge.util.hexToBytes(hex));
  } catch {
    return false;
  }
}
