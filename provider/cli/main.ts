#!/usr/bin/env node
/** `unikernel-ami`: the bundler without Pulumi, with ec2-bundle-image's and ec2-unbundle's option names. */
import { Command, Option } from 'commander';
import { availableParallelism } from 'os';
import { ARCHITECTURES } from '../bundle/constants';
import { BUNDLE_ACLS } from '../aws/acl';
import { GZIP_MODES } from '../bundle/parallelGzip';
import { packageInfo } from '../packageInfo';
import { runBundle, runKeygen, runUnbundle, runVerify } from './commands';
import { registerAwsCommands } from './awsCommands';
import { registerEc2Commands } from './ec2Commands';
import { registerImageCommand } from './imageCommand';
import { registerLocalAwsCommand } from './localAwsCommand';
import { registerSnapshotCommand } from './snapshotCommand';
import { checkOptionRules } from './optionRules';

function defaultArchitecture(): string | undefined {
  return process.arch === 'x64' ? 'x86_64' : process.arch === 'ia32' ? 'i386' : undefined;
}

export function buildProgram(): Command {
  const program = new Command('unikernel-ami')
    .description(
      'Bundle unikernels into EC2 AMIs: instance-store bundles (as ec2-bundle-image makes them, read back by unbundle and verify) or EBS snapshots; register the AMIs, run instances and verify their boot.',
    )
    .version(packageInfo.version)
    // One line for option errors too; `--help` shows the usage.
    .configureOutput({
      outputError: (text, write) => write(`unikernel-ami: ${text.replace(/^error: /, '').trim()} (see --help)\n`),
    });

  const common = (command: Command) =>
    command
      .option('--json', 'print a machine-readable summary on stdout')
      .option('--log-file <path>', 'also write every message to this file')
      .option(
        '--passphrase-file <path>',
        'file holding the passphrase of an encrypted private key (or set UNIKERNEL_AMI_KEY_PASSPHRASE)',
      );

  common(
    program
      .command('bundle')
      .description('bundle a disk image: tar, SHA-1, gzip -9, AES-128-CBC, 10 MiB parts and a signed manifest')
      .requiredOption('-i, --image <path>', 'the disk image to bundle')
      .requiredOption('-k, --privatekey <path>', "the user's PEM RSA private key (signs the manifest)")
      .requiredOption('-c, --cert <path>', "the user's PEM X.509 certificate")
      .requiredOption('-u, --user <account>', 'the AWS account id (12 digits, hyphens allowed)')
      .requiredOption(
        '--ec2cert <path>',
        "EC2's bundling certificate for the region (from ec2-ami-tools: cert-ec2.pem for the commercial regions older than 2019; opt-in regions, China and GovCloud have their own)",
      )
      .option('-r, --arch <arch>', `image architecture: ${ARCHITECTURES.join(' or ')}`, defaultArchitecture())
      .option('-d, --destination <dir>', 'folder to write the parts and manifest into', '/tmp')
      .option('-p, --prefix <name>', 'bundle name (default: the image file name)')
      .option('--kernel <aki-id>', 'kernel id to record in the manifest')
      .option('--ramdisk <ari-id>', 'ramdisk id to record in the manifest')
      .option('-B, --block-device-mapping <map>', 'virtual=device pairs, e.g. ami=sda1,root=/dev/sda1,ephemeral0=sdb')
      .option('--productcodes <codes>', 'comma-separated product codes')
      .option('--no-sparse', 'store zero blocks as data instead of holes of a GNU sparse member')
      .option(
        '-b, --bucket <bucket[/prefix]>',
        'bundle straight into S3 instead of -d: parts uploaded as they are made, the manifest last',
      )
      .addOption(
        new Option('--acl <acl>', 'with --bucket: canned ACL of the objects')
          .choices([...BUNDLE_ACLS])
          .default('aws-exec-read'),
      )
      .option('--create-bucket', 'with --bucket: create the bucket (with ACLs enabled) when it does not exist')
      .option('--region <region>', 'with --bucket: AWS region (default: the SDK chain)')
      .option('--concurrency <n>', 'with --bucket: parts uploaded at once', '4')
      .addOption(
        new Option(
          '--gzip <mode>',
          'how gzip -9 runs: parallel compresses chunks on every core as pigz does, single is one zlib stream as GNU gzip; both write one standard gzip member',
        )
          .choices(GZIP_MODES)
          .default('parallel'),
      ),
  ).action(runBundle);

  const reader = (command: Command) =>
    common(
      command
        .requiredOption('-m, --manifest <path>', "the bundle's NAME.manifest.xml")
        .requiredOption('-k, --privatekey <path>', "the user's PEM RSA private key (opens the AES key and IV)")
        .option(
          '-c, --cert <path>',
          "the user's certificate to check the signature with (default: the private key's public half)",
        )
        .option('-s, --source <dir>', 'folder holding the parts (default: the manifest folder)'),
    );

  reader(program.command('unbundle').description('check a bundle and restore its image'))
    .option('-d, --destination <dir>', 'folder to write the image into', '.')
    .action(runUnbundle);
  reader(program.command('verify').description('run every check of unbundle without writing the image')).action(
    runVerify,
  );

  common(
    program
      .command('keygen')
      .description('make a new RSA key and self-signed certificate for signing bundles (-k and -c of bundle)')
      .requiredOption('--key <path>', 'where to write the private key (must not exist)')
      .requiredOption('--cert <path>', 'where to write the certificate (must not exist)')
      .option('--subject <cn>', 'common name of the certificate', 'unikernel-ami bundle signer'),
  ).action(runKeygen);

  registerAwsCommands(program);
  registerImageCommand(program);
  registerSnapshotCommand(program);
  registerLocalAwsCommand(program);
  registerEc2Commands(program);
  program.hook('preAction', checkOptionRules);
  return program;
}

if (require.main === module) {
  // Parallel gzip compresses on libuv's thread pool, which file I/O shares; it has 4 threads unless
  // this is set before its first use, too few to use every core of a bigger machine.
  process.env.UV_THREADPOOL_SIZE ??= String(Math.max(4, availableParallelism() + 2));
  // The AWS SDK warns under Node 20 that its releases after early 2027 need Node 22; this command's
  // SDK is the one the install resolved, so the warning would only add noise to every run's output.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  buildProgram()
    .parseAsync(process.argv)
    .catch((error: unknown) => {
      process.stderr.write(`unikernel-ami: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    });
}
