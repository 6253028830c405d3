/** `npm run demo` is the newcomer's first command: it must keep working end to end. */
import { strict as assert } from 'assert';
import { spawn } from 'child_process';
import * as path from 'path';
import { REPO_ROOT } from './helpers/tools';

function runDemo(): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(REPO_ROOT, 'dist', 'examples', 'demo.js')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status: status ?? -1, stdout, stderr }));
  });
}

describe('npm run demo', function () {
  this.timeout(120_000);

  it('runs the stack through the plugin: create, drift, refresh, heal, destroy to an empty AWS', async () => {
    const { status, stdout, stderr } = await runDemo();
    assert.equal(status, 0, stderr);
    assert.equal(stderr, '');
    assert.match(stdout, /\+ BundledImage mirage-bundle  \S+\/mir-hello\.img\.manifest\.xml/);
    assert.match(stdout, /\+ RegisteredAmi mirage-ami  ami-[0-9a-f]+  \(paravirtual, kernel aki-[0-9a-f]+, available\)/);
    assert.match(stdout, /\+ UnikernelInstance mirage-instance  i-[0-9a-f]+  \(running, IMDSv2 required\)/);
    assert.match(stdout, /│ BundledImage mir-hello\.img: uploaded/, 'provider progress reaches the user');
    assert.match(stdout, /state holds no private key: yes/);
    assert.match(stdout, /~ mirage-ami: tags: .*→ .*someone-else/);
    assert.match(stdout, /~ mirage-instance: gone \(deleted outside Pulumi\)/);
    assert.match(stdout, /~ mirage-ami: updated in place/);
    assert.match(stdout, /~ mirage-instance: created \(it was gone\)/);
    assert.match(stdout, /AMI tags now \{"project":"pulumi-unikernel","stack":"demo"\}/);
    assert.match(stdout, /the fake AWS now holds 0 object\(s\)/);
  });
});
