/**
 * Hot-path probes: the few calls the run loop, the dispatcher and the interrupt facets make so the
 * hub can show per-port exits, I/O volume, hypercalls by number, interrupt latency, timer events
 * and vCPU run time. Every probe is a typed-array increment or a timestamp; nothing allocates,
 * nothing is emitted. The hub samples.
 * @module
 */
import { CoreCounter, type Counters } from './counters.js';

/** Upper bounds (µs) of the interrupt-latency histogram buckets; a last bucket takes the rest. */
export const LATENCY_BUCKETS_US: readonly number[] = [5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000];

/** Number of hypercall numbers counted one by one (the hypercall table's range, 0..255). */
export const HYPERCALL_SLOTS = 256;

/** Initial size of the per-MMIO-range exit table (it grows, rarely, if more ranges exit). */
export const MMIO_RANGE_SLOTS = 64;

/** What the probes need to know of an MMIO range to name its figures (an `MmioRange` fits). */
export interface MmioRangeInfo {
  readonly name: string;
  readonly base: number;
  readonly length: number;
}

/** Counter names the probes define (the Prometheus exposition and the streams read them). */
export const ProbeCounter = {
  PioReadBytes: 'io.pio.read.bytes',
  PioWriteBytes: 'io.pio.write.bytes',
  PioReadOps: 'io.pio.read.ops',
  PioWriteOps: 'io.pio.write.ops',
  MmioReadBytes: 'io.mmio.read.bytes',
  MmioWriteBytes: 'io.mmio.write.bytes',
  MmioReadOps: 'io.mmio.read.ops',
  MmioWriteOps: 'io.mmio.write.ops',
  LatencyCount: 'interrupts.latency.count',
  LatencySumUs: 'interrupts.latency.sum_us',
  TimerEvents: 'timer.events',
  DriftUs: 'timer.drift_us',
  VcpuRunUs: 'vcpu.run_us',
  VcpuStateChanges: 'vcpu.state_changes',
  Errors: 'errors.total',
} as const;

/** Name of the latency bucket counter `i` (`interrupts.latency.bucket.<le>` or `.inf`). */
export function latencyBucketName(i: number): string {
  return `interrupts.latency.bucket.${i < LATENCY_BUCKETS_US.length ? LATENCY_BUCKETS_US[i] : 'inf'}`;
}

/** Slots of the probes' counters. */
export interface ProbeSlots {
  readonly pioReadBytes: number;
  readonly pioWriteBytes: number;
  readonly pioReadOps: number;
  readonly pioWriteOps: number;
  readonly mmioReadBytes: number;
  readonly mmioWriteBytes: number;
  readonly mmioReadOps: number;
  readonly mmioWriteOps: number;
  readonly latencyCount: number;
  readonly latencySumUs: number;
  /** First of LATENCY_BUCKETS_US.length + 1 consecutive bucket slots. */
  readonly latencyBucket0: number;
  readonly timerEvents: number;
  readonly driftUs: number;
  readonly vcpuRunUs: number;
  readonly vcpuStateChanges: number;
  readonly errors: number;
}

/**
 * The hot-path probes of one VM. The VMM calls them; see docs/telemetry-protocol.md ("Where the
 * figures come from") for who calls which.
 *
 * Interrupt latency is the time from an interrupt being raised (a device line asserted, or the
 * facet noticing it pending) to its delivery: the first return from the vCPU's run after the
 * vector was queued with the vector taken (nothing left pending), or the guest's acknowledgement,
 * whichever the facet reports first. One interrupt is timed at a time; those raised while one is
 * in flight are counted as injected but not timed.
 */
