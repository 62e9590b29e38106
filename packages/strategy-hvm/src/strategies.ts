/**
 * The HVM strategies: trap-and-emulate for every device, hardware CPU and paging.
 *
 * - `hvm`: where the backend has an in-kernel irqchip (KVM), the interrupt controllers and the PIT
 *   live in the host kernel (Xen's in-hypervisor vLAPIC/vPIC equivalent); elsewhere the same
 *   devices are emulated in the VMM.
 * - `hvm-userspace`: always the VMM's own PIC, APIC and PIT (portable; what the emulator uses).
 *
 * Both advertise the Hyvisor CPUID signature with no PV feature bits.
 * @module
 */
import type { DependencyContainer } from 'tsyringe';
import { FACETS, STRATEGIES, type BackendInfo, type Strategy } from '@hyvisor/core';
import { hardwarePaging, nativeCpu } from './facets/native.js';
import { KvmIrqchipInterrupts, KvmPitTimer } from './facets/kvm-irqchip.js';
import { EmulatedInterrupts } from './facets/emulated-interrupts.js';
import { EmulatedPit } from './facets/emulated-pit.js';
import { EmulatedAta } from './facets/emulated-ata.js';

/** `hvm-userspace`: every device emulated in the VMM. */
export function hvmUserspaceStrategy(): Strategy {
  return {
    name: 'hvm-userspace',
    description: 'trap-and-emulate with the VMM\'s own PIC/APIC, PIT, UART and ATA disk',
    cpu: nativeCpu,
    memory: hardwarePaging,
    interrupt: new EmulatedInterrupts(),
    timer: new EmulatedPit(),
    io: new EmulatedAta(),
  };
}

/** `hvm`: in-kernel irqchip and PIT where `backend` offers them, else as {@link hvmUserspaceStrategy}. */
export function hvmStrategy(backend?: BackendInfo): Strategy {
  if (!backend?.capabilities.has('in-kernel-irqchip')) return { ...hvmUserspaceStrategy(), name: 'hvm' };
  return {
    name: 'hvm',
    description: 'trap-and-emulate: in-kernel PIC/IOAPIC/LAPIC and PIT, emulated UART and ATA disk',
    cpu: nativeCpu,
    memory: hardwarePaging,
    interrupt: new KvmIrqchipInterrupts(true),
    timer: new KvmPitTimer(),
    io: new EmulatedAta(),
  };
}

/**
 * Registers the HVM facets by implementation name in the container's facet registry (a config
 * can then say `strategy: { base: hybrid, timer: emulated-pit }`): `native`, `hardware-paging`,
 * `emulated-pic-apic`, `kvm-irqchip` (with the in-kernel PIT, as `hvm` creates it),
 * `emulated-pit`, `kvm-pit`, `emulated-ata`, each with its static info (nothing is built to
 * register it). Names already registered are left alone.
 */
export function registerHvmFacets(container: DependencyContainer): void {
  const facets = container.resolve(FACETS);
  facets.provide(nativeCpu, () => nativeCpu);
  facets.provide(hardwarePaging, () => hardwarePaging);
  facets.provide(EmulatedInterrupts.info, () => new EmulatedInterrupts());
  facets.provide(KvmIrqchipInterrupts.info, () => new KvmIrqchipInterrupts(true));
  facets.provide(EmulatedPit.info, () => new EmulatedPit());
  facets.provide(KvmPitTimer.info, () => new KvmPitTimer());
  facets.provide(EmulatedAta.info, () => new EmulatedAta());
}

/** Registers `hvm` and `hvm-userspace`, and the HVM facets ({@link registerHvmFacets}). */
export function registerHvmStrategies(container: DependencyContainer): void {
  registerHvmFacets(container);
  const registry = container.resolve(STRATEGIES);
  registry.register('hvm', 'trap-and-emulate; interrupt controllers and PIT in the host kernel where the backend has them', hvmStrategy);
  registry.register('hvm-userspace', 'trap-and-emulate with every device (PIC/APIC, PIT, UART, ATA) emulated in the VMM', hvmUserspaceStrategy);
}
