import test from 'ava';
import { EvtchnOp, Hypercall, SharedInfo, Virq, type Clock } from '@hyvisor/core';
import { fakeMachine, type FakeMachine } from '../testing/fake-machine.js';
import { Rng } from '../testing/random.js';
import { EventChannelInterrupts } from '../facets/event-channel.js';
import { PvClockTimer } from '../facets/pvclock.js';
import { calibrate, pvclockTimeAt, readPvClock, timeScale, PVCLOCK_TSC_STABLE } from './pvclock.js';

const SHARED = 0x20000;
const VECTOR = 0xf0;

function setup(options: { tscKhz?: number; refreshMs?: number } = {}) {
  const m = fakeMachine({ tscKhz: options.tscKhz ?? 2_299_998 });
  const events = new EventChannelInterrupts();
  const timer = new PvClockTimer({ refreshMs: options.refreshMs ?? 1000 });
  events.attach(m.ctx);
  timer.attach(m.ctx);
  m.hypercall(Hypercall.REGISTER_SHARED_INFO, SHARED);
  m.hypercall(Hypercall.SET_CALLBACK, VECTOR);
  const port = m.hypercall(Hypercall.EVENT_CHANNEL_OP, EvtchnOp.BIND_VIRQ, Virq.TIMER);
  m.hypercall(Hypercall.EVENT_CHANNEL_OP, EvtchnOp.UNMASK, port);
  return { m, events, timer, port };
}

/** The guest's read: the record from shared memory, its own rdtsc. */
function guestNow(m: FakeMachine): bigint {
  const page = m.memory.slice(SHARED, 4096)!;
  const rec = readPvClock(page);
  return pvclockTimeAt(rec, m.vcpu.tsc!());
}

function timerPending(m: FakeMachine, port: number): boolean {
  return ((m.memory.u8(SHARED + SharedInfo.EVTCHN_PENDING + (port >> 3)) >> (port & 7)) & 1) === 1;
}

test('the time scale turns one second of ticks into one second of ns', (t) => {
  for (const hz of [1e6, 1e9, 2_299_998_000, 3.6e9, 5e9, 33_000_000]) {
    const { mul, shift } = timeScale(hz);
    t.true(mul > 0 && mul < 2 ** 32, `mul in 32 bits for ${hz}`);
    const ns = pvclockTimeAt({ tscTimestamp: 0n, systemTime: 0n, mul, shift }, BigInt(hz));
    t.true(Math.abs(Number(ns) - 1e9) <= 2, `${hz} Hz: ${ns}`);
  }
});

test('the time scale is the one Linux computes for 2.3 GHz', (t) => {
  // kvm_get_time_scale(NSEC_PER_SEC, 2299998000): shift -1, mul = 2^32 * 1e9 / 1149999000.
  const { mul, shift } = timeScale(2_299_998_000);
  t.is(shift, -1);
  t.is(mul, Math.floor((2 ** 32 * 1e9) / 1_149_999_000));
});

test('REGISTER_SHARED_INFO fills the pvclock record: even version, stable flag, system time 0 at the calibration', (t) => {
  const { m, timer } = setup();
  const rec = readPvClock(m.memory.slice(SHARED, 4096)!);
  t.is(rec.version % 2, 0);
  t.true(rec.version > 0);
  t.is(rec.flags & PVCLOCK_TSC_STABLE, PVCLOCK_TSC_STABLE);
  t.is(rec.tscTimestamp, timer.clock!.calibration.tsc);
  t.is(rec.systemTime, 0n);
});

test('pvclock reads back monotonic time through the guest formula', (t) => {
  const { m } = setup({ refreshMs: 5 });
  const rng = new Rng(0xc10c);
  let last = -1n;
  for (let i = 0; i < 2000; i++) {
    m.clock.advance(rng.below(3_000_000));
    if (rng.chance(0.3)) m.poll(); // the run loop's poll points refresh the record
    const now = guestNow(m);
    if (now < last) return t.fail(`time went back at step ${i}: ${last} → ${now}`);
    last = now;
  }
  t.pass();
});

test('pvclock time follows host time', (t) => {
  const { m, timer } = setup();
  const start = timer.clock!.calibration.hostNs;
  for (const elapsed of [1e3, 1e6, 1e9, 3600e9]) {
    m.clock.advanceTo(start + elapsed);
    m.poll();
    const err = Number(guestNow(m)) - elapsed;
    t.true(Math.abs(err) < 1000 + elapsed * 1e-6, `after ${elapsed} ns the guest reads ${err} ns off`);
  }
});

test('a refresh moves tsc_timestamp up, bumps the version by 2 and keeps time continuous', (t) => {
  const { m } = setup({ refreshMs: 1 });
  const before = readPvClock(m.memory.slice(SHARED, 4096)!);
  m.clock.advance(5e6);
  const oldFormula = pvclockTimeAt(before, m.vcpu.tsc!());
  m.poll();
  const after = readPvClock(m.memory.slice(SHARED, 4096)!);
  t.is(after.version, before.version + 2);
  t.true(after.tscTimestamp > before.tscTimestamp);
  const newFormula = guestNow(m);
  t.true(oldFormula - newFormula >= 0n && oldFormula - newFormula <= 2n, `${oldFormula} vs ${newFormula}`);
});

