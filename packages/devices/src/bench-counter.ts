/**
 * The benchmark port: the cheapest possible device, so a guest looping on `out` measures the
 * cost of a port exit and nothing else.
 * @module
 */
import { DeviceStateError, checkStateRecord, stateBool, stateInt, type DeviceState, type PioDevice, type StatefulDevice } from '@hyvisor/core';

/** Values the guest writes to the marker port (offset 1). */
export const BenchMarker = {
  /** Start: record the time and reset the count. */
  START: 1,
  /** End: record the time and the count so far. */
  END: 2,
} as const;

/** The bench counter's state record (version 1). Clock readings are decimal strings (JSON has no BigInt). */
export interface BenchCounterState extends DeviceState {
  readonly version: 1;
  readonly count: number;
  readonly countAtEnd: number;
  readonly startNs: string;
  readonly endNs: string;
  readonly started: boolean;
  readonly ended: boolean;
}

/**
 * Counts writes to its first port (at `Ports.BENCH`) and timestamps the start and end markers
 * written to its second. The counting path is a field increment: no allocation, no call out.
 */
export class BenchCounter implements PioDevice, StatefulDevice<BenchCounterState> {
  /** Number of ports the device decodes: the counting port and the marker port. */
  static readonly PORT_COUNT = 2;

  /** Writes to the counting port since the last start marker (or since creation). */
  count = 0;
  /** Clock reading at the last start marker, in nanoseconds; 0n if none yet. */
  startNs = 0n;
  /** Clock reading at the last end marker, in nanoseconds; 0n if none since the last start. */
  endNs = 0n;
  /** {@link count} when the end marker was written. */
  countAtEnd = 0;
  /**
   * Called on every marker write (after the counter's own bookkeeping), e.g. so a benchmark can
   * snapshot the VM's exit counters exactly at the guest's start and end marks.
   */
  onMarker: ((value: number) => void) | undefined;
  private started = false;
  private ended = false;

  /** @param clock nanosecond clock; tests pass a fake one. */
  constructor(private readonly clock: () => bigint = () => process.hrtime.bigint()) {}

  /** Offset 0 reads the count (low 32 bits, so a guest can check it); offset 1 reads 0. */
  read(offset: number, size: number): number {
    if (offset !== 0) return 0;
    const c = this.count >>> 0;
    return size >= 4 ? c : c & ((1 << (size * 8)) - 1);
  }

  write(offset: number, _size: number, value: number): void {
    if (offset === 0) {
      this.count++;
    } else if (offset === 1) {
      if (value === BenchMarker.START) {
        this.count = 0;
        this.countAtEnd = 0;
        this.endNs = 0n;
        this.ended = false;
        this.started = true;
        this.startNs = this.clock();
      } else if (value === BenchMarker.END) {
        this.endNs = this.clock();
        this.ended = true;
        this.countAtEnd = this.count;
      }
      this.onMarker?.(value);
    }
  }

  /** Nanoseconds between the start and end markers; NaN until both have been written. */
  elapsedNs(): number {
    return !this.started || !this.ended ? NaN : Number(this.endNs - this.startNs);
  }

  /**
   * Microseconds per counted write between the markers (each write is one exit, so this is the
   * exit round-trip time); NaN until both markers were written with at least one write between.
   */
  usPerWrite(): number {
    return this.countAtEnd === 0 ? NaN : this.elapsedNs() / this.countAtEnd / 1000;
  }

  saveState(): BenchCounterState {
    return {
      version: 1, count: this.count, countAtEnd: this.countAtEnd,
      startNs: this.startNs.toString(), endNs: this.endNs.toString(), started: this.started, ended: this.ended,
    };
  }

  restoreState(state: BenchCounterState): void {
    const r = checkStateRecord('bench-counter', state, 1);
    const count = stateInt('bench-counter', r, 'count', 0, Number.MAX_SAFE_INTEGER);
    const countAtEnd = stateInt('bench-counter', r, 'countAtEnd', 0, Number.MAX_SAFE_INTEGER);
    const startNs = nanoseconds(r, 'startNs');
    const endNs = nanoseconds(r, 'endNs');
    const started = stateBool('bench-counter', r, 'started');
    const ended = stateBool('bench-counter', r, 'ended');
    this.count = count;
    this.countAtEnd = countAtEnd;
    this.startNs = startNs;
    this.endNs = endNs;
    this.started = started;
    this.ended = ended;
  }
}

function nanoseconds(r: Record<string, unknown>, key: string): bigint {
  const v = r[key];
  if (typeof v !== 'string' || !/^\d{1,20}$/.test(v)) throw new DeviceStateError('bench-counter', `${key}: expected a decimal string of nanoseconds, got ${JSON.stringify(v)}`);
  return BigInt(v);
}
