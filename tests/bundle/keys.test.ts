/**
 * The RSA operations of a bundle against openssl and node-forge, and the memory rule behind them:
 * bundling (sealing, signing) runs on Node's crypto and never loads node-forge.
 */
import { strict as assert } from 'assert';
import { createHash } from 'crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'fs';
import * as path from 'path';
import forge from 'node-forge';
import {
  readCertificate,
  readPrivateKey,
  sameKey,
  seal,
  sign,
  unseal,
  verifySignature,
} from '../../provider/bundle/keys';
import { certificateFingerprint } from '../../provider/dynamic/bundledImage/rules';
import { opensslUnseal } from '../helpers/bundles';
import { testPki } from '../helpers/pki';
import { REPO_ROOT, run, runNodeAsync, SHARED_DATA, temporaryFolder, writeImage, MiB } from '../helpers/tools';

const EC2_CERTIFICATES = path.join(SHARED_DATA, 'ec2-certs');

describe('bundle keys', () => {
  it('seals a key that openssl pkeyutl opens, for 2048- and 1024-bit certificates', () => {
    const { user, ec2 } = testPki();
    for (const pair of [user, ec2]) {
      const certificate = readCertificate(pair.cert, 'certificate');
      const sealed = seal(certificate, '00112233445566778899aabbccddeeff');
      assert.equal(sealed.length, certificate.modulusBytes * 2);
      assert.equal(opensslUnseal(sealed, pair.keyPath), '00112233445566778899aabbccddeeff');
    }
  });

  it('signs RSA-SHA1 as openssl dgst -sha1 -sign does, and verifies openssl signatures', () => {
    const { dir, user, other } = testPki();
    const text = '<machine_configuration><architecture>x86_64</architecture></machine_configuration><image>é</image>';
    const textPath = path.join(dir, 'signed-text.txt');
    writeFileSync(textPath, text, 'utf8');
    const expected = run('openssl', ['dgst', '-sha1', '-sign', user.keyPath, textPath]).toString('hex');
    const key = readPrivateKey(user.key, 'privateKey');
    assert.equal(sign(key, text), expected);
    const certificate = readCertificate(user.cert, 'certificate');
    assert.equal(verifySignature(certificate.publicKey, text, expected), true);
    assert.equal(verifySignature(certificate.publicKey, `${text} `, expected), false);
    assert.equal(verifySignature(readCertificate(other.cert, 'certificate').publicKey, text, expected), false);
    assert.equal(verifySignature(certificate.publicKey, text, 'not hex'), false);
  });

  it('opens what it sealed, and refuses a key sealed for another certificate', () => {
    const { user, other } = testPki();
    const sealed = seal(readCertificate(user.cert, 'certificate'), 'F0E1D2C3B4A5968778695A4B3C2D1E0F');
    assert.equal(unseal(readPrivateKey(user.key, 'privateKey'), sealed, 'the key'), 'f0e1d2c3b4a5968778695a4b3c2d1e0f');
    assert.throws(() => unseal(readPrivateKey(other.key, 'privateKey'), sealed, 'the key'), /not made for this key/);
  });

  it("reads every one of Amazon's EC2 bundling certificates and seals for it", function () {
    if (!existsSync(EC2_CERTIFICATES)) {
      console.log(`      (skipped: ${EC2_CERTIFICATES} is absent; it holds Amazon's public EC2 certificates)`);
      this.skip();
    }
    const names = readdirSync(EC2_CERTIFICATES).filter((name) => name.endsWith('.pem'));
    assert.ok(names.length >= 3, `the commercial, GovCloud and Beijing certificates (${names.join(', ')})`);
    for (const name of names) {
      const certificate = readCertificate(readFileSync(path.join(EC2_CERTIFICATES, name), 'utf8'), name);
      assert.ok(certificate.modulusBytes >= 128, `${name}: an RSA key of at least 1024 bits`);
      assert.equal(seal(certificate, '00112233445566778899aabbccddeeff').length, certificate.modulusBytes * 2, name);
    }
  });

  it('matches a private key to its certificate only', () => {
    const { user, other } = testPki();
    const key = readPrivateKey(user.key, 'privateKey');
    assert.equal(sameKey(key.publicKey, readCertificate(user.cert, 'certificate').publicKey), true);
    assert.equal(sameKey(key.publicKey, readCertificate(other.cert, 'certificate').publicKey), false);
  });

  it('refuses a certificate whose key is not RSA, naming the input', () => {
    const { dir } = testPki();
    const keyPath = path.join(dir, 'ec-key.pem');
    const certPath = path.join(dir, 'ec-cert.pem');
    run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      keyPath,
      '-out',
      certPath,
      '-days',
      '2',
      '-subj',
      '/CN=ec',
    ]);
    const pem = run('cat', [certPath]).toString();
    assert.throws(
      () => readCertificate(pem, 'ec2Certificate'),
      (error: Error & { input?: string }) =>
        error.input === 'ec2Certificate' && /ec key, not an RSA key/.test(error.message),
    );
  });

  it('keeps the certificate fingerprint of stored bundle keys: hex modulus and exponent as node-forge wrote them', () => {
    const { user, ec2 } = testPki();
    for (const pem of [user.cert, ec2.cert]) {
      const publicKey = forge.pki.certificateFromPem(pem).publicKey as forge.pki.rsa.PublicKey;
      const expected = createHash('sha256')
        .update(`${publicKey.n.toString(16)}:${publicKey.e.toString(16)}`)
        .digest('hex');
      assert.equal(certificateFingerprint(pem), expected);
    }
  });

  it('bundles without loading node-forge (it costs ~10 MB of RSS)', async () => {
    const { user, ec2 } = testPki();
    const { dir, cleanup } = temporaryFolder('keys-forge');
    try {
      const image = path.join(dir, 'app.img');
      writeImage(image, [{ kind: 'random', bytes: MiB }]);
      const script = path.join(dir, 'bundle.js');
      writeFileSync(
        script,
        `
        const { bundleImage } = require(${JSON.stringify(path.join(REPO_ROOT, 'dist', 'provider', 'bundle'))});
        bundleImage({
          imagePath: ${JSON.stringify(image)}, destination: ${JSON.stringify(dir)}, accountId: '123456789012', architecture: 'x86_64',
          privateKey: ${JSON.stringify(user.key)}, userCertificate: ${JSON.stringify(user.cert)},
          ec2Certificate: ${JSON.stringify(ec2.cert)},
        }).then(() => {
          const loaded = Object.keys(require.cache).filter((file) => file.includes('node-forge'));
          console.log(JSON.stringify(loaded));
        }, (error) => { console.error(error); process.exit(1); });
      `,
      );
      const result = await runNodeAsync(script);
      assert.equal(result.status, 0, result.stderr);
      assert.deepEqual(JSON.parse(result.stdout), []);
    } finally {
      cleanup();
    }
  });
});
