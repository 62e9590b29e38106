/**
 * The telemetry hub: turns hot-path counters into rxjs streams by sampling, and carries the rare
 * discrete events (start, stop, error). Subscribers never run on the vCPU's exit path.
 * @module
 */
import type { Observable, Subject } from 'rxjs';
import { Counters } from './counters.js';
import { rxjs } from './rx.js';
import { TelemetryProbes } from './probes.js';
import { TelemetryStreams } from './streams.js';

// The probes and the typed streams are part of the hub's API (core's index exports this module).
export * from './probes.js';
export * from './streams.js';

/** One sample of every counter. */
export interface CounterSample {
  /** Milliseconds since the epoch when the sample was taken. */
  readonly time: number;
  /** Milliseconds since the previous sample (0 for the first). */
  readonly elapsedMs: number;
  /** Counter totals. */
  readonly totals: Readonly<Record<string, number>>;
  /** Change since the previous sample, per counter. */
  readonly deltas: Readonly<Record<string, number>>;
}

/** A rare event worth its own message. */
export type TelemetryEvent =
  | { readonly type: 'state'; readonly time: number; readonly state: string }
  | { readonly type: 'error'; readonly time: number; readonly message: string }
  | { readonly type: 'info'; readonly time: number; readonly message: string };

/** Per-VM telemetry: counters plus events. */
export class TelemetryHub {
  readonly counters = new Counters();
  /** Hot-path probes (per-port exits, I/O volume, interrupt latency, run time): see probes.ts. */
  readonly probes = new TelemetryProbes(this.counters);
  /**
   * Names the device that owns an I/O port (the machine sets it from its PIO bus), so port
   * figures can be shown per device. Not for the hot path.
   */
  portName: (port: number) => string | undefined = () => undefined;
  /** Made on the first subscription's request, so a run nobody watches never loads rxjs. */
  private eventSubject: Subject<TelemetryEvent> | undefined;
  private completed = false;
  private stateValue = 'created';

  /** The last state a `state` event reported (`created` before any). */
  get state(): string {
    return this.stateValue;
  }

  /** Discrete events, hot: subscribe before they happen. */
  get events(): Observable<TelemetryEvent> {
    if (this.eventSubject === undefined) {
      this.eventSubject = new (rxjs().Subject)<TelemetryEvent>();
      if (this.completed) this.eventSubject.complete();
    }
    return this.eventSubject.asObservable();
  }

  /** Publishes a discrete event. Not for the hot path. */
  emit(event: TelemetryEvent): void {
    if (event.type === 'state') {
      this.stateValue = event.state;
      this.counters.values[this.probes.slots.vcpuStateChanges]!++;
    } else if (event.type === 'error') {
      this.counters.values[this.probes.slots.errors]!++;
    }
    this.eventSubject?.next(event);
  }

  /**
   * Samples every counter each `intervalMs` (the first sample at once). Each subscriber gets its
   * own deltas; nothing runs while nobody subscribes.
   */
  sample(intervalMs: number): Observable<CounterSample> {
    if (!(intervalMs >= 1)) throw new RangeError(`telemetry interval must be at least 1 ms, got ${intervalMs}`);
    const { Observable, interval, map, startWith } = rxjs();
    return new Observable<CounterSample>((subscriber) => {
      let prev: Record<string, number> | undefined;
      let prevTime = 0;
      const sub = interval(intervalMs)
        .pipe(
          startWith(-1),
          map(() => {
            const now = Date.now();
            const totals = this.counters.snapshot();
            const deltas: Record<string, number> = {};
            for (const k of Object.keys(totals)) deltas[k] = totals[k]! - (prev?.[k] ?? 0);
            const s: CounterSample = { time: now, elapsedMs: prev ? now - prevTime : 0, totals, deltas };
            prev = totals;
            prevTime = now;
            return s;
          }),
        )
        .subscribe(subscriber);
      return () => sub.unsubscribe();
    });
  }

  /** Typed per-topic streams sampled every `intervalMs` (see {@link TelemetryStreams}). */
  streams(intervalMs: number): TelemetryStreams {
    if (!(intervalMs >= 1)) throw new RangeError(`telemetry interval must be at least 1 ms, got ${intervalMs}`);
    return new TelemetryStreams(this, intervalMs);
  }

  /** Ends the event stream. */
  complete(): void {
    this.completed = true;
    this.eventSubject?.complete();
  }
}
