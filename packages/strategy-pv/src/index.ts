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
 * @packageDocumentation
 */
export * from './guest-ram.js';
export * from './hypercall/doorbell.js';
export * from './sched/sched-op.js';
export * from './pv-domain.js';
export * from './evtchn/shared-info.js';
export * from './evtchn/event-channels.js';
export * from './time/pvclock.js';
export * from './time/one-shot-timer.js';
export * from './mmu/pte.js';
export * from './mmu/direct-paging.js';
export * from './cpu/iret-frame.js';
export * from './io/blk-ring.js';
export * from './facets/pv-syscall.js';
export * from './facets/direct-paging.js';
export * from './facets/event-channel.js';
export * from './facets/pvclock.js';
export * from './facets/pv-blk.js';
export * from './strategies.js';