export class TelemetryProbes {
  /** Exits per I/O port (index = port): `portExits[exit.port]++` in the dispatcher. */
  readonly portExits = new Float64Array(0x10000);
  /** Hypercalls per number (0..255). */
  readonly hypercallsByNr = new Float64Array(HYPERCALL_SLOTS);
  /**
   * Exits per MMIO range (index = `MmioRange.index`, registration order). Replaced by a larger
   * copy if a range beyond it exits: read the field afresh rather than keeping the array.
   */
  mmioExits = new Float64Array(MMIO_RANGE_SLOTS);
  /** MMIO exits to addresses no range owns. */
  mmioUnownedExits = 0;
  /**
   * The MMIO range of an index (the dispatcher sets it from its bus), so MMIO figures can be
   * shown per device. Not for the hot path.
   */
  mmioRange: (index: number) => MmioRangeInfo | undefined = () => undefined;
  readonly slots: ProbeSlots;
  /**
   * True once the VMM calls these probes itself. Stand-in instrumentation (which wraps a
   * machine's methods from the outside) does nothing when it is set.
   */
  hooked = false;
  /** Clock in ms (fractional), replaceable in tests. */
  now: () => number = () => performance.now();

  private raisedAt = -1;
  private timedFrom = -1;
  private awaiting = false;
  private runStartedAt = -1;

  constructor(private readonly counters: Counters) {
    const d = (name: string, help: string, unit?: string) => counters.define(name, help, unit !== undefined ? { unit } : {});
    const bucket0 = d(latencyBucketName(0), `interrupt latencies up to ${LATENCY_BUCKETS_US[0]} µs`);
    for (let i = 1; i <= LATENCY_BUCKETS_US.length; i++) {
      d(latencyBucketName(i), i < LATENCY_BUCKETS_US.length ? `interrupt latencies in (${LATENCY_BUCKETS_US[i - 1]}, ${LATENCY_BUCKETS_US[i]}] µs` : `interrupt latencies over ${LATENCY_BUCKETS_US[i - 1]} µs`);
    }
    this.slots = {
      latencyBucket0: bucket0,
      pioReadBytes: d(ProbeCounter.PioReadBytes, 'bytes the guest read from I/O ports', 'bytes'),
      pioWriteBytes: d(ProbeCounter.PioWriteBytes, 'bytes the guest wrote to I/O ports', 'bytes'),
      pioReadOps: d(ProbeCounter.PioReadOps, 'port reads (each element of a string instruction counts)'),
      pioWriteOps: d(ProbeCounter.PioWriteOps, 'port writes (each element of a string instruction counts)'),
      mmioReadBytes: d(ProbeCounter.MmioReadBytes, 'bytes the guest read through MMIO exits', 'bytes'),
      mmioWriteBytes: d(ProbeCounter.MmioWriteBytes, 'bytes the guest wrote through MMIO exits', 'bytes'),
      mmioReadOps: d(ProbeCounter.MmioReadOps, 'MMIO reads that exited'),
      mmioWriteOps: d(ProbeCounter.MmioWriteOps, 'MMIO writes that exited'),
      latencyCount: d(ProbeCounter.LatencyCount, 'interrupts whose latency (raised to delivered) was timed'),
      latencySumUs: d(ProbeCounter.LatencySumUs, 'sum of timed interrupt latencies', 'us'),
      timerEvents: d(ProbeCounter.TimerEvents, 'timer events: emulated timer interrupts raised or host timer callbacks run'),
      driftUs: counters.defineGauge(ProbeCounter.DriftUs, 'guest time minus host time since the guest timer started (negative: the guest is behind)', 'us'),
      vcpuRunUs: d(ProbeCounter.VcpuRunUs, 'host time the vCPU spent in its run loop (inside and between KVM_RUN calls of a slice)', 'us'),
      vcpuStateChanges: d(ProbeCounter.VcpuStateChanges, 'vCPU/machine state changes (running, paused, stopped)'),
      errors: d(ProbeCounter.Errors, 'errors reported by the VMM (guest crashes, backend failures)'),
    };
  }

  /** True while an injected interrupt waits for delivery (the run loop may skip {@link afterRun} otherwise). */
  get inFlight(): boolean {
    return this.awaiting;
  }

  /** Dispatcher, port I/O exit (hot path): one access of `size` bytes repeated `count` times. */
  pio(port: number, size: number, count: number, write: boolean): void {
    const v = this.counters.values;
    this.portExits[port]!++;
    const s = this.slots;
    if (write) {
      v[s.pioWriteOps]! += count;
      v[s.pioWriteBytes]! += size * count;
    } else {
      v[s.pioReadOps]! += count;
      v[s.pioReadBytes]! += size * count;
    }
  }

