/**
 * The return-to-user frame the PV `IRET` hypercall validates before the guest's own `iretq`:
 * `{u64 rip, cs, rflags, rsp, ss}` in guest RAM (docs/pv-abi.md, "System calls").
 * @module
 */
import { HypercallError, type GuestMemory } from '@hyvisor/core';
import { inRam } from '../guest-ram.js';

/** Frame layout: five u64 fields. */
export const IretFrame = {
  RIP: 0,
  CS: 8,
  RFLAGS: 16,
  RSP: 24,
  SS: 32,
  SIZE: 40,
} as const;

/** RFLAGS.IF. */
const RFLAGS_IF = 0x200;
/** RFLAGS.IOPL (bits 12..13): 3 would give user mode port I/O and CLI/STI. */
const RFLAGS_IOPL = 0x3000;
/** RFLAGS.NT (bit 14): a nested-task IRET. */
const RFLAGS_NT = 0x4000;
/** RFLAGS.VM (bit 17): virtual-8086 mode. */
const RFLAGS_VM = 0x20000;
/** Canonical user addresses lie below 2^47: the high half's bits 15..31 are 0. */
const USER_RIP_HI_LIMIT = 0x8000;

/** Why a frame was refused, for counters. */
export const IretReject = { NONE: 0, FAULT: 1, RIP: 2, CS: 3, SS: 4, IF: 5, FLAGS: 6 } as const;
export type IretReject = (typeof IretReject)[keyof typeof IretReject];

/** Where the guest's GDT is (its GDTR): the descriptor of the frame's CS is read from it. */
export interface GdtLocation {
  /** Base address; the GDT must be identity-mapped (guest-physical = linear), as the testbed's is. */
  base: number;
  /** Limit (size − 1) in bytes. */
  limit: number;
}

/**
 * Checks the frame at `gpa`: returns {@link IretReject.NONE} or the first rule it breaks. With
 * `gdt`, CS must name a present 64-bit code descriptor of that GDT whose DPL is the selector's RPL
 * (3). No allocation.
 */
export function checkIretFrame(memory: GuestMemory, ramSize: number, gpa: number, gdt?: GdtLocation): IretReject {
  if (!inRam(ramSize, gpa, IretFrame.SIZE)) return IretReject.FAULT;
  const ripHi = memory.u32(gpa + IretFrame.RIP + 4);
  if (ripHi < 0) return IretReject.FAULT;
  if (ripHi >= USER_RIP_HI_LIMIT) return IretReject.RIP;
  if (!isUserSelector(memory, gpa + IretFrame.CS)) return IretReject.CS;
  if (gdt !== undefined && !isUserCodeDescriptor(memory, ramSize, gdt, memory.u32(gpa + IretFrame.CS))) return IretReject.CS;
  if (!isUserSelector(memory, gpa + IretFrame.SS)) return IretReject.SS;
  const flags = memory.u32(gpa + IretFrame.RFLAGS);
  if ((flags & RFLAGS_IF) === 0) return IretReject.IF;
  if ((flags & RFLAGS_IOPL) === RFLAGS_IOPL || (flags & (RFLAGS_NT | RFLAGS_VM)) !== 0) return IretReject.FLAGS;
  return IretReject.NONE;
}

/**
 * True if selector `sel` (RPL 3, GDT) names, in `gdt`, a present code descriptor (S=1, type bit 3)
 * with L=1 (64-bit) and DPL equal to the selector's RPL. A descriptor outside the limit or outside
 * RAM does not qualify.
 */
function isUserCodeDescriptor(memory: GuestMemory, ramSize: number, gdt: GdtLocation, sel: number): boolean {
  if ((sel & 4) !== 0) return false; // an LDT selector: the ABI has no LDT
  const off = sel & 0xfff8;
  if (off === 0 || off + 7 > gdt.limit || !inRam(ramSize, gdt.base + off, 8)) return false;
  const hi = memory.u32(gdt.base + off + 4);
  if (hi < 0) return false;
  const present = (hi & 0x8000) !== 0;
  const codeOrData = (hi & 0x1000) !== 0;
  const code = (hi & 0x0800) !== 0;
  const dpl = (hi >>> 13) & 3;
  const long = (hi & 0x200000) !== 0;
  return present && codeOrData && code && long && dpl === (sel & 3);
}

/** The hypercall result for a {@link IretReject}: 0, -EFAULT or -EINVAL. */
export function iretResult(r: IretReject): number {
  return r === IretReject.NONE ? 0 : r === IretReject.FAULT ? HypercallError.EFAULT : HypercallError.EINVAL;
}

/** A 16-bit selector with RPL 3 in a u64 slot. */
function isUserSelector(memory: GuestMemory, gpa: number): boolean {
  const lo = memory.u32(gpa);
  const hi = memory.u32(gpa + 4);
  return hi === 0 && lo >= 0 && lo <= 0xffff && (lo & 3) === 3;
}
