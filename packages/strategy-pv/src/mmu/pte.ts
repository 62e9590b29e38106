/**
 * x86-64 page-table entries as two 32-bit halves (no BigInt on the hot path) and the rules
 * direct paging validates them against (docs/pv-abi.md, "Direct paging").
 * @module
 */
import { HypercallError, PtPool } from '@hyvisor/core';

/** Entry bits (low half). */
export const Pte = {
  PRESENT: 1 << 0,
  WRITABLE: 1 << 1,
  USER: 1 << 2,
  /** Page size: a 2 MiB leaf in an L2 entry (reserved in L4 and, here, in L3: no 1 GiB pages). */
  PS: 1 << 7,
} as const;

/** Bits 12..31 of the low half: the low part of a 4 KiB frame address. */
const ADDR_LO_4K = 0xfffff000;
/** Bits 21..31: the low part of a 2 MiB frame address. */
const ADDR_LO_2M = 0xffe00000;
/** Bits 13..20 of a 2 MiB leaf: reserved (bit 12 is PAT). */
const RESERVED_LO_2M = 0x001fe000;
/** High half, bits 32..51: the high part of the frame address. */
const ADDR_HI = 0x000fffff;
/**
 * High half, bits 52..62: must be 0. Hardware ignores them, but the ABI reserves them so an
 * entry means exactly what the VMM validated (bit 63, NX, is allowed).
 */
const RESERVED_HI = 0x7ff00000;

const TWO_32 = 0x1_0000_0000;
const SIZE_2M = 0x200000;

/** Pages in the pool. */
export const POOL_PAGES = PtPool.SIZE / 4096;

/** Pool page index of `gpa`, or -1 if `gpa` is not in the pool. */
export function poolPage(gpa: number): number {
  return gpa >= PtPool.BASE && gpa < PtPool.BASE + PtPool.SIZE ? Math.floor((gpa - PtPool.BASE) / 4096) : -1;
}

/** What {@link checkEntry} says about a non-leaf entry: no table referenced. */
export const NO_TABLE = -1;

/**
 * Validates entry `(lo, hi)` for a table of `level` (1..4), with guest RAM `[0, ramSize)` and
 * `levels[i]` the declared level of pool page i (0 = free). Returns the pool page the entry
 * references as a table (≥ 0), {@link NO_TABLE} for a non-present entry or a valid leaf, or
 * -EINVAL. No allocation.
 */
export function checkEntry(level: number, lo: number, hi: number, ramSize: number, levels: Uint8Array): number {
  if ((lo & Pte.PRESENT) === 0) return NO_TABLE;
  if ((hi & RESERVED_HI) !== 0) return HypercallError.EINVAL;
  const ps = (lo & Pte.PS) !== 0;
  if (level === 1 || (level === 2 && ps)) {
    let base: number;
    let size: number;
    if (level === 1) {
      base = ((lo & ADDR_LO_4K) >>> 0) + (hi & ADDR_HI) * TWO_32;
      size = 4096;
    } else {
      if ((lo & RESERVED_LO_2M) !== 0) return HypercallError.EINVAL;
      base = ((lo & ADDR_LO_2M) >>> 0) + (hi & ADDR_HI) * TWO_32;
      size = SIZE_2M;
    }
    if (base + size <= ramSize) return NO_TABLE;
    if (base >= PtPool.BASE && base + size <= PtPool.BASE + PtPool.SIZE) {
      // The guest may read its tables, never write them.
      return (lo & Pte.WRITABLE) === 0 ? NO_TABLE : HypercallError.EINVAL;
    }
    return HypercallError.EINVAL;
  }
  if (ps) return HypercallError.EINVAL; // PS in L4 is reserved; 1 GiB pages are not offered.
  const target = ((lo & ADDR_LO_4K) >>> 0) + (hi & ADDR_HI) * TWO_32;
  const page = poolPage(target);
  if (page < 0 || levels[page] !== level - 1) return HypercallError.EINVAL;
  return page;
}

/** True if a present entry of a table of `level` references a lower table (not a leaf). */
export function isTableEntry(level: number, lo: number): boolean {
  return (lo & Pte.PRESENT) !== 0 && level > 1 && !(level === 2 && (lo & Pte.PS) !== 0);
}

/** The pool page a table entry points to (no checks). */
export function tablePageOf(lo: number, hi: number): number {
  return poolPage(((lo & ADDR_LO_4K) >>> 0) + (hi & ADDR_HI) * TWO_32);
}
