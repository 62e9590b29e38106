/**
 * The Linux/x86 bzImage setup header (`Documentation/arch/x86/boot.rst`), parsed and validated
 * for the 64-bit boot protocol. The image is untrusted input: every field a loader acts on is
 * checked against the file and the guest's RAM first, and a bad image is a
 * {@link GuestImageError} with one line that says what is wrong.
 * @module
 */
import { GuestImageError } from '@hyvisor/core';

/** Offsets of the setup-header fields in the image (and in the zero page, which copies it). */
export const SetupHeader = {
  /** Where the copied header starts. */
  START: 0x1f1,
  SETUP_SECTS: 0x1f1,
  SYSSIZE: 0x1f4,
  VID_MODE: 0x1fa,
  BOOT_FLAG: 0x1fe,
  JUMP: 0x200,
  HEADER: 0x202,
  VERSION: 0x206,
  TYPE_OF_LOADER: 0x210,
  LOADFLAGS: 0x211,
  CODE32_START: 0x214,
  RAMDISK_IMAGE: 0x218,
  RAMDISK_SIZE: 0x21c,
  HEAP_END_PTR: 0x224,
  CMD_LINE_PTR: 0x228,
  INITRD_ADDR_MAX: 0x22c,
  KERNEL_ALIGNMENT: 0x230,
  RELOCATABLE_KERNEL: 0x234,
  MIN_ALIGNMENT: 0x235,
  XLOADFLAGS: 0x236,
  CMDLINE_SIZE: 0x238,
  PAYLOAD_OFFSET: 0x248,
  PAYLOAD_LENGTH: 0x24c,
  PREF_ADDRESS: 0x258,
  INIT_SIZE: 0x260,
  /** The boot-sector signature at `BOOT_FLAG`. */
  BOOT_FLAG_MAGIC: 0xaa55,
  /** "HdrS" at `HEADER`. */
  HEADER_MAGIC: 0x53726448,
  /** The header may not run past this offset: boot_params has `edd_mbr_sig_buffer` there. */
  END_MAX: 0x290,
  /** loadflags bit 0: protected-mode code loads high (a bzImage). */
  LOADED_HIGH: 0x01,
  /** xloadflags bit 0: the kernel has the 64-bit entry at load address + 0x200. */
  XLF_KERNEL_64: 0x01,
  /** xloadflags bit 1: kernel, boot_params, command line and ramdisk may live above 4 GiB. */
  XLF_CAN_BE_LOADED_ABOVE_4G: 0x02,
  /** Offset of the 64-bit entry point from the protected-mode image's load address. */
  ENTRY_64_OFFSET: 0x200,
  /** Oldest boot protocol with `xloadflags` (and so a declared 64-bit entry): 2.12. */
  MIN_VERSION: 0x020c,
} as const;

/** A validated bzImage: the header fields the loader uses, in numbers. */
export interface BzImage {
  /** Boot protocol version, `(major << 8) | minor` (0x020f = 2.15). */
  readonly version: number;
  /** Setup code size in 512-byte sectors (0 in the file means 4). */
  readonly setupSects: number;
  /** Offset of the protected-mode image in the file: `(setupSects + 1) * 512`. */
  readonly kernelOffset: number;
  /** Protected-mode image size from `syssize` (16-byte paragraphs). */
  readonly kernelSize: number;
  /** End of the setup header (`0x202 + jump offset`): the bytes `[0x1f1, headerEnd)` go to the zero page. */
  readonly headerEnd: number;
  readonly loadflags: number;
  readonly xloadflags: number;
  readonly relocatable: boolean;
  readonly kernelAlignment: number;
  readonly minAlignment: number;
  /** Where the kernel wants to be loaded (and, relocatable or not, where it decompresses itself to). */
  readonly prefAddress: number;
  /** Contiguous memory from the load address the kernel needs before it reads its memory map. */
  readonly initSize: number;
  /** Longest command line, without its NUL. */
  readonly cmdlineSize: number;
  /** Highest address the initrd may occupy (inclusive). */
  readonly initrdAddrMax: number;
  /** Offset and length of the compressed payload inside the protected-mode image. */
  readonly payloadOffset: number;
  readonly payloadLength: number;
}

/** Bytes the loader must be able to read: the header up to `init_size` (0x260 + 4). */
const MIN_FILE = 0x264;

/**
 * True if `bytes` looks like a bzImage (boot flag and "HdrS" present); says nothing about validity.
 * Lets a caller pick between {@link parseBzImage} and the ELF loader.
 */
export function isBzImage(bytes: Uint8Array): boolean {
  if (bytes.length < MIN_FILE) return false;
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return v.getUint16(SetupHeader.BOOT_FLAG, true) === SetupHeader.BOOT_FLAG_MAGIC &&
    v.getUint32(SetupHeader.HEADER, true) === SetupHeader.HEADER_MAGIC;
}

/**
 * Parses and validates the setup header of a 64-bit bzImage that is to run in `ramSize` bytes of
 * guest RAM starting at 0. `name` starts every message.
 */
