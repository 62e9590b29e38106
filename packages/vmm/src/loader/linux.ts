/**
 * Boots a Linux kernel through the x86 64-bit boot protocol, without firmware
 * (`Documentation/arch/x86/boot.rst`, "64-bit Boot Protocol"; `zero-page.rst`): the kernel (a
 * bzImage at its preferred address, or an ELF vmlinux at its physical addresses), the zero page
 * (`struct boot_params`: the image's setup header, the loader id, the ramdisk, the command line
 * and an e820 memory map), the initrd as high as the kernel allows, and the CPU state the
 * protocol asks for: 64-bit mode, identity paging, a GDT with `__BOOT_CS` (0x10) and
 * `__BOOT_DS` (0x18), interrupts off, RSI = the zero page.
 * @module
 */
import {
  BootLayout, GuestImageError, gdtEntry, longModeSpecialRegisters, segmentFrom, writeBootTables,
  type GuestMemory, type Registers, type SpecialRegisters,
} from '@hyvisor/core';
import { parseBzImage, SetupHeader, type BzImage } from './bzimage.js';
import { loadElf, parseElf, type ElfImage } from './elf.js';

/** Where the Linux boot puts its pieces in low memory (clear of the VMM's page tables at 0x9000–0xefff). */
export const LinuxBootLayout = {
  /** The Linux boot GDT (5 entries), beside the VMM's own at 0x500. */
  GDT: 0x520,
  /** The zero page (`struct boot_params`, 4 KiB). */
  ZERO_PAGE: 0x1000,
  /** The command line; the protocol wants it below 0xa0000. */
  CMDLINE: 0x20000,
  /** Room reserved for the command line, including its NUL. */
  CMDLINE_MAX: 0x10000,
} as const;

/** Linux's boot selectors: `__BOOT_CS`, `__BOOT_DS`, and a TSS for backends that need a valid TR. */
export const LinuxSelectors = { CODE: 0x10, DATA: 0x18, TSS: 0x20 } as const;

/** Offsets in the zero page outside the setup header (`zero-page.rst`). */
export const ZeroPage = {
  SIZE: 0x1000,
  EXT_RAMDISK_IMAGE: 0x0c0,
  EXT_RAMDISK_SIZE: 0x0c4,
  EXT_CMD_LINE_PTR: 0x0c8,
  E820_ENTRIES: 0x1e8,
  SENTINEL: 0x1ef,
  E820_TABLE: 0x2d0,
  /** `struct boot_e820_entry`: u64 addr, u64 size, u32 type, packed. */
  E820_ENTRY_SIZE: 20,
  E820_MAX_ENTRIES: 128,
  /** `type_of_loader` for a loader without an assigned id. */
  LOADER_UNDEFINED: 0xff,
} as const;

/** e820 entry types. */
export const E820 = { RAM: 1, RESERVED: 2 } as const;

/** One e820 memory-map entry. */
export interface E820Entry {
  readonly addr: number;
  readonly size: number;
  readonly type: number;
}

/** What to boot. */
export interface LinuxBootInput {
  /** A bzImage, or an ELF vmlinux (told apart by their magic numbers). */
  readonly kernel: Uint8Array;
  readonly initrd?: Uint8Array;
  readonly cmdline?: string;
  /** Names the kernel in messages (a file name). */
  readonly kernelName?: string;
  /** Names the initrd in messages. */
  readonly initrdName?: string;
}

/** Where everything went, and the CPU state to start the vCPU in. */
export interface LinuxBoot {
  readonly format: 'bzImage' | 'elf';
  /** The parsed header (bzImage only). */
  readonly header?: BzImage;
  /** Guest-physical address of the first instruction. */
  readonly entry: number;
  /** Where the protected-mode image (bzImage) or lowest segment (ELF) starts, and where the kernel's memory ends. */
  readonly kernelStart: number;
  readonly kernelEnd: number;
  readonly zeroPage: number;
  readonly cmdline: { readonly addr: number; readonly bytes: number };
  readonly initrd?: { readonly addr: number; readonly size: number };
  readonly e820: readonly E820Entry[];
  /** General registers at entry: RIP = entry, RSI = zero page, IF = 0. */
  readonly registers: Registers;
  /** Long mode with the Linux GDT on top of a vCPU's reset state (`vcpu.getSpecialRegisters()`). */
  specialRegisters(base: SpecialRegisters): SpecialRegisters;
}

/** Defaults for an ELF vmlinux, which carries no setup header: those of 64-bit kernels since 2.6.x. */
const ELF_DEFAULTS = { cmdlineSize: 2047, initrdAddrMax: 0x7fff_ffff, kernelAlignment: 0x100_0000 } as const;

/** What the VMM's boot page tables identity-map (`writeBootTables`). */
const IDENTITY_MAPPED = BootLayout.PD_COUNT * 0x4000_0000;

