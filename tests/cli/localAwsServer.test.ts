/**
 * `unikernel-ami local-aws`: the local AWS as a server, spoken to by the real AWS SDK and by the AWS
 * CLI (an independent client: botocore signs and parses on its own), then stopped by SIGINT.
 */
import { strict as assert } from 'assert';
import { ChildProcess, execFile, spawn } from 'child_process';
import { existsSync, readFileSync, writeFileSync } from 'fs';
import * as path from 'path';
import * as readline from 'readline';
import { DescribeImagesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { buildXenKernel } from '../../testing/xenKernel';
import { CLI, runCli, runCliAsync, temporaryFolder } from '../helpers/tools';

interface Served {
  endpoint: string;
  region: string;
  accountId: string;
  accessKeyId: string;
  secretAccessKey: string;
  buckets: string[];
}

function startServer(args: string[]): Promise<{ child: ChildProcess; served: Served }> {
  const child = spawn(process.execPath, [CLI, 'local-aws', '--json', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    const lines = readline.createInterface({ input: child.stdout! });
    let stderr = '';
    child.stderr!.on('data', (chunk) => (stderr += chunk));
    lines.once('line', (line) => resolve({ child, served: JSON.parse(line) as Served }));
    child.once('exit', (code) =>
      reject(new Error(`local-aws exited with ${code} before printing its endpoint: ${stderr}`)),
    );
  });
}

function awsCli(served: Served, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    AWS_ACCESS_KEY_ID: served.accessKeyId,
    AWS_SECRET_ACCESS_KEY: served.secretAccessKey,
    AWS_DEFAULT_REGION: served.region,
    AWS_CONFIG_FILE: '/nonexistent',
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
    AWS_EC2_METADATA_DISABLED: 'true',
  };
  return new Promise((resolve) => {
    execFile(
      'aws',
      ['--endpoint-url', served.endpoint, '--output', 'json', ...args],
      { env },
      (error, stdout, stderr) => {
        resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

function hasAwsCli(): boolean {
  return (process.env.PATH ?? '').split(path.delimiter).some((dir) => existsSync(path.join(dir, 'aws')));
}

describe('unikernel-ami local-aws', function () {
  this.timeout(120_000);
  let server: { child: ChildProcess; served: Served };
  const folder = temporaryFolder('local-aws-cli');

  before(async () => {
    server = await startServer(['--bucket', 'served-bundles', '--region', 'eu-west-1']);
  });
  after(() => {
    if (server.child.exitCode === null) server.child.kill('SIGKILL');
    folder.cleanup();
  });

  it('prints its endpoint on 127.0.0.1, the region and the credentials it accepts', () => {
    const { served } = server;
    assert.match(served.endpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(served.region, 'eu-west-1');
    assert.match(served.accountId, /^\d{12}$/);
    assert.ok(served.accessKeyId && served.secretAccessKey);
    assert.deepEqual(served.buckets, ['served-bundles']);
  });

  it('serves the AWS SDK: S3 objects in the bucket it made, and Amazon PV-GRUB kernels of its region', async () => {
    const { served } = server;
    const config = {
      endpoint: served.endpoint,
      region: served.region,
      credentials: { accessKeyId: served.accessKeyId, secretAccessKey: served.secretAccessKey },
    };
    const s3 = new S3Client({ ...config, forcePathStyle: true });
    const ec2 = new EC2Client(config);
    try {
      await s3.send(
        new PutObjectCommand({ Bucket: 'served-bundles', Key: 'hello.txt', Body: 'hello', ACL: 'aws-exec-read' }),
      );
      const got = await s3.send(new GetObjectCommand({ Bucket: 'served-bundles', Key: 'hello.txt' }));
      assert.equal(await got.Body!.transformToString(), 'hello');
      const kernels = await ec2.send(
        new DescribeImagesCommand({ Owners: ['amazon'], Filters: [{ Name: 'name', Values: ['pv-grub-hd0*'] }] }),
      );
      assert.ok(
        (kernels.Images ?? []).length > 0 && kernels.Images!.every((image) => image.ImageId?.startsWith('aki-')),
      );
    } finally {
      s3.destroy();
      ec2.destroy();
    }
  });

  it('serves the AWS CLI: list, put and head objects; describe images and instance types', async function () {
    if (!hasAwsCli()) {
      this.skip(); // .ci/run installs the AWS CLI; a developer machine may lack it.
    }
    const { served } = server;
    const buckets = await awsCli(served, ['s3api', 'list-buckets']);
    assert.equal(buckets.code, 0, buckets.stderr);
    assert.ok(
      (JSON.parse(buckets.stdout) as { Buckets: Array<{ Name: string }> }).Buckets.some(
        (bucket) => bucket.Name === 'served-bundles',
      ),
    );
    const body = path.join(folder.dir, 'part.bin');
    writeFileSync(body, Buffer.alloc(70_000, 3));
    const put = await awsCli(served, [
      's3api',
      'put-object',
      '--bucket',
      'served-bundles',
      '--key',
      'cli/part.bin',
      '--body',
      body,
      '--acl',
      'aws-exec-read',
    ]);
    assert.equal(put.code, 0, put.stderr);
    const head = await awsCli(served, ['s3api', 'head-object', '--bucket', 'served-bundles', '--key', 'cli/part.bin']);
    assert.equal(head.code, 0, head.stderr);
    assert.equal((JSON.parse(head.stdout) as { ContentLength: number }).ContentLength, 70_000);
    const images = await awsCli(served, [
      'ec2',
      'describe-images',
      '--owners',
      'amazon',
      '--filters',
      'Name=name,Values=pv-grub-hd0*',
    ]);
    assert.equal(images.code, 0, images.stderr);
    assert.ok((JSON.parse(images.stdout) as { Images: unknown[] }).Images.length > 0);
    const types = await awsCli(served, ['ec2', 'describe-instance-types', '--instance-types', 'm3.medium']);
    assert.equal(types.code, 0, types.stderr);
    assert.equal(
      (JSON.parse(types.stdout) as { InstanceTypes: Array<{ InstanceType: string }> }).InstanceTypes[0].InstanceType,
      'm3.medium',
    );
    const missing = await awsCli(served, ['s3api', 'head-object', '--bucket', 'served-bundles', '--key', 'absent']);
    assert.notEqual(missing.code, 0, 'a missing object is an error to the AWS CLI as on S3');
  });

  it('prints export lines that alone set up the AWS CLI (v1 reads the region from AWS_DEFAULT_REGION)', async function () {
    if (!hasAwsCli()) {
      this.skip(); // .ci/run installs the AWS CLI; a developer machine may lack it.
    }
    const child = spawn(process.execPath, [CLI, 'local-aws', '--region', 'eu-west-1'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const exported: Record<string, string> = {};
      const lines = readline.createInterface({ input: child.stdout! });
      for await (const line of lines) {
        const match = /^\s*export ([A-Z_]+)=(.*)$/.exec(line);
        if (match) exported[match[1]] = match[2];
        if (line.startsWith('Ctrl-C')) break;
      }
      assert.deepEqual(Object.keys(exported).sort(), [
        'AWS_ACCESS_KEY_ID',
        'AWS_DEFAULT_REGION',
        'AWS_ENDPOINT_URL',
        'AWS_REGION',
        'AWS_SECRET_ACCESS_KEY',
      ]);
      // Only what the server printed: no --region, no --endpoint-url, no config file.
      const env = {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        AWS_CONFIG_FILE: '/nonexistent',
        AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
        AWS_EC2_METADATA_DISABLED: 'true',
        ...exported,
      };
      const result = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        execFile(
          'aws',
          ['--output', 'json', 'ec2', 'describe-instance-types', '--instance-types', 'm3.medium'],
          { env },
          (error, stdout, stderr) =>
            resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
        );
      });
      assert.equal(result.code, 0, result.stderr);
      assert.equal(
        (JSON.parse(result.stdout) as { InstanceTypes: Array<{ InstanceType: string }> }).InstanceTypes[0].InstanceType,
        'm3.medium',
      );
    } finally {
      child.kill('SIGINT');
    }
  });

  it('--ec2cert-out: the CLI alone bundles for the stand-in certificate, and the instance boots through PV-GRUB', async () => {
    const at = (name: string) => path.join(folder.dir, name);
    const started = await startServer(['--bucket', 'sealed', '--ec2cert-out', at('cert-ec2.pem')]);
    try {
      const { served } = started;
      assert.equal((served as Served & { ec2Certificate?: string }).ec2Certificate, at('cert-ec2.pem'));
      assert.match(readFileSync(at('cert-ec2.pem'), 'utf8'), /^-----BEGIN CERTIFICATE-----/);
      const env = {
        AWS_ENDPOINT_URL: served.endpoint,
        AWS_REGION: served.region,
        AWS_ACCESS_KEY_ID: served.accessKeyId,
        AWS_SECRET_ACCESS_KEY: served.secretAccessKey,
        AWS_PROFILE: undefined,
      };
      const cli = async (...args: string[]) => {
        const result = await runCliAsync(args, env);
        assert.equal(result.status, 0, `unikernel-ami ${args.join(' ')}: ${result.stderr}`);
        return result.stdout.trim();
      };
      buildXenKernel(folder.dir, { fileName: 'sealed.xen' });
      await cli('keygen', '--key', at('sealed-pk.pem'), '--cert', at('sealed-cert.pem'));
      await cli('image', '--kernel', at('sealed.xen'), '--out', at('sealed.img'));
      await cli(
        'bundle',
        '-i',
        at('sealed.img'),
        '-k',
        at('sealed-pk.pem'),
        '-c',
        at('sealed-cert.pem'),
        '-u',
        served.accountId,
        '--ec2cert',
        at('cert-ec2.pem'),
        '-b',
        'sealed/v1',
      );
      const ami = await cli('register', '--image-location', 'sealed/v1/sealed.img.manifest.xml', '-n', 'sealed');
      const run = JSON.parse(
        await cli('run', '--image-id', ami, '-t', 'm3.medium', '--poll-seconds', '0.05', '--json'),
      ) as { instanceId: string };
      const printed = JSON.parse(await cli('console', '--instance-id', run.instanceId, '--json')) as {
        output: string;
      };
      assert.match(printed.output, /GNU GRUB/, 'PV-GRUB read the bundle EC2 was given');
      assert.match(printed.output, /Booting 'sealed\.xen'/);
      await cli('terminate', '--instance-id', run.instanceId, '--poll-seconds', '0.05');

      const again = await runCliAsync(['local-aws', '--ec2cert-out', at('cert-ec2.pem')]);
      assert.equal(again.status, 1);
      assert.match(again.stderr, /--ec2cert-out .*cert-ec2\.pem: already exists; it was left untouched/);
    } finally {
      started.child.kill('SIGINT');
    }
  });

  it('stops on SIGINT, exiting 0', async () => {
    const { child } = server;
    let stderr = '';
    child.stderr!.on('data', (chunk) => (stderr += chunk));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGINT');
    assert.equal(await exited, 0);
    assert.match(stderr, /local AWS stopped/);
  });

  it('refuses a bad port, region, account or bucket in one line, and a port in use', async () => {
    for (const [args, message] of [
      [['--port', '70000'], /--port 70000: give a port from 1 to 65535, or 0 for any free port/],
      [['--region', 'Mars'], /--region Mars: give a region name/],
      [['--account-id', '12'], /--account-id 12: give 12 digits/],
      [['--bucket', 'No_Such'], /--bucket No_Such: give a bucket name/],
    ] as const) {
      const result = runCli(['local-aws', ...args]);
      assert.equal(result.status, 1, args.join(' '));
      assert.match(result.stderr, message);
      assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    }
    const first = await startServer([]);
    try {
      const port = new URL(first.served.endpoint).port;
      const result = runCli(['local-aws', '--port', port]);
      assert.equal(result.status, 1);
      assert.match(result.stderr, new RegExp(`--port ${port}: the port is in use`));
    } finally {
      first.child.kill('SIGINT');
    }
  });
});
