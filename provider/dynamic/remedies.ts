/**
 * The core's remedies in Pulumi's words: the resources' property names and what to run or delete.
 * The core says what is wrong and which remedy applies (`provider/common/remedy.ts`); check and the
 * operations word it here, never with the CLI's options or commands.
 */
import { InputError, Remedied, reworded } from '../common/errors';
import { Remedy } from '../common/remedy';

/** A core remedy for a Pulumi user. */
export function pulumiRemedy(remedy: Remedy): string {
  switch (remedy.kind) {
    case 'passphrase':
      return 'set privateKeyPassphrase (a secret)';
    case 'createBucket':
      return 'create it, or ask for it to be created (createBucket: true)';
    case 'deleteOrRename':
      return `delete it, or choose another bundleName or keyPrefix`;
    case 'deleteAndRebundle':
      return 'delete the unfinished bundle and run pulumi up again';
    case 'resumeOrDelete':
      return 'run pulumi up with the same image and inputs to resume it, or delete it';
    case 'resumeLater':
      return 'run pulumi up again to resume the upload, or pulumi destroy to remove them';
    case 'bundleDiskImage':
      return 'a ready disk image is bundled as it is (give it as imagePath instead of kernelPath)';
    case 'waitOrDelete':
      return 'wait for that run to end, or, if none is running, delete that bundle and run pulumi up again';
    case 'removeRecord':
      return 'remove that object or delete that bundle, then run pulumi up again';
    case 'portWithoutPublicIp':
      return 'set bootPortAddress to "private" (reachable from where pulumi up runs), or associatePublicIpAddress to true';
  }
}

function isRemedied(error: unknown): error is Error & Remedied {
  return error instanceof Error && 'fault' in error && typeof error.fault === 'string';
}

/** One line for a user, as `failures.ts`'s `reason` gives it, with a core remedy in Pulumi's words. */
export function pulumiReason(error: unknown): string {
  if (isRemedied(error)) return reworded(error, pulumiRemedy);
  return error instanceof Error ? error.message : String(error);
}

/**
 * The core's key checks word their messages after the key or certificate ("is encrypted and …"), as
 * check shows them after the property: the BundledImage property, by the core's field name.
 */
const KEY_PROPERTIES: Record<string, string> = {
  privateKey: 'privateKey',
  userCertificate: 'certificate',
  ec2Certificate: 'ec2Certificate',
};

/** The property a core input error's message begins with, for a key or certificate; else nothing. */
export function keyProperty(error: InputError): string | undefined {
  return KEY_PROPERTIES[error.input];
}

/**
 * What a create or update throws for a core error: one that carries a remedy, reworded for Pulumi
 * (the core error as its cause); any other error as it is.
 */
export function inPulumiWords(error: unknown): unknown {
  if (!(error instanceof InputError) || !error.remedy) return error;
  const property = keyProperty(error);
  return new Error(`${property ? `${property} ` : ''}${pulumiReason(error)}`, { cause: error });
}