export function parseBzImage(bytes: Uint8Array, ramSize: number, name = 'kernel image'): BzImage {
  const fail = (why: string): never => {
    throw new GuestImageError(`${name}: ${why}`, { image: name });
  };
  const hex = (n: number): string => `0x${n.toString(16)}`;
  const mib = (n: number): string => `${Math.ceil(n / (1 << 20))} MiB`;
  if (bytes.length < MIN_FILE) fail(`too small to be a Linux bzImage (${bytes.length} bytes, the setup header alone needs ${MIN_FILE})`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u8 = (o: number) => v.getUint8(o), u16 = (o: number) => v.getUint16(o, true), u32 = (o: number) => v.getUint32(o, true);
  const H = SetupHeader;
  if (u16(H.BOOT_FLAG) !== H.BOOT_FLAG_MAGIC) fail(`not a Linux kernel image (no 0xaa55 boot flag at 0x1fe)`);
  if (u32(H.HEADER) !== H.HEADER_MAGIC) fail(`not a bzImage (no "HdrS" setup header at 0x202): a boot protocol older than 2.00`);
  const version = u16(H.VERSION);
  const proto = `${version >> 8}.${(version & 0xff).toString().padStart(2, '0')}`;
  if (version < H.MIN_VERSION) fail(`boot protocol ${proto} is too old: the 64-bit entry needs 2.12 or later`);
  if (u8(H.JUMP) !== 0xeb) fail(`setup header has no short jump at 0x200 (found ${hex(u8(H.JUMP))}), so its length is unknown`);
  const headerEnd = H.HEADER + u8(H.JUMP + 1);
  if (headerEnd > H.END_MAX || headerEnd < H.INIT_SIZE + 4) fail(`setup header length is wrong: it ends at ${hex(headerEnd)}, expected between 0x264 and 0x290`);
  const loadflags = u8(H.LOADFLAGS);
  if ((loadflags & H.LOADED_HIGH) === 0) fail('is a zImage (loadflags.LOADED_HIGH clear), not a bzImage');
  const xloadflags = u16(H.XLOADFLAGS);
  if ((xloadflags & H.XLF_KERNEL_64) === 0) fail('has no 64-bit entry point (xloadflags.XLF_KERNEL_64 clear): a 32-bit kernel');

  const setupSects = u8(H.SETUP_SECTS) || 4;
  const kernelOffset = (setupSects + 1) * 512;
  const kernelSize = u32(H.SYSSIZE) * 16;
  if (kernelOffset >= bytes.length) fail(`is truncated: the setup code (${setupSects} sectors) runs past the end of the file (${bytes.length} bytes)`);
  if (kernelSize === 0) fail('setup header gives a protected-mode kernel of 0 bytes (syssize 0)');
  if (kernelOffset + kernelSize > bytes.length) {
    fail(`is truncated: the header says ${kernelOffset + kernelSize} bytes (setup + syssize), the file has ${bytes.length}`);
  }

  const relocatable = u8(H.RELOCATABLE_KERNEL) !== 0;
  const kernelAlignment = u32(H.KERNEL_ALIGNMENT);
  const minAlignment = u8(H.MIN_ALIGNMENT);
  const prefAddress = Number(v.getBigUint64(H.PREF_ADDRESS, true));
  const initSize = u32(H.INIT_SIZE);
  if (relocatable && (kernelAlignment < 0x1000 || (kernelAlignment & (kernelAlignment - 1)) !== 0)) {
    fail(`kernel_alignment ${hex(kernelAlignment)} is not a power of two of at least 4 KiB`);
  }
  if (!Number.isSafeInteger(prefAddress) || prefAddress < 0x100000 || prefAddress % 0x1000 !== 0) {
    fail(`pref_address ${hex(prefAddress)} is not a page-aligned address at or above 1 MiB`);
  }
  if (relocatable && prefAddress % kernelAlignment !== 0) fail(`pref_address ${hex(prefAddress)} is not aligned to kernel_alignment ${hex(kernelAlignment)}`);
  if (initSize < kernelSize) fail(`init_size ${hex(initSize)} is smaller than the kernel itself (${hex(kernelSize)} bytes)`);
  if (prefAddress + initSize > ramSize) {
    fail(`needs guest RAM up to ${hex(prefAddress + initSize)} (pref_address ${hex(prefAddress)} + init_size ${hex(initSize)}): give the VM at least ${mib(prefAddress + initSize)}, it has ${mib(ramSize)}`);
  }
  const payloadOffset = u32(H.PAYLOAD_OFFSET);
  const payloadLength = u32(H.PAYLOAD_LENGTH);
  if (payloadOffset + payloadLength > kernelSize) fail(`payload [${hex(payloadOffset)}, +${hex(payloadLength)}) lies outside the ${kernelSize}-byte kernel`);
  const cmdlineSize = u32(H.CMDLINE_SIZE);
  const initrdAddrMax = u32(H.INITRD_ADDR_MAX);
  return {
    version, setupSects, kernelOffset, kernelSize, headerEnd, loadflags, xloadflags, relocatable,
    kernelAlignment, minAlignment, prefAddress, initSize, cmdlineSize, initrdAddrMax, payloadOffset, payloadLength,
  };
}