const GDT_ENTRIES: readonly bigint[] = [
  0n,
  0n,
  gdtEntry(0xa09b, 0, 0xfffff), // 0x10 __BOOT_CS: present, DPL 0, execute/read, L=1, G=1
  gdtEntry(0xc093, 0, 0xfffff), // 0x18 __BOOT_DS: present, DPL 0, read/write, D/B=1, G=1
  gdtEntry(0x808b, 0, 0xfffff), // 0x20 TSS: present, busy 64-bit TSS
];

/**
 * The e820 map of a PC with `ramSize` bytes of RAM at 0: conventional memory below the EBDA,
 * the EBDA and the BIOS area reserved, RAM again from 1 MiB (the layout firmware reports).
 */
export function pcE820(ramSize: number): E820Entry[] {
  if (ramSize <= 0x100000) throw new GuestImageError(`Linux needs more than 1 MiB of guest RAM (the VM has ${ramSize} bytes)`);
  return [
    { addr: 0, size: 0x9fc00, type: E820.RAM },
    { addr: 0x9fc00, size: 0xa0000 - 0x9fc00, type: E820.RESERVED },
    { addr: 0xf0000, size: 0x10000, type: E820.RESERVED },
    { addr: 0x100000, size: ramSize - 0x100000, type: E820.RAM },
  ];
}

/**
 * Validates the kernel (and the fit of initrd and command line) against `ramSize`, then writes
 * kernel, initrd, command line, zero page, boot GDT and identity page tables into `memory` and
 * returns the entry state. Throws {@link GuestImageError} with one line for anything that does
 * not fit or is malformed; nothing is written before every check has passed.
 */
export function loadLinux(memory: GuestMemory, ramSize: number, input: LinuxBootInput): LinuxBoot {
  const name = input.kernelName ?? 'kernel image';
  const initrdName = input.initrdName ?? 'initrd';
  const fail = (why: string): never => {
    throw new GuestImageError(why, { image: name });
  };
  const hex = (n: number): string => `0x${n.toString(16)}`;
  const e820 = pcE820(ramSize);

  let header: BzImage | undefined;
  let elf: ElfImage | undefined;
  let kernelStart: number, kernelEnd: number, entry: number;
  const k = input.kernel;
  if (k.length >= 4 && k[0] === 0x7f && k[1] === 0x45 && k[2] === 0x4c && k[3] === 0x46) {
    elf = parseElf(k, ramSize, name);
    kernelStart = Math.min(...elf.segments.map((s) => s.paddr));
    kernelEnd = Math.max(...elf.segments.map((s) => s.paddr + s.memSize));
    entry = Number(elf.entry);
  } else if (k.length >= 0x200 && (k[0x1fe] !== 0x55 || k[0x1ff] !== 0xaa)) {
    return fail(`${name}: neither a Linux bzImage (no 0xaa55 boot flag at 0x1fe) nor an ELF vmlinux`);
  } else {
    header = parseBzImage(k, ramSize, name); // says precisely what is wrong with a broken bzImage
    kernelStart = header.prefAddress;
    kernelEnd = header.prefAddress + header.initSize;
    entry = kernelStart + SetupHeader.ENTRY_64_OFFSET;
  }
  if (kernelEnd > IDENTITY_MAPPED) fail(`${name}: the kernel would end at ${hex(kernelEnd)}, beyond the 4 GiB the boot page tables map`);

  const cmdline = new TextEncoder().encode(input.cmdline ?? '');
  const cmdlineMax = Math.min(header?.cmdlineSize ?? ELF_DEFAULTS.cmdlineSize, LinuxBootLayout.CMDLINE_MAX - 1);
  if (cmdline.includes(0)) fail(`kernel command line contains a NUL byte`);
  if (cmdline.length > cmdlineMax) fail(`kernel command line is ${cmdline.length} bytes; ${name} accepts at most ${cmdlineMax}`);

  let initrd: { addr: number; size: number } | undefined;
  if (input.initrd && input.initrd.length > 0) {
    const size = input.initrd.length;
    // Highest page-aligned spot below both the kernel's limit (inclusive address) and the end of RAM.
    const limit = Math.min((header?.initrdAddrMax ?? ELF_DEFAULTS.initrdAddrMax) + 1, ramSize);
    const addr = Math.floor((limit - size) / 0x1000) * 0x1000;
    if (addr < kernelEnd) {
      fail(`${initrdName} (${size} bytes) does not fit between the kernel's end ${hex(kernelEnd)} and ${hex(limit)}: give the VM more memory`);
    }
    initrd = { addr, size };
  }

  // Every check passed: write.
  writeBootTables(memory);
  GDT_ENTRIES.forEach((e, i) => memory.setU64(LinuxBootLayout.GDT + i * 8, e));
  if (header) {
    const image = input.kernel.subarray(header.kernelOffset, header.kernelOffset + header.kernelSize);
    if (!memory.write(kernelStart, image)) fail(`${name}: the kernel does not fit guest RAM at ${hex(kernelStart)}`);
  } else {
    loadElf(memory, input.kernel, elf!, name);
  }
  if (initrd && !memory.write(initrd.addr, input.initrd!)) fail(`${initrdName}: does not fit guest RAM at ${hex(initrd.addr)}`);
  memory.fill(LinuxBootLayout.CMDLINE, cmdline.length + 1, 0);
  memory.write(LinuxBootLayout.CMDLINE, cmdline);
  writeZeroPage(memory, input.kernel, header, e820, LinuxBootLayout.CMDLINE, initrd);

  const z = 0n;
  const registers: Registers = {
    rax: z, rbx: z, rcx: z, rdx: z, rsi: BigInt(LinuxBootLayout.ZERO_PAGE), rdi: z,
    rsp: BigInt(BootLayout.BOOT_STACK_TOP), rbp: z,
    r8: z, r9: z, r10: z, r11: z, r12: z, r13: z, r14: z, r15: z,
    rip: BigInt(entry), rflags: 2n, // bit 1 is always set; IF = 0
  };
  return {
    format: header ? 'bzImage' : 'elf',
    header, entry, kernelStart, kernelEnd,
    zeroPage: LinuxBootLayout.ZERO_PAGE,
    cmdline: { addr: LinuxBootLayout.CMDLINE, bytes: cmdline.length },
    initrd, e820, registers,
    specialRegisters: linuxSpecialRegisters,
  };
}

