/**
 * Checks on guest-supplied addresses. Guest RAM is `[0, ramSize)` (the region `ram`); the
 * page-table pool (`PtPool`) lies above it and is not RAM.
 * @module
 */
import { PtPool } from '@hyvisor/core';

/** Guest page size. */
export const PAGE_SIZE = 4096;

/** True if `[gpa, gpa+len)` is inside guest RAM. Hostile input (NaN, fractions, negatives) is false. */
export function inRam(ramSize: number, gpa: number, len: number): boolean {
  return Number.isSafeInteger(gpa) && Number.isSafeInteger(len) && gpa >= 0 && len >= 0 && gpa + len <= ramSize;
}

/** True if `[gpa, gpa+len)` overlaps the page-table pool. */
export function overlapsPool(gpa: number, len: number): boolean {
  return gpa < PtPool.BASE + PtPool.SIZE && PtPool.BASE < gpa + len;
}

/** True if `[gpa, gpa+len)` is RAM the guest may hand the VMM for shared structures (inside RAM, not in the pool). */
export function isSharedRam(ramSize: number, gpa: number, len: number): boolean {
  return inRam(ramSize, gpa, len) && !overlapsPool(gpa, len);
}
