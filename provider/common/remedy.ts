/**
 * What the user can do about a failure, as data. The core says what is wrong and which remedy
 * applies; each front end words the remedy with its own option or property names and commands: the
 * CLI in `provider/cli/inputs.ts`, the Pulumi resources in `provider/dynamic/remedies.ts`.
 * `neutralRemedy` is the wording of the error's own message, for library callers.
 */
export type Remedy =
  /** The private key is encrypted and no passphrase was given: give it. */
  | { kind: 'passphrase' }
  /** The bucket does not exist: create it, or ask for it to be created. */
  | { kind: 'createBucket' }
  /** Another bundle named `name` is at `location`: delete it, or bundle under another name or prefix. */
  | { kind: 'deleteOrRename'; name: string; location: string }
  /** The unfinished bundle named `name` at `location` cannot be resumed: delete it and bundle again. */
  | { kind: 'deleteAndRebundle'; name: string; location: string }
  /** The unfinished bundle named `name` at `location` was made from another image or with other options. */
  | { kind: 'resumeOrDelete'; name: string; location: string }
  /** The parts of `name` stored so far at `location` are kept: bundle again to resume, or delete them. */
  | { kind: 'resumeLater'; name: string; location: string }
  /** A ready disk image was given where a kernel was expected: it is bundled as it is, not built from. */
  | { kind: 'bundleDiskImage' }
  /** Another run holds the place of the bundle `name` at `location`: wait for it, or delete what a dead run left. */
  | { kind: 'waitOrDelete'; name: string; location: string }
  /** The object at `location` where the record of the bundle `name` belongs is not one: remove it, or delete that bundle. */
  | { kind: 'removeRecord'; name: string; location: string }
  /** A TCP boot check on the public address of an instance that will have none: check the private one, or give it one. */
  | { kind: 'portWithoutPublicIp' };

export type RemedyWords = (remedy: Remedy) => string;

/** The remedy in no front end's words. */
export function neutralRemedy(remedy: Remedy): string {
  switch (remedy.kind) {
    case 'passphrase':
      return "give the key's passphrase";
    case 'createBucket':
      return 'create it, or ask for it to be created';
    case 'deleteOrRename':
      return 'delete it or choose another bundle name or prefix';
    case 'deleteAndRebundle':
      return 'delete the unfinished bundle and bundle again';
    case 'resumeOrDelete':
      return 'bundle the same image with the same options to resume it, or delete it';
    case 'resumeLater':
      return 'bundle it again the same way to resume, or delete them';
    case 'bundleDiskImage':
      return 'a ready disk image is bundled as it is';
    case 'waitOrDelete':
      return 'wait for that run to end, or, if none is running, delete the bundle';
    case 'removeRecord':
      return 'remove that object or delete the bundle, then run again';
    case 'portWithoutPublicIp':
      return 'check the port on the private address, or launch the instance with a public IP';
  }
}

/** What is wrong, then what to do: after a colon where the remedy goes on from the fault (what is kept, what the file is), else a semicolon. */
export function withRemedy(fault: string, remedy: Remedy, words: RemedyWords): string {
  const colon = remedy.kind === 'resumeLater' || remedy.kind === 'bundleDiskImage';
  return `${fault}${colon ? ':' : ';'} ${words(remedy)}`;
}
