/**
 * Core errors carry their remedy as data, in no front end's words; the CLI words it with its options
 * and commands, the Pulumi resources with their property names.
 */
import { strict as assert } from 'assert';
import { createPrivateKey } from 'crypto';
import { writeFileSync } from 'fs';
import * as path from 'path';
import { DestinationTakenError } from '../provider/bundle/errors';
import { readPrivateKey } from '../provider/bundle/keys';
import { AwsInputError } from '../provider/aws/errors';
import { ImageInputError } from '../provider/image/errors';
import { inspectXenKernel } from '../provider/image/xenKernel';
import { BUCKET_OPTION_NAMES, cliRemedy, describeFailure } from '../provider/cli/inputs';
import { InputError } from '../provider/common/errors';
import { neutralRemedy, Remedy } from '../provider/common/remedy';
import * as bundled from '../provider/dynamic/bundledImage/operations';
import { BundledImageInputs } from '../provider/dynamic/bundledImage/types';
import { pulumiReason, pulumiRemedy } from '../provider/dynamic/remedies';
import { testPki } from './helpers/pki';
import { temporaryFolder } from './helpers/tools';
import { hashedFile } from '../provider/dynamic/source';

const EVERY_REMEDY: Remedy[] = [
  { kind: 'passphrase' },
  { kind: 'createBucket' },
  { kind: 'deleteOrRename', name: 'app.img', location: 's3://b/v1/' },
  { kind: 'deleteAndRebundle', name: 'app.img', location: 's3://b/v1/app.img.resume.json' },
  { kind: 'resumeOrDelete', name: 'app.img', location: 's3://b/v1/' },
  { kind: 'resumeLater', name: 'app.img', location: 's3://b/v1/' },
  { kind: 'bundleDiskImage' },
  { kind: 'waitOrDelete', name: 'app.img', location: 's3://b/v1/' },
  { kind: 'removeRecord', name: 'app.img', location: 's3://b/v1/app.img.resume.json' },
];

/** Words only the CLI uses, and words only the Pulumi resources use. */
const CLI_WORDS = /--[a-z]|unikernel-ami|UNIKERNEL_AMI_/;
const PULUMI_WORDS = /pulumi|privateKeyPassphrase|createBucket|bundleName|keyPrefix|imagePath|kernelPath/;

