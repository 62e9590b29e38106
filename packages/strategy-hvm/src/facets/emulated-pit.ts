/**
 * The 8254 PIT emulated in the VMM, ticking on host-time events: a periodic tick is one deadline
 * exit, one injection and one EOI exit. When the VMM stalls, late periods are coalesced into one
 * interrupt and counted as lost: the timer drift the paper's timer experiment shows.
 * @module
 */
import { Irq, Ports, type Disposable, type MachineContext, type TimerFacet } from '@hyvisor/core';
import { PORT_B, Pit8254 } from '../timer/pit8254.js';

/** Timer facet: userspace 8254 PIT on ports 0x40-0x43 and port B. */
export class EmulatedPit implements TimerFacet {
  readonly facet = 'timer';
  readonly name = 'emulated-pit';
  readonly description = '8254 PIT emulated in the VMM on host-time deadlines; late ticks are coalesced and counted as lost';
  readonly requires = [] as const;
  readonly featureBits = 0;
  /** The PIT, once attached (tests and telemetry read its tick counters). */
  pit: Pit8254 | undefined;

  check(strategy: { interrupt: { name: string } }): string | undefined {
    return strategy.interrupt.name === 'kvm-irqchip'
      ? "the in-kernel irqchip owns the PIC; a userspace PIT there would fight the in-kernel one: use the timer facet 'kvm-pit'"
      : undefined;
  }

  attach(ctx: MachineContext): Disposable {
    const pit = new Pit8254(ctx.clock, ctx.irqLine(Irq.PIT));
    ctx.pio.register('pit', Ports.PIT, Pit8254.PORT_COUNT, pit);
    ctx.pio.register('port-b', PORT_B, 1, pit.portB);
    this.pit = pit;
    // Sampled figures, read when the hub takes a sample: nothing is added to the tick path.
    const counters = ctx.telemetry.counters;
    counters.defineSource('timer.events', 'PIT channel 0 interrupts raised', () => pit.ticks);
    counters.defineSource('timer.pit_lost_ticks', 'PIT channel 0 periods coalesced because the VMM was late', () => pit.lostTicks);
    counters.defineSource('timer.drift_us', 'guest time minus host time from lost PIT ticks', () => -pit.lostTicks * pit.channel0PeriodNs() / 1000, { type: 'gauge', unit: 'us' });
    return pit;
  }
}