test('SET_TIMER_OP sends VIRQ_TIMER at the deadline', (t) => {
  const { m, events, port } = setup();
  const deadline = Number(guestNow(m)) + 5_000_000;
  t.is(m.hypercall(Hypercall.SET_TIMER_OP, deadline), 0);
  m.clock.advance(4_990_000);
  t.false(timerPending(m, port), 'not before');
  m.clock.advance(20_000);
  t.true(timerPending(m, port));
  t.true(Number(guestNow(m)) >= deadline);
  events.beforeRun(m.vcpu);
  t.deepEqual(m.vcpu.injected, [VECTOR]);
  t.is(m.counter('pv.timer.fired'), 1);
});

test('SET_TIMER_OP 0 cancels the timer', (t) => {
  const { m, port } = setup();
  m.hypercall(Hypercall.SET_TIMER_OP, Number(guestNow(m)) + 1_000_000);
  m.hypercall(Hypercall.SET_TIMER_OP, 0);
  m.clock.advance(10_000_000);
  t.false(timerPending(m, port));
});

test('a new SET_TIMER_OP replaces the armed one', (t) => {
  const { m, port } = setup();
  const now = Number(guestNow(m));
  m.hypercall(Hypercall.SET_TIMER_OP, now + 1_000_000);
  m.hypercall(Hypercall.SET_TIMER_OP, now + 3_000_000);
  m.clock.advance(2_000_000);
  t.false(timerPending(m, port));
  m.clock.advance(2_000_000);
  t.true(timerPending(m, port));
  t.is(m.counter('pv.timer.fired'), 1);
});

test('a deadline in the past fires at the next timer check', (t) => {
  const { m, port } = setup();
  m.clock.advance(1e9);
  m.hypercall(Hypercall.SET_TIMER_OP, 1);
  m.clock.advance(0);
  t.true(timerPending(m, port));
});

test('a stalled VMM delivers the timer late, and the guest clock is still right', (t) => {
  const { m, port, timer } = setup();
  const deadline = Number(guestNow(m)) + 1_000_000;
  m.hypercall(Hypercall.SET_TIMER_OP, deadline);
  const stallEnd = m.clock.time + 50_000_000;
  m.clock.stallUntil(stallEnd);
  t.true(timerPending(m, port), 'delivered once the VMM runs again');
  const elapsed = stallEnd - timer.clock!.calibration.hostNs;
  t.true(Math.abs(Number(guestNow(m)) - elapsed) < 1000, 'no time lost');
});

test('the timer never fires before the guest clock reaches the deadline', (t) => {
  // The guest's TSC runs 100 ppm slower than the rate the backend reported.
  const m = fakeMachine({ tscKhz: 2_000_000 });
  m.vcpu.tsc = () => BigInt(Math.floor(m.clock.time * 2 * (1 - 1e-4)));
  const events = new EventChannelInterrupts();
  const timer = new PvClockTimer();
  events.attach(m.ctx);
  timer.attach(m.ctx);
  m.hypercall(Hypercall.REGISTER_SHARED_INFO, SHARED);
  const port = m.hypercall(Hypercall.EVENT_CHANNEL_OP, EvtchnOp.BIND_VIRQ, Virq.TIMER);
  const deadline = Number(guestNow(m)) + 1e9;
  m.hypercall(Hypercall.SET_TIMER_OP, deadline);
  let firedAt = -1n;
  for (let i = 0; i < 20_000 && firedAt < 0n; i++) {
    m.clock.advance(100_000);
    if (timerPending(m, port)) firedAt = guestNow(m);
  }
  t.true(firedAt >= BigInt(deadline), `fired at guest time ${firedAt}, deadline ${deadline}`);
  t.true(timer.timer!.rearmed >= 1, 'the host timer came early and was re-armed');
});

test('a timer with no VIRQ_TIMER port bound is dropped and counted', (t) => {
  const m = fakeMachine();
  new EventChannelInterrupts().attach(m.ctx);
  new PvClockTimer().attach(m.ctx);
  m.hypercall(Hypercall.REGISTER_SHARED_INFO, SHARED);
  m.hypercall(Hypercall.SET_TIMER_OP, 1000);
  m.clock.advance(1e6);
  t.is(m.counter('pv.evtchn.dropped'), 1);
});

test('calibration measures the TSC rate when the backend does not give it', (t) => {
  const real: Clock = { now: () => performance.now() * 1e6, schedule: () => 0, cancel: () => {} };
  const tsc = { readTsc: () => BigInt(Math.floor(performance.now() * 1e6 * 3.1)) };
  const cal = calibrate(tsc, real, 0);
  t.true(cal.measuredRate);
  t.true(Math.abs(cal.tscKhz - 3_100_000) < 3_100_000 * 0.01, `measured ${cal.tscKhz} kHz`);
});

test('calibration keeps the tightest bracket', (t) => {
  let now = 0;
  const widths = [500, 40, 900, 300];
  let i = 0;
  const clock: Clock = { now: () => now, schedule: () => 0, cancel: () => {} };
  const tsc = { readTsc: () => { now += widths[i++ % widths.length]!; return BigInt(now); } };
  const cal = calibrate(tsc, clock, 1_000_000, 4);
  t.is(cal.uncertaintyNs, 20);
  t.false(cal.measuredRate);
});
