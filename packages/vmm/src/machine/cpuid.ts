/**
 * The CPUID leaves a Hyvisor guest sees: what the backend's CPU offers, the "running under a
 * hypervisor" bit, and Hyvisor's own leaves (signature, feature bits, host hint).
 * @module
 */
import { Cpuid, HostHint, type BackendInfo, type CpuidEntry } from '@hyvisor/core';

/** The host hint for the guest, from the backend's {@link BackendInfo.host}: tells it, e.g., which system-call gate works on this host. */
export function hostHintFor(info: BackendInfo): number {
  switch (info.host ?? 'hardware') {
    case 'kvm_pvm': return HostHint.KVM_PVM;
    case 'emulator': return HostHint.EMULATOR;
    case 'hardware': return HostHint.HARDWARE;
  }
}

/**
 * Builds the guest's CPUID table from the backend's supported leaves: drops whatever the host
 * put in the hypervisor range, sets the hypervisor-present bit (leaf 1, ECX bit 31) and appends
 * Hyvisor's leaves (signature, feature bits and host hint, TSC rate).
 */
export function buildCpuid(supported: readonly CpuidEntry[], featureBits: number, hostHint: number, tscKhz = 0): CpuidEntry[] {
  const out = supported
    .filter((e) => e.function < 0x40000000 || e.function > 0x400000ff)
    .map((e) => (e.function === 1 ? { ...e, ecx: (e.ecx | 0x8000_0000) >>> 0 } : { ...e }));
  out.push(
    {
      function: Cpuid.LEAF_SIGNATURE, index: 0, flags: 0,
      eax: Cpuid.LEAF_TIMING, ebx: Cpuid.SIGNATURE_EBX, ecx: Cpuid.SIGNATURE_ECX, edx: Cpuid.SIGNATURE_EDX,
    },
    {
      function: Cpuid.LEAF_FEATURES, index: 0, flags: 0,
      eax: featureBits >>> 0, ebx: hostHint >>> 0, ecx: Cpuid.ABI_VERSION, edx: 0,
    },
    { function: Cpuid.LEAF_TIMING, index: 0, flags: 0, eax: tscKhz >>> 0, ebx: 0, ecx: 0, edx: 0 },
  );
  return out;
}
