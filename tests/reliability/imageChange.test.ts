/**
 * An image rewritten in place while it is bundled, with its mtime set back afterwards (same size,
 * same inode, same mtime), must not give a torn bundle and exit 0: the change time gives it away.
 */
import { strict as assert } from 'assert';
import { spawn } from 'child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  statSync,
  utimesSync,
  writeSync,
} from 'fs';
import * as path from 'path';
import { bundleCliArgs } from '../helpers/pki';
import { CLI, MiB, temporaryFolder, writeImage } from '../helpers/tools';

describe('an image changed while it is bundled', function () {
  this.timeout(120_000);
  let folder: ReturnType<typeof temporaryFolder>;
  before(() => (folder = temporaryFolder('image-change')));
  after(() => folder.cleanup());

  it('is refused when rewritten in place with its mtime restored, leaving no bundle', async () => {
    const image = path.join(folder.dir, 'app.img');
    writeImage(image, [{ kind: 'random', bytes: 48 * MiB }]);
    const before = statSync(image);
    const destination = path.join(folder.dir, 'out');
    mkdirSync(destination);
    const log = path.join(folder.dir, 'bundle.log');
    const child = spawn(
      process.execPath,
      [CLI, ...bundleCliArgs(image), '-d', destination, '--gzip', 'single', '--log-file', log],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    let rewritten = false;
    // Once bundling has begun, overwrite the first MiB (already read) and set the mtime back.
    while (!rewritten) {
      if (existsSync(log) && /bundling \d+\/\d+ bytes/.test(readFileSync(log, 'utf8'))) {
        const fd = openSync(image, 'r+');
        writeSync(fd, Buffer.alloc(MiB, 0xa5), 0, MiB, 0);
        closeSync(fd);
        utimesSync(image, before.atime, before.mtime);
        rewritten = true;
      } else {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    }
    const after = statSync(image);
    assert.equal(after.mtimeMs, before.mtimeMs, 'the mtime was restored');
    assert.equal(after.size, before.size);
    assert.equal(after.ino, before.ino);
    const status = await exited;
    assert.equal(status, 1, `bundling the changed image must fail; stderr: ${stderr}`);
    assert.equal(
      stderr.trim(),
      `unikernel-ami bundle: -i/--image: ${image} changed while it was being bundled; bundle it again when nothing is writing to it`,
    );
    assert.deepEqual(readdirSync(destination), [], 'no part and no manifest left');
  });
});
