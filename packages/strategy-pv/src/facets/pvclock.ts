/**
 * The PV timer facet: the pvclock record in the shared-info page plus the one-shot timer
 * hypercall. Reading the time never exits; a timer costs one hypercall to arm and one event to
 * deliver; a stalled VMM delivers late but the guest's clock stays right, so no tick is lost.
 * @module
 */
import {
  EVENT_CHANNELS, FacetBase, FeatureBits, GUEST_CLOCK, Hypercall, TIMER_STATS, Virq, defineFacet,
  type Disposable, type FacetState, type FacetStateContext, type MachineContext, type EventChannelDelivery, type TimerFacet,
} from '@hyvisor/core';
import { PV_DOMAIN } from '../pv-domain.js';
import { OneShotTimer } from '../time/one-shot-timer.js';
import { PvClockSource, calibrate, pvclockTimeAt, vcpuTscSource, type TscSource } from '../time/pvclock.js';

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
  private events: EventChannelDelivery | undefined;
  private page: { readonly bytes: Uint8Array } | undefined;
  private lastRefresh = 0;

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
    this.events = events;
    events.onSharedInfo((p) => {
      this.page = p;
      source.write(p.bytes);
    });
    ctx.hypercalls.register(Hypercall.SET_TIMER_OP, 'SET_TIMER_OP', (a) => {
      counters.values[setSlot]!++;
      timer.set(a.a0);
      return 0;
    });
    const refreshNs = (this.options.refreshMs ?? 1000) * 1e6;
    this.lastRefresh = ctx.clock.now();
    const poll = refreshNs > 0
      ? ctx.addPollHook(() => {
        const now = ctx.clock.now();
        const page = this.page;
        if (page === undefined || now - this.lastRefresh < refreshNs) return;
        this.lastRefresh = now;
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

  /**
   * The record the guest reads (its scale and origin), the TSC rate, the guest's system time and
   * TSC now, the armed one-shot deadline and the time since the last refresh.
   */
  saveState(ctx: FacetStateContext): PvClockState {
    const source = this.clock!, rec = source.record, tsc = ctx.guestTsc ?? source.readTsc();
    return {
      version: 1,
      record: { tscTimestamp: hex(rec.tscTimestamp), systemTime: hex(rec.systemTime), mul: rec.mul, shift: rec.shift },
      tscKhz: source.calibration.tscKhz, tsc: hex(tsc), systemNs: Number(pvclockTimeAt(rec, tsc)),
      timerDeadlineNs: this.timer!.armedDeadline, sinceRefreshNs: Math.max(0, ctx.nowNs - this.lastRefresh),
    };
  }

  /**
   * Continues the guest's clock from the record: on a backend with the same TSC rate the record
   * stays as the guest's memory holds it; on another (KVM → emulator and back) a new record with
   * this backend's scale is published in the shared-info page so the guest's time goes on from
   * the saved value (the vCPU's TSC was restored to the saved one). The one-shot timer is re-armed
   * at its guest deadline.
   */
  restoreState(state: FacetState, clock: FacetStateContext): void {
    const s = state as PvClockState;
    const bad = (field: string): never => { throw new Error(`pvclock state ${field} is not valid`); };
    if (s?.version !== 1) bad(`version ${JSON.stringify(s?.version)}`);
    const big = (v: unknown, f: string): bigint => (typeof v === 'string' && /^0x[0-9a-f]{1,16}$/.test(v) ? BigInt(v) : bad(f));
    const num = (v: unknown, f: string): number => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : bad(f));
    const r = s.record ?? bad('record');
    const record = {
      tscTimestamp: big(r.tscTimestamp, 'record.tscTimestamp'), systemTime: big(r.systemTime, 'record.systemTime'),
      mul: num(r.mul, 'record.mul'), shift: Number.isInteger(r.shift) && Math.abs(r.shift) < 64 ? r.shift : bad('record.shift'),
    };
    const tsc = big(s.tsc, 'tsc');
    const systemNs = num(s.systemNs, 'systemNs');
    const deadline = num(s.timerDeadlineNs, 'timerDeadlineNs');
    num(s.tscKhz, 'tscKhz');
    const source = this.clock!;
    this.page = this.events?.page;
    if (source.restore(record, s.tscKhz, tsc, systemNs, clock.nowNs) && this.page !== undefined) source.write(this.page.bytes);
    this.timer!.set(deadline);
    this.lastRefresh = clock.nowNs - num(s.sinceRefreshNs, 'sinceRefreshNs');
  }
}

const hex = (v: bigint): string => '0x' + BigInt.asUintN(64, v).toString(16);

/** {@link PvClockTimer.saveState}'s record (version 1). */
export interface PvClockState {
  readonly version: 1;
  /** The pvclock record the guest reads (bigints as hex). */
  readonly record: { readonly tscTimestamp: string; readonly systemTime: string; readonly mul: number; readonly shift: number };
  /** TSC rate the record's scale was made for. */
  readonly tscKhz: number;
  /** Guest TSC when saved, and the guest's system time (ns) at it. */
  readonly tsc: string;
  readonly systemNs: number;
  /** The armed one-shot deadline (guest system ns), 0 if none. */
  readonly timerDeadlineNs: number;
  readonly sinceRefreshNs: number;
}
