/**
 * The `hybrid` strategy (Lin et al. 2012; Xen's PVH): a PV-aware guest in an HVM container.
 * Hardware CPU and paging from the HVM package: system calls and page-table updates never reach
 * the VMM. PV interrupts, timer and I/O from the PV package: event channels instead of an
 * emulated interrupt controller (no EOI exit), pvclock plus a one-shot timer instead of emulated
 * ticks, and the PV block ring instead of emulated device registers.
 *
 * Hybrid needs nothing of its own: the PV facets make the PV domain (hypercall doorbell, SCHED_OP)
 * in the machine's scope themselves, and what pvclock and pv-blk need (`EVENT_CHANNELS`) the
 * `event-channel` facet provides.
 * @module
 */
import type { DependencyContainer } from 'tsyringe';
import { FACETS, STRATEGIES, type BackendInfo, type Strategy } from '@hyvisor/core';
import { hardwarePaging, nativeCpu } from '@hyvisor/strategy-hvm';
import { EventChannelInterrupts, PvBlkIo, PvClockTimer } from '@hyvisor/strategy-pv';

/**
 * `hybrid`: native CPU and hardware paging, event channels, pvclock with the one-shot timer, and
 * the PV block ring. Advertises `PV_EVTCHN | PV_CLOCK | PV_IO`.
 */
export function hybridStrategy(_backend?: BackendInfo): Strategy {
  return {
    name: 'hybrid',
    description: 'hybrid virtualization: hardware CPU and paging, PV event channels, pvclock + one-shot timer and PV block ring',
    cpu: nativeCpu,
    memory: hardwarePaging,
    interrupt: new EventChannelInterrupts(),
    timer: new PvClockTimer(),
    io: new PvBlkIo(),
  };
}

/**
 * Registers the facets `hybrid` is made of (`native`, `hardware-paging`, `event-channel`,
 * `pvclock`, `pv-blk`) in the facet registry, unless the HVM or PV package registered them already.
 */
export function registerHybridFacets(container: DependencyContainer): void {
  const facets = container.resolve(FACETS);
  facets.provide(nativeCpu, () => nativeCpu);
  facets.provide(hardwarePaging, () => hardwarePaging);
  facets.provide(EventChannelInterrupts.info, () => new EventChannelInterrupts());
  facets.provide(PvClockTimer.info, () => new PvClockTimer());
  facets.provide(PvBlkIo.info, () => new PvBlkIo());
}

/** Registers `hybrid` in the container's strategy registry, and its facets ({@link registerHybridFacets}). */
export function registerHybridStrategy(container: DependencyContainer): void {
  registerHybridFacets(container);
  container.resolve(STRATEGIES).register(
    'hybrid',
    'PV-aware guest in an HVM container: hardware CPU and paging with event channels, pvclock and the PV block ring',
    hybridStrategy,
  );
}
