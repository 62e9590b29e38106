/**
 * The stall port: lets the guest make the VMM stop running it for a while, the way a loaded host
 * or a slow device emulation would. The testbed's `time` workload uses it to measure how each
 * timer strategy copes with late ticks (the paper's timer-drift experiment). A test device: only
 * the `testbed` board has it.
 * @module
 */
import { checkStateRecord, stateInt, type DeviceState, type PioDevice, type StatefulDevice } from '@hyvisor/core';

/**
 * Most stall the device grants in any {@link STALL_WINDOW_MS} of host time, in milliseconds: a
 * guest can hold the VMM at most a quarter of the time, however it spreads its writes. The
 * testbed's `time` workload asks for 3 × 50 ms, possibly back to back.
 */
export const STALL_BUDGET_MS = 250;
/** The window {@link STALL_BUDGET_MS} applies to: one second. */
export const STALL_WINDOW_MS = 1000;
/** Longest stall one write can get, in milliseconds (the whole budget); larger values are clamped. */
export const STALL_MAX_MS = STALL_BUDGET_MS;

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

/** The stall device's state record (version 1): its counters. The budget window is host time and is not saved. */
export interface StallState extends DeviceState {
  readonly version: 1;
  readonly stalls: number;
  readonly totalMs: number;
  readonly clamped: number;
}

/** Recent stalls kept for the budget: at least 1 ms each, at most {@link STALL_BUDGET_MS} in a window. */
const HISTORY = 512;

/**
 * A port device (4 ports at `Ports.STALL`) that holds the vCPU: a write of N to offset 0 blocks
 * the calling thread for N milliseconds before the write returns (and so before the vCPU
 * resumes). The value is masked to the access size (a 32-bit write is the intended form); N = 0
 * does nothing.
 *
 * The cap: a write gets at most what is left of {@link STALL_BUDGET_MS} over the last
 * {@link STALL_WINDOW_MS} of host time (stalls still running count in full), so in any second the
 * VMM is blocked by this device for at most 250 ms; a write asking more is shortened (possibly to
 * nothing) and counted in {@link clamped}.
 *
 * While blocked, the thread services nothing: timer callbacks scheduled for that time run late
 * when the run loop gets back to them, which models a VMM stall exactly.
 *
 * A read of offset 0 returns {@link stalls} (low 32 bits, truncated to the access size); other
 * offsets read 0 and ignore writes.
 */
export class StallDevice implements PioDevice, StatefulDevice<StallState> {
  /** Number of ports the device decodes. */
  static readonly PORT_COUNT = 4;

  /** Stalls performed (writes granted more than 0 ms). */
  stalls = 0;
  /** Milliseconds of stall granted. */
  totalMs = 0;
  /** Writes granted less than they asked (by the per-write maximum or the budget). */
  clamped = 0;
  /** Start and end (host ms) of recent stalls, a ring of {@link HISTORY}. */
  private readonly starts = new Float64Array(HISTORY);
  private readonly ends = new Float64Array(HISTORY);
  private first = 0;
  private count = 0;

  /**
   * @param sleep how to block; tests pass a recording function instead of {@link blockingSleep}.
   * @param now host monotonic time in ms (the budget's clock); tests pass a fake one.
   */
  constructor(
    private readonly sleep: SleepFn = blockingSleep,
    private readonly now: () => number = () => performance.now(),
  ) {}

  read(offset: number, size: number): number {
    if (offset !== 0) return 0;
    const n = this.stalls >>> 0;
    return size >= 4 ? n : n & ((1 << (size * 8)) - 1);
  }

  write(offset: number, size: number, value: number): void {
    if (offset !== 0) return;
    const requested = size >= 4 ? value >>> 0 : value & ((1 << (size * 8)) - 1);
    if (requested === 0) return;
    const start = this.now();
    const ms = Math.min(requested, Math.floor(STALL_BUDGET_MS - this.usedSince(start - STALL_WINDOW_MS)));
    if (ms < requested) this.clamped++;
    if (ms < 1) return;
    this.stalls++;
    this.totalMs += ms;
    this.sleep(ms);
    // What the stall really took, but never less than granted (a fake or early-waking sleep).
    this.remember(start, start + Math.max(ms, this.now() - start));
  }

  /** Milliseconds of stall granted in the window ending now (for tests and telemetry). */
  budgetUsed(): number {
    return this.usedSince(this.now() - STALL_WINDOW_MS);
  }

  saveState(): StallState {
    return { version: 1, stalls: this.stalls, totalMs: this.totalMs, clamped: this.clamped };
  }

  restoreState(state: StallState): void {
    const r = checkStateRecord('stall', state, 1);
    const stalls = stateInt('stall', r, 'stalls', 0, Number.MAX_SAFE_INTEGER);
    const totalMs = stateInt('stall', r, 'totalMs', 0, Number.MAX_SAFE_INTEGER);
    const clamped = stateInt('stall', r, 'clamped', 0, Number.MAX_SAFE_INTEGER);
    this.stalls = stalls;
    this.totalMs = totalMs;
    this.clamped = clamped;
  }

  /** Stall time at or after `since` (ms), dropping what ended before it. */
  private usedSince(since: number): number {
    while (this.count > 0 && this.ends[this.first]! <= since) {
      this.first = (this.first + 1) % HISTORY;
      this.count--;
    }
    let used = 0;
    for (let i = 0, j = this.first; i < this.count; i++, j = (j + 1) % HISTORY) {
      used += this.ends[j]! - Math.max(this.starts[j]!, since);
    }
    return used;
  }

  private remember(start: number, end: number): void {
    if (this.count === HISTORY) {
      // Cannot happen while each stall is ≥ 1 ms and the budget is < HISTORY ms; keep the newest.
      this.first = (this.first + 1) % HISTORY;
      this.count--;
    }
    const at = (this.first + this.count) % HISTORY;
    this.starts[at] = start;
    this.ends[at] = end;
    this.count++;
  }
}
