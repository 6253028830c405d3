/**
 * The walk of an image from BundledImage's args to its S3 keys, end to end through the real
 * dynamic-provider plugin: every key the local AWS received is one that `aws/bundleAddress.ts`
 * derives from the address the args name (parts, manifest, resume/claim record), every listing
 * asks for the address's prefix (or, once, for its sibling folders: see aws/deadSiblings.ts), and
 * the manifest location is the address's ImageLocation.
 */
import { strict as assert } from 'assert';
import * as path from 'path';
import { bundledImageProvider } from '../../provider/dynamic/bundledImage/provider';
import {
  bundleAddress,
  imageLocation,
  listingPrefix,
  manifestKey,
  partKey,
  resumeKey,
  siblingsPrefix,
} from '../../provider/aws/bundleAddress';
import { bucketName } from '../../provider/aws/ids';
import { normalizeKeyPrefix, subLocation } from '../../provider/aws/location';
import { LocalAws } from '../../testing/localAws';
import { secret, serializeProvider, startPlugin } from '../../testing/pluginHarness';
import { testPki } from '../helpers/pki';
import { MiB, checkoutProject, temporaryFolder, writeImage } from '../helpers/tools';

const BUCKET = 'walk-bucket';

describe('BundledImage: from args to S3 keys, each concept once', function () {
  this.timeout(120_000);
  let fake: LocalAws;
  let folder: ReturnType<typeof temporaryFolder>;

  before(async () => {
    fake = await LocalAws.start();
    fake.createBucket(BUCKET, { objectOwnership: 'ObjectWriter' });
    folder = temporaryFolder('walk');
  });
  after(async () => {
    await fake?.stop();
    folder?.cleanup();
  });

  it('every S3 key requested is a part, the manifest or the record of the address the args name', async () => {
    const imagePath = path.join(folder.dir, 'walk.img');
    // Random bytes do not compress: more than one 10 MiB part.
    writeImage(imagePath, [{ kind: 'random', bytes: 12 * MiB }]);
    const pki = testPki();
    const args = { bucket: BUCKET, keyPrefix: '/images/v1/', bundleName: 'walk-app.img' };
    const plugin = await startPlugin({
      cwd: checkoutProject(),
      project: 'unikernel-walk',
      env: {
        AWS_ENDPOINT_URL: fake.endpoint,
        AWS_ENDPOINT_URL_S3: undefined,
        AWS_REGION: fake.region,
        AWS_DEFAULT_REGION: undefined,
        AWS_ACCESS_KEY_ID: fake.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: fake.credentials.secretAccessKey,
        AWS_SESSION_TOKEN: undefined,
        AWS_PROFILE: '',
      },
      deadlineMs: 60_000,
    });
    try {
      await plugin.configure({ 'unikernel:pollSeconds': '0.05' });
      const bundles = plugin.withProvider(await serializeProvider(bundledImageProvider));
      const urn = bundles.urn('unikernel:BundledImage', 'walk');
      const checked = await bundles.check(
        urn,
        {},
        {
          ...args,
          accountId: fake.accountId,
          privateKey: secret(pki.user.key),
          certificate: pki.user.cert,
          ec2Certificate: pki.ec2.cert,
          imagePath,
        },
      );
      assert.deepEqual(checked.failures, []);
      fake.clearRequests();
      const created = await bundles.create(urn, checked.inputs);
      const outs = created.properties;

      // The address from the args as given; only the folder under the prefix is the provider's own.
      const bundleKey = String(outs.bundleKey);
      assert.match(bundleKey, /^[0-9a-f]{16}-[0-9a-f]{8}$/);
      const address = bundleAddress(
        subLocation({ bucket: bucketName(args.bucket), keyPrefix: normalizeKeyPrefix(args.keyPrefix) }, bundleKey),
        args.bundleName,
      );
      const partCount = Number(outs.partCount);
      assert.ok(partCount >= 2, `more than one part (${partCount})`);
      const parts = Array.from({ length: partCount }, (_, index) => partKey(address, index, partCount));
      const derived = new Set([...parts, manifestKey(address), resumeKey(address)]);

      assert.equal(outs.manifestLocation, imageLocation(address));
      assert.equal(created.id, imageLocation(address));
      assert.equal(outs.manifestKey, manifestKey(address));
      assert.deepEqual(outs.partKeys, parts);

      const s3 = fake.requests.filter((request) => request.service === 's3');
      assert.ok(s3.length > 0, 'the create spoke to S3');
      const keyed = s3.filter((request) => request.key !== undefined && request.key !== '');
      for (const request of s3) assert.equal(request.bucket, BUCKET, `${request.operation} of another bucket`);
      for (const request of keyed) {
        assert.ok(
          derived.has(String(request.key)),
          `${request.operation} ${request.key} is not a key the address derives`,
        );
      }
      // Each derived key was used: every part and the manifest written, the record claimed and removed.
      const used = new Set(keyed.map((request) => String(request.key)));
      assert.deepEqual(
        [...derived].filter((key) => !used.has(key)),
        [],
      );
      const puts = (key: string) =>
        keyed.filter((request) => request.key === key && request.operation === 'PutObject').length;
      for (const key of [...parts, manifestKey(address)]) assert.equal(puts(key), 1, `${key} written once`);
      assert.ok(puts(resumeKey(address)) >= 1, 'the claim record is written');

      // Listings ask only for the bundle's own prefix, and once, before the create writes, for the
      // folders next to its own, where a create of the same bundle killed mid-upload left its folder.
      const listings = s3.filter((request) => request.operation.startsWith('ListObjects'));
      const parent = { bucket: bucketName(args.bucket), keyPrefix: normalizeKeyPrefix(args.keyPrefix) };
      const siblings = siblingsPrefix(parent, bundleKey.slice(0, 16));
      for (const listing of listings)
        assert.ok([listingPrefix(address), siblings].includes(String(listing.query.prefix)));
      assert.equal(listings.filter((listing) => listing.query.prefix === siblings).length, 1);

      // What is left is exactly the bundle: its parts and manifest, no record.
      assert.deepEqual(
        fake
          .objects(BUCKET)
          .map((object) => object.key)
          .sort(),
        [...parts, manifestKey(address)].sort(),
      );
      await bundles.delete(created.id, urn, outs);
      assert.deepEqual(fake.objects(BUCKET), []);
    } finally {
      await plugin.stop();
    }
  });
});