  /**
   * Dispatcher, MMIO exit (hot path): one access of `size` bytes to the range with index `range`
   * (`MmioRange.index`; -1: no range owns the address).
   */
  mmio(size: number, write: boolean, range: number): void {
    const v = this.counters.values;
    const s = this.slots;
    if (range < 0) this.mmioUnownedExits++;
    else if (range < this.mmioExits.length) this.mmioExits[range]!++;
    else this.growMmioExits(range)[range]!++;
    if (write) {
      v[s.mmioWriteOps]!++;
      v[s.mmioWriteBytes]! += size;
    } else {
      v[s.mmioReadOps]!++;
      v[s.mmioReadBytes]! += size;
    }
  }

  /** Makes room for range `index` (once per doubling, not per exit). */
  private growMmioExits(index: number): Float64Array {
    let n = this.mmioExits.length * 2;
    while (n <= index) n *= 2;
    const grown = new Float64Array(n);
    grown.set(this.mmioExits);
    this.mmioExits = grown;
    return grown;
  }

  /** Hypercall table, before the handler runs (hot path). */
  hypercall(nr: number): void {
    this.hypercallsByNr[nr & 0xff]!++;
  }

  /** An interrupt was raised (device line asserted, in-kernel GSI raised). Starts the clock if none runs. */
  interruptRaised(): void {
    if (this.raisedAt < 0 && !this.awaiting) this.raisedAt = this.now();
  }

  /** A vector was handed to the vCPU (queued for injection). Counts it; the delivery stops the clock. */
  interruptInjected(): void {
    this.counters.values[CoreCounter.InterruptsInjected]!++;
    if (this.awaiting) return;
    this.timedFrom = this.raisedAt >= 0 ? this.raisedAt : this.now();
    this.raisedAt = -1;
    this.awaiting = true;
  }

  /**
   * Run loop, after every return from the vCPU's run (hot path: one field test when nothing is in
   * flight). `pendingInterrupts` is the vCPU's count of queued vectors not yet taken.
   */
  afterRun(pendingInterrupts: number): void {
    if (this.awaiting && pendingInterrupts === 0) this.interruptDelivered();
  }

  /**
   * The interrupt in flight reached the guest (the vector was taken, or the guest acknowledged it:
   * INTA/EOI for in-kernel controllers). Records its latency.
   */
  interruptDelivered(): void {
    let from: number;
    if (this.awaiting) from = this.timedFrom;
    else if (this.raisedAt >= 0) from = this.raisedAt; // delivered by the backend itself (in-kernel irqchip)
    else return;
    this.awaiting = false;
    this.raisedAt = -1;
    this.recordLatency((this.now() - from) * 1000);
  }

  /** Records one interrupt latency in µs. */
  recordLatency(us: number): void {
    const v = this.counters.values;
    const s = this.slots;
    v[s.latencyCount]!++;
    v[s.latencySumUs]! += us;
    let i = 0;
    while (i < LATENCY_BUCKETS_US.length && us > LATENCY_BUCKETS_US[i]!) i++;
    v[s.latencyBucket0 + i]!++;
  }

  /** A timer event fired (an emulated timer raised its interrupt, a host timer callback ran). */
  timerEvent(): void {
    this.counters.values[this.slots.timerEvents]!++;
  }

  /** Sets the guest-time drift: guest time minus host time, in µs. */
  setDrift(us: number): void {
    this.counters.values[this.slots.driftUs] = us;
  }

  /** Run loop, as a slice starts. */
  runStarted(): void {
    this.runStartedAt = this.now();
  }

  /** Run loop, as a slice ends: adds the slice's duration to the vCPU's run time. */
  runEnded(): void {
    if (this.runStartedAt < 0) return;
    this.counters.values[this.slots.vcpuRunUs]! += (this.now() - this.runStartedAt) * 1000;
    this.runStartedAt = -1;
  }
}
