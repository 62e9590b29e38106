import test from 'ava';
import { STALL_MAX_MS, StallDevice, blockingSleep } from './stall.js';

function setup() {
  const slept: number[] = [];
  const d = new StallDevice((ms) => slept.push(ms));
  return { d, slept };
}

test('a write of N sleeps N milliseconds and counts the stall', (t) => {
  const { d, slept } = setup();
  d.write(0, 4, 25);
  t.deepEqual(slept, [25]);
  t.is(d.stalls, 1);
  t.is(d.totalMs, 25);
});

test('a stall longer than the cap is clamped to it', (t) => {
  const { d, slept } = setup();
  d.write(0, 4, 5000);
  t.deepEqual(slept, [STALL_MAX_MS]);
  t.is(d.totalMs, STALL_MAX_MS);
  t.is(d.clamped, 1);
});

test('a write of 0 does not stall', (t) => {
  const { d, slept } = setup();
  d.write(0, 4, 0);
  t.deepEqual(slept, []);
  t.is(d.stalls, 0);
});

test('the value is masked to the access size', (t) => {
  const { d, slept } = setup();
  d.write(0, 1, 0x105);
  t.deepEqual(slept, [5]);
});

test('writes to the other ports are ignored', (t) => {
  const { d, slept } = setup();
  d.write(2, 4, 10);
  t.deepEqual(slept, []);
});

test('a read of offset 0 returns the number of stalls', (t) => {
  const { d } = setup();
  d.write(0, 4, 1);
  d.write(0, 4, 1);
  t.is(d.read(0, 4), 2);
  t.is(d.read(1, 4), 0);
});

test('the default sleep blocks the thread for about the time asked', (t) => {
  const before = process.hrtime.bigint();
  blockingSleep(5);
  const elapsedMs = Number(process.hrtime.bigint() - before) / 1e6;
  t.true(elapsedMs >= 4, `slept ${elapsedMs} ms`);
});
