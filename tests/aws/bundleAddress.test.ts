/** Every key of a bundle from its location and name (pure). */
import { strict as assert } from 'assert';
import {
  addressText,
  bundleAddress,
  describeAddress,
  imageLocation,
  isKeyOfBundle,
  listingPrefix,
  manifestKey,
  partKey,
  resumeKey,
} from '../../provider/aws/bundleAddress';
import {
  imageLocationOf,
  keyPrefixProblem,
  normalizeKeyPrefix,
  parseBucketArgument,
  parseImageLocation,
  subLocation,
} from '../../provider/aws/location';

describe('bundle address', () => {
  const address = bundleAddress(parseBucketArgument('mybucket/images/v1'), 'app.img');

  it('names the parts, padded to the digits of the count or of its bound', () => {
    assert.equal(partKey(address, 3, 9), 'images/v1/app.img.part.3');
    assert.equal(partKey(address, 3, 10), 'images/v1/app.img.part.03');
    assert.equal(partKey(address, 12, 120), 'images/v1/app.img.part.012');
  });

  it("names the manifest, the resume record and RegisterImage's ImageLocation", () => {
    assert.equal(manifestKey(address), 'images/v1/app.img.manifest.xml');
    assert.equal(resumeKey(address), 'images/v1/app.img.resume.json');
    assert.equal(imageLocation(address), 'mybucket/images/v1/app.img.manifest.xml');
    assert.equal(describeAddress(address), 's3://mybucket/images/v1/');
    assert.equal(addressText(address), 'mybucket/images/v1/app.img');
    assert.equal(imageLocation(bundleAddress(parseBucketArgument('top'), 'a')), 'top/a.manifest.xml');
    assert.equal(
      imageLocationOf(parseImageLocation(imageLocation(address))),
      imageLocation(address),
      'parsed back and written again',
    );
  });

  it("lists by the name and keeps only the bundle's own objects", () => {
    assert.equal(listingPrefix(address), 'images/v1/app.img.');
    for (const key of [
      'images/v1/app.img.part.0',
      'images/v1/app.img.part.17',
      'images/v1/app.img.manifest.xml',
      'images/v1/app.img.resume.json',
    ]) {
      assert.ok(isKeyOfBundle(address, key), key);
    }
    for (const key of [
      'images/v1/app.img.part.',
      'images/v1/app.img.part.x',
      'images/v1/app.img.old.manifest.xml',
      'images/app.img.part.0',
      'other/v1/app.img.part.0',
    ]) {
      assert.ok(!isKeyOfBundle(address, key), key);
    }
  });

  it("nests a location one folder deeper (BundledImage's bundle key)", () => {
    const nested = bundleAddress(subLocation(parseBucketArgument('b-1/p'), '0123abcd'), 'k.img');
    assert.equal(manifestKey(nested), 'p/0123abcd/k.img.manifest.xml');
    assert.equal(partKey(bundleAddress(subLocation(parseBucketArgument('b-1'), 'f'), 'k'), 0, 1), 'f/k.part.0');
  });

  it('normalizes a key prefix in one place, with one message', () => {
    assert.equal(normalizeKeyPrefix(undefined), '');
    assert.equal(normalizeKeyPrefix('//'), '');
    assert.equal(normalizeKeyPrefix('/a/b/'), 'a/b/');
    assert.equal(normalizeKeyPrefix(normalizeKeyPrefix('a/b')), 'a/b/');
    assert.equal(keyPrefixProblem('/a/b/'), undefined);
    assert.equal(keyPrefixProblem(''), undefined);
    assert.equal(
      keyPrefixProblem('a/../b'),
      '"a/../b" has an empty, "." or ".." segment; give a prefix like images/v1',
    );
    assert.match(keyPrefixProblem('a//b') ?? '', /empty/);
    assert.throws(() => parseBucketArgument('bucket/a/./b'), /key prefix "a\/\.\/b" has an empty/);
  });
});
