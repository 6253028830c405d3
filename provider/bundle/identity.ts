/**
 * A fresh RSA key and self-signed X.509 certificate for signing bundles. EC2 never checks the user
 * certificate against the account (only its public key is used, to seal a copy of the AES key), so a
 * self-signed one is what ec2-bundle-image users have always made with openssl.
 */
import { createPrivateKey, generateKeyPairSync, randomBytes } from 'crypto';
import type * as Forge from 'node-forge';

export interface SigningIdentity {
  privateKeyPem: string;
  certificatePem: string;
}

export function createSigningIdentity(
  commonName = 'unikernel-ami bundle signer',
  validDays = 3650,
  bits = 2048,
): SigningIdentity {
  // Loaded here, not at the top: only keygen and the demo make certificates (see keys.ts on forge's memory).
  const forge = require('node-forge') as typeof Forge;
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: bits });
  const privateKeyPem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  const forgeKey = forge.pki.privateKeyFromPem(privateKey.export({ format: 'pem', type: 'pkcs1' }).toString());
  const certificate = forge.pki.createCertificate();
  certificate.publicKey = forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e);
  certificate.serialNumber = `01${randomBytes(8).toString('hex')}`;
  certificate.validity.notBefore = new Date();
  certificate.validity.notAfter = new Date(Date.now() + validDays * 24 * 3600 * 1000);
  const subject = [{ name: 'commonName', value: commonName }];
  certificate.setSubject(subject);
  certificate.setIssuer(subject);
  certificate.sign(forgeKey, forge.md.sha256.create());
  return { privateKeyPem, certificatePem: forge.pki.certificateToPem(certificate) };
}

/** The private key PEM encrypted with `passphrase` (PKCS#8, AES-256-CBC), as `openssl pkcs8 -topk8 -v2 aes256` writes. */
export function encryptPrivateKeyPem(privateKeyPem: string, passphrase: string): string {
  return createPrivateKey(privateKeyPem)
    .export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase })
    .toString();
}
