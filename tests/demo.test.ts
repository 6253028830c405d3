/** `npm run demo` is the newcomer's first command: it must keep working end to end. */
import { strict as assert } from 'assert';
import { spawn } from 'child_process';
import { rmSync } from 'fs';
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

  it('bundles, verifies, unbundles, then deploys to the fake AWS and leaves nothing there', async () => {
    const { status, stdout, stderr } = await runDemo();
    const work = /working in (\S+)/.exec(stdout)?.[1];
    if (work) rmSync(work, { recursive: true, force: true });
    assert.equal(status, 0, stderr);
    assert.equal(stderr, '');
    assert.match(stdout, /PV-GRUB ext2 image/);
    assert.match(stdout, /is byte-identical to the original/);
    assert.match(stdout, /OK: \d+ part\(s\), digest [0-9a-f]{40}, canonical manifest: yes/);
    assert.match(stdout, /ami-[0-9a-f]+ is available; kernel aki-/);
    assert.match(stdout, /i-[0-9a-f]+ is running \(m1\.small, IMDSv2 required\)/);
    assert.match(stdout, /left in the fake AWS: 0/);
  });
});
