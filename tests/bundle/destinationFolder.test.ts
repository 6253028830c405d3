/**
 * The destination folder of bundle and unbundle, one check on the real file system: missing, a
 * file, below a file, unreadable, and a good folder; and unbundleImage refusing each bad one with
 * its own words, writing nothing.
 */
import { strict as assert } from 'assert';
import { mkdirSync, readdirSync, writeFileSync } from 'fs';
import * as path from 'path';
import { inDestinationFolder } from '../../provider/bundle/destinationFolder';
import { BundleInputError } from '../../provider/bundle/errors';
import { unbundleImage } from '../../provider/bundle/unbundle';
import { bundleWithTestKeys } from '../helpers/bundles';
import { testPki } from '../helpers/pki';
import { temporaryFolder, writeImage } from '../helpers/tools';

describe('bundle: the destination folder check', function () {
  this.timeout(60_000);
  let folder: ReturnType<typeof temporaryFolder>;
  let file: string;
  before(() => {
    folder = temporaryFolder('destination');
    file = path.join(folder.dir, 'plain.file');
    writeFileSync(file, 'not a folder');
  });
  after(() => folder.cleanup());

  const cannot = (code: string) => `cannot be read (${code}); try another`;

  async function refusal(destination: string, then: () => Promise<unknown> = async () => 'ran'): Promise<string> {
    try {
      await inDestinationFolder(destination, 'image', cannot, then);
    } catch (error) {
      assert.ok(error instanceof BundleInputError, String(error));
      assert.equal(error.input, 'destination');
      return error.message;
    }
    return assert.fail('expected a refusal');
  }

  it('runs `then` in a folder and gives its result', async () => {
    assert.equal(await inDestinationFolder(folder.dir, 'bundle', cannot, async () => 42), 42);
  });

  it('refuses a missing folder, a file, a path below a file, and a folder `then` cannot read', async () => {
    const missing = path.join(folder.dir, 'missing');
    assert.match(await refusal(missing), /missing does not exist; create it or give another folder$/);
    assert.match(await refusal(file), /plain\.file is not a directory; give the folder to write the image into$/);
    assert.match(await refusal(path.join(file, 'below')), /below does not exist; create it or give another folder$/);
    const denied = Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
    assert.match(
      await refusal(folder.dir, () => Promise.reject(denied)),
      new RegExp(`^${folder.dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} cannot be read \\(EACCES\\); try another$`),
    );
  });

  it('unbundleImage refuses a destination that is a file or missing, and writes nothing', async () => {
    const image = path.join(folder.dir, 'app.img');
    writeImage(image, [{ kind: 'random', bytes: 64 * 1024 }]);
    const bundleDir = path.join(folder.dir, 'bundle');
    mkdirSync(bundleDir);
    const bundled = await bundleWithTestKeys(image, bundleDir);
    const pki = testPki();
    const keys = { privateKey: pki.user.key, userCertificate: pki.user.cert };
    const before = readdirSync(folder.dir).sort();
    await assert.rejects(
      unbundleImage({ manifestPath: bundled.manifestPath, destination: file, ...keys }),
      (error: unknown) =>
        error instanceof BundleInputError &&
        error.input === 'destination' &&
        error.message === `${file} is not a directory; give the folder to write the image into`,
    );
    const missing = path.join(folder.dir, 'no-such');
    await assert.rejects(
      unbundleImage({ manifestPath: bundled.manifestPath, destination: missing, ...keys }),
      (error: unknown) =>
        error instanceof BundleInputError &&
        error.message === `${missing} does not exist; create it or give another folder`,
    );
    assert.deepEqual(readdirSync(folder.dir).sort(), before);
  });
});
