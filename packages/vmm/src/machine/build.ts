/**
 * Building a machine's VM, after Firecracker's `builder.rs`: the VM on the backend, guest RAM at
 * 0, the boot page tables, the facets' VM set-up (before any vCPU: e.g. KVM's in-kernel irqchip),
 * one vCPU in 64-bit mode with Hyvisor's CPUID leaves (as the facets adjust them), and the machine's clock. Devices
 * (`../devices/`) and facets (`./facets.ts`) are attached afterwards.
 * @module
 */
import {
  FACET_NAMES, TimerQueue, longModeSpecialRegisters, strategyFeatureBits, writeBootTables,
  type Backend, type DisposableStore, type Strategy, type Vcpu, type Vm,
} from '@hyvisor/core';
import { buildCpuid, hostHintFor } from './cpuid.js';

/** What {@link buildVm} made. */
export interface BuiltVm {
  readonly vm: Vm;
  readonly vcpu: Vcpu;
  /**
   * Events of emulated timers. On host monotonic time, or on the VM's {@link Vm.virtualClock}
   * when the backend has one.
   */
  readonly clock: TimerQueue;
}

/**
 * Creates the VM named `name` on `backend` with `ramSize` bytes of RAM at guest-physical 0 and
 * vCPU 0, ready for a kernel. The VM is registered with `owned` as soon as it exists, so a
 * failure half-way releases it with the machine.
 */
export function buildVm(backend: Backend, strategy: Strategy, name: string, ramSize: number, owned: DisposableStore): BuiltVm {
  const vm = owned.add(backend.createVm({ name }));
  const virtualClock = vm.virtualClock;
  const clock = new TimerQueue(virtualClock ? () => virtualClock.now() : undefined);
  vm.addRegion('ram', 0, ramSize);
  writeBootTables(vm.memory);
  for (const f of FACET_NAMES) strategy[f].prepareVm?.(vm);
  const vcpu = vm.createVcpu(0);
  vcpu.setSpecialRegisters(longModeSpecialRegisters(vcpu.getSpecialRegisters()));
  const info = backend.info;
  const leaves = buildCpuid(vcpu.supportedCpuid(), strategyFeatureBits(strategy), hostHintFor(info), info.tscKhz ?? 0);
  for (const f of FACET_NAMES) strategy[f].adjustCpuid?.(leaves);
  vcpu.setCpuid(leaves);
  return { vm, vcpu, clock };
}
