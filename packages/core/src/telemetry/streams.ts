/**
 * Typed per-topic streams over a {@link TelemetryHub}: exits per kind, per port and device,
 * hypercalls per number, interrupts and their latency, timer events and drift, I/O volume, vCPU
 * run time and state. One sampler (an `interval`, a snapshot, a diff) feeds every topic; nothing
 * here runs on the vCPU's exit path.
 * @module
 */
import type { Observable } from 'rxjs';
import { rxjs } from './rx.js';
import { CoreCounter } from './counters.js';
import { EXIT_KIND_COUNT, EXIT_KIND_NAMES } from '../exits/vm-exit.js';
import { HYPERCALL_SLOTS, LATENCY_BUCKETS_US } from './probes.js';
import type { TelemetryEvent, TelemetryHub } from './hub.js';

/** A running total and its rate over the last interval (per second). */
export interface Figure {
  readonly total: number;
  readonly rate: number;
}

/** What every sampled topic carries. */
export interface SampleBase {
  /** Milliseconds since the epoch. */
  readonly time: number;
  /** Milliseconds the rates are over (0 for the first sample: rates are 0). */
  readonly intervalMs: number;
}

/** Topic `exits`: vCPU exits per kind. */
export interface ExitsSample extends SampleBase {
  readonly total: Figure;
  readonly byKind: Readonly<Record<string, Figure>>;
}

/** One I/O port's exits. */
export interface PortFigure extends Figure {
  readonly port: number;
  /** The device that owns the port, or `unowned`. */
  readonly device: string;
}

/** One MMIO range's exits. */
export interface MmioFigure extends Figure {
  /** The name the range was registered with (the device). */
  readonly device: string;
  /** Guest-physical base and length of the range. */
  readonly base: number;
  readonly length: number;
}

/**
 * Topic `ports`: exits per I/O port (ports with at least one exit) and per device; likewise per
 * MMIO range (ranges with at least one exit) and per MMIO device (`unowned`: no range).
 */
export interface PortsSample extends SampleBase {
  readonly ports: readonly PortFigure[];
  readonly byDevice: Readonly<Record<string, Figure>>;
  readonly mmio: readonly MmioFigure[];
  readonly mmioByDevice: Readonly<Record<string, Figure>>;
}

/** Topic `hypercalls`: hypercalls per number (numbers seen at least once). */
export interface HypercallsSample extends SampleBase {
  readonly total: Figure;
  readonly errors: Figure;
  readonly byNumber: readonly (Figure & { readonly nr: number })[];
}

/** Topic `interrupts`: injections and latency (raised → delivered). */
export interface InterruptsSample extends SampleBase {
  readonly injected: Figure;
  readonly dropped: Figure;
  readonly latency: {
    /** Interrupts timed in this interval. */
    readonly count: number;
    /** Their mean latency in µs (0 when none was timed). */
    readonly meanUs: number;
    /** Interrupts timed since start and their mean latency. */
    readonly totalCount: number;
    readonly totalMeanUs: number;
    /** Histogram since start: `counts[i]` latencies ≤ `bucketsUs[i]` µs (and above the previous bound); the last has no bound. */
    readonly bucketsUs: readonly number[];
    readonly counts: readonly number[];
  };
}

/** Topic `timer`: timer events and guest-time drift. */
export interface TimerSample extends SampleBase {
  readonly events: Figure;
  /** Guest time minus host time in µs (negative: the guest is behind). */
  readonly driftUs: number;
}

/** Read and write volume of one address space. */
export interface IoSpaceFigures {
  readonly readBytes: Figure;
  readonly writeBytes: Figure;
  readonly readOps: Figure;
  readonly writeOps: Figure;
  /** Accesses no device owns. */
  readonly unhandled: Figure;
}

/** Topic `io`: bytes and operations, port and MMIO. */
export interface IoSample extends SampleBase {
  readonly pio: IoSpaceFigures;
  readonly mmio: IoSpaceFigures;
  /** Bytes per second, both spaces, both directions. */
  readonly bytesPerSec: number;
}

/** Topic `vcpu`: run time and state. */
export interface VcpuSample extends SampleBase {
  readonly state: string;
  /** Run time in µs; `rate` is µs of run time per second. */
  readonly runUs: Figure;
  /** Share of the interval the vCPU spent in its run loop (0..1). */
  readonly utilisation: number;
  readonly stateChanges: number;
  readonly errors: number;
}

/** Topic `counters`: every counter by name, totals and per-interval deltas. */
export interface CountersSample extends SampleBase {
  readonly totals: Readonly<Record<string, number>>;
  readonly deltas: Readonly<Record<string, number>>;
}

