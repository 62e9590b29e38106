/**
 * The PV one-shot timer: `SET_TIMER_OP(deadline)` arms it at a pvclock system time; when that
 * time passes, `fire` runs (the facet sends `VIRQ_TIMER`). A stalled VMM fires late, never early:
 * before firing it reads the guest's clock and, if the deadline is still ahead (host and guest
 * clocks differ by a few ppm), waits the remainder.
 * @module
 */
import type { Clock } from '@hyvisor/core';
import type { PvClockSource } from './pvclock.js';

/** One one-shot timer. */
export class OneShotTimer {
  private id = 0;
  private deadline = 0;
  /** Times the timer fired (the event was sent). */
  fired = 0;
  /** Times the host timer came before the guest's deadline and was re-armed for the remainder. */
  rearmed = 0;

  constructor(
    private readonly clock: Clock,
    private readonly pvclock: PvClockSource,
    private readonly fire: () => void,
  ) {}

  /** The armed deadline (system ns), or 0. */
  get armedDeadline(): number {
    return this.id !== 0 ? this.deadline : 0;
  }

  /** Arms the timer at system time `deadlineNs` (replacing any armed one); 0 cancels. */
  set(deadlineNs: number): void {
    this.cancel();
    if (!(deadlineNs > 0)) return;
    this.deadline = deadlineNs;
    this.id = this.clock.schedule(this.pvclock.hostNsFor(deadlineNs), this.onDue);
  }

  /** Disarms the timer. */
  cancel(): void {
    if (this.id !== 0) this.clock.cancel(this.id);
    this.id = 0;
  }

  private readonly onDue = (nowNs: number): void => {
    this.id = 0;
    const guestNow = this.pvclock.systemTimeNow();
    if (guestNow < this.deadline) {
      this.rearmed++;
      this.id = this.clock.schedule(nowNs + Math.max(1000, this.deadline - guestNow), this.onDue);
      return;
    }
    this.fired++;
    this.fire();
  };
}
