import test from 'ava';
import { firstValueFrom, take, toArray } from 'rxjs';
import { TelemetryHub, type CounterSample, type TelemetryEvent } from './hub.js';

test('samples give totals and per-interval deltas', async (t) => {
  const hub = new TelemetryHub();
  const slot = hub.counters.define('test.ticks', 'x');
  hub.counters.add(slot, 5);
  const samples: CounterSample[] = [];
  await new Promise<void>((resolve) => {
    const sub = hub.sample(5).subscribe((s) => {
      samples.push(s);
      if (samples.length === 1) hub.counters.add(slot, 3); // between sample 1 and 2
      if (samples.length === 3) {
        sub.unsubscribe();
        resolve();
      }
    });
  });
  t.deepEqual(samples.map((s) => s.totals['test.ticks']), [5, 8, 8]);
  t.deepEqual(samples.slice(1).map((s) => s.deltas['test.ticks']), [3, 0]);
  t.is(samples[0]!.elapsedMs, 0);
  t.true(samples[1]!.elapsedMs >= 1);
});

test('the first sample arrives at once', async (t) => {
  const hub = new TelemetryHub();
  const started = Date.now();
  await firstValueFrom(hub.sample(10_000));
  t.true(Date.now() - started < 5_000);
});

test('each subscriber gets its own deltas', async (t) => {
  const hub = new TelemetryHub();
  const slot = hub.counters.define('test.n', 'x');
  hub.counters.add(slot, 2);
  const first = await firstValueFrom(hub.sample(5).pipe(take(2), toArray()));
  hub.counters.add(slot, 1);
  const second = await firstValueFrom(hub.sample(5).pipe(take(1)));
  t.is(first[1]!.deltas['test.n'], 0);
  t.is(second.totals['test.n'], 3);
});

test('an interval under 1 ms is refused', (t) => {
  const hub = new TelemetryHub();
  t.throws(() => hub.sample(0), { instanceOf: RangeError });
  t.throws(() => hub.sample(NaN), { instanceOf: RangeError });
});

test('events reach subscribers until the hub completes', (t) => {
  const hub = new TelemetryHub();
  const seen: TelemetryEvent[] = [];
  let completed = false;
  hub.events.subscribe({ next: (e) => seen.push(e), complete: () => (completed = true) });
  hub.emit({ type: 'state', time: 1, state: 'running' });
  hub.complete();
  hub.emit({ type: 'info', time: 2, message: 'late' });
  t.deepEqual(seen, [{ type: 'state', time: 1, state: 'running' }]);
  t.true(completed);
});

test('probes time an interrupt from raise to the first run return with nothing pending', (t) => {
  const hub = new TelemetryHub();
  let now = 1000;
  hub.probes.now = () => now;
  hub.probes.interruptRaised();
  now += 0.03; // 30 µs
  hub.probes.interruptInjected();
  hub.probes.afterRun(1); // still queued: not delivered
  now += 0.02;
  hub.probes.afterRun(0);
  t.is(hub.counters.get('interrupts.injected'), 1);
  t.is(hub.counters.get('interrupts.latency.count'), 1);
  t.true(Math.abs(hub.counters.get('interrupts.latency.sum_us') - 50) < 1e-6);
  t.is(hub.counters.get('interrupts.latency.bucket.50'), 1);
});

test('port exits and I/O bytes are counted per port and direction', (t) => {
  const hub = new TelemetryHub();
  hub.probes.pio(0x3f8, 1, 1, true);
  hub.probes.pio(0x3f8, 1, 4, true);
  hub.probes.pio(0x1f0, 4, 128, false);
  t.is(hub.probes.portExits[0x3f8], 2);
  t.is(hub.counters.get('io.pio.write.bytes'), 5);
  t.is(hub.counters.get('io.pio.read.bytes'), 512);
  t.is(hub.counters.get('io.pio.read.ops'), 128);
});

test('typed streams give per-topic samples with device names and rates', async (t) => {
  const hub = new TelemetryHub();
  hub.portName = (p) => (p >= 0x3f8 && p < 0x400 ? 'com1' : undefined);
  hub.counters.defineSource('timer.drift_us', 'x', () => -42, { type: 'gauge' });
  const streams = hub.streams(5);
  const frames: import('./streams.js').TelemetryFrame[] = [];
  await new Promise<void>((resolve) => {
    const sub = streams.frames.subscribe((f) => {
      frames.push(f);
      if (frames.length === 1) { hub.probes.pio(0x3f8, 1, 1, true); hub.counters.values[0]!++; }
      if (frames.length === 2) { sub.unsubscribe(); resolve(); }
    });
  });
  const f = frames[1]!;
  t.is(f.exits.byKind.io!.total, 1);
  t.true(f.exits.byKind.io!.rate > 0);
  t.deepEqual(f.ports.ports.map((p) => [p.port, p.device, p.total]), [[0x3f8, 'com1', 1]]);
  t.is(f.ports.byDevice.com1!.total, 1);
  t.is(f.timer.driftUs, -42);
  t.is(f.io.pio.writeBytes.total, 1);
});

test('the ports topic breaks MMIO exits down per range and device, with rates', async (t) => {
  const hub = new TelemetryHub();
  const ranges = [{ name: 'lapic', base: 0xfee00000, length: 0x1000 }, { name: 'pool', base: 0x100000, length: 0x1000 }];
  hub.probes.mmioRange = (i) => ranges[i];
  hub.probes.mmio(4, true, 0);
  const frames: import('./streams.js').TelemetryFrame[] = [];
  await new Promise<void>((resolve) => {
    const sub = hub.streams(5).frames.subscribe((f) => {
      frames.push(f);
      if (frames.length === 1) { hub.probes.mmio(4, true, 0); hub.probes.mmio(4, false, 1); hub.probes.mmio(4, false, -1); }
      if (frames.length === 2) { sub.unsubscribe(); resolve(); }
    });
  });
  t.deepEqual(frames[0]!.ports.mmio.map((m) => [m.device, m.total, m.rate]), [['lapic', 1, 0]]);
  const f = frames[1]!.ports;
  t.deepEqual(f.mmio.map((m) => [m.device, m.base, m.length, m.total]), [['lapic', 0xfee00000, 0x1000, 2], ['pool', 0x100000, 0x1000, 1]]);
  t.true(f.mmio[0]!.rate > 0 && f.mmio[1]!.rate > 0);
  t.deepEqual(Object.keys(f.mmioByDevice), ['lapic', 'pool', 'unowned']);
  t.is(f.mmioByDevice.lapic!.total, 2);
  t.is(f.mmioByDevice.unowned!.total, 1);
  t.true(f.mmioByDevice.unowned!.rate > 0);
});

test('state and error events are counted', (t) => {
  const hub = new TelemetryHub();
  hub.emit({ type: 'state', time: 1, state: 'running' });
  hub.emit({ type: 'error', time: 2, message: 'boom' });
  t.is(hub.state, 'running');
  t.is(hub.counters.get('vcpu.state_changes'), 1);
  t.is(hub.counters.get('errors.total'), 1);
});
