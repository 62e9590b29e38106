/**
 * The PV timer facet: the pvclock record in the shared-info page plus the one-shot timer
 * hypercall. Reading the time never exits; a timer costs one hypercall to arm and one event to
 * deliver; a stalled VMM delivers late but the guest's clock stays right, so no tick is lost.
 * @module
 */
import {
  FeatureBits, Hypercall, Virq,
  type Disposable, type FacetSet, type MachineContext, type TimerFacet,
} from '@hyvisor/core';
import { requireEventChannels, pvDomain } from '../pv-domain.js';
import { OneShotTimer } from '../time/one-shot-timer.js';
import { PvClockSource, calibrate, vcpuTscSource, type TscSource } from '../time/pvclock.js';
import type { SharedInfoPage } from '../evtchn/shared-info.js';

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
 * and registers `SET_TIMER_OP`, whose deadline fires `VIRQ_TIMER` through the event channels.
 */
export class PvClockTimer implements TimerFacet {
  readonly facet = 'timer';
  readonly name = 'pvclock';
  readonly description = 'pvclock shared page (kvm-clock/Xen layout) read without exits, plus a one-shot timer hypercall that fires VIRQ_TIMER';
  readonly requires = ['msr'] as const;
  readonly featureBits = FeatureBits.PV_CLOCK;
  /** The clock and timer, once attached. */
  clock: PvClockSource | undefined;
  timer: OneShotTimer | undefined;

  constructor(private readonly options: PvClockTimerOptions = {}) {}

  /** Composition rule: the ticks are event-channel events. */
  check(strategy: FacetSet): string | undefined {
    const irq = strategy.interrupt.name;
    return irq === 'event-channel'
      ? undefined
      : `the pvclock timer delivers its ticks as an event channel (VIRQ_TIMER), so it needs the interrupt facet 'event-channel', not '${irq}'`;
  }

  attach(ctx: MachineContext): Disposable {
    pvDomain(ctx);
    const events = requireEventChannels(ctx, `timer facet '${this.name}'`);
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
    let page: SharedInfoPage | undefined;
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
    return { dispose: () => { timer.cancel(); poll?.dispose(); } };
  }
}
