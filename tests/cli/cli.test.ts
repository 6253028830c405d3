import { strict as assert } from 'assert';
import { promises as fs, readFileSync } from 'fs';
import * as path from 'path';
import { PassThrough } from 'stream';
import { formatBytes, formatDuration, formatProgress, TerminalProgress } from '../../provider/cli/progress';
import { bundleCliArgs, testPki } from '../helpers/pki';
import { MiB, runCli, temporaryFolder, writeImage } from '../helpers/tools';

describe('unikernel-ami CLI', () => {
  let folder: ReturnType<typeof temporaryFolder>;
  beforeEach(() => (folder = temporaryFolder('cli')));
  afterEach(() => folder.cleanup());

  function bundleArgs(image: string, destination: string): string[] {
    return [...bundleCliArgs(image, '123456789012'), '-d', destination];
  }

  it('shows ec2-bundle-image and ec2-unbundle option names in --help', () => {
    const bundle = runCli(['bundle', '--help']).stdout;
    for (const option of [
      '-i, --image',
      '-k, --privatekey',
      '-c, --cert',
      '-u, --user',
      '-r, --arch',
      '-d, --destination',
      '-p, --prefix',
      '--ec2cert',
      '--kernel',
      '--ramdisk',
      '-B, --block-device-mapping',
      '--productcodes',
      '--no-sparse',
      '--json',
      '--log-file',
    ]) {
      assert.ok(bundle.includes(option), `bundle --help lists ${option}`);
    }
    const unbundle = runCli(['unbundle', '--help']).stdout;
    for (const option of ['-m, --manifest', '-k, --privatekey', '-s, --source', '-d, --destination']) {
      assert.ok(unbundle.includes(option), `unbundle --help lists ${option}`);
    }
    assert.ok(runCli(['verify', '--help']).stdout.includes('-m, --manifest'));
  });

  it('bundles quietly off a terminal, prints a --json summary, and logs to --log-file without secrets', async () => {
    const image = path.join(folder.dir, 'app.img');
    writeImage(image, [
      { kind: 'random', bytes: MiB },
      { kind: 'zeros', bytes: 2 * MiB },
    ]);
    const logFile = path.join(folder.dir, 'bundle.log');
    const result = runCli([...bundleArgs(image, folder.dir), '--json', '--log-file', logFile]);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stderr, '', 'no progress bar when stderr is not a terminal');
    const summary = JSON.parse(result.stdout);
    assert.equal(summary.manifest, path.join(folder.dir, 'app.img.manifest.xml'));
    assert.equal(summary.parts.length, 1);
    assert.equal(summary.parts[0].file, path.join(folder.dir, 'app.img.part.0'));
    assert.match(summary.parts[0].sha1, /^[0-9a-f]{40}$/);
    assert.match(summary.digest, /^[0-9a-f]{40}$/);
    assert.equal(summary.imageSize, 3 * MiB);
    assert.equal(summary.sparse, true);
    const log = readFileSync(logFile, 'utf8');
    assert.match(log, /bundle started/);
    assert.match(log, /bundling \d+\/\d+ bytes/);
    assert.match(log, /result .*"digest":"[0-9a-f]{40}"/);
    const keyBody = testPki().user.key.split('\n')[1];
    assert.ok(!log.includes(keyBody), 'the private key never reaches the log');
  });

  it('prints a human summary without --json, and verifies and unbundles what it bundled', async () => {
    const image = path.join(folder.dir, 'app.img');
    writeImage(image, [{ kind: 'random', bytes: 12 * MiB }]);
    const bundle = runCli(bundleArgs(image, folder.dir));
    assert.equal(bundle.status, 0, bundle.stderr);
    assert.match(bundle.stdout, /^Bundled .*app\.img \(12\.0 MiB\) into 2 parts/m);
    const pki = testPki();
    const manifest = path.join(folder.dir, 'app.img.manifest.xml');
    const verify = runCli(['verify', '-m', manifest, '-k', pki.user.keyPath, '-c', pki.user.certPath]);
    assert.equal(verify.status, 0, verify.stderr);
    assert.match(verify.stdout, /^Verified app\.img: signature, 2 part digests/);
    const out = path.join(folder.dir, 'out');
    await fs.mkdir(out);
    const unbundle = runCli(['unbundle', '-m', manifest, '-k', pki.user.keyPath, '-d', out]);
    assert.equal(unbundle.status, 0, unbundle.stderr);
    assert.deepEqual(readFileSync(path.join(out, 'app.img')), readFileSync(image));
  });

  it('fails with one line and a non-zero exit, also written to the log file', () => {
    const logFile = path.join(folder.dir, 'fail.log');
    const result = runCli([...bundleArgs(path.join(folder.dir, 'missing.img'), folder.dir), '--log-file', logFile]);
    assert.equal(result.status, 1);
    assert.equal(result.stderr.trim().split('\n').length, 1);
    assert.match(result.stderr, /^unikernel-ami bundle: -i\/--image: .*missing\.img does not exist/);
    assert.match(readFileSync(logFile, 'utf8'), /error unikernel-ami bundle: -i\/--image/);
  });

  it('reports option errors (a missing required option) in one line too', () => {
    const result = runCli(['bundle', '-i', 'x.img']);
    assert.notEqual(result.status, 0);
    assert.equal(
      result.stderr,
      "unikernel-ami: required option '-k, --privatekey <path>' not specified (see --help)\n",
    );
  });
});

describe('progress bar', () => {
  it('formats bytes, rate and ETA', () => {
    assert.equal(formatBytes(512), '512 B');
    assert.equal(formatBytes(10 * MiB), '10.0 MiB');
    assert.equal(formatDuration(75), '1:15');
    assert.equal(formatDuration(3725), '1:02:05');
    const line = formatProgress('bundling', 50 * MiB, 100 * MiB, 2000, 10);
    assert.equal(line, 'bundling [=====     ]  50% 50.0 MiB / 100.0 MiB  25.0 MiB/s  ETA 0:02');
  });

  it('draws on a terminal, redrawing the same line', () => {
    const stream = new PassThrough();
    let text = '';
    stream.on('data', (chunk) => (text += chunk));
    const progress = new TerminalProgress(stream as unknown as NodeJS.WriteStream);
    progress.update('bundling', 0, 100);
    progress.update('bundling', 100, 100);
    progress.done();
    assert.equal(text.split('\r').length, 3, 'two draws, each starting with a carriage return');
    assert.ok(text.endsWith('\n'));
    assert.match(text, /100%/);
  });
});
