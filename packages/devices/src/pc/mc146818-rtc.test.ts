import test from 'ava';
import type { IrqLine } from '@hyvisor/core';
import { ManualClock } from '@hyvisor/core/testing';
import { Mc146818Rtc } from './mc146818-rtc.js';

/** 2026-12-06 13:45:30.000 UTC, a Sunday. */
const SUNDAY = 1_796_564_730_000;
/** 2026-12-31 23:59:58.000 UTC, a Thursday. */
const NEW_YEARS_EVE = 1_798_761_598_000;
const MS = 1_000_000;

function rig(epochMs = SUNDAY) {
  const clock = new ManualClock(5_000 * MS); // the clock's zero is not the RTC's
  const events: string[] = [];
  const irq: IrqLine = { raise: () => events.push('raise'), lower: () => events.push('lower') };
  const rtc = new Mc146818Rtc(clock, irq, { epochMs });
  const get = (r: number) => { rtc.write(0, 1, r); return rtc.read(1, 1); };
  const set = (r: number, v: number) => { rtc.write(0, 1, r); rtc.write(1, 1, v); };
  const time = () => [0, 2, 4, 6, 7, 8, 9].map(get);
  return { clock, rtc, events, get, set, time };
}

test('after reset: BCD, 24 hours, A = 0x26, B = 0x02, C = 0, D = 0x80', (t) => {
  const { get, time } = rig();
  t.is(get(0x0a) & 0x7f, 0x26);
  t.is(get(0x0b), 0x02);
  t.is(get(0x0c), 0x00);
  t.is(get(0x0d), 0x80);
  // seconds, minutes, hours, day of week (Sunday = 1), date, month, year
  t.deepEqual(time(), [0x30, 0x45, 0x13, 0x01, 0x06, 0x12, 0x26]);
  t.is(get(0x32), 0x20, 'century byte');
});

test('binary mode (B.DM) reads the same time in binary', (t) => {
  const { set, time } = rig();
  set(0x0b, 0x06);
  t.deepEqual(time(), [30, 45, 13, 1, 6, 12, 26]);
});

test('12-hour mode: 1 PM reads 0x81, midnight 0x12, noon 0x92', (t) => {
  const pm = rig();
  pm.set(0x0b, 0x00);
  t.is(pm.get(0x04), 0x81);
  const midnight = rig(SUNDAY - 13 * 3_600_000);
  midnight.set(0x0b, 0x00);
  t.is(midnight.get(0x04), 0x12);
  const noon = rig(SUNDAY - 3_600_000);
  noon.set(0x0b, 0x00);
  t.is(noon.get(0x04), 0x92);
  noon.set(0x0b, 0x04); // binary, 12 hours: 12 | PM
  t.is(noon.get(0x04), 0x8c);
});

test('updates roll seconds over into a new year, Thursday into Friday', (t) => {
  const { clock, time } = rig(NEW_YEARS_EVE);
  t.deepEqual(time(), [0x58, 0x59, 0x23, 0x05, 0x31, 0x12, 0x26]);
  clock.advance(2_000 * MS);
  t.deepEqual(time(), [0x00, 0x00, 0x00, 0x06, 0x01, 0x01, 0x27]);
});

test('UIP reads 1 from 244 µs before an update until the 1984 µs update cycle ends', (t) => {
  const { clock, get } = rig(); // the RTC's second starts exactly at the clock's start
  const start = clock.time;
  const uipAt = (offsetNs: number) => { clock.advanceTo(start + offsetNs); return get(0x0a); };
  t.is(uipAt(0), 0xa6);
  t.is(uipAt(1_983_999), 0xa6);
  t.is(uipAt(1_984_000), 0x26);
  t.is(uipAt(999_755_999), 0x26);
  t.is(uipAt(999_756_000), 0xa6);
  t.is(uipAt(1_000_000_000), 0xa6);
});

test('SET stops updates, clears UIP and UIE; the time written then runs on from where it was set', (t) => {
  const { clock, get, set, time } = rig();
  set(0x0b, 0x92); // SET | UIE | 24h
  t.is(get(0x0b), 0x82, 'UIE cleared by SET');
  t.is(get(0x0a), 0x26, 'UIP clear while SET');
  clock.advance(5_000 * MS);
  t.is(get(0x00), 0x30, 'no updates while SET');
  set(0x00, 0x10); set(0x02, 0x05); set(0x04, 0x07); set(0x07, 0x24); set(0x08, 0x02); set(0x09, 0x30);
  set(0x0b, 0x02);
  t.deepEqual(time().filter((_, i) => i !== 3), [0x10, 0x05, 0x07, 0x24, 0x02, 0x30]);
  t.is(get(0x06), 0x01, 'day of week is its own counter: 2030-02-24 keeps the Sunday it had');
  clock.advance(1_000 * MS);
  t.is(get(0x00), 0x11);
});

test('a time register written while running keeps the update phase', (t) => {
  const { clock, get, set } = rig();
  clock.advance(300 * MS);
  set(0x00, 0x05);
  clock.advance(699 * MS);
  t.is(get(0x00), 0x05);
  clock.advance(1 * MS);
  t.is(get(0x00), 0x06);
});

