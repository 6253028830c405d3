/** The resume point: the attempt's identity, the key and IV sealed and signed, opened only by the same key and attempt. */
import { strict as assert } from 'assert';
import { readBundleKeys } from '../../provider/bundle/bundle';
import { ResumeMismatchError } from '../../provider/bundle/errors';
import { readCertificate, seal } from '../../provider/bundle/keys';
import { attemptIdentity, makeResumePoint, openResumePoint } from '../../provider/bundle/resumePoint';
import { TarEntry } from '../../provider/bundle/tarHeader';
import { FIXED_IV, FIXED_KEY } from '../helpers/bundles';
import { testPki } from '../helpers/pki';

describe('resume point', () => {
  const pki = testPki();
  const keys = readBundleKeys({
    privateKey: pki.user.key,
    userCertificate: pki.user.cert,
    ec2Certificate: pki.ec2.cert,
  });
  const entry: TarEntry = { name: 'app.img', mode: 0o644, mtime: 1_700_000_000, size: 1 << 20 };

  it('names the attempt by the tar header, the gzip mode and the user certificate', () => {
    const attempt = attemptIdentity(entry, 'parallel', keys.userCertificate);
    assert.match(attempt, /^[0-9a-f]{64}$/);
    assert.equal(attemptIdentity({ ...entry }, 'parallel', keys.userCertificate), attempt);
    assert.notEqual(attemptIdentity({ ...entry, mtime: entry.mtime + 1 }, 'parallel', keys.userCertificate), attempt);
    assert.notEqual(attemptIdentity(entry, 'single', keys.userCertificate), attempt);
    assert.notEqual(attemptIdentity(entry, 'parallel', readCertificate(pki.other.cert, 'certificate')), attempt);
  });

  it('stores the key and IV sealed only, and opens them again for the same key and attempt', () => {
    const attempt = attemptIdentity(entry, 'parallel', keys.userCertificate);
    const point = makeResumePoint(attempt, FIXED_KEY, FIXED_IV, keys);
    assert.ok(!JSON.stringify(point).includes(FIXED_KEY) && !JSON.stringify(point).includes(FIXED_IV));
    assert.deepEqual(openResumePoint(point, attempt, keys, 's3://b/', 'app.img'), {
      keyHex: FIXED_KEY,
      ivHex: FIXED_IV,
    });
  });

  it('refuses a key sealed by someone else, and another attempt, saying which', () => {
    const attempt = attemptIdentity(entry, 'parallel', keys.userCertificate);
    const point = makeResumePoint(attempt, FIXED_KEY, FIXED_IV, keys);
    const forged = { ...point, userEncryptedKey: seal(keys.userCertificate, '11'.repeat(16)) };
    assert.throws(
      () => openResumePoint(forged, attempt, keys, 's3://b/', 'app.img'),
      (error: unknown) =>
        error instanceof ResumeMismatchError &&
        error.input === 'privateKey' &&
        /app\.img in s3:\/\/b\/ was not recorded with this key/.test(error.message),
    );
    assert.throws(
      () => openResumePoint(point, attemptIdentity(entry, 'single', keys.userCertificate), keys, 's3://b/', 'app.img'),
      (error: unknown) =>
        error instanceof ResumeMismatchError &&
        error.input === 'image' &&
        /s3:\/\/b\/ holds an unfinished bundle named app\.img made from another image/.test(error.message),
    );
  });
});