/** One sample of every topic. */
export interface TelemetryFrame {
  readonly exits: ExitsSample;
  readonly ports: PortsSample;
  readonly hypercalls: HypercallsSample;
  readonly interrupts: InterruptsSample;
  readonly timer: TimerSample;
  readonly io: IoSample;
  readonly vcpu: VcpuSample;
  readonly counters: CountersSample;
}

/** Sampled topic names. */
export type SampledTopic = keyof TelemetryFrame;

/** Every sampled topic, in a fixed order. */
export const SAMPLED_TOPICS: readonly SampledTopic[] = ['exits', 'ports', 'hypercalls', 'interrupts', 'timer', 'io', 'vcpu', 'counters'];

/**
 * Samples `hub` every `intervalMs` into one {@link TelemetryFrame} and offers each topic as its
 * own Observable. The sampler runs while at least one topic has a subscriber (shared).
 */
export class TelemetryStreams {
  /** Every topic at once. */
  readonly frames: Observable<TelemetryFrame>;
  readonly exits: Observable<ExitsSample>;
  readonly ports: Observable<PortsSample>;
  readonly hypercalls: Observable<HypercallsSample>;
  readonly interrupts: Observable<InterruptsSample>;
  readonly timer: Observable<TimerSample>;
  readonly io: Observable<IoSample>;
  readonly vcpu: Observable<VcpuSample>;
  readonly counters: Observable<CountersSample>;
  /** Discrete events: state changes. */
  readonly states: Observable<Extract<TelemetryEvent, { type: 'state' }>>;
  /** Discrete events: errors. */
  readonly errors: Observable<Extract<TelemetryEvent, { type: 'error' }>>;

  constructor(private readonly hub: TelemetryHub, readonly intervalMs: number) {
    const { Observable, filter, map, share } = rxjs();
    this.frames = new Observable<TelemetryFrame>((subscriber) => {
      const framer = new FrameBuilder(hub);
      return hub.sample(intervalMs).subscribe({
        next: (s) => subscriber.next(framer.build(s.time, s.elapsedMs, s.totals, s.deltas)),
        error: (e) => subscriber.error(e),
        complete: () => subscriber.complete(),
      });
    }).pipe(share());
    this.exits = this.frames.pipe(map((f) => f.exits));
    this.ports = this.frames.pipe(map((f) => f.ports));
    this.hypercalls = this.frames.pipe(map((f) => f.hypercalls));
    this.interrupts = this.frames.pipe(map((f) => f.interrupts));
    this.timer = this.frames.pipe(map((f) => f.timer));
    this.io = this.frames.pipe(map((f) => f.io));
    this.vcpu = this.frames.pipe(map((f) => f.vcpu));
    this.counters = this.frames.pipe(map((f) => f.counters));
    this.states = hub.events.pipe(filter((e): e is Extract<TelemetryEvent, { type: 'state' }> => e.type === 'state'));
    this.errors = hub.events.pipe(filter((e): e is Extract<TelemetryEvent, { type: 'error' }> => e.type === 'error'));
  }
}

/** Turns counter snapshots into frames; keeps the previous per-port and per-hypercall totals. */
export class FrameBuilder {
  private readonly prevPorts = new Float64Array(0x10000);
  private readonly prevHypercalls = new Float64Array(HYPERCALL_SLOTS);
  private prevMmio = new Float64Array(0);
  private prevMmioUnowned = 0;
  private readonly portNames = new Map<number, string>();

  constructor(private readonly hub: TelemetryHub) {}