test('update-ended interrupt: UF with IRQF at the end of the update cycle; reading C clears it and releases the line', (t) => {
  const { clock, events, get, set } = rig(SUNDAY + 500);
  set(0x0a, 0x20); // no periodic rate, so PF stays clear
  set(0x0b, 0x12); // UIE, 24h
  clock.advance(500 * MS + 1_983_999);
  t.deepEqual(events, []);
  clock.advance(1);
  t.deepEqual(events, ['raise']);
  t.is(get(0x0c), 0x90);
  t.deepEqual(events, ['raise', 'lower']);
  t.is(get(0x0c), 0x00);
  clock.advance(1_000 * MS);
  t.deepEqual(events, ['raise', 'lower', 'raise']);
});

test('periodic interrupt at the rate RS selects (RS = 15: 2 Hz), PF set even without PIE', (t) => {
  const { clock, events, get, set } = rig(SUNDAY + 100); // 100 ms into a second; ticks at 0 and 500 ms of each
  set(0x0a, 0x2f);
  clock.advance(399 * MS);
  t.is(get(0x0c), 0x00);
  clock.advance(1 * MS);
  t.is(get(0x0c), 0x40, 'PF alone');
  t.deepEqual(events, [], 'no interrupt without PIE');
  set(0x0b, 0x42); // PIE
  clock.advance(499 * MS);
  t.deepEqual(events, []);
  clock.advance(1 * MS);
  t.deepEqual(events, ['raise']);
  t.is(get(0x0c), 0xc0, 'IRQF | PF');
  t.deepEqual(events, ['raise', 'lower']);
});

test('RS = 6 is 1024 Hz and RS = 3 is 8192 Hz (32.768 kHz time base)', (t) => {
  const { clock, events, set, get } = rig();
  set(0x0a, 0x26); set(0x0b, 0x42);
  clock.advance(976_562);
  t.deepEqual(events, []);
  clock.advance(1);
  t.deepEqual(events, ['raise']);
  get(0x0c);
  set(0x0a, 0x23);
  const before = events.length;
  clock.advance(122_071); // the next 8192 Hz tick is at 1 ms - 976_563 + k × 122_070.3
  t.true(events.length > before);
});

test('alarm interrupt when the time matches the alarm; 0xC0 and above match any value', (t) => {
  const { clock, events, get, set } = rig();
  set(0x0a, 0x20); // no periodic rate
  set(0x01, 0x33); set(0x03, 0x45); set(0x05, 0x13);
  set(0x0b, 0x22); // AIE, 24h
  clock.advance(2_000 * MS + RTC_UPDATE);
  t.deepEqual(events, []);
  t.is(get(0x0c), 0x10, 'UF but no AF at 13:45:32');
  clock.advance(1_000 * MS);
  t.deepEqual(events, ['raise']);
  t.is(get(0x0c), 0xb0, 'IRQF | AF | UF at 13:45:33');
  set(0x01, 0xc0); set(0x03, 0xff); set(0x05, 0xc0);
  clock.advance(1_000 * MS);
  t.is(get(0x0c), 0xb0, 'every second with all fields "don\'t care"');
});
const RTC_UPDATE = 1_984_000;

test('divider reset (DV = 11x) stops the clock; the first update comes 500 ms after release', (t) => {
  const { clock, get, set } = rig();
  set(0x0a, 0x76);
  clock.advance(3_000 * MS);
  t.is(get(0x00), 0x30);
  set(0x0a, 0x26);
  clock.advance(499 * MS);
  t.is(get(0x00), 0x30);
  clock.advance(1 * MS);
  t.is(get(0x00), 0x31);
});

test('index bit 7 masks NMI; the index port reads 0xff; C and D ignore writes; CMOS RAM keeps bytes', (t) => {
  const { rtc, get, set } = rig();
  rtc.write(0, 1, 0x8d);
  t.true(rtc.nmiMasked);
  t.is(rtc.read(1, 1), 0x80, 'register D through a masked index');
  t.is(rtc.read(0, 1), 0xff);
  rtc.write(0, 1, 0x0d);
  t.false(rtc.nmiMasked);
  set(0x0d, 0x00); set(0x0c, 0xff);
  t.is(get(0x0d), 0x80);
  t.is(get(0x0c), 0x00);
  for (const r of [0x0e, 0x40, 0x7f]) set(r, r ^ 0xa5);
  t.deepEqual([0x0e, 0x40, 0x7f].map(get), [0x0e ^ 0xa5, 0x40 ^ 0xa5, 0x7f ^ 0xa5]);
});

test('hostile values in time registers never throw and the clock keeps running', (t) => {
  const { clock, get, set, rtc } = rig();
  for (const r of [0, 2, 4, 6, 7, 8, 9]) set(r, 0xff);
  clock.advance(1_000 * MS);
  t.true(Number.isFinite(rtc.timeMs()));
  t.true(get(0x00) <= 0x59);
});

test('two clocks fed the same virtual time read the same (deterministic backends)', (t) => {
  const a = rig(), b = rig();
  for (const step of [1, 333 * MS, 999 * MS, 5_000 * MS]) { a.clock.advance(step); b.clock.advance(step); }
  t.deepEqual(a.time(), b.time());
  t.deepEqual(a.time(), [0x36, 0x45, 0x13, 0x01, 0x06, 0x12, 0x26]);
});
