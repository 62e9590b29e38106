/**
 * Hot-path telemetry: named counters in one Float64Array. Code on the exit path holds a slot
 * index and does `values[slot]++`; nothing allocates and nothing is emitted. The hub samples.
 * @module
 */
import { EXIT_KIND_COUNT, EXIT_KIND_NAMES } from '../exits/vm-exit.js';

/** `counter`: only grows (rates are its deltas); `gauge`: a level that can go up and down. */
export type CounterType = 'counter' | 'gauge';

/** A counter's description, for listings and the Prometheus exposition. */
export interface CounterInfo {
  readonly name: string;
  readonly help: string;
  readonly slot: number;
  /** `counter` unless defined with {@link Counters.defineGauge} or a gauge source. */
  readonly type: CounterType;
  /** Unit of the value (`bytes`, `us`, …), if it has one. */
  readonly unit?: string;
}

/** Options of {@link Counters.define}. */
export interface CounterOptions {
  readonly type?: CounterType;
  readonly unit?: string;
}

/** Slots of the counters every VM has. Exit kinds occupy slots 0..EXIT_KIND_COUNT-1. */
export const CoreCounter = {
  /** Port accesses no device owns. */
  PioUnhandled: EXIT_KIND_COUNT,
  /** MMIO accesses no device owns. */
  MmioUnhandled: EXIT_KIND_COUNT + 1,
  /** Interrupt vectors handed to the guest. */
  InterruptsInjected: EXIT_KIND_COUNT + 2,
  /** Interrupt vectors dropped because the queue was full. */
  InterruptsDropped: EXIT_KIND_COUNT + 3,
  /** Hypercalls made. */
  Hypercalls: EXIT_KIND_COUNT + 4,
  /** Hypercalls that returned an error to the guest. */
  HypercallErrors: EXIT_KIND_COUNT + 5,
} as const;

/** Named counters over a growable Float64Array. Define at set-up; bump on the hot path. */
export class Counters {
  private buf = new Float64Array(64);
  private readonly infos: CounterInfo[] = [];
  private readonly byName = new Map<string, number>();
  private readonly sources: { readonly slot: number; readonly read: () => number }[] = [];

  constructor() {
    for (let k = 0; k < EXIT_KIND_COUNT; k++) this.define(`exits.${EXIT_KIND_NAMES[k]}`, `vCPU exits of kind ${EXIT_KIND_NAMES[k]}`);
    this.define('pio.unhandled', 'port accesses that no device owns');
    this.define('mmio.unhandled', 'MMIO accesses that no device owns');
    this.define('interrupts.injected', 'interrupt vectors handed to the guest');
    this.define('interrupts.dropped', 'interrupt vectors dropped: queue full');
    this.define('hypercalls.total', 'hypercalls made by the guest');
    this.define('hypercalls.errors', 'hypercalls that returned an error to the guest');
  }

  /**
   * The live array. Hold it only briefly: {@link define} may replace it. Hot-path code should
   * call {@link add} or keep the array from after the last define (set-up is over by then).
   */
  get values(): Float64Array {
    return this.buf;
  }

  /** All counters in slot order. */
  get list(): readonly CounterInfo[] {
    return this.infos;
  }

  /** Defines (or finds) counter `name` and returns its slot. */
  define(name: string, help: string, options: CounterOptions = {}): number {
    const existing = this.byName.get(name);
    if (existing !== undefined) return existing;
    const slot = this.infos.length;
    if (slot >= this.buf.length) {
      const bigger = new Float64Array(this.buf.length * 2);
      bigger.set(this.buf);
      this.buf = bigger;
    }
    this.infos.push({ name, help, slot, type: options.type ?? 'counter', ...(options.unit !== undefined ? { unit: options.unit } : {}) });
    this.byName.set(name, slot);
    return slot;
  }

  /** Defines (or finds) gauge `name`: a level set with {@link set}, not a running total. */
  defineGauge(name: string, help: string, unit?: string): number {
    return this.define(name, help, { type: 'gauge', ...(unit !== undefined ? { unit } : {}) });
  }

  /**
   * Defines a counter or gauge whose value is read from `read` when a snapshot is taken, never on
   * the hot path: for figures a device already keeps (a PIT's delivered and lost ticks).
   */
  defineSource(name: string, help: string, read: () => number, options: CounterOptions = {}): number {
    const slot = this.define(name, help, options);
    this.sources.push({ slot, read });
    return slot;
  }

  /** Sets gauge `slot` to `value`. */
  set(slot: number, value: number): void {
    this.buf[slot] = value;
  }

  /** Reads every source into its slot (done by {@link snapshot}; call it before reading {@link values} directly). */
  refresh(): void {
    for (const s of this.sources) {
      try {
        const v = s.read();
        if (Number.isFinite(v)) this.buf[s.slot] = v;
      } catch {
        // A source that fails keeps its last value: telemetry must not take the VM down.
      }
    }
  }

  /** Slot of `name`, or undefined. */
  slotOf(name: string): number | undefined {
    return this.byName.get(name);
  }

  /** Adds `n` (default 1) to the counter in `slot`. */
  add(slot: number, n = 1): void {
    this.buf[slot]! += n;
  }

  /** Current value of counter `name` (0 if unknown). */
  get(name: string): number {
    const s = this.byName.get(name);
    return s === undefined ? 0 : this.buf[s]!;
  }

  /** A copy of every counter by name. Not for the hot path. */
  snapshot(): Record<string, number> {
    if (this.sources.length > 0) this.refresh();
    const out: Record<string, number> = {};
    for (const c of this.infos) out[c.name] = this.buf[c.slot]!;
    return out;
  }
}
