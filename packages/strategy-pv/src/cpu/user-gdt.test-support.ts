/**
 * A GDT like the testbed's for IRET tests: kernel code 0x08 and data 0x10, user data 0x1b and
 * 0x23, user 64-bit code 0x2b, a kernel 64-bit code with RPL-3-looking index 6 (0x33 → DPL 0),
 * written into the fake machine's RAM and loaded as the vCPU's GDTR.
 * @module
 */
import type { FakeMachine } from '../testing/fake-machine.js';

/** Where the GDT lives in the fake machine's RAM. */
export const GDT_BASE = 0x1000;

const ENTRIES = [
  0n,
  0x00af9a000000ffffn, // 0x08 kernel code, 64-bit, DPL 0
  0x00cf92000000ffffn, // 0x10 kernel data
  0x00cff2000000ffffn, // 0x18 user data, DPL 3
  0x00cff2000000ffffn, // 0x20 user data, DPL 3
  0x00affa000000ffffn, // 0x28 user code, 64-bit, DPL 3
  0x00af9a000000ffffn, // 0x30 kernel code again, DPL 0
  0x00cffa000000ffffn, // 0x38 user code, 32-bit (L=0), DPL 3
];

/** Writes the GDT and points the vCPU's GDTR at it. */
export function installUserGdt(m: FakeMachine): void {
  ENTRIES.forEach((e, i) => m.memory.setU64(GDT_BASE + i * 8, e));
  m.vcpu.sregs = { ...m.vcpu.sregs, gdt: { base: BigInt(GDT_BASE), limit: ENTRIES.length * 8 - 1 } };
}
