/**
 * Every case of the fault catalog, through bundling into S3 and registering the AMI against the
 * local AWS: the run recovers, or fails with one clear line, and afterwards every manifest in the
 * bucket verifies, nothing is orphaned, and no AMI is left that the caller was not told about.
 */
import { strict as assert } from 'assert';
import { mkdirSync } from 'fs';
import * as path from 'path';
import { bundleToS3 } from '../../provider/aws/bundleToS3';
import { createClients, AwsClients } from '../../provider/aws/clients';
import { ImageId } from '../../provider/aws/ids';
import { deregisterImage, ImageNotAvailableError, registerAndWait } from '../../provider/aws/images';
import { parseBucketArgument } from '../../provider/aws/location';
import { LocalAws } from '../../testing/localAws';
import { testPki } from '../helpers/pki';
import { auditBucket } from '../helpers/s3Bundles';
import { temporaryFolder, writeImage } from '../helpers/tools';
import { FAULT_CATALOG } from './faultCatalog';

const FAST_WAIT = { minDelaySeconds: 0.02, maxDelaySeconds: 0.05, maxWaitSeconds: 1.5 };

describe('fault catalog', function () {
  this.timeout(60_000);
  let local: LocalAws;
  let aws: AwsClients;
  let folder: ReturnType<typeof temporaryFolder>;
  let imagePath: string;

  before(async () => {
    local = await LocalAws.start({ imagePendingMs: 10 });
    aws = createClients({
      endpoint: local.endpoint,
      region: local.region,
      credentials: local.credentials,
      maxAttempts: 3,
    });
    folder = temporaryFolder('fault-catalog');
    imagePath = path.join(folder.dir, 'image', 'app.img');
    mkdirSync(path.dirname(imagePath));
    writeImage(imagePath, [{ kind: 'random', bytes: 300 * 1024 }]);
  });
  after(async () => {
    await local.stop();
    folder.cleanup();
  });
  afterEach(() => local.faults.clear());

  it('covers each family the issue names', () => {
    const families = new Set(FAULT_CATALOG.map((entry) => entry.family));
    for (const family of ['server error', 'throttling', 'reset', 'latency', 'not found after create', 'stuck'] as const)
      assert.ok(families.has(family), family);
  });

  FAULT_CATALOG.forEach((entry, index) => {
    it(`${entry.family}: ${entry.name} → ${entry.outcome.kind}`, async () => {
      const bucket = `faults-${index}`;
      local.createBucket(bucket, { objectOwnership: 'ObjectWriter' });
      const injected = entry.faults.map((rule) => local.faults.inject(rule));
      const pki = testPki();
      let imageId: ImageId | undefined;
      let failure: unknown;
      try {
        const bundle = await bundleToS3(
          {
            imagePath,
            s3: aws.s3,
            location: parseBucketArgument(`${bucket}/v1`),
            privateKey: pki.user.key,
            userCertificate: pki.user.cert,
            ec2Certificate: pki.ec2.cert,
            accountId: '123456789012',
            architecture: 'x86_64',
            unfinished: 'resume',
            concurrency: 2,
          },
          { partSize: 64 * 1024 },
        );
        const image = await registerAndWait({
          ec2: aws.ec2,
          imageLocation: bundle.manifestPath,
          name: `catalog-${index}`,
          // A name new for this registration, as RegisteredAmi makes them: a Duplicate of it is its own lost answer.
          nameIsOwn: true,
          architecture: 'x86_64',
          wait: FAST_WAIT,
        });
        imageId = image.imageId;
      } catch (error) {
        failure = error;
        if (error instanceof ImageNotAvailableError) imageId = error.imageId;
      }
      assert.ok(
        injected.some((fault) => fault.hits > 0),
        'the fault was hit',
      );
      if (entry.outcome.kind === 'recovers') {
        assert.equal(failure, undefined, String(failure));
      } else {
        assert.ok(failure instanceof Error, 'the run fails');
        assert.match(failure.message, entry.outcome.message);
        assert.doesNotMatch(failure.message, /\n/, 'one line');
      }
      local.faults.clear();
      if (imageId) await deregisterImage(aws.ec2, imageId);
      const audit = await auditBucket(local, bucket, folder.dir);
      assert.deepEqual([...audit.broken], [], 'every manifest verifies');
      assert.deepEqual(audit.orphans, [], 'nothing orphaned');
      assert.equal(audit.bundles.size + audit.records.length, 1, 'a bundle, or a record to resume it from');
      assert.deepEqual(
        local
          .images()
          .filter((image) => image.state !== 'deregistered')
          .map((image) => image.imageId),
        [],
        'no AMI left that the caller was not told about',
      );
    });
  });
});
