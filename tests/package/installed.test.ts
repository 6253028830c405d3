/**
 * The package as a user gets it: `npm pack` (which builds through `prepack`), the tarball installed
 * into a scratch project outside the repository from the npm cache alone, then the user's program
 * compiled against the installed types, the installed CLI run, and the installed resources run
 * through Pulumi's own dynamic-provider plugin against the installed local AWS.
 */
import { strict as assert } from 'assert';
import { execFileSync, spawn } from 'child_process';
import { createHash } from 'crypto';
import { copyFileSync, lstatSync, mkdirSync, readFileSync, readdirSync, realpathSync, writeFileSync } from 'fs';
import { once } from 'events';
import * as path from 'path';
import * as readline from 'readline';
import { buildXenKernel } from '../../testing/xenKernel';
import { REPO_ROOT, runNodeAsync, temporaryFolder } from '../helpers/tools';
import { LockEntry, Lockfile, scratchLock } from './scratchLock';
import { SERIALIZED_MODULE_PATHS } from './modulePaths';

const PROJECT_FILES = path.join(REPO_ROOT, 'tests', 'package', 'project');

/** The fields of package.json the scratch project's lock entry for the tarball repeats. */
interface PackageManifest {
  version: string;
  license: string;
  dependencies: Record<string, string>;
  peerDependencies: Record<string, string>;
  bin: Record<string, string>;
  engines: Record<string, string>;
}

interface PackedFile {
  path: string;
}

interface PackResult {
  filename: string;
  integrity: string;
  files: PackedFile[];
}

function npm(args: string[], cwd: string): string {
  try {
    return execFileSync('npm', [...args, '--no-audit', '--no-fund', '--no-update-notifier'], {
      cwd,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      maxBuffer: 1 << 28,
    });
  } catch (error) {
    const failed = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(`npm ${args.join(' ')} failed in ${cwd}:\n${failed.stderr ?? ''}${failed.stdout ?? ''}`, {
      cause: error,
    });
  }
}

/** The first TypeScript block of a README section: what users copy. */
export function readmeBlock(readme: string, heading: string): string {
  const start = readme.indexOf(`\n${heading}\n`);
  if (start < 0) throw new Error(`README.md has no section "${heading}"`);
  const match = /```ts\n([\s\S]*?)```/.exec(readme.slice(start));
  if (!match) throw new Error(`README.md has no \`\`\`ts block under "${heading}"`);
  return match[1];
}

/**
 * Every TypeScript block of the README, as an ES module a user could paste: a fragment without imports
 * (it continues the program above it) gets the main entry's resource classes imported.
 */
export function readmeModules(readme: string): string[] {
  const modules: string[] = [];
  for (const match of readme.matchAll(/```ts\n([\s\S]*?)```/g)) {
    const block = match[1];
    const imports = /^import /m.test(block)
      ? ''
      : "import { BundledImage, RegisteredAmi, Unikernel, UnikernelInstance } from 'pulumi-unikernel';\n";
    modules.push(`export {};\n${imports}${block}`);
  }
  return modules;
}

function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

