/**
 * Which container format a disk image file is in, from its header (pure): qcow2, VMDK (sparse
 * extent or descriptor), VHD (its footer: last 512 bytes, copied at the start of dynamic disks),
 * VHDX and VDI. A raw image has none of these. A container uploaded as if it were raw gives an AMI
 * that never boots, so the EBS path refuses them with the command that converts them.
 */
export type ContainerFormat = 'qcow2' | 'vmdk' | 'vpc' | 'vhdx' | 'vdi';

/** Bytes of the file's start that `containerFormat` looks at. */
export const HEAD_BYTES = 1024;
/** Bytes of the file's end (the VHD footer). */
export const TAIL_BYTES = 512;

/** What each format is called in messages. */
export const FORMAT_NAMES: Record<ContainerFormat, string> = {
  qcow2: 'qcow2 (QEMU)',
  vmdk: 'VMDK (VMware)',
  vpc: 'VHD (Hyper-V/Virtual PC)',
  vhdx: 'VHDX (Hyper-V)',
  vdi: 'VDI (VirtualBox)',
};

const startsWith = (data: Buffer, text: string, at = 0) =>
  data.length >= at + text.length && data.toString('latin1', at, at + text.length) === text;

/** The container format the head (first HEAD_BYTES) and tail (last TAIL_BYTES) show, or undefined for raw. */
export function containerFormat(head: Buffer, tail: Buffer): ContainerFormat | undefined {
  // qcow (v1 to v3): "QFI\xfb"; qemu-img also recognises v1 as "qcow", converted the same way.
  if (startsWith(head, 'QFI\xfb')) return 'qcow2';
  // VMDK sparse extent "KDMV", COW disk "COWD", or a text descriptor.
  if (startsWith(head, 'KDMV') || startsWith(head, 'COWD') || startsWith(head, '# Disk DescriptorFile')) return 'vmdk';
  if (startsWith(head, 'vhdxfile')) return 'vhdx';
  // VDI: the pre-header text, then the signature 0xbeda107f (little-endian) at offset 64.
  if (head.length >= 68 && head.readUInt32LE(64) === 0xbeda107f) return 'vdi';
  // VHD: "conectix" cookie in the footer (fixed disks: only there; dynamic: also at the start).
  if (startsWith(head, 'conectix') || startsWith(tail, 'conectix') || startsWith(tail, 'conectix', 1)) return 'vpc';
  return undefined;
}

/** The one command that turns the file into a raw image for the EBS path. */
export function convertCommand(format: ContainerFormat, file: string): string {
  const quoted = (text: string) => (/^[\w./@%+=:,-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`);
  const raw = file.replace(/\.(qcow2?|vmdk|vhdx?|vpc|vdi|img)$/i, '') + '.raw';
  return `qemu-img convert -f ${format} -O raw ${quoted(file)} ${quoted(raw)}`;
}
