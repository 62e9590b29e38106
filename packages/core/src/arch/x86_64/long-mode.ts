/**
 * The x86-64 state the VMM puts a guest in before its first instruction, as Firecracker does:
 * a flat GDT, identity page tables for the first 4 GiB (2 MiB pages), paging and long mode on,
 * interrupts off. Every backend boots guests from this same state.
 * @module
 */
import { BootLayout } from '../../abi/guest-abi.js';
import type { GuestMemory } from '../../memory/guest-memory.js';
import type { Registers, Segment, SpecialRegisters } from '../../backend/registers.js';
import { WiringError } from '../../errors.js';

/** Selectors of the boot GDT. */
export const BootSelectors = { CODE64: 0x08, DATA: 0x10, TSS: 0x18 } as const;

/** GDT entries: null, 64-bit code, data, 64-bit TSS (busy), as raw descriptors. */
const GDT_ENTRIES: readonly bigint[] = [
  0n,
  gdtEntry(0xa09b, 0, 0xfffff), // code: present, DPL 0, execute/read, L=1, G=1
  gdtEntry(0xc093, 0, 0xfffff), // data: present, DPL 0, read/write, D/B=1, G=1
  gdtEntry(0x808b, 0, 0xfffff), // TSS: present, busy 64-bit TSS
];

/** CR0 bits. */
const CR0_PE = 1n, CR0_ET = 0x10n, CR0_NE = 0x20n, CR0_PG = 0x8000_0000n;
/** CR4.PAE. */
const CR4_PAE = 0x20n;
/** EFER.LME | EFER.LMA. */
const EFER_LME = 0x100n, EFER_LMA = 0x400n;
/** Page-table entry bits: present, writable, page size (2 MiB at level 2). */
const PTE_P = 1n, PTE_RW = 2n, PTE_PS = 0x80n;

/** Packs a segment descriptor (flags in the 0xF0FF layout Firecracker uses: access byte low, G/D/L/AVL in bits 12-15). */
export function gdtEntry(flags: number, base: number, limit: number): bigint {
  return (
    ((BigInt(base) & 0xff00_0000n) << 32n) |
    ((BigInt(flags) & 0x0000_f0ffn) << 40n) |
    ((BigInt(limit) & 0x000f_0000n) << 32n) |
    ((BigInt(base) & 0x00ff_ffffn) << 16n) |
    (BigInt(limit) & 0x0000_ffffn)
  );
}

/** The hidden part of a segment register (flat, base 0) for a GDT descriptor loaded with `selector`. */
export function segmentFrom(selector: number, entry: bigint): Segment {
  const flags = Number((entry >> 40n) & 0xf0ffn);
  return {
    base: 0n,
    limit: 0xffff_ffff, // limit 0xfffff with G=1, expanded the way the CPU caches it
    selector,
    type: flags & 0xf,
    s: ((flags >> 4) & 1) === 1,
    dpl: (flags >> 5) & 3,
    present: ((flags >> 7) & 1) === 1,
    avl: ((flags >> 12) & 1) === 1,
    l: ((flags >> 13) & 1) === 1,
    db: ((flags >> 14) & 1) === 1,
    g: ((flags >> 15) & 1) === 1,
    unusable: false,
  };
}

/**
 * Writes the boot GDT and the identity page tables into guest memory. Needs guest RAM to
 * cover `[0, 1 MiB)`; throws {@link WiringError} otherwise.
 */
export function writeBootTables(memory: GuestMemory): void {
  const need = BootLayout.PD + BootLayout.PD_COUNT * 0x1000;
  if (!memory.contains(0, need)) throw new WiringError(`boot tables need guest RAM at [0, 0x${need.toString(16)})`);
  GDT_ENTRIES.forEach((e, i) => memory.setU64(BootLayout.GDT + i * 8, e));
  memory.fill(BootLayout.PML4, 0x1000);
  memory.fill(BootLayout.PDPT, 0x1000);
  memory.setU64(BootLayout.PML4, BigInt(BootLayout.PDPT) | PTE_P | PTE_RW);
  for (let t = 0; t < BootLayout.PD_COUNT; t++) {
    const pd = BootLayout.PD + t * 0x1000;
    memory.setU64(BootLayout.PDPT + t * 8, BigInt(pd) | PTE_P | PTE_RW);
    for (let i = 0; i < 512; i++) {
      const frame = (BigInt(t) << 30n) | (BigInt(i) << 21n);
      memory.setU64(pd + i * 8, frame | PTE_P | PTE_RW | PTE_PS);
    }
  }
}

/** Long-mode special registers on top of `base` (the vCPU's reset state, for fields we keep). */
export function longModeSpecialRegisters(base: SpecialRegisters): SpecialRegisters {
  const code = segmentFrom(BootSelectors.CODE64, GDT_ENTRIES[1]!);
  const data = segmentFrom(BootSelectors.DATA, GDT_ENTRIES[2]!);
  const tss = segmentFrom(BootSelectors.TSS, GDT_ENTRIES[3]!);
  return {
    ...base,
    cs: code,
    ds: data, es: data, fs: data, gs: data, ss: data,
    tr: tss,
    gdt: { base: BigInt(BootLayout.GDT), limit: GDT_ENTRIES.length * 8 - 1 },
    idt: { base: 0n, limit: 0 },
    cr0: (base.cr0 | CR0_PE | CR0_ET | CR0_NE | CR0_PG) & ~0x6000_0000n, // caches on (CD, NW clear)
    cr3: BigInt(BootLayout.PML4),
    cr4: base.cr4 | CR4_PAE,
    efer: base.efer | EFER_LME | EFER_LMA,
  };
}

/** General registers at the guest's entry: RIP = entry, RBX = RSI = start info, a boot stack, IF=0. */
export function bootRegisters(entry: bigint): Registers {
  const z = 0n;
  return {
    rax: z, rbx: BigInt(BootLayout.START_INFO), rcx: z, rdx: z,
    rsi: BigInt(BootLayout.START_INFO), rdi: z, rsp: BigInt(BootLayout.BOOT_STACK_TOP), rbp: z,
    r8: z, r9: z, r10: z, r11: z, r12: z, r13: z, r14: z, r15: z,
    rip: entry, rflags: 2n,
  };
}