describe('the packed package, installed in a project outside the repository', function () {
  this.timeout(600_000);
  const scratch = temporaryFolder('installed-package');
  const project = path.join(scratch.dir, 'project');
  const bin = (name: string) => path.join(project, 'node_modules', '.bin', name);
  let packed: PackResult;
  const timings: string[] = [];
  const timed = <T>(label: string, work: () => T): T => {
    const started = Date.now();
    try {
      return work();
    } finally {
      timings.push(`${label} ${((Date.now() - started) / 1000).toFixed(1)} s`);
    }
  };

  before(() => {
    const output = timed('npm pack (prepack builds)', () =>
      npm(['pack', '--json', '--pack-destination', scratch.dir], REPO_ROOT),
    );
    packed = (JSON.parse(output.slice(output.indexOf('['))) as PackResult[])[0];
    const tarball = path.join(scratch.dir, packed.filename);
    const manifest = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as PackageManifest;
    const repositoryLock = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package-lock.json'), 'utf8')) as Lockfile;
    const locked = (name: string) =>
      repositoryLock.packages[`node_modules/${name}`]?.version ?? assert.fail(`${name} is not in package-lock.json`);
    const dependencies = {
      'pulumi-unikernel': `file:../${packed.filename}`,
      '@pulumi/pulumi': locked('@pulumi/pulumi'),
      typescript: locked('typescript'),
      '@types/node': locked('@types/node'),
    };
    const packageEntry: LockEntry = {
      version: manifest.version,
      resolved: `file:../${packed.filename}`,
      integrity: packed.integrity,
      license: manifest.license,
      dependencies: manifest.dependencies,
      peerDependencies: manifest.peerDependencies,
      bin: manifest.bin,
      engines: manifest.engines,
    };
    mkdirSync(project);
    writeFileSync(
      path.join(project, 'package.json'),
      `${JSON.stringify({ name: 'scratch', version: '1.0.0', private: true, dependencies }, null, 2)}\n`,
    );
    const lock = scratchLock(repositoryLock, 'scratch', dependencies, {
      'node_modules/pulumi-unikernel': packageEntry,
    });
    writeFileSync(path.join(project, 'package-lock.json'), `${JSON.stringify(lock, null, 2)}\n`);
    timed('npm ci --offline', () => npm(['ci', '--offline'], project));
    assert.ok(tarball.endsWith('.tgz'));
  });

  after(() => {
    process.stdout.write(`      installed-package timings: ${timings.join(', ')}\n`);
    scratch.cleanup();
  });

  it('ships what runs and nothing of the repository: no tests, no links back', () => {
    const files = packed.files.map((file) => file.path);
    for (const needed of [
      'package.json',
      'README.md',
      'LICENSE',
      'dist/provider/cli/main.js',
      'dist/sdk/index.js',
      'dist/sdk/index.d.ts',
      'dist/testing/index.js',
      'docs/LOCAL-AWS.md',
    ]) {
      assert.ok(files.includes(needed), `${needed} is packed`);
    }
    assert.deepEqual(
      files.filter((file) => /^dist\/(tests|bench|examples)\/|\.test\.js$/.test(file)),
      [],
      'no test, bench or example code',
    );
    const installed = path.join(project, 'node_modules', 'pulumi-unikernel');
    assert.ok(!lstatSync(installed).isSymbolicLink(), 'installed as files, not linked');
    assert.ok(!realpathSync(installed).startsWith(REPO_ROOT), 'nothing resolves into the working tree');
    const installedManifest = JSON.parse(readFileSync(path.join(installed, 'package.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    assert.equal(installedManifest.private, undefined, 'publishable');
    assert.match(readFileSync(path.join(installed, 'LICENSE'), 'utf8'), /Apache License\s+Version 2\.0/);
    assert.equal(installedManifest.license, 'Apache-2.0');
  });

  it('resolves every module path that stacks hold in their serialized providers, and loads the main entry without the testing libraries or any change to the environment', async () => {
    const script = [
      'const before = JSON.stringify(process.env);',
      "require('pulumi-unikernel');",
      'console.log(JSON.stringify({',
      '  envChanged: JSON.stringify(process.env) !== before,',
      '  testingLoaded: Object.keys(require.cache).filter((file) => /node_modules[\\\\/](@smithy[\\\\/]signature-v4|pulumi-unikernel[\\\\/]dist[\\\\/]testing)[\\\\/]/.test(file)),',
      `  resolved: ${JSON.stringify(SERIALIZED_MODULE_PATHS)}.map((request) => require.resolve(request)),`,
      '}));',
    ].join('\n');
    writeFileSync(path.join(project, 'load.js'), script);
    const result = await runNodeAsync(path.join(project, 'load.js'), [], {}, project);
    assert.equal(result.status, 0, result.stderr);
    const report = JSON.parse(result.stdout) as { envChanged: boolean; testingLoaded: string[]; resolved: string[] };
    assert.equal(report.envChanged, false, 'importing the package changes no environment variable');
    assert.deepEqual(report.testingLoaded, [], 'the testing entry and its libraries load only when imported');
    const installed = realpathSync(path.join(project, 'node_modules', 'pulumi-unikernel'));
    for (const resolved of report.resolved)
      assert.ok(resolved.startsWith(installed), `${resolved} is in the installed package`);
    assert.equal(report.resolved.length, SERIALIZED_MODULE_PATHS.length);
  });

  it("compiles the README's program and library example, the examples and a plugin-driven program with tsc --strict against the installed types", () => {
    const readme = readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
    writeFileSync(path.join(project, 'index.ts'), readmeBlock(readme, '## Pulumi'));
    // The library example awaits at top level: an ES module, compiled with Node's own resolution.
    writeFileSync(path.join(project, 'library.mts'), readmeBlock(readme, '## Library use'));
    for (const file of readdirSync(PROJECT_FILES))
      copyFileSync(path.join(PROJECT_FILES, file), path.join(project, file));
    mkdirSync(path.join(project, 'examples'));
    for (const example of ['mirage', 'disk-image', 'nanos'])
      copyFileSync(
        path.join(REPO_ROOT, 'examples', example, 'index.ts'),
        path.join(project, 'examples', `${example}.ts`),
      );
    // The Pulumi template's settings (CommonJS, node10 resolution), then Node's own resolution.
    const tsc = (config: string) => {
      try {
        execFileSync(bin('tsc'), ['-p', config], { cwd: project, encoding: 'utf8', stdio: 'pipe' });
      } catch (error) {
        assert.fail(
          `tsc -p ${config} in the scratch project:\n${(error as { stdout?: string }).stdout ?? String(error)}`,
        );
      }
    };
    timed('tsc (template settings)', () => tsc('tsconfig.json'));
    timed('tsc (node16)', () => tsc('tsconfig.node16.json'));
  });

  it('compiles every TypeScript block of the README, fragments included, against the installed types', () => {
    const readme = readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
    const modules = readmeModules(readme);
    assert.ok(modules.length >= 5, `README.md has ${modules.length} TypeScript blocks`);
    mkdirSync(path.join(project, 'readme'));
    const files = modules.map((text, index) => {
      const file = `readme/block${index}.mts`;
      writeFileSync(path.join(project, file), text);
      return file;
    });
    const config = { extends: './tsconfig.node16.json', files };
    writeFileSync(path.join(project, 'tsconfig.readme.json'), JSON.stringify(config));
    try {
      execFileSync(bin('tsc'), ['-p', 'tsconfig.readme.json'], { cwd: project, encoding: 'utf8', stdio: 'pipe' });
    } catch (error) {
      assert.fail(
        `README TypeScript blocks do not compile:\n${(error as { stdout?: string }).stdout ?? String(error)}`,
      );
    }
  });

  it('runs the installed unikernel-ami: --version, keygen, image, bundle, verify, unbundle, local-aws', async () => {
    const cli = async (...args: string[]) => {
      const result = await runNodeAsync(bin('unikernel-ami'), args, {}, project);
      assert.equal(result.status, 0, `unikernel-ami ${args.join(' ')}: ${result.stderr}`);
      return result.stdout;
    };
    const work = path.join(project, 'work');
    mkdirSync(work);
    const at = (name: string) => path.join(work, name);
    assert.equal(
      (await cli('--version')).trim(),
      JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')).version,
    );
    await cli('keygen', '--key', at('pk.pem'), '--cert', at('cert.pem'));
    await cli('keygen', '--key', at('ec2-pk.pem'), '--cert', at('ec2-cert.pem'));
    buildXenKernel(work, { fileName: 'mir-app.xen' });
    await cli('image', '--kernel', at('mir-app.xen'), '--out', at('app.img'));
    mkdirSync(at('bundle'));
    const bundled = JSON.parse(
      await cli(
        'bundle',
        '-i',
        at('app.img'),
        '-k',
        at('pk.pem'),
        '-c',
        at('cert.pem'),
        '-u',
        '123456789012',
        '--ec2cert',
        at('ec2-cert.pem'),
        '-d',
        at('bundle'),
        '--json',
      ),
    ) as { manifest: string; parts: Array<{ file: string }> };
    assert.equal(bundled.manifest, at('bundle/app.img.manifest.xml'));
    assert.ok(bundled.parts.length > 0);
    for (const part of bundled.parts)
      assert.ok(lstatSync(at(`bundle/${path.basename(part.file)}`)).isFile(), part.file);
    const manifest = bundled.manifest;
    assert.match(readFileSync(manifest, 'utf8'), /<bundler><name>pulumi-unikernel<\/name><version>\d+\.\d+<\/version>/);
    await cli('verify', '-m', manifest, '-k', at('pk.pem'), '-c', at('cert.pem'));
    mkdirSync(at('restored'));
    await cli('unbundle', '-m', manifest, '-k', at('pk.pem'), '-d', at('restored'));
    assert.equal(sha256(at('restored/app.img')), sha256(at('app.img')));

    const server = spawn(bin('unikernel-ami'), ['local-aws', '--json', '--bucket', 'installed'], {
      cwd: project,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const [line] = (await once(readline.createInterface({ input: server.stdout! }), 'line')) as [string];
    const served = JSON.parse(line) as { endpoint: string; buckets: string[] };
    assert.match(served.endpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.deepEqual(served.buckets, ['installed']);
    server.kill('SIGINT');
    assert.deepEqual(await once(server, 'exit'), [0, null]);
  });

  it('creates, refreshes and destroys every resource through the real plugin against the installed local AWS', async () => {
    const started = Date.now();
    const result = await runNodeAsync(path.join(project, 'bin', 'lifecycle.js'), [], { AWS_PROFILE: '' }, project);
    timings.push(`plugin lifecycle ${((Date.now() - started) / 1000).toFixed(1)} s`);
    assert.equal(result.status, 0, result.stderr);
    const report = JSON.parse(result.stdout.trim().split('\n').pop()!) as {
      steps: Array<{ resource: string; id: string; refreshedId: string; outputs: Record<string, unknown> }>;
      left: Record<string, string[]>;
      privateKeyInState: boolean;
    };
    assert.deepEqual(
      report.steps.map((step) => step.resource),
      ['bundle', 'ami', 'instance', 'ebs-ami'],
    );
    const [bundle, ami, instance, ebsAmi] = report.steps;
    assert.match(
      bundle.id,
      /^scratch-bundles\/unikernels\/dev\/[0-9a-f]{16}-[0-9a-f]{8}\/mir-app\.img\.manifest\.xml$/,
    );
    assert.match(ami.id, /^ami-[0-9a-f]{8,17}$/);
    assert.match(instance.id, /^i-[0-9a-f]{8,17}$/);
    assert.match(ebsAmi.id, /^ami-[0-9a-f]{8,17}$/);
    assert.equal(ami.outputs.state, 'available');
    assert.equal(instance.outputs.state, 'running');
    assert.equal(ebsAmi.outputs.rootDeviceType, 'ebs');
    for (const step of report.steps)
      assert.equal(step.refreshedId, step.id, `${step.resource} is found again on refresh`);
    assert.equal(report.privateKeyInState, false);
    assert.deepEqual(report.left, { objects: [], images: [], instances: [], snapshots: [] }, 'destroy leaves nothing');
  });
});
