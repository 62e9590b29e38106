/**
 * The PV timer facet: the pvclock record in the shared-info page plus the one-shot timer
 * hypercall. Reading the time never exits; a timer costs one hypercall to arm and one event to
 * deliver; a stalled VMM delivers late but the guest's clock stays right, so no tick is lost.
 * @module
 */
import {
  EVENT_CHANNELS, FacetBase, FeatureBits, GUEST_CLOCK, Hypercall, TIMER_STATS, Virq, defineFacet,
  type Disposable, type MachineContext, type TimerFacet,
} from '@hyvisor/core';
import { PV_DOMAIN } from '../pv-domain.js';
import { OneShotTimer } from '../time/one-shot-timer.js';
import { PvClockSource, calibrate, vcpuTscSource, type TscSource } from '../time/pvclock.js';

/** Options of {@link PvClockTimer}. */
export interface PvClockTimerOptions {
  /**
   * How often (host ms, at the run loop's poll points) the record's `tsc_timestamp` moves up so
   * the guest's TSC deltas stay small. Default 1000; 0 never.
   */
  readonly refreshMs?: number;
  /** Where the guest-visible TSC is read (default: MSR IA32_TSC of vCPU 0). For tests. */
  readonly tscSource?: (ctx: MachineContext) => TscSource;
}

/**
 * Timer facet `pvclock`: fills the pvclock record when the guest registers its shared-info page,
 * and registers `SET_TIMER_OP`, whose deadline fires `VIRQ_TIMER` through the event channels
 * (`EVENT_CHANNELS`, whichever facet provides them). Provides `GUEST_CLOCK` (the pvclock time)
 * and `TIMER_STATS` (deadlines fired; a one-shot timer loses no ticks).
 */
export class PvClockTimer extends FacetBase<'timer'> implements TimerFacet {
  static readonly info = defineFacet({
    facet: 'timer',
    name: 'pvclock',
    description: 'pvclock shared page (kvm-clock/Xen layout) read without exits, plus a one-shot timer hypercall that fires VIRQ_TIMER',
    requires: ['msr'],
    provides: [GUEST_CLOCK, TIMER_STATS],
    needs: [EVENT_CHANNELS, PV_DOMAIN],
  });

  readonly featureBits = FeatureBits.PV_CLOCK;
  /** The clock and timer, once attached. */
  clock: PvClockSource | undefined;
  timer: OneShotTimer | undefined;

  constructor(private readonly options: PvClockTimerOptions = {}) {
    super();
  }

  attach(ctx: MachineContext): Disposable {
    ctx.services.get(PV_DOMAIN);
    const events = ctx.services.get(EVENT_CHANNELS);
    const vcpu = ctx.vcpus[0]!;
    const tsc = this.options.tscSource?.(ctx) ?? vcpuTscSource(vcpu);
    const source = new PvClockSource(tsc, calibrate(tsc, ctx.clock, ctx.vm.info.tscKhz ?? 0));
    const counters = ctx.telemetry.counters;
    const firedSlot = counters.define('pv.timer.fired', 'one-shot timer deadlines that sent VIRQ_TIMER');
    const setSlot = counters.define('pv.timer.set', 'SET_TIMER_OP calls');
    const timer = new OneShotTimer(ctx.clock, source, () => {
      counters.values[firedSlot]!++;
      events.sendVirq(Virq.TIMER);
    });
    let page: { readonly bytes: Uint8Array } | undefined;
    events.onSharedInfo((p) => {
      page = p;
      source.write(p.bytes);
    });
    ctx.hypercalls.register(Hypercall.SET_TIMER_OP, 'SET_TIMER_OP', (a) => {
      counters.values[setSlot]!++;
      timer.set(a.a0);
      return 0;
    });
    const refreshNs = (this.options.refreshMs ?? 1000) * 1e6;
    let lastRefresh = ctx.clock.now();
    const poll = refreshNs > 0
      ? ctx.addPollHook(() => {
        const now = ctx.clock.now();
        if (page === undefined || now - lastRefresh < refreshNs) return;
        lastRefresh = now;
        source.refresh();
        source.write(page.bytes);
      })
      : undefined;
    this.clock = source;
    this.timer = timer;
    ctx.services.provide(GUEST_CLOCK, { nowNs: () => source.systemTimeNow() });
    ctx.services.provide(TIMER_STATS, {
      get events() { return counters.values[firedSlot]!; },
      lostTicks: 0,
      periodNs: () => 0,
    });
    return { dispose: () => { timer.cancel(); poll?.dispose(); } };
  }
}
