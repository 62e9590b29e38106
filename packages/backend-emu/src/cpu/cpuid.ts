/**
 * The CPU the emulator presents: a generic x86-64 with QEMU's `qemu64` identity ("AuthenticAMD",
 * family 15, model 107, stepping 1; see {@link VENDOR} for why AMD) that advertises
 * only what the emulator implements: long mode, NX, 1 GiB pages, SYSCALL, CMOV, CMPXCHG8B, TSC,
 * MSRs, PAE, PGE, CLFLUSH, LAHF/SAHF in 64-bit mode, the x87 FPU with CMOV's FCMOVcc/FCOMI
 * (execute/x87*.ts: everything but the transcendental instructions, which are #UD), FXSAVE/FXRSTOR,
 * SSE and SSE2 (execute/sse.ts). Not MMX, not SSE3 or later, no APIC in the CPU (the VMM's strategies emulate one at MMIO if they want).
 * @module
 */
import type { CpuidEntry } from '@hyvisor/core';

/** KVM's flag for leaves whose subleaf (ECX) matters. */
export const CPUID_SIGNIFICANT_INDEX = 1;

function str4(s: string, at: number): number {
  let v = 0;
  for (let i = 0; i < 4; i++) v |= (s.charCodeAt(at + i) || 0) << (8 * i);
  return v >>> 0;
}

const BRAND = 'Hyvisor x86-64 emulator'.padEnd(48, '\0');

/** Leaf 1 EDX: FPU, TSC, MSR, PAE, CX8, PGE, CMOV, CLFSH, FXSR, SSE, SSE2. */
export const LEAF1_EDX = (1 << 0) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 8) | (1 << 13) | (1 << 15) | (1 << 19) |
  (1 << 24) | (1 << 25) | (1 << 26);
/** Leaf 0x80000001 EDX: SYSCALL, NX, Page1GB, LM. */
export const EXT1_EDX = ((1 << 11) | (1 << 20) | (1 << 26) | (1 << 29)) >>> 0;

/**
 * The vendor string. AMD, as QEMU's default `qemu64` CPU: Linux trusts an AMD family-15 CPU not to
 * be affected by Meltdown, MDS, L1TF or SSB (its vulnerability whitelist), so it turns on neither
 * page-table isolation (two CR3 loads and a TLB flush per kernel entry, costly to emulate) nor the
 * VERW buffer clearing on every return to user space. An Intel vendor gets both.
 */
export const VENDOR = 'AuthenticAMD';
/** Leaf 1 EAX: family 15, extended model 6, model 0xb (model 107), stepping 1, as `qemu64`. */
export const LEAF1_EAX = 0x00060fb1;

/** The leaves {@link Vcpu.supportedCpuid} reports. */
export function emulatorCpuid(): CpuidEntry[] {
  const e = (fn: number, eax: number, ebx: number, ecx: number, edx: number, index = 0, flags = 0): CpuidEntry =>
    ({ function: fn, index, flags, eax: eax >>> 0, ebx: ebx >>> 0, ecx: ecx >>> 0, edx: edx >>> 0 });
  const vendor = VENDOR;
  const brand: CpuidEntry[] = [0, 1, 2].map((i) =>
    e(0x80000002 + i, str4(BRAND, i * 16), str4(BRAND, i * 16 + 4), str4(BRAND, i * 16 + 8), str4(BRAND, i * 16 + 12)));
  return [
    e(0, 7, str4(vendor, 0), str4(vendor, 8), str4(vendor, 4)),
    // CLFLUSH line 8 × 8 bytes; one logical processor.
    e(1, LEAF1_EAX, 0x00010800, 0, LEAF1_EDX),
    e(7, 0, 0, 0, 0, 0, CPUID_SIGNIFICANT_INDEX),
    e(0x80000000, 0x80000008, 0, 0, 0),
    e(0x80000001, 0, 0, 1, EXT1_EDX),
    ...brand,
    // 39 physical, 48 linear address bits.
    e(0x80000008, 0x3027, 0, 0, 0),
  ];
}
