/**
 * `@hyvisor/strategy-pv`: the paravirtualization facets and the `pv` strategy (docs/pv-abi.md).
 *
 * - transport: the port-I/O hypercall doorbell ({@link HypercallDoorbell}, {@link ensureDoorbell});
 * - CPU: {@link PvSyscallCpu} (`pv-syscall`): SYSCALL_ENTRY and a validated IRET;
 * - memory: {@link DirectPagingMemory} (`direct-paging`): the read-only page-table pool and
 *   validated MMU_UPDATE / MMUEXT_OP ({@link DirectPaging});
 * - interrupts: {@link EventChannelInterrupts} (`event-channel`): shared-info page, event
 *   channels ({@link EventChannels}) and one upcall vector;
 * - timer: {@link PvClockTimer} (`pvclock`): the pvclock record ({@link PvClockSource}) and the
 *   one-shot timer ({@link OneShotTimer});
 * - I/O: {@link PvBlkIo} (`pv-blk`): virtio-blk over a split ring ({@link BlkRing});
 * - SCHED_OP ({@link SchedOps}) and the per-machine PV state, a service of the machine's scope
 *   ({@link PV_DOMAIN}).
 *
 * Test doubles for a machine context live in `@hyvisor/strategy-pv/testing`.
 *
 * The entry exports what composing a VMM or writing a plugin needs: the facets, the `pv` strategy
 * and its registration, the PV building blocks listed above and the `PV_DOMAIN` service.
 * Validation helpers and ABI-internal constants (page-table entry bits, ring limits, IRET checks)
 * stay internal.
 * The runtime names are pinned in `docs/public-surface.json` (a test fails on any change).
 * @packageDocumentation
 */
// (./guest-ram.js: internal only)
export { HypercallDoorbell, ensureDoorbell } from './hypercall/doorbell.js';
export * from './sched/sched-op.js';
export * from './pv-domain.js';
export { SharedInfoPage } from './evtchn/shared-info.js';
export { EventChannels, UPCALL_VECTOR_MAX, UPCALL_VECTOR_MIN } from './evtchn/event-channels.js';
export { PvClockSource, pvclockTimeAt, readPvClock, type Calibration, type PvClockRecord, type TimeScale, type TscSource } from './time/pvclock.js';
export * from './time/one-shot-timer.js';
// (./mmu/pte.js: internal only)
export { DirectPaging, type BasePointers, type DirectPagingOptions } from './mmu/direct-paging.js';
export type { GdtLocation } from './cpu/iret-frame.js';
export { BlkRing } from './io/blk-ring.js';
export * from './facets/pv-syscall.js';
export { DirectPagingMemory } from './facets/direct-paging.js';
export * from './facets/event-channel.js';
export * from './facets/pvclock.js';
export { PvBlkIo, type PvBlkOptions } from './facets/pv-blk.js';
export * from './strategies.js';