  /** Builds a frame from one sample of the hub's counters. */
  build(time: number, elapsedMs: number, totals: Readonly<Record<string, number>>, deltas: Readonly<Record<string, number>>): TelemetryFrame {
    const per = elapsedMs > 0 ? 1000 / elapsedMs : 0;
    const fig = (name: string): Figure => ({ total: totals[name] ?? 0, rate: (deltas[name] ?? 0) * per });
    const base = { time, intervalMs: elapsedMs };
    const names = this.hub.counters.list;

    const byKind: Record<string, Figure> = {};
    let exitTotal = 0, exitDelta = 0;
    for (let k = 0; k < EXIT_KIND_COUNT; k++) {
      const n = `exits.${EXIT_KIND_NAMES[k]}`;
      byKind[EXIT_KIND_NAMES[k]!] = fig(n);
      exitTotal += totals[n] ?? 0;
      exitDelta += deltas[n] ?? 0;
    }

    const probes = this.hub.probes;
    const ports: PortFigure[] = [];
    const byDevice: Record<string, { total: number; rate: number }> = {};
    const pe = probes.portExits;
    for (let p = 0; p < pe.length; p++) {
      const t = pe[p]!;
      if (t === 0) continue;
      const rate = (t - this.prevPorts[p]!) * per;
      this.prevPorts[p] = t;
      const device = this.deviceOf(p);
      ports.push({ port: p, device, total: t, rate });
      const d = (byDevice[device] ??= { total: 0, rate: 0 });
      d.total += t;
      d.rate += rate;
    }

    const mmioRanges: MmioFigure[] = [];
    const mmioByDevice: Record<string, { total: number; rate: number }> = {};
    const me = probes.mmioExits;
    if (this.prevMmio.length !== me.length) {
      const grown = new Float64Array(me.length);
      grown.set(this.prevMmio.subarray(0, Math.min(me.length, this.prevMmio.length)));
      this.prevMmio = grown;
    }
    const addMmio = (device: string, total: number, rate: number) => {
      const d = (mmioByDevice[device] ??= { total: 0, rate: 0 });
      d.total += total;
      d.rate += rate;
    };
    for (let i = 0; i < me.length; i++) {
      const t = me[i]!;
      if (t === 0) continue;
      const rate = (t - this.prevMmio[i]!) * per;
      this.prevMmio[i] = t;
      const range = probes.mmioRange(i);
      const device = range?.name ?? `mmio${i}`;
      mmioRanges.push({ device, base: range?.base ?? -1, length: range?.length ?? 0, total: t, rate });
      addMmio(device, t, rate);
    }
    if (probes.mmioUnownedExits > 0) {
      addMmio('unowned', probes.mmioUnownedExits, (probes.mmioUnownedExits - this.prevMmioUnowned) * per);
      this.prevMmioUnowned = probes.mmioUnownedExits;
    }

    const byNumber: (Figure & { nr: number })[] = [];
    const hc = probes.hypercallsByNr;
    for (let nr = 0; nr < hc.length; nr++) {
      const t = hc[nr]!;
      if (t === 0) continue;
      byNumber.push({ nr, total: t, rate: (t - this.prevHypercalls[nr]!) * per });
      this.prevHypercalls[nr] = t;
    }

    const s = probes.slots;
    const at = (slot: number) => names[slot]!.name;
    const latCount = totals[at(s.latencyCount)] ?? 0;
    const latSum = totals[at(s.latencySumUs)] ?? 0;
    const dCount = deltas[at(s.latencyCount)] ?? 0;
    const dSum = deltas[at(s.latencySumUs)] ?? 0;
    const counts: number[] = [];
    for (let i = 0; i <= LATENCY_BUCKETS_US.length; i++) counts.push(totals[at(s.latencyBucket0 + i)] ?? 0);

    const space = (rb: number, wb: number, ro: number, wo: number, un: number): IoSpaceFigures => ({
      readBytes: fig(at(rb)), writeBytes: fig(at(wb)), readOps: fig(at(ro)), writeOps: fig(at(wo)), unhandled: fig(at(un)),
    });
    const pio = space(s.pioReadBytes, s.pioWriteBytes, s.pioReadOps, s.pioWriteOps, CoreCounter.PioUnhandled);
    const mmio = space(s.mmioReadBytes, s.mmioWriteBytes, s.mmioReadOps, s.mmioWriteOps, CoreCounter.MmioUnhandled);
    const run = fig(at(s.vcpuRunUs));

    return {
      exits: { ...base, total: { total: exitTotal, rate: exitDelta * per }, byKind },
      ports: { ...base, ports, byDevice, mmio: mmioRanges, mmioByDevice },
      hypercalls: { ...base, total: fig(at(CoreCounter.Hypercalls)), errors: fig(at(CoreCounter.HypercallErrors)), byNumber },
      interrupts: {
        ...base,
        injected: fig(at(CoreCounter.InterruptsInjected)),
        dropped: fig(at(CoreCounter.InterruptsDropped)),
        latency: {
          count: dCount, meanUs: dCount > 0 ? dSum / dCount : 0,
          totalCount: latCount, totalMeanUs: latCount > 0 ? latSum / latCount : 0,
          bucketsUs: LATENCY_BUCKETS_US, counts,
        },
      },
      timer: { ...base, events: fig(at(s.timerEvents)), driftUs: totals[at(s.driftUs)] ?? 0 },
      io: {
        ...base, pio, mmio,
        bytesPerSec: pio.readBytes.rate + pio.writeBytes.rate + mmio.readBytes.rate + mmio.writeBytes.rate,
      },
      vcpu: {
        ...base, state: this.hub.state, runUs: run,
        utilisation: elapsedMs > 0 ? Math.min(1, (deltas[at(s.vcpuRunUs)] ?? 0) / (elapsedMs * 1000)) : 0,
        stateChanges: totals[at(s.vcpuStateChanges)] ?? 0,
        errors: totals[at(s.errors)] ?? 0,
      },
      counters: { ...base, totals, deltas },
    };
  }

  private deviceOf(port: number): string {
    const cached = this.portNames.get(port);
    if (cached !== undefined) return cached;
    const n = this.hub.portName(port);
    if (n === undefined) return 'unowned'; // maybe registered later: ask again next time
    this.portNames.set(port, n);
    return n;
  }
}
