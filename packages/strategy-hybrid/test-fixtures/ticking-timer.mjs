// A third-party timer facet, loaded from a config (`strategy: { base: hybrid, timer: { module: …,
// export: createTimer } }`): it needs event-channel delivery and provides timer statistics through
// the same typed services as the built-in facets, with nothing but @hyvisor/core's public API.
import { EVENT_CHANNELS, FacetBase, TIMER_STATS, Virq, defineFacet } from '@hyvisor/core';

const PERIOD_NS = 1_000_000;

export class TickingTimer extends FacetBase {
  static info = defineFacet({
    facet: 'timer',
    name: 'ticking',
    description: 'a VIRQ_TIMER event every millisecond of host time',
    requires: [],
    provides: [TIMER_STATS],
    needs: [EVENT_CHANNELS],
  });

  featureBits = 0;

  attach(ctx) {
    const events = ctx.services.get(EVENT_CHANNELS);
    let ticks = 0;
    let id = 0;
    const tick = (now) => {
      ticks++;
      events.sendVirq(Virq.TIMER);
      id = ctx.clock.schedule(now + PERIOD_NS, tick);
    };
    id = ctx.clock.schedule(ctx.clock.now() + PERIOD_NS, tick);
    ctx.services.provide(TIMER_STATS, { get events() { return ticks; }, lostTicks: 0, periodNs: () => PERIOD_NS });
    return { dispose: () => ctx.clock.cancel(id) };
  }
}

export function createTimer() {
  return new TickingTimer();
}

/** A broken one: `needs` holds a bare string instead of a service token. */
export function createBrokenTimer() {
  const t = new TickingTimer();
  return Object.assign(t, { needs: ['event-channels'] });
}
