import test from 'ava';
import { STALL_BUDGET_MS, STALL_MAX_MS, STALL_WINDOW_MS, StallDevice, blockingSleep } from './stall.js';

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

/** A stall device on a fake clock that its fake sleep advances. */
function timed() {
  const clock = { now: 0 };
  const slept: number[] = [];
  const d = new StallDevice((ms) => { slept.push(ms); clock.now += ms; }, () => clock.now);
  return { d, slept, clock };
}

test('the stall budget: at most 250 ms of stall in any second, however the writes are spread', (t) => {
  const { d, slept, clock } = timed();
  for (let i = 0; i < 10; i++) {
    d.write(0, 4, 100);
    clock.now += 10; // the guest runs a little between writes
  }
  t.deepEqual(slept, [100, 100, 50]);
  t.is(d.totalMs, STALL_BUDGET_MS);
  t.is(d.clamped, 8, 'the write that got 50 and the seven that got nothing');
  t.is(d.stalls, 3);
});

test('the budget comes back as the window moves on', (t) => {
  const { d, slept, clock } = timed();
  d.write(0, 4, 250);
  d.write(0, 4, 10);
  t.deepEqual(slept, [250]);
  clock.now += STALL_WINDOW_MS - 250 + 100; // the first 100 ms of the stall are now outside the window
  d.write(0, 4, 250);
  t.deepEqual(slept, [250, 100]);
  clock.now += STALL_WINDOW_MS;
  d.write(0, 4, 50);
  t.deepEqual(slept, [250, 100, 50]);
});

test('the testbed time workload (3 × 50 ms back to back) fits the budget', (t) => {
  const { d, slept } = timed();
  for (let i = 0; i < 3; i++) d.write(0, 4, 50);
  t.deepEqual(slept, [50, 50, 50]);
  t.is(d.clamped, 0);
});

test('a stall counts in full even when the sleep returns early (no free budget from a fast clock)', (t) => {
  const slept: number[] = [];
  const d = new StallDevice((ms) => slept.push(ms), () => 0);
  d.write(0, 4, 200);
  d.write(0, 4, 200);
  t.deepEqual(slept, [200, 50]);
  t.is(d.budgetUsed(), 250);
});
