/**
 * The stall port: lets the guest make the VMM stop running it for a while, the way a loaded host
 * or a slow device emulation would. The testbed's `time` workload uses it to measure how each
 * timer strategy copes with late ticks (the paper's timer-drift experiment).
 * @module
 */
import type { PioDevice } from '@hyvisor/core';

/** Longest stall one write can ask for, in milliseconds; larger values are clamped to it. */
export const STALL_MAX_MS = 1000;

/** Blocks the calling thread for `ms` milliseconds. */
export type SleepFn = (ms: number) => void;

/**
 * Blocks the calling thread with `Atomics.wait` on a private word nobody notifies, so it always
 * times out after `ms`. Unlike a busy loop it burns no CPU; unlike a timer it returns nothing to
 * the event loop: everything on this thread (the vCPU and its timer callbacks) is held.
 */
export function blockingSleep(ms: number): void {
  if (ms > 0) Atomics.wait(blockingSleepWord, 0, 0, ms);
}

const blockingSleepWord = new Int32Array(new SharedArrayBuffer(4));

/**
 * A port device (4 ports at `Ports.STALL`) that holds the vCPU: a write of N to offset 0 blocks
 * the calling thread for N milliseconds before the write returns (and so before the vCPU
 * resumes). The value is masked to the access size (a 32-bit write is the intended form) and
 * clamped to {@link STALL_MAX_MS}, so a guest cannot freeze the VMM for long; N = 0 does nothing.
 *
 * While blocked, the thread services nothing: timer callbacks scheduled for that time run late
 * when the run loop gets back to them, which models a VMM stall exactly.
 *
 * A read of offset 0 returns {@link stalls} (low 32 bits, truncated to the access size); other
 * offsets read 0 and ignore writes.
 */
export class StallDevice implements PioDevice {
  /** Number of ports the device decodes. */
  static readonly PORT_COUNT = 4;

  /** Stalls performed (writes with N > 0). */
  stalls = 0;
  /** Milliseconds of stall performed, after clamping. */
  totalMs = 0;
  /** Writes whose value exceeded {@link STALL_MAX_MS} and were clamped. */
  clamped = 0;

  /** @param sleep how to block; tests pass a recording function instead of {@link blockingSleep}. */
  constructor(private readonly sleep: SleepFn = blockingSleep) {}

  read(offset: number, size: number): number {
    if (offset !== 0) return 0;
    const n = this.stalls >>> 0;
    return size >= 4 ? n : n & ((1 << (size * 8)) - 1);
  }

  write(offset: number, size: number, value: number): void {
    if (offset !== 0) return;
    const requested = size >= 4 ? value >>> 0 : value & ((1 << (size * 8)) - 1);
    if (requested === 0) return;
    const ms = Math.min(requested, STALL_MAX_MS);
    if (ms < requested) this.clamped++;
    this.stalls++;
    this.totalMs += ms;
    this.sleep(ms);
  }
}
