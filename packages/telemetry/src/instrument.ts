/**
 * Stand-in probes for a machine whose VMM does not call the hub's probes yet: wraps the
 * dispatcher, the vCPU's run and interrupt queue, the interrupt facet's `beforeRun` and the run
 * loop's slice from the outside. It costs a closure call per exit, so the real hooks (listed in
 * docs/telemetry-protocol.md, "Where the figures come from") replace it: once the machine sets
 * `telemetry.probes.hooked`, this does nothing (but the timer figures, which come from the
 * machine's `TIMER_STATS` service).
 * @module
 */
import { ExitKind, ProbeCounter, CoreCounter, TIMER_STATS, type Disposable, type ServiceToken, type TelemetryHub, type VmExit } from '@hyvisor/core';

/** What the stand-in touches (a vmm `Machine` has all of it). */
export interface InstrumentableMachine {
  readonly telemetry: TelemetryHub;
  readonly dispatcher: { dispatch(exit: VmExit): number };
  readonly vcpu: { run(): VmExit; queueInterrupt(vector: number): boolean; readonly pendingInterrupts: number };
  readonly pio: { find(port: number): { readonly name: string } | undefined };
  /** The MMIO bus (a vmm `Machine`'s): exits are counted per range. */
  readonly mmio?: {
    find(gpa: number): { readonly index: number } | undefined;
    range(index: number): { readonly name: string; readonly base: number; readonly length: number } | undefined;
  };
  readonly strategy: {
    readonly interrupt: { beforeRun?(vcpu: never): void; interruptPending?(): boolean };
  };
  /** The machine's services (a vmm `Machine`'s): timer figures come from `TIMER_STATS` there. */
  readonly services?: { find<T>(token: ServiceToken<T>): T | undefined };
}

type AnyFn = (...args: never[]) => unknown;

/** Installs the stand-in probes on `machine`; dispose to remove them. A no-op when the VMM calls the probes itself. */
export function attachStandInProbes(machine: InstrumentableMachine): Disposable {
  const hub = machine.telemetry;
  const probes = hub.probes;
  const restore: (() => void)[] = [];
  hub.portName = (port) => machine.pio.find(port)?.name;
  const mmioBus = machine.mmio;
  if (mmioBus) probes.mmioRange = (index) => mmioBus.range(index);
  // Timer events and drift from whatever timer facet provides TIMER_STATS (read at sample time).
  const stats = machine.services?.find(TIMER_STATS);
  if (stats) {
    const periodUs = () => {
      const ns = stats.periodNs();
      return Number.isFinite(ns) && ns > 0 ? ns / 1000 : 0;
    };
    hub.counters.defineSource(ProbeCounter.TimerEvents, 'timer events', () => stats.events);
    hub.counters.defineSource(ProbeCounter.DriftUs, 'guest time drift', () => -stats.lostTicks * periodUs(), { type: 'gauge', unit: 'us' });
  }
  if (probes.hooked) return { dispose: () => undefined };

  const patch = <T extends object, K extends keyof T>(obj: T, key: K, make: (orig: T[K]) => T[K]) => {
    const had = Object.prototype.hasOwnProperty.call(obj, key);
    const before = obj[key];
    const orig = typeof before === 'function' ? (before as AnyFn).bind(obj) as T[K] : before;
    (obj as Record<K, T[K]>)[key] = make(orig);
    restore.push(() => {
      if (had) (obj as Record<K, T[K]>)[key] = before;
      else delete (obj as Partial<Record<K, T[K]>>)[key];
    });
  };

  patch(machine.dispatcher, 'dispatch', (orig) => (exit: VmExit) => {
    if (exit.kind === ExitKind.Io) probes.pio(exit.port, exit.size, exit.count, exit.write);
    else if (exit.kind === ExitKind.Mmio) probes.mmio(exit.size, exit.write, mmioBus?.find(exit.gpa)?.index ?? -1);
    else if (exit.kind === ExitKind.Hypercall) probes.hypercall(exit.hypercall);
    return orig(exit);
  });
  const vcpu = machine.vcpu;
  patch(vcpu, 'run', (orig) => () => {
    const exit = orig();
    if (probes.inFlight) probes.afterRun(vcpu.pendingInterrupts);
    return exit;
  });
  patch(vcpu, 'queueInterrupt', (orig) => (vector: number) => {
    const ok = orig(vector);
    if (ok) probes.interruptInjected();
    else hub.counters.values[CoreCounter.InterruptsDropped]!++;
    return ok;
  });
  const facet = machine.strategy.interrupt;
  if (facet.beforeRun && facet.interruptPending) {
    const pending = facet.interruptPending.bind(facet);
    patch(facet, 'beforeRun', (orig) => ((v: never) => {
      if (pending()) probes.interruptRaised();
      orig!(v);
    }) as typeof orig);
  }
  const m = machine as unknown as { runSlice?: () => number };
  if (typeof m.runSlice === 'function') {
    patch(m, 'runSlice', (orig) => () => {
      probes.runStarted();
      try {
        return orig!();
      } finally {
        probes.runEnded();
      }
    });
  }
  return { dispose: () => { for (const r of restore.reverse()) r(); } };
}
