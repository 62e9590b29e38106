import test from 'ava';
import { BenchCounter, BenchMarker } from './bench-counter.js';

function fakeClock(...times: bigint[]) {
  return () => times.shift() ?? 0n;
}

test('each write to the counting port adds one', (t) => {
  const b = new BenchCounter();
  for (let i = 0; i < 5; i++) b.write(0, 1, 0xff);
  t.is(b.count, 5);
});

test('the start marker resets the count and records the time', (t) => {
  const b = new BenchCounter(fakeClock(1000n));
  b.write(0, 1, 0);
  b.write(1, 1, BenchMarker.START);
  t.is(b.count, 0);
  t.is(b.startNs, 1000n);
});

test('usPerWrite divides the marked time by the writes between the markers', (t) => {
  const b = new BenchCounter(fakeClock(1_000n, 41_000n));
  b.write(1, 1, BenchMarker.START);
  for (let i = 0; i < 4; i++) b.write(0, 1, 0);
  b.write(1, 1, BenchMarker.END);
  b.write(0, 1, 0); // after the end marker: counted, but not part of the measurement
  t.is(b.endNs, 41_000n);
  t.is(b.count, 5);
  t.is(b.usPerWrite(), 10);
});

test('usPerWrite is NaN before the end marker', (t) => {
  const b = new BenchCounter(fakeClock(0n));
  b.write(1, 1, BenchMarker.START);
  b.write(0, 1, 0);
  t.true(Number.isNaN(b.usPerWrite()));
});

test('a marker value other than start or end is ignored', (t) => {
  const b = new BenchCounter(fakeClock(5n));
  b.write(0, 1, 0);
  b.write(1, 1, 3);
  t.is(b.count, 1);
  t.is(b.startNs, 0n);
});

test('the counting port reads back the count', (t) => {
  const b = new BenchCounter();
  b.write(0, 1, 0);
  b.write(0, 1, 0);
  t.is(b.read(0, 4), 2);
  t.is(b.read(1, 1), 0);
});

test('the default clock is the host monotonic clock', (t) => {
  const b = new BenchCounter();
  const before = process.hrtime.bigint();
  b.write(1, 1, BenchMarker.START);
  t.true(b.startNs >= before);
});
