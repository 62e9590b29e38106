/**
 * The CPU the emulator presents: a generic x86-64 ("GenuineIntel", family 6) that advertises
 * only what the emulator implements: long mode, NX, 1 GiB pages, SYSCALL, CMOV, CMPXCHG8B, TSC,
 * MSRs, PAE, PGE, CLFLUSH, LAHF/SAHF in 64-bit mode, FXSAVE/FXRSTOR, SSE and SSE2 (execute/sse.ts,
 * execute/x87.ts). Not FPU (the x87 has its data moves and control, no arithmetic yet), not MMX,
 * not SSE3 or later, no APIC in the CPU (the VMM's strategies emulate one at MMIO if they want).
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

/** Leaf 1 EDX: TSC, MSR, PAE, CX8, PGE, CMOV, CLFSH, FXSR, SSE, SSE2. */
export const LEAF1_EDX = (1 << 4) | (1 << 5) | (1 << 6) | (1 << 8) | (1 << 13) | (1 << 15) | (1 << 19) |
  (1 << 24) | (1 << 25) | (1 << 26);
/** Leaf 0x80000001 EDX: SYSCALL, NX, Page1GB, LM. */
export const EXT1_EDX = ((1 << 11) | (1 << 20) | (1 << 26) | (1 << 29)) >>> 0;

/** The leaves {@link Vcpu.supportedCpuid} reports. */
export function emulatorCpuid(): CpuidEntry[] {
  const e = (fn: number, eax: number, ebx: number, ecx: number, edx: number, index = 0, flags = 0): CpuidEntry =>
    ({ function: fn, index, flags, eax: eax >>> 0, ebx: ebx >>> 0, ecx: ecx >>> 0, edx: edx >>> 0 });
  const vendor = 'GenuineIntel';
  const brand: CpuidEntry[] = [0, 1, 2].map((i) =>
    e(0x80000002 + i, str4(BRAND, i * 16), str4(BRAND, i * 16 + 4), str4(BRAND, i * 16 + 8), str4(BRAND, i * 16 + 12)));
  return [
    e(0, 7, str4(vendor, 0), str4(vendor, 8), str4(vendor, 4)),
    // Family 6, model 15, stepping 1; CLFLUSH line 8 × 8 bytes; one logical processor.
    e(1, 0x6f1, 0x00010800, 0, LEAF1_EDX),
    e(7, 0, 0, 0, 0, 0, CPUID_SIGNIFICANT_INDEX),
    e(0x80000000, 0x80000008, 0, 0, 0),
    e(0x80000001, 0, 0, 1, EXT1_EDX),
    ...brand,
    // 39 physical, 48 linear address bits.
    e(0x80000008, 0x3027, 0, 0, 0),
  ];
}
