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
 * `direct-paging`, `event-channel`, `pvclock`, `pv-blk`. Names already registered are left alone.
 */
export function registerPvFacets(container: DependencyContainer): void {
  const facets = container.resolve(FACETS);
  const made = pvStrategy();
  facets.provide('cpu', made.cpu.name, made.cpu.description, () => new PvSyscallCpu());
  facets.provide('memory', made.memory.name, made.memory.description, () => new DirectPagingMemory());
  facets.provide('interrupt', made.interrupt.name, made.interrupt.description, () => new EventChannelInterrupts());
  facets.provide('timer', made.timer.name, made.timer.description, () => new PvClockTimer());
  facets.provide('io', made.io.name, made.io.description, () => new PvBlkIo());
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
