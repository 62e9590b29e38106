/**
 * The HVM CPU and memory facets: the guest runs its privileged code on the virtual hardware,
 * handles its own system calls and owns its page tables (hardware paging: EPT/NPT, or kvm_pvm's
 * shadow paging underneath). Nothing to wire: the VMM stays out of the way.
 * @module
 */
import type { CpuFacet, MemoryFacet } from '@hyvisor/core';

/** CPU facet: privileged instructions and system calls stay in the guest. */
export const nativeCpu: CpuFacet = {
  facet: 'cpu',
  name: 'native',
  description: 'privileged instructions run on the virtual hardware; system calls stay in the guest (syscall/sysret, or the int3 gate on kvm_pvm)',
  requires: ['cpuid', 'run-deadline'],
  featureBits: 0,
};

/** Memory facet: the guest owns its page tables; the backend maps guest RAM. */
export const hardwarePaging: MemoryFacet = {
  facet: 'memory',
  name: 'hardware-paging',
  description: 'the guest owns its page tables (hardware paging); page-table updates never exit',
  requires: ['guest-memory'],
  featureBits: 0,
};
