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
/** Canonical user addresses lie below 2^47: the high half's bits 15..31 are 0. */
const USER_RIP_HI_LIMIT = 0x8000;

/** Why a frame was refused, for counters. */
export const IretReject = { NONE: 0, FAULT: 1, RIP: 2, CS: 3, SS: 4, IF: 5 } as const;
export type IretReject = (typeof IretReject)[keyof typeof IretReject];

/** Checks the frame at `gpa`: returns {@link IretReject.NONE} or the first rule it breaks. No allocation. */
export function checkIretFrame(memory: GuestMemory, ramSize: number, gpa: number): IretReject {
  if (!inRam(ramSize, gpa, IretFrame.SIZE)) return IretReject.FAULT;
  const ripHi = memory.u32(gpa + IretFrame.RIP + 4);
  if (ripHi < 0) return IretReject.FAULT;
  if (ripHi >= USER_RIP_HI_LIMIT) return IretReject.RIP;
  if (!isUserSelector(memory, gpa + IretFrame.CS)) return IretReject.CS;
  if (!isUserSelector(memory, gpa + IretFrame.SS)) return IretReject.SS;
  if ((memory.u32(gpa + IretFrame.RFLAGS) & RFLAGS_IF) === 0) return IretReject.IF;
  return IretReject.NONE;
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
