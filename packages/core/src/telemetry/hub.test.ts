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
