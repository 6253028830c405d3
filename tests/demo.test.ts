/** `npm run demo` is the newcomer's first command: it must keep working end to end. */
import { strict as assert } from 'assert';
import * as path from 'path';
import { REPO_ROOT, runNodeAsync } from './helpers/tools';

const runDemo = () => runNodeAsync(path.join(REPO_ROOT, 'dist', 'examples', 'demo.js'));

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
