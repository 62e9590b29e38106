/**
 * The `pv` strategy: every facet paravirtualized, as a Xen PV guest on x86-64.
 * @module
 */
import type { DependencyContainer } from 'tsyringe';
import { FACETS, STRATEGIES, type BackendInfo, type Strategy } from '@hyvisor/core';
import { PvSyscallCpu } from './facets/pv-syscall.js';
import { DirectPagingMemory } from './facets/direct-paging.js';
import { EventChannelInterrupts } from './facets/event-channel.js';
import { PvClockTimer } from './facets/pvclock.js';
import { PvBlkIo } from './facets/pv-blk.js';

/**
 * `pv`: hypercall-bounced system calls, direct paging, event channels, pvclock with a one-shot
 * timer, and the PV block ring. Advertises all five PV feature bits. The backend is not needed
 * to choose anything (the block ring picks an ioeventfd at attach when the backend has one).
 */
export function pvStrategy(_backend?: BackendInfo): Strategy {
  return {
    name: 'pv',
    description: 'paravirtualization: hypercall-bounced system calls, direct paging, event channels, pvclock + one-shot timer, PV block ring',
    cpu: new PvSyscallCpu(),
    memory: new DirectPagingMemory(),
    interrupt: new EventChannelInterrupts(),
    timer: new PvClockTimer(),
    io: new PvBlkIo(),
  };
}

/**
 * Registers the PV facets by implementation name in the container's facet registry: `pv-syscall`,
 * `direct-paging`, `event-channel`, `pvclock`, `pv-blk` (with their static info: nothing is built
 * to register them). Names already registered are left alone.
 */
export function registerPvFacets(container: DependencyContainer): void {
  const facets = container.resolve(FACETS);
  facets.provide(PvSyscallCpu.info, () => new PvSyscallCpu());
  facets.provide(DirectPagingMemory.info, () => new DirectPagingMemory());
  facets.provide(EventChannelInterrupts.info, () => new EventChannelInterrupts());
  facets.provide(PvClockTimer.info, () => new PvClockTimer());
  facets.provide(PvBlkIo.info, () => new PvBlkIo());
}

/** Registers `pv` in the container's strategy registry, and the PV facets ({@link registerPvFacets}). */
export function registerPvStrategy(container: DependencyContainer): void {
  registerPvFacets(container);
  container.resolve(STRATEGIES).register(
    'pv',
    'paravirtualization: system calls and page-table updates through hypercalls, event channels, pvclock, PV block ring',
    pvStrategy,
  );
}
