/**
 * A third-party device: an interrupt source that completes each request after a delay, the way a
 * disk or NIC raises its interrupt when a command finishes rather than when it is issued. It
 * speaks the testbed's IRQ_TEST protocol, so the testbed guest's `irq` workload drives it
 * unchanged: then each round trip costs the strategy's interrupt path plus the delay.
 *
 * Registers (2 ports, base 0x512 by default, IRQ 5 by default):
 * - offset 0, write (any value): a request; it completes `delay` later on the machine's clock.
 * - offset 0, read: acknowledges (lowers the line) and returns the number of completed requests.
 * - offset 1: reads 0, writes ignored.
 *
 * Everything it uses is handed in by the machine through the factory's context: the interrupt
 * line, the clock. Nothing here knows buses, backends or strategies.
 * @module
 */
import {
  DeviceStateError, checkStateRecord, stateBool, stateInt,
  type Clock, type DeviceDefinition, type DeviceState, type Disposable, type IrqLine, type PioDevice, type StatefulDevice,
} from '@hyvisor/core';

/** Requests that may wait at once; more are refused (counted), as a real device's queue fills. */
export const DELAYED_IRQ_QUEUE = 64;

/** The device's state record (version 1). Pending requests are kept as delays still to run. */
export interface DelayedIrqState extends DeviceState {
  readonly version: 1;
  readonly requested: number;
  readonly completed: number;
  readonly refused: number;
  readonly asserted: boolean;
  /** Nanoseconds from the save to each pending completion, in order. */
  readonly pendingNs: readonly number[];
}

/** The model: registers and the completion queue, on a clock and a line it is given. */
export class DelayedIrqDevice implements PioDevice, StatefulDevice<DelayedIrqState>, Disposable {
  /** Requests written. */
  requested = 0;
  /** Requests completed (each raised the line, or found it raised). */
  completed = 0;
  /** Requests refused because {@link DELAYED_IRQ_QUEUE} were already waiting. */
  refused = 0;
  private level = false;
  /** Completion times (ns on the clock) and their timer ids, oldest first. */
  private readonly due: { at: number; id: number }[] = [];

  constructor(private readonly irq: IrqLine, private readonly clock: Clock, private readonly delayNs: number) {}

  read(offset: number, size: number): number {
    if (offset !== 0) return 0;
    if (this.level) {
      this.level = false;
      this.irq.lower();
    }
    const n = this.completed >>> 0;
    return size >= 4 ? n : n & ((1 << (size * 8)) - 1);
  }

  write(offset: number, _size: number, _value: number): void {
    if (offset !== 0) return;
    // The guest controls how often it writes: bound what it can make the VMM hold.
    if (this.due.length >= DELAYED_IRQ_QUEUE) {
      this.refused++;
      return;
    }
    this.requested++;
    this.enqueue(this.clock.now() + this.delayNs);
  }

  saveState(): DelayedIrqState {
    const now = this.clock.now();
    return {
      version: 1, requested: this.requested, completed: this.completed, refused: this.refused, asserted: this.level,
      pendingNs: this.due.map((d) => Math.max(0, d.at - now)),
    };
  }

  restoreState(state: DelayedIrqState): void {
    const r = checkStateRecord('delayed-irq', state, 1);
    const counts = ['requested', 'completed', 'refused'].map((k) => stateInt('delayed-irq', r, k, 0, Number.MAX_SAFE_INTEGER));
    const asserted = stateBool('delayed-irq', r, 'asserted');
    const pending = r.pendingNs;
    if (!Array.isArray(pending) || pending.length > DELAYED_IRQ_QUEUE || !pending.every((n) => typeof n === 'number' && n >= 0 && Number.isFinite(n))) {
      throw new DeviceStateError('delayed-irq', `pendingNs: expected at most ${DELAYED_IRQ_QUEUE} non-negative numbers`);
    }
    this.dispose();
    [this.requested, this.completed, this.refused] = counts as [number, number, number];
    const now = this.clock.now();
    for (const ns of pending as number[]) this.enqueue(now + ns);
    if (asserted !== this.level) {
      this.level = asserted;
      if (asserted) this.irq.raise();
      else this.irq.lower();
    }
  }

  /** Cancels pending completions (the machine disposes the device with itself). */
  dispose(): void {
    for (const d of this.due.splice(0)) this.clock.cancel(d.id);
  }

  private enqueue(at: number): void {
    const entry = { at, id: 0 };
    entry.id = this.clock.schedule(at, () => this.complete(entry));
    this.due.push(entry);
  }

  private complete(entry: { at: number; id: number }): void {
    const i = this.due.indexOf(entry);
    if (i >= 0) this.due.splice(i, 1);
    this.completed++;
    if (!this.level) {
      this.level = true;
      this.irq.raise();
    }
  }
}

/** Options after validation: `delay` in milliseconds (the schema's `duration` type). */
export interface DelayedIrqOptions {
  readonly delay: number;
}

/**
 * The device definition a config names with `{ module: …, export: delayedIrqDevice }`: static
 * metadata (read without building anything) and the factory.
 */
export const delayedIrqDevice: DeviceDefinition<DelayedIrqOptions, DelayedIrqDevice> = {
  name: 'delayed-irq',
  description: 'interrupt source that completes each request after a delay (IRQ_TEST protocol)',
  ports: [{ base: 0x512, count: 2 }],
  irq: 5,
  options: {
    delay: { type: 'duration', description: 'time from a request to its interrupt, like "50us"', default: 0.05, min: 0, max: 1000 },
  },
  create(ctx, options) {
    const device = new DelayedIrqDevice(ctx.irq, ctx.clock, options.delay * 1e6);
    ctx.own(device);
    return { pio: device, handle: device, state: device };
  },
};
