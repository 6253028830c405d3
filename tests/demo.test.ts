/** `npm run demo` is the newcomer's first command: it must keep working end to end. */
import { strict as assert } from 'assert';
import { writeFileSync } from 'fs';
import * as path from 'path';
import { createServer, Server } from 'http';
import { AddressInfo } from 'net';
import { LocalAws } from '../testing/localAws';
import { REPO_ROOT, runNodeAsync, temporaryFolder } from './helpers/tools';

const runDemo = (env: NodeJS.ProcessEnv = {}) =>
  runNodeAsync(path.join(REPO_ROOT, 'dist', 'examples', 'demo.js'), [], env);

/** An endpoint that is no AWS at all: every request gets 404 and an HTML body. */
async function deadEndpoint(): Promise<{ url: string; server: Server }> {
  const server = createServer((_request, response) =>
    response.writeHead(404, { 'content-type': 'text/html' }).end('<html>nothing here</html>'),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

describe('npm run demo', function () {
  this.timeout(120_000);

  it('runs the stack through the plugin: create, drift, refresh, heal, destroy to an empty AWS', async () => {
    const { status, stdout, stderr } = await runDemo();
    assert.equal(status, 0, stderr);
    assert.equal(stderr, '');
    assert.match(stdout, /\+ BundledImage mirage-bundle {2}\S+\/mir-hello\.img\.manifest\.xml/);
    assert.match(
      stdout,
      /\+ RegisteredAmi mirage-ami {2}ami-[0-9a-f]+ {2}\(paravirtual, kernel aki-[0-9a-f]+, available\)/,
    );
    assert.match(stdout, /\+ UnikernelInstance mirage-instance {2}i-[0-9a-f]+ {2}\(running, IMDSv2 required\)/);
    assert.match(stdout, /│ BundledImage mir-hello\.img: uploaded/, 'provider progress reaches the user');
    assert.match(stdout, /state holds no private key: yes/);
    assert.match(stdout, /~ mirage-ami: tags: .*→ .*someone-else/);
    assert.match(stdout, /~ mirage-instance: gone \(deleted outside Pulumi\)/);
    assert.match(stdout, /~ mirage-ami: updated in place/);
    assert.match(stdout, /~ mirage-instance: created \(it was gone\)/);
    assert.match(stdout, /AMI tags now \{"project":"pulumi-unikernel","stack":"demo"\}/);
    assert.match(stdout, /preview {2}mirage-instance: replaced, create-before-delete \(imageId\)/);
    const update = stdout.slice(stdout.indexOf('a new kernel build'), stdout.indexOf('crashes at boot'));
    const events = [...update.matchAll(/^ {2}[-+~] (create|delete) (mirage-\w+)/gm)].map((m) => `${m[1]} ${m[2]}`);
    assert.deepEqual(events, [
      'create mirage-bundle',
      'create mirage-ami',
      'create mirage-instance',
      'delete mirage-instance',
      'delete mirage-ami',
      'delete mirage-bundle',
    ]);
    assert.match(update, /instances running after each step: 1, 1, 2, 1, 1, 1; at no moment did none run/);
    assert.match(
      stdout,
      /mirage-instance {2}i-[0-9a-f]+ {2}\(running, IMDSv2 required\)\n {4}boot verified: the console printed the boot marker \/listening on\//,
    );
    const crashed =
      /instance (i-[0-9a-f]+) is running but its boot was not verified: the console shows a failure \(OCaml \(MirageOS\) uncaught exception\); last console lines:/.exec(
        stdout,
      );
    assert.ok(crashed, 'the crashing kernel fails the up');
    assert.match(
      stdout,
      /Booting 'mir-hello-v3\.xen'[\s\S]*Fatal error: exception Invalid_argument\("index out of bounds"\)/,
    );
    assert.match(stdout, new RegExp(`the state keeps mirage-instance ${crashed[1]} \\(running\\)`));
    assert.match(
      stdout,
      new RegExp(`UnikernelInstance ${crashed[1]}: its boot was not verified .*: the instance is replaced`),
    );
    const healed = stdout.slice(stdout.indexOf('after fixing the kernel'));
    assert.match(
      healed,
      new RegExp(`delete mirage-instance ${crashed[1]}`),
      'the failed instance is deleted once replaced',
    );
    assert.match(healed, /boot verified: the console printed the boot marker/);
    assert.match(stdout, /the local AWS now holds 0 object\(s\)/);
  });

  it('runs against the endpoint in AWS_ENDPOINT_URL, looking up its PV-GRUB kernel, and leaves it empty', async () => {
    const local = await LocalAws.start({ instancePendingMs: 100, instanceShuttingDownMs: 100, imagePendingMs: 50 });
    // The endpoint's EC2 certificate, as cert-ec2.pem is for AWS: a bundle sealed for a stand-in
    // would not boot there, as it would not on EC2.
    const folder = temporaryFolder('demo-endpoint');
    const certificate = path.join(folder.dir, 'cert-ec2.pem');
    writeFileSync(certificate, local.ec2Certificate);
    try {
      const { status, stdout, stderr } = await runDemo({
        UNIKERNEL_EC2_CERTIFICATE: certificate,
        AWS_ENDPOINT_URL: local.endpoint,
        AWS_REGION: local.region,
        AWS_ACCESS_KEY_ID: local.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: local.credentials.secretAccessKey,
        AWS_PROFILE: '',
        UNIKERNEL_DEMO_ACCOUNT_ID: local.accountId,
        UNIKERNEL_DEMO_BUCKET: 'endpoint-demo',
      });
      assert.equal(status, 0, stderr);
      assert.match(stdout, new RegExp(`AWS endpoint ${local.endpoint} \\(from AWS_ENDPOINT_URL\\)`));
      assert.match(stdout, /kernel aki-[0-9a-f]+ \(Amazon's PV-GRUB hd0, looked up at http:\/\/127\.0\.0\.1:\d+\)/);
      assert.ok(stdout.includes(`EC2 certificate ${certificate}`), stdout);
      assert.match(stdout, /\+ UnikernelInstance mirage-instance {2}i-[0-9a-f]+ {2}\(running/);
      assert.match(stdout, /boot verified/, 'the endpoint opened the bundle and PV-GRUB booted it');
      assert.deepEqual(local.objects('endpoint-demo'), [], 'the bundle is deleted');
      assert.deepEqual(
        local.instances().filter((each) => each.state !== 'terminated'),
        [],
      );
      assert.deepEqual(
        local.images().filter((each) => each.ownerId === local.accountId && each.state !== 'deregistered'),
        [],
      );
    } finally {
      await local.stop();
      folder.cleanup();
    }
  });

  it('says in one line what an endpoint lacks: a PV-GRUB catalogue (UNIKERNEL_KERNEL_ID), then anything else', async () => {
    const dead = await deadEndpoint();
    try {
      const env = {
        AWS_ENDPOINT_URL: dead.url,
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
        AWS_SECRET_ACCESS_KEY: 'example',
        AWS_PROFILE: '',
      };
      const noCatalogue = await runDemo(env);
      assert.equal(noCatalogue.status, 1);
      assert.match(
        noCatalogue.stderr,
        /^demo failed: http:\/\/127\.0\.0\.1:\d+ has no catalogue of Amazon's PV-GRUB kernels \(.*\): set UNIKERNEL_KERNEL_ID to the PV-GRUB hd0 kernel/,
      );
      assert.equal(noCatalogue.stderr.trim().split('\n').length, 1, noCatalogue.stderr);
      const withKernel = await runDemo({ ...env, UNIKERNEL_KERNEL_ID: 'aki-919dcaf8' });
      assert.equal(withKernel.status, 1);
      assert.match(withKernel.stdout, /kernel aki-919dcaf8 \(from UNIKERNEL_KERNEL_ID\)/);
      assert.match(withKernel.stderr, /^demo failed: /);
      assert.equal(withKernel.stderr.trim().split('\n').length, 1, withKernel.stderr);
      assert.doesNotMatch(withKernel.stderr, /\n\s+at /, 'no stack trace');
    } finally {
      dead.server.close();
    }
  });
});
