/**
 * The 8254 PIT emulated in the VMM, ticking on host-time events: a periodic tick is one deadline
 * exit, one injection and one EOI exit. When the VMM stalls, late periods are coalesced into one
 * interrupt and counted as lost: the timer drift the paper's timer experiment shows.
 * @module
 */
import { FacetBase, IN_KERNEL_PIT, Irq, Ports, TIMER_STATS, defineFacet, type Disposable, type MachineContext, type TimerFacet } from '@hyvisor/core';
import { PORT_B, Pit8254 } from '../timer/pit8254.js';

/**
 * Timer facet: userspace 8254 PIT on ports 0x40-0x43 and port B. Cannot share a machine with the
 * in-kernel PIT (`IN_KERNEL_PIT`: both would own the ports and IRQ 0). Provides `TIMER_STATS`
 * (ticks raised, ticks lost, the programmed period).
 */
export class EmulatedPit extends FacetBase<'timer'> implements TimerFacet {
  static readonly info = defineFacet({
    facet: 'timer',
    name: 'emulated-pit',
    description: '8254 PIT emulated in the VMM on host-time deadlines; late ticks are coalesced and counted as lost',
    requires: [],
    provides: [TIMER_STATS],
    excludes: [IN_KERNEL_PIT],
  });

  readonly featureBits = 0;
  /** The PIT, once attached (tests read its tick counters; telemetry reads `TIMER_STATS`). */
  pit: Pit8254 | undefined;

  attach(ctx: MachineContext): Disposable {
    const pit = new Pit8254(ctx.clock, ctx.irqLine(Irq.PIT));
    ctx.pio.register('pit', Ports.PIT, Pit8254.PORT_COUNT, pit);
    ctx.pio.register('port-b', PORT_B, 1, pit.portB);
    this.pit = pit;
    ctx.services.provide(TIMER_STATS, {
      get events() { return pit.ticks; },
      get lostTicks() { return pit.lostTicks; },
      periodNs: () => pit.channel0PeriodNs(),
    });
    // Sampled figures, read when the hub takes a sample: nothing is added to the tick path.
    const counters = ctx.telemetry.counters;
    counters.defineSource('timer.events', 'PIT channel 0 interrupts raised', () => pit.ticks);
    counters.defineSource('timer.pit_lost_ticks', 'PIT channel 0 periods coalesced because the VMM was late', () => pit.lostTicks);
    counters.defineSource('timer.drift_us', 'guest time minus host time from lost PIT ticks', () => -pit.lostTicks * pit.channel0PeriodNs() / 1000, { type: 'gauge', unit: 'us' });
    return pit;
  }
}
