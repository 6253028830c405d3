/**
 * What an HVM instance's firmware makes of the root volume's first sectors, before any boot loader
 * runs: legacy BIOS boots a disk only if sector 0 ends with the MBR boot signature 0x55 0xAA (bytes
 * 510–511); UEFI also finds a GPT disk by its header ("EFI PART" at byte 512). A disk with neither
 * does not boot, and the console shows what the firmware prints.
 *
 * The texts are the firmwares' own: SeaBIOS (boot.c, boot_disk and boot_fail) prints "Booting from
 * Hard Disk...", then "Boot failed: not a bootable disk" when the signature is missing, then
 * "No bootable device." once nothing is left to try; OVMF's boot manager (edk2 BdsDxe, BdsEntry.c)
 * prints "BdsDxe: No bootable option or device was found.".
 */

const MBR_SIGNATURE_OFFSET = 510;
const GPT_HEADER_OFFSET = 512;
const GPT_SIGNATURE = Buffer.from('EFI PART', 'ascii');

/** Bytes of the volume's start the firmware looks at (sector 0 and the GPT header in sector 1). */
export const FIRMWARE_LOOKS_AT_BYTES = 1024;

export type FirmwareBootMode = 'legacy-bios' | 'uefi';

export type FirmwareOutcome = { kind: 'boot-loader-found' } | { kind: 'no-bootable-device'; lines: string[] };

function hasMbrSignature(start: Buffer): boolean {
  return start.length >= MBR_SIGNATURE_OFFSET + 2 && start[510] === 0x55 && start[511] === 0xaa;
}

function hasGptHeader(start: Buffer): boolean {
  return (
    start.length >= GPT_HEADER_OFFSET + GPT_SIGNATURE.length &&
    start.subarray(GPT_HEADER_OFFSET, GPT_HEADER_OFFSET + GPT_SIGNATURE.length).equals(GPT_SIGNATURE)
  );
}

/** The firmware's verdict on a volume starting with `start` (shorter than 1 KiB: the rest reads as zeros). */
export function firmwareBoot(start: Buffer, bootMode: FirmwareBootMode): FirmwareOutcome {
  if (bootMode === 'uefi') {
    if (hasGptHeader(start) || hasMbrSignature(start)) return { kind: 'boot-loader-found' };
    return { kind: 'no-bootable-device', lines: ['BdsDxe: No bootable option or device was found.'] };
  }
  if (hasMbrSignature(start)) return { kind: 'boot-loader-found' };
  return {
    kind: 'no-bootable-device',
    lines: ['Booting from Hard Disk...', 'Boot failed: not a bootable disk', '', 'No bootable device.'],
  };
}
