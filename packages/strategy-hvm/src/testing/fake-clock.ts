/**
 * A deterministic clock for device tests: a {@link TimerQueue} over a time that only moves when
 * the test says so. Not exported from the package index.
 * @module
 */
import { TimerQueue } from '@hyvisor/core';

/** A {@link TimerQueue} with a hand-driven time, in ns. */
export class FakeClock extends TimerQueue {
  private t = 0;

  constructor(startNs = 0) {
    let self: FakeClock | undefined;
    super(() => self!.t);
    self = this;
    this.t = startNs;
  }

  /** Current fake time. */
  get time(): number {
    return this.t;
  }

  /** Moves time to `ns`, running each due event at its own time, as a punctual VMM does. */
  advanceTo(ns: number): void {
    while (this.nextAt() <= ns) {
      this.t = Math.max(this.t, this.nextAt());
      this.runDue(this.t);
    }
    this.t = ns;
  }

  /** Moves time forward by `ns` on time (see {@link advanceTo}). */
  advance(ns: number): void {
    this.advanceTo(this.t + ns);
  }

  /** Moves time to `ns` without running anything, then runs what is due all at once: a VMM that stalled. */
  stallUntil(ns: number): void {
    this.t = ns;
    this.runDue(ns);
  }
}
