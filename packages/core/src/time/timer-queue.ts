/**
 * Host-time events for emulated timers (PIT, APIC timer, PV one-shot timers). Devices schedule
 * callbacks at host monotonic times; the run loop asks for the earliest one, sets the vCPU's
 * deadline no later than that, and fires what is due when the vCPU comes back. A stalled vCPU
 * therefore sees late timer events, exactly the behaviour the paper's timer experiment studies.
 * @module
 */

/**
 * Monotonic host time in nanoseconds since the process started, as a JS number. Built on
 * `performance.now()` because it allocates nothing (hrtime.bigint() allocates a BigInt), so the
 * hot path may read it.
 */
export function monotonicNs(): number {
  return performance.now() * 1e6;
}

/** What a device needs to keep time: read the clock, ask to be called back. */
export interface Clock {
  /** Host monotonic time in ns. */
  now(): number;
  /** Calls `callback(now)` once at or after `atNs`; returns an id for {@link cancel}. */
  schedule(atNs: number, callback: (nowNs: number) => void): number;
  /** Cancels a scheduled callback (no-op if it already ran or was cancelled). */
  cancel(id: number): void;
}

interface Entry {
  id: number;
  at: number;
  callback: (nowNs: number) => void;
}

/** A small timer queue (sorted array: a VM has a handful of timers at once). */
export class TimerQueue implements Clock {
  private entries: Entry[] = [];
  private nextId = 1;

  /** Called when a newly scheduled event becomes the earliest (the run loop re-arms its deadline). */
  onEarliestChanged: ((atNs: number) => void) | undefined;

  constructor(private readonly clock: () => number = monotonicNs) {}

  now(): number {
    return this.clock();
  }

  schedule(atNs: number, callback: (nowNs: number) => void): number {
    const id = this.nextId++;
    const e: Entry = { id, at: atNs, callback };
    let i = this.entries.length;
    while (i > 0 && this.entries[i - 1]!.at > atNs) i--;
    this.entries.splice(i, 0, e);
    if (i === 0) this.onEarliestChanged?.(atNs);
    return id;
  }

  cancel(id: number): void {
    const i = this.entries.findIndex((e) => e.id === id);
    if (i >= 0) this.entries.splice(i, 1);
  }

  /** Number of pending events. */
  get size(): number {
    return this.entries.length;
  }

  /** Time of the earliest pending event in ns, or Infinity. */
  nextAt(): number {
    return this.entries.length > 0 ? this.entries[0]!.at : Infinity;
  }

  /** Runs every event due at `nowNs`, in time order (events scheduled by callbacks included). Returns how many ran. */
  runDue(nowNs: number = this.clock()): number {
    let ran = 0;
    while (this.entries.length > 0 && this.entries[0]!.at <= nowNs) {
      const e = this.entries.shift()!;
      e.callback(nowNs);
      ran++;
    }
    return ran;
  }
}
