/** What a run killed with SIGKILL leaves in a local destination, and what the next run makes of it. */
import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'fs';
import * as path from 'path';
import { temporaryOwner } from '../../provider/bundle/leftovers';
import { verifyBundle } from '../../provider/bundle/unbundle';
import { bundleWithTestKeys } from '../helpers/bundles';
import { testPki } from '../helpers/pki';
import { temporaryFolder, writeImage } from '../helpers/tools';

/** Above Linux's pid_max (2^22): no process has it. */
const NO_SUCH_PID = 4_194_305;

describe('leftovers of a killed run in a local destination', function () {
  this.timeout(60_000);
  let folder: ReturnType<typeof temporaryFolder>;
  before(() => (folder = temporaryFolder('leftovers')));
  after(() => folder.cleanup());

  it('tells the temporary files of a bundle name apart from anything else (pure)', () => {
    assert.equal(temporaryOwner('app.img', '.app.img.123-0a1b2c3d.part.7.tmp'), 123);
    assert.equal(temporaryOwner('app.img', '.app.img.manifest.xml.45-ff00ff00.tmp'), 45);
    assert.equal(temporaryOwner('app.img', '.app.img.9.write-test'), 9);
    for (const other of [
      'app.img.part.0',
      '.app.img.5.123-ab.part.0.tmp',
      '.app.imgx.123-ab.part.0.tmp',
      '.other.img.123-ab.part.0.tmp',
      '.app.img.123-ab.part.0.tmp.keep',
    ]) {
      assert.equal(temporaryOwner('app.img', other), undefined, other);
    }
  });

  it('removes what a SIGKILLed run left, keeps a running one’s, and bundles', async () => {
    const destination = path.join(folder.dir, 'out');
    const image = path.join(folder.dir, 'app.img');
    writeImage(image, [{ kind: 'random', bytes: 200 * 1024 }]);
    mkdirSync(destination);
    // A real run of the part store, killed with SIGKILL in the middle of a part.
    const store = path.resolve(__dirname, '../../provider/bundle/folderPartStore.js');
    const killed = spawnSync(
      process.execPath,
      [
        '-e',
        `const { FolderPartStore } = require(${JSON.stringify(store)});
         (async () => {
           const parts = new FolderPartStore(${JSON.stringify(destination)}, 'app.img');
           await parts.begin(0); await parts.write(Buffer.alloc(4096, 1)); await parts.end();
           await parts.begin(1); await parts.write(Buffer.alloc(100, 2));
           process.kill(process.pid, 'SIGKILL');
         })();`,
      ],
      { encoding: 'utf8' },
    );
    assert.equal(killed.signal, 'SIGKILL');
    const left = readdirSync(destination);
    assert.equal(left.length, 2, `the killed run left its hidden parts: ${left.join(', ')}`);
    assert.ok(left.every((entry) => temporaryOwner('app.img', entry) === killed.pid));
    const deadManifest = path.join(destination, `.app.img.manifest.xml.${NO_SUCH_PID}-0badf00d.tmp`);
    writeFileSync(deadManifest, 'half a manifest');
    const running = path.join(destination, `.app.img.${process.pid}-12345678.part.0.tmp`);
    writeFileSync(running, 'a part of a run still going');

    const result = await bundleWithTestKeys(image, destination, {}, { partSize: 64 * 1024 });
    const after = readdirSync(destination).sort();
    assert.deepEqual(
      after,
      [path.basename(running), ...result.parts.map((part) => part.filename), 'app.img.manifest.xml'].sort(),
      'only the bundle and the running run’s file remain',
    );
    assert.ok(!existsSync(deadManifest));
    const pki = testPki();
    const report = await verifyBundle({
      manifestPath: result.manifestPath,
      privateKey: pki.user.key,
      userCertificate: pki.user.cert,
    });
    assert.equal(report.digest, result.digest);
  });
});
