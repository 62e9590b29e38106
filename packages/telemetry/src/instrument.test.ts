import test from 'ava';
import { ProbeCounter, ServiceScope, TIMER_STATS, TelemetryHub, type MachineContext, type TimerStats } from '@hyvisor/core';
import { attachStandInProbes, type InstrumentableMachine } from './instrument.js';

/** Just what the stand-in reads, with the probes hooked (so it patches nothing) and `services` as given. */
function machine(services?: ServiceScope): InstrumentableMachine {
  const telemetry = new TelemetryHub();
  telemetry.probes.hooked = true;
  return {
    telemetry,
    dispatcher: { dispatch: () => 0 },
    vcpu: { run: () => { throw new Error('not run'); }, queueInterrupt: () => true, pendingInterrupts: 0 },
    pio: { find: () => undefined },
    strategy: { interrupt: {} },
    ...(services ? { services } : {}),
  };
}

test('timer events and drift come from the TIMER_STATS service, whatever facet provides it', (t) => {
  const services = new ServiceScope(() => ({}) as MachineContext);
  const stats: TimerStats & { events: number; lostTicks: number } = { events: 0, lostTicks: 0, periodNs: () => 10_000_000 };
  services.provide(TIMER_STATS, stats);
  const m = machine(services);
  attachStandInProbes(m);
  stats.events = 7;
  stats.lostTicks = 3;
  const snap = m.telemetry.counters.snapshot();
  t.is(snap[ProbeCounter.TimerEvents], 7);
  t.is(snap[ProbeCounter.DriftUs], -30_000);
});

test('without TIMER_STATS no timer figures are guessed', (t) => {
  const m = machine(new ServiceScope(() => ({}) as MachineContext));
  attachStandInProbes(m);
  t.is(m.telemetry.counters.snapshot()[ProbeCounter.TimerEvents] ?? 0, 0);
});
