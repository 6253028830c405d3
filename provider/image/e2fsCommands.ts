/**
 * The exact e2fsprogs invocations that make the image, as data: mke2fs's argument list and private
 * configuration, the environment that pins its clock, and the debugfs script that pins what `mke2fs -d`
 * copies from the host (owners and change times). Pure; e2fsprogs.ts runs them.
 */
import { IMAGE_TIMESTAMP } from './layout';
import { ImagePlan, INODE_SIZE } from './size';

/** ext2 with the features every ext2 reader since the 1990s knows (GRUB legacy, hence PV-GRUB, included). */
export const FILE_SYSTEM_FEATURES = 'none,sparse_super,large_file,filetype';
/** The usage type (-T) our private mke2fs.conf defines, so that the host's /etc/mke2fs.conf plays no part. */
export const USAGE_TYPE = 'unikernel';

export interface Mke2fsInputs {
  plan: ImagePlan;
  label: string;
  uuid: string;
  hashSeed: string;
  /** The populated folder that becomes the root directory (`-d`). */
  sourceDirectory: string;
  imageFile: string;
}

/**
 * mke2fs's arguments: quiet, forced onto a regular file, ext2 with a fixed feature set, block and inode
 * sizes, inode count, no reserved blocks, label, fixed UUID and directory hash seed, root owned by 0:0,
 * Linux as creator OS whatever the host, populated from the folder, and the size in blocks.
 */
export function mke2fsArguments(inputs: Mke2fsInputs): string[] {
  const { plan } = inputs;
  return [
    '-q',
    '-F',
    '-t',
    'ext2',
    '-T',
    USAGE_TYPE,
    '-O',
    FILE_SYSTEM_FEATURES,
    '-b',
    String(plan.blockSize),
    '-I',
    String(INODE_SIZE),
    '-N',
    String(plan.inodes),
    '-m',
    '0',
    '-o',
    'Linux',
    '-L',
    inputs.label,
    '-U',
    inputs.uuid,
    '-E',
    `hash_seed=${inputs.hashSeed},root_owner=0:0`,
    '-d',
    inputs.sourceDirectory,
    inputs.imageFile,
    String(plan.blocks),
  ];
}

/** The whole mke2fs.conf mke2fs sees (through MKE2FS_CONFIG): one usage type, nothing from the host. */
export function mke2fsConfiguration(plan: ImagePlan): string {
  return [
    '[fs_types]',
    `\t${USAGE_TYPE} = {`,
    `\t\tblocksize = ${plan.blockSize}`,
    `\t\tinode_size = ${INODE_SIZE}`,
    '\t}',
    '',
  ].join('\n');
}

/**
 * The environment of every e2fsprogs run: the caller's, without any variable that changes what
 * e2fsprogs writes, plus a fixed clock (E2FSPROGS_FAKE_TIME sets the superblock's and new inodes' times),
 * the private configuration, the C locale (messages we can match) and no pager.
 */
export function e2fsEnvironment(base: NodeJS.ProcessEnv, configurationFile?: string): NodeJS.ProcessEnv {
  const environment: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(base)) {
    if (/^(MKE2FS_|E2FSPROGS_|E2FSCK_|DEBUGFS_|LC_|LANG)/.test(name) || name === 'PAGER' || name === 'TZ') continue;
    environment[name] = value;
  }
  environment.E2FSPROGS_FAKE_TIME = String(IMAGE_TIMESTAMP);
  environment.LC_ALL = 'C';
  environment.TZ = 'UTC';
  environment.DEBUGFS_PAGER = '__none__';
  environment.PAGER = '__none__';
  if (configurationFile) environment.MKE2FS_CONFIG = configurationFile;
  return environment;
}

/**
 * debugfs commands that set owner 0:0 and every timestamp of these inodes (paths inside the image,
 * e.g. `/boot/grub/menu.lst`) to IMAGE_TIMESTAMP: `mke2fs -d` copies uid, gid, atime and ctime from the
 * host files, and a change time cannot be set on the host without root.
 */
export function metadataFixups(imagePaths: string[]): string {
  const lines: string[] = [];
  for (const imagePath of imagePaths) {
    if (!/^\/[A-Za-z0-9._+/-]*$/.test(imagePath)) throw new Error(`internal: unsafe path ${imagePath} for debugfs`);
    for (const field of ['uid', 'gid']) lines.push(`set_inode_field ${imagePath} ${field} 0`);
    for (const field of ['atime', 'ctime', 'mtime'])
      lines.push(`set_inode_field ${imagePath} ${field} @${IMAGE_TIMESTAMP}`);
  }
  return `${lines.join('\n')}\n`;
}
