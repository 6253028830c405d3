/**
 * The demo's kernel update: a new build of the kernel replaces the bundle, the AMI and the instance,
 * each made before what it replaces is deleted, so an instance runs at every moment.
 */
import { mkdirSync } from 'fs';
import * as path from 'path';
import { bundledImageProvider } from '../../provider/dynamic/bundledImage/provider';
import { LocalAws } from '../../testing/localAws';
import { Props } from '../../testing/pluginHarness';
import { buildXenKernel } from '../../testing/xenKernel';
import { MiniEngine } from './engine';

const say = (line: string) => process.stdout.write(`${line}\n`);

export async function kernelUpdate(
  engine: MiniEngine,
  work: string,
  bundleInputs: Props,
  local: LocalAws | undefined,
  onKernel: (kernelPath: string) => void = () => undefined,
): Promise<void> {
  say('\n▸ pulumi up: a new kernel build (every replacement is made before what it replaces is deleted)');
  const folder = path.join(work, 'v2');
  mkdirSync(folder, { recursive: true });
  const kernelPath = buildXenKernel(folder, { fileName: path.basename(String(bundleInputs.kernelPath)), seed: 'v2' });
  onKernel(kernelPath);
  await engine.declare(
    'unikernel:BundledImage',
    'mirage-bundle',
    bundledImageProvider,
    { ...bundleInputs, kernelPath },
    ['privateKey'],
  );
  for (const line of await engine.preview()) say(`  preview  ${line}`);
  const running = () => local?.instances().filter((each) => each.state === 'running').length;
  const counts: number[] = [];
  engine.watch((event) => {
    engine.relay();
    const count = running();
    if (count !== undefined) counts.push(count);
    say(
      `  ${event.startsWith('delete') ? '-' : event.startsWith('create') ? '+' : '~'} ${event}${count === undefined ? '' : `  (${count} instance(s) running)`}`,
    );
  });
  try {
    await engine.upAll();
  } finally {
    engine.watch(undefined);
  }
  if (local) {
    say(
      `  instances running after each step: ${counts.join(', ')}; ${Math.min(...counts) > 0 ? 'at no moment did none run' : 'THERE WAS A MOMENT WITH NONE'}`,
    );
  }
}