/** Long mode (paging on the VMM's identity tables) with CS = 0x10, DS = ES = SS = FS = GS = 0x18. */
export function linuxSpecialRegisters(base: SpecialRegisters): SpecialRegisters {
  const lm = longModeSpecialRegisters(base);
  const data = segmentFrom(LinuxSelectors.DATA, GDT_ENTRIES[3]!);
  return {
    ...lm,
    cs: segmentFrom(LinuxSelectors.CODE, GDT_ENTRIES[2]!),
    ds: data, es: data, fs: data, gs: data, ss: data,
    tr: segmentFrom(LinuxSelectors.TSS, GDT_ENTRIES[4]!),
    gdt: { base: BigInt(LinuxBootLayout.GDT), limit: GDT_ENTRIES.length * 8 - 1 },
  };
}

function writeZeroPage(memory: GuestMemory, kernel: Uint8Array, header: BzImage | undefined, e820: readonly E820Entry[],
  cmdlineAddr: number, initrd: { addr: number; size: number } | undefined): void {
  const zp = LinuxBootLayout.ZERO_PAGE;
  const H = SetupHeader;
  memory.fill(zp, ZeroPage.SIZE, 0); // the sentinel at 0x1ef stays 0: no stale fields for the kernel to clear
  if (header) {
    // The setup header as the image has it; then the fields a loader writes.
    memory.write(zp + H.START, kernel.subarray(H.START, header.headerEnd));
    memory.setU32(zp + H.CODE32_START, header.prefAddress);
  } else {
    memory.setU16(zp + H.BOOT_FLAG, H.BOOT_FLAG_MAGIC);
    memory.setU32(zp + H.HEADER, H.HEADER_MAGIC);
    memory.setU32(zp + H.KERNEL_ALIGNMENT, ELF_DEFAULTS.kernelAlignment);
    memory.setU32(zp + H.CMDLINE_SIZE, ELF_DEFAULTS.cmdlineSize);
  }
  memory.setU8(zp + H.TYPE_OF_LOADER, ZeroPage.LOADER_UNDEFINED); // non-zero, or the kernel ignores the initrd
  memory.setU32(zp + H.CMD_LINE_PTR, cmdlineAddr);
  memory.setU32(zp + ZeroPage.EXT_CMD_LINE_PTR, 0);
  memory.setU32(zp + H.RAMDISK_IMAGE, initrd ? initrd.addr : 0);
  memory.setU32(zp + H.RAMDISK_SIZE, initrd ? initrd.size : 0);
  memory.setU32(zp + ZeroPage.EXT_RAMDISK_IMAGE, 0);
  memory.setU32(zp + ZeroPage.EXT_RAMDISK_SIZE, 0);
  memory.setU8(zp + ZeroPage.E820_ENTRIES, e820.length);
  e820.forEach((e, i) => {
    const at = zp + ZeroPage.E820_TABLE + i * ZeroPage.E820_ENTRY_SIZE;
    memory.setU64(at, BigInt(e.addr));
    memory.setU64(at + 8, BigInt(e.size));
    memory.setU32(at + 16, e.type);
  });
}
