/**
 * A hand-driven clock for device tests and deterministic embedding: a {@link TimerQueue} over a
 * time that moves only when its owner says so.
 * @module
 */
import { TimerQueue } from '../time/timer-queue.js';

/** A {@link TimerQueue} with a hand-driven time, in ns. */
export class ManualClock extends TimerQueue {
  private t: number;

  constructor(startNs = 0) {
    let self: ManualClock | undefined;
    super(() => self!.t);
    self = this;
    this.t = startNs;
  }

  /** Current fake time (ns). */
  get time(): number {
    return this.t;
  }

  /** Moves time to `ns`, running each due event at its own time (a punctual VMM). */
  advanceTo(ns: number): void {
    while (this.nextAt() <= ns) {
      this.t = Math.max(this.t, this.nextAt());
      this.runDue(this.t);
    }
    this.t = ns;
  }

  /** Moves time forward by `ns` (see {@link advanceTo}). */
  advance(ns: number): void {
    this.advanceTo(this.t + ns);
  }

  /** Moves time to `ns` without running anything, then runs what is due at once: a stalled VMM. */
  stallUntil(ns: number): void {
    this.t = ns;
    this.runDue(ns);
  }
}
