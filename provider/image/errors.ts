import { InputError } from '../common/errors';
import { Remedy } from '../common/remedy';

/** Something the user gave the image build is wrong (the kernel, the output path, the size, the command line); `input` names it by the build's field name. */
export class ImageInputError extends InputError {
  constructor(input: string, message: string, remedy?: Remedy) {
    super(input, message, remedy);
    this.name = 'ImageInputError';
  }
}

/** An external program the image build needs (mke2fs, debugfs, e2fsck) is missing, too old or broken. */
export class ImageToolError extends Error {
  readonly tool: string;

  constructor(tool: string, message: string) {
    super(message);
    this.name = 'ImageToolError';
    this.tool = tool;
  }
}

/** The package that installs e2fsprogs' tools, and the command that installs it on Debian and Ubuntu. */
export const E2FSPROGS_INSTALL_HINT = 'install e2fsprogs (apt-get install e2fsprogs)';