describe('remedies', function () {
  this.timeout(60_000);
  let folder: ReturnType<typeof temporaryFolder>;
  let encryptedKey: string;

  before(() => {
    folder = temporaryFolder('remedies');
    encryptedKey = createPrivateKey(testPki().user.key)
      .export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: 'secret' })
      .toString();
  });
  after(() => folder.cleanup());

  it('each front end words every remedy in its own words only; the core in neither', () => {
    for (const remedy of EVERY_REMEDY) {
      assert.doesNotMatch(neutralRemedy(remedy), CLI_WORDS, remedy.kind);
      assert.doesNotMatch(neutralRemedy(remedy), PULUMI_WORDS, remedy.kind);
      assert.doesNotMatch(cliRemedy(remedy), PULUMI_WORDS, remedy.kind);
      assert.doesNotMatch(pulumiRemedy(remedy), CLI_WORDS, remedy.kind);
    }
  });

  it('a core error carries its remedy, and its message names no front end', () => {
    assert.throws(
      () => readPrivateKey(encryptedKey, 'privateKey'),
      (error: unknown) =>
        error instanceof InputError &&
        error.input === 'privateKey' &&
        error.remedy?.kind === 'passphrase' &&
        error.fault === 'is encrypted and no passphrase was given' &&
        error.message === "is encrypted and no passphrase was given; give the key's passphrase",
    );
    const taken = new DestinationTakenError('a manifest is there', 's3://b/v1/ already holds a bundle named app.img', {
      kind: 'deleteOrRename',
      name: 'app.img',
      location: 's3://b/v1/',
    });
    assert.equal(taken.input, 'destination');
    assert.doesNotMatch(taken.message, CLI_WORDS);
    assert.doesNotMatch(taken.message, PULUMI_WORDS);
  });

  it('the CLI names --passphrase-file, the bucket option and its commands', () => {
    let error: unknown;
    try {
      readPrivateKey(encryptedKey, 'privateKey');
    } catch (caught) {
      error = caught;
    }
    assert.equal(
      describeFailure(error, { privateKey: 'key.pem' }),
      '-k/--privatekey key.pem: is encrypted and no passphrase was given; set UNIKERNEL_AMI_KEY_PASSPHRASE or pass --passphrase-file',
    );
    const taken = new DestinationTakenError('a manifest is there', 's3://b/v1/ already holds a bundle named app.img', {
      kind: 'deleteOrRename',
      name: 'app.img',
      location: 's3://b/v1/',
    });
    assert.equal(
      describeFailure(taken, {}, BUCKET_OPTION_NAMES),
      '-b/--bucket: s3://b/v1/ already holds a bundle named app.img; delete it (unikernel-ami delete-bundle) or choose another bundle name or prefix',
    );
    const missing = new AwsInputError('bucket', 'bucket b does not exist in us-east-1', { kind: 'createBucket' });
    assert.equal(
      describeFailure(missing),
      '-b/--bucket: bucket b does not exist in us-east-1; create it, or ask for it to be created (--create-bucket)',
    );
    assert.equal(
      pulumiReason(missing),
      'bucket b does not exist in us-east-1; create it, or ask for it to be created (createBucket: true)',
    );
  });

  it('a disk image given as the kernel: the CLI names bundle -i, Pulumi imagePath', async () => {
    const ext2 = Buffer.alloc(4096);
    ext2.writeUInt16LE(0xef53, 1080);
    const kernelPath = path.join(folder.dir, 'disk.img');
    writeFileSync(kernelPath, ext2);
    let error: unknown;
    try {
      inspectXenKernel(ext2, kernelPath);
    } catch (caught) {
      error = caught;
    }
    assert.ok(error instanceof ImageInputError && error.remedy?.kind === 'bundleDiskImage', String(error));
    assert.equal(
      error.message,
      `${kernelPath} is an ext2/3/4 file system, not a kernel: a ready disk image is bundled as it is`,
    );
    assert.equal(
      describeFailure(error, { kernel: kernelPath }),
      `--kernel: ${kernelPath} is an ext2/3/4 file system, not a kernel: a ready disk image is bundled as it is (unikernel-ami bundle -i)`,
    );
    const { imagePath: _none, ...noImage } = inputsWith('');
    const { failures } = await bundled.check({}, { ...noImage, privateKey: testPki().user.key, kernelPath });
    assert.deepEqual(failures, [
      {
        property: 'kernelPath',
        reason: `${kernelPath} is an ext2/3/4 file system, not a kernel: a ready disk image is bundled as it is (give it as imagePath instead of kernelPath)`,
      },
    ]);
  });

  function inputsWith(imagePath: string, extra: Partial<BundledImageInputs> = {}): BundledImageInputs {
    const pki = testPki();
    return {
      bucket: 'unikernels',
      region: 'us-east-1',
      imagePath,
      accountId: '123456789012',
      privateKey: encryptedKey,
      certificate: pki.user.cert,
      ec2Certificate: pki.ec2.cert,
      ...extra,
    };
  }

  it('a Pulumi check with an encrypted key and no passphrase names privateKeyPassphrase', async () => {
    const imagePath = path.join(folder.dir, 'check.img');
    writeFileSync(imagePath, Buffer.alloc(4096, 1));
    const { failures } = await bundled.check({}, inputsWith(imagePath));
    assert.deepEqual(failures, [
      {
        property: 'privateKey',
        reason: 'privateKey is encrypted and no passphrase was given; set privateKeyPassphrase (a secret)',
      },
    ]);
    const given = await bundled.check({}, inputsWith(imagePath, { privateKeyPassphrase: 'secret' }));
    assert.deepEqual(given.failures, []);
  });

  it('a Pulumi create with an encrypted key and no passphrase names privateKeyPassphrase, not the CLI option', async () => {
    const imagePath = path.join(folder.dir, 'create.img');
    const content = Buffer.alloc(4096, 2);
    writeFileSync(imagePath, content);
    // check's content identity of the image (its 512 KiB blocks' hashes), which create compares.
    const sourceHash = (await hashedFile(imagePath)).identity;
    await assert.rejects(
      bundled.create({ ...inputsWith(imagePath), sourceHash }),
      (error: unknown) =>
        error instanceof Error &&
        error.message === 'privateKey is encrypted and no passphrase was given; set privateKeyPassphrase (a secret)' &&
        error.cause instanceof InputError &&
        error.cause.remedy?.kind === 'passphrase',
    );
  });
});
