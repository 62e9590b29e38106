import test from 'ava';
import { TimerQueue, type IrqLine } from '@hyvisor/core';
import { ManualClock as FakeClock } from '@hyvisor/core/testing';
import { Pit8254 } from './pit8254.js';

// Values from the Intel 8254 datasheet (control word, read-back status byte) and the PC/AT
// technical reference (the 1.193182 MHz input clock, port 0x61). Literals on purpose, not imported
// from the model: a wrong constant in the model must make these tests fail.
/** One input clock of the PC's PIT (14.31818 MHz / 12), in ns. */
const PIT_TICK_NS = 1e9 / 1_193_182;
/** A1 A0: counters 0-2 at 0-2, the control word register at 3. */
const PitReg = { CONTROL: 3 } as const;
/** Read-back status byte: D7 OUTPUT, D6 NULL COUNT. */
const PitStatus = { OUTPUT: 0x80, NULL_COUNT: 0x40 } as const;
/** Port 0x61: bit 0 timer 2 gate, bit 1 speaker data, bit 4 refresh toggle, bit 5 timer 2 output. */
const PortB = { GATE2: 0x01, SPEAKER: 0x02, REFRESH: 0x10, OUT2: 0x20 } as const;

/** Records the line's level and its rising edges (with their times). */
class RecordingIrq implements IrqLine {
  level = false;
  readonly rises: number[] = [];
  constructor(private readonly clock: FakeClock) {}
  raise(): void {
    if (!this.level) this.rises.push(this.clock.time);
    this.level = true;
  }
  lower(): void {
    this.level = false;
  }
}

function setup(options: ConstructorParameters<typeof Pit8254>[2] = {}) {
  const clock = new FakeClock(0);
  const irq = new RecordingIrq(clock);
  const pit = new Pit8254(clock, irq, { minPeriodNs: 0, ...options });
  const control = (v: number) => pit.write(PitReg.CONTROL, 1, v);
  const out = (ch: number, v: number) => pit.write(ch, 1, v);
  const inb = (ch: number) => pit.read(ch, 1);
  /** Programs channel `ch` in `mode` with access lobyte/hibyte and `count`. */
  const program = (ch: number, mode: number, count: number) => {
    control((ch << 6) | 0x30 | (mode << 1));
    out(ch, count & 0xff);
    out(ch, (count >>> 8) & 0xff);
  };
  const readCount = (ch: number) => {
    control(ch << 6); // latch
    return inb(ch) | (inb(ch) << 8);
  };
  return { clock, irq, pit, control, out, inb, program, readCount };
}

/** ns for `ticks` PIT input clocks, rounded up to the event time the PIT schedules. */
const ns = (ticks: number) => Math.ceil(ticks * PIT_TICK_NS);

test('PIT mode 2 raises IRQ0 once per period', (t) => {
  const { clock, irq, pit, program } = setup();
  program(0, 2, 1193); // ≈ 1 ms
  clock.advanceTo(ns(1193 * 5) + 10);
  t.deepEqual(irq.rises, [1, 2, 3, 4, 5].map((k) => ns(1193 * k)));
  t.is(pit.ticks, 5);
  t.is(pit.lostTicks, 0);
});

test('every period is a new rising edge on IRQ0', (t) => {
  const clock = new FakeClock(0);
  const levels: string[] = [];
  const p = new Pit8254(clock, { raise: () => levels.push('raise'), lower: () => levels.push('lower') }, { minPeriodNs: 0 });
  p.write(PitReg.CONTROL, 1, 0x34);
  p.write(0, 1, 100);
  p.write(0, 1, 0);
  clock.advanceTo(ns(300) + 1);
  t.deepEqual(levels, ['raise', 'lower', 'raise', 'lower', 'raise']);
});

test('PIT mode 3 raises IRQ0 once per period', (t) => {
  const { clock, irq, program } = setup();
  program(0, 3, 11932); // ≈ 10 ms
  clock.advanceTo(ns(11932 * 3) + 1);
  t.is(irq.rises.length, 3);
});

test('a late clock callback delivers one interrupt and counts the lost ticks', (t) => {
  const { clock, irq, pit, program } = setup();
  program(0, 2, 1193);
  clock.advanceTo(ns(1193) + 1);
  t.is(pit.ticks, 1);
  clock.stallUntil(ns(1193 * 6) + 100); // the VMM was held for five periods
  t.is(pit.ticks, 2, 'one interrupt for the late periods');
  t.is(pit.lostTicks, 4);
  t.is(irq.rises.length, 2);
});

test('after a late callback the next edge keeps the period phase', (t) => {
  const { clock, irq, program } = setup();
  program(0, 2, 1193);
  clock.stallUntil(ns(1193 * 3.5));
  clock.advanceTo(ns(1193 * 4) + 1);
  t.deepEqual(irq.rises, [ns(1193 * 3.5), ns(1193 * 4)]);
});

test('a rate faster than the minimum period is rate-limited and counted as lost', (t) => {
  const { clock, pit, program } = setup({ minPeriodNs: 100_000 });
  program(0, 2, 12); // ≈ 10 µs
  clock.advanceTo(1_000_000); // edges at ≈10 µs, then every 100 µs until ≈910 µs
  t.is(pit.ticks, 10);
  t.is(pit.ticks + pit.lostTicks, 90, 'every ≈10 µs period up to the last edge is accounted for');
});

test('count 0 means 65536', (t) => {
  const { clock, irq, program } = setup();
  program(0, 2, 0);
  clock.advanceTo(ns(65536) - 1);
  t.is(irq.rises.length, 0);
  clock.advanceTo(ns(65536));
  t.is(irq.rises.length, 1);
});

test('mode 0 raises IRQ0 at terminal count and holds it', (t) => {
  const { clock, irq, program } = setup();
  program(0, 0, 1000);
  t.false(irq.level);
  clock.advanceTo(ns(1000) - 1);
  t.false(irq.level);
  clock.advanceTo(ns(1000));
  t.true(irq.level);
  clock.advanceTo(ns(5000));
  t.deepEqual(irq.rises, [ns(1000)], 'no further edges');
});

test('a mode 0 control word lowers the output', (t) => {
  const { clock, irq, control, program } = setup();
  program(0, 0, 10);
  clock.advanceTo(ns(20));
  t.true(irq.level);
  control(0x30);
  t.false(irq.level);
});

test('mode 0: writing the low byte of a lo/hi count stops counting until the high byte', (t) => {
  // 8254 datasheet, mode 0: "writing the first byte disables counting … writing the second byte
  // allows the new count to be loaded on the next CLK pulse".
  const { clock, irq, out, program, readCount } = setup();
  program(0, 0, 1000);
  clock.advanceTo(ns(400));
  out(0, 0x00); // low byte of 0x0200
  const held = readCount(0);
  t.is(held, 600);
  clock.advanceTo(ns(5000));
  t.is(readCount(0), held, 'the counter holds its value');
  t.deepEqual(irq.rises, [], 'the old count never reaches terminal count');
  const loadAt = clock.now();
  out(0, 0x02); // high byte: count 0x200 = 512 starts
  clock.advanceTo(loadAt + 512 * PIT_TICK_NS - 1);
  t.deepEqual(irq.rises, []);
  clock.advanceTo(loadAt + 512 * PIT_TICK_NS + 1);
  t.is(irq.rises.length, 1);
});

test('mode 0 on channel 2: the low byte alone freezes the count', (t) => {
  const { clock, out, pit, program, readCount } = setup();
  pit.portB.write(0, 1, PortB.GATE2);
  program(2, 0, 0x1000);
  clock.advanceTo(Math.ceil(0x100 * PIT_TICK_NS));
  out(2, 0x34);
  clock.advanceTo(Math.ceil(0x800 * PIT_TICK_NS));
  t.is(readCount(2), 0x0f00);
});

test('control-word modes 6 and 7 are modes 2 and 3 (M2 is "don\'t care" for them)', (t) => {
  // 8254 control word: M2 M1 M0 = X10 is mode 2, X11 is mode 3.
  const six = setup();
  six.program(0, 6, 1193);
  six.clock.advanceTo(ns(1193 * 3) + 1);
  t.is(six.irq.rises.length, 3, 'mode 6 is periodic like mode 2');
  six.clock.advanceTo(ns(1193 * 3) + Math.ceil(100 * PIT_TICK_NS));
  t.is(six.readCount(0), 1093, 'mode 6 reloads like mode 2');

  const seven = setup();
  seven.program(0, 7, 1000);
  seven.clock.advanceTo(Math.ceil(100 * PIT_TICK_NS));
  t.is(seven.readCount(0), 800, 'mode 7 counts down by two like mode 3');
  seven.clock.advanceTo(ns(1000 * 3) + 1);
  t.is(seven.irq.rises.length, 3, 'mode 7 is periodic like mode 3');
});

test('mode 4 pulses IRQ0 once at terminal count', (t) => {
  const { clock, irq, program } = setup();
  program(0, 4, 500);
  clock.advanceTo(ns(10_000));
  t.deepEqual(irq.rises, [ns(500)]);
});

test('the counter value is computed from the clock', (t) => {
  const { clock, program, readCount } = setup();
  program(0, 2, 1000);
  clock.advanceTo(Math.ceil(100 * PIT_TICK_NS));
  t.is(readCount(0), 900);
  clock.advanceTo(Math.ceil(1250 * PIT_TICK_NS));
  t.is(readCount(0), 750, 'mode 2 reloads each period');
});

test('mode 0 counts past zero and wraps', (t) => {
  const { clock, program, readCount } = setup();
  program(2, 0, 10);
  clock.advanceTo(Math.ceil(12 * PIT_TICK_NS));
  t.is(readCount(2), 0xfffe);
});

test('mode 3 counts down by two', (t) => {
  const { clock, program, readCount } = setup();
  program(0, 3, 1000);
  clock.advanceTo(Math.ceil(100 * PIT_TICK_NS));
  t.is(readCount(0), 800);
});

test('latched count reads back low then high', (t) => {
  const { clock, control, inb, program } = setup();
  program(0, 2, 0x1234);
  clock.advanceTo(Math.ceil(0x34 * PIT_TICK_NS));
  control(0x00); // latch channel 0
  clock.advanceTo(Math.ceil(0x200 * PIT_TICK_NS));
  t.is(inb(0), 0x00, 'low byte of 0x1200, the value when latched');
  t.is(inb(0), 0x12);
});

test('a second latch before the first is read is ignored', (t) => {
  const { clock, control, inb, program } = setup();
  program(0, 2, 0x1000);
  control(0x00);
  clock.advanceTo(Math.ceil(0x100 * PIT_TICK_NS));
  control(0x00);
  t.is(inb(0) | (inb(0) << 8), 0x1000);
});

test('the live count reads low then high through the flip-flop', (t) => {
  const { inb, program } = setup();
  program(1, 2, 0xabcd);
  t.is(inb(1), 0xcd);
  t.is(inb(1), 0xab);
  t.is(inb(1), 0xcd);
});

test('lobyte access mode reads and writes one byte', (t) => {
  const { control, out, inb } = setup();
  control(0x10 | (2 << 1)); // channel 0, lobyte, mode 2
  out(0, 50);
  t.is(inb(0), 50);
  t.is(inb(0), 50, 'always the low byte');
});

test('hibyte access mode loads the count shifted', (t) => {
  const { clock, control, out, inb } = setup();
  control(0x20 | (2 << 1)); // channel 0, hibyte, mode 2
  out(0, 0x02);
  clock.advanceTo(Math.ceil(0x100 * PIT_TICK_NS));
  t.is(inb(0), 0x01, 'count 0x200 - 0x100');
});

test('a new count in mode 2 takes effect at the end of the period', (t) => {
  const { clock, irq, out, program } = setup();
  program(0, 2, 1000);
  clock.advanceTo(ns(500));
  out(0, 2000 & 0xff);
  out(0, 2000 >>> 8);
  clock.advanceTo(ns(1000 + 2000 + 2000) + 1);
  t.deepEqual(irq.rises, [ns(1000), ns(3000), ns(5000)]);
});

test('read-back latches status with output, access and mode', (t) => {
  const { clock, control, inb, program } = setup();
  program(0, 0, 100);
  control(0xc0 | 0x20 | 0x02); // read-back status of channel 0 (count not latched)
  t.is(inb(0), (0x3 << 4) | (0 << 1), 'output low, count loaded');
  clock.advanceTo(ns(100));
  control(0xc0 | 0x20 | 0x02);
  t.is(inb(0), PitStatus.OUTPUT | (0x3 << 4));
});

test('read-back reports a null count between the control word and the count', (t) => {
  const { control, inb } = setup();
  control(0x80 | 0x30 | (3 << 1)); // channel 2, lohi, mode 3
  control(0xc0 | 0x20 | 0x08);
  t.is(inb(2) & PitStatus.NULL_COUNT, PitStatus.NULL_COUNT);
});

test('read-back of count and status returns the status first', (t) => {
  const { control, inb, program } = setup();
  program(1, 2, 0x0400);
  control(0xc0 | 0x04); // count and status of channel 1
  t.is(inb(1), (0x3 << 4) | (2 << 1) | PitStatus.OUTPUT);
  t.is(inb(1) | (inb(1) << 8), 0x0400);
});

test('port B gate starts channel 2 and bit 5 shows its output', (t) => {
  const { clock, pit, program } = setup();
  pit.portB.write(0, 1, PortB.GATE2);
  program(2, 0, 1193); // the calibration loop Linux uses
  t.is(pit.portB.read(0, 1) & PortB.OUT2, 0);
  clock.advanceTo(ns(1193));
  t.is(pit.portB.read(0, 1) & PortB.OUT2, PortB.OUT2);
  t.is(pit.portB.read(0, 1) & PortB.GATE2, PortB.GATE2);
});

test('a rising gate restarts channel 2 in mode 2', (t) => {
  const { clock, pit, program, readCount } = setup();
  program(2, 2, 1000);
  clock.advanceTo(Math.ceil(300 * PIT_TICK_NS));
  pit.portB.write(0, 1, PortB.GATE2);
  t.is(readCount(2), 1000);
});

test('port B keeps the speaker bit and toggles the refresh bit with time', (t) => {
  const { clock, pit } = setup();
  pit.portB.write(0, 1, PortB.SPEAKER);
  t.is(pit.portB.read(0, 1) & PortB.SPEAKER, PortB.SPEAKER);
  const a = pit.portB.read(0, 1) & PortB.REFRESH;
  clock.advanceTo(15_085);
  t.not(pit.portB.read(0, 1) & PortB.REFRESH, a);
});

test('channel2 gives the gate and output to a port B outside the PIT (mode 1: a rising gate triggers the one-shot)', (t) => {
  const { clock, pit, program } = setup();
  program(2, 1, 100);
  clock.advanceTo(ns(500));
  pit.channel2.setGate(true);
  const start = clock.time;
  clock.advanceTo(start + Math.floor(99 * PIT_TICK_NS));
  t.false(pit.channel2.output(), 'low while the one-shot counts');
  clock.advanceTo(start + ns(100));
  t.true(pit.channel2.output(), 'high again at terminal count');
  pit.channel2.setGate(false);
  pit.channel2.setGate(true); // retrigger
  t.false(pit.channel2.output());
});

test('channel2 in mode 2 with the gate low holds its output high (8254 datasheet, GATE low)', (t) => {
  const { clock, pit, program } = setup();
  program(2, 2, 10);
  pit.channel2.setGate(true);
  clock.advanceTo(Math.ceil(9 * PIT_TICK_NS) + 1);
  t.false(pit.channel2.output(), 'low for one clock at the end of each period');
  pit.channel2.setGate(false);
  t.true(pit.channel2.output());
});

test('channel 0 events stop when the channel is reprogrammed', (t) => {
  const { clock, control, program } = setup();
  program(0, 2, 1193);
  control(0x34);
  t.is(clock.size, 0);
});

test('the control port reads 0xff', (t) => {
  const { inb } = setup();
  t.is(inb(PitReg.CONTROL), 0xff);
});

test('periods keep coming at a large host time', (t) => {
  const clock = new FakeClock(3e15 + 0.25); // ~35 days of uptime: ns values with rounding error
  let rises = 0;
  const pit = new Pit8254(clock, { raise: () => rises++, lower: () => {} }, { minPeriodNs: 0 });
  pit.write(PitReg.CONTROL, 1, 0x34);
  pit.write(0, 1, 7);
  pit.write(0, 1, 0);
  clock.advance(7 * PIT_TICK_NS * 1000 + 10);
  t.is(rises, 1000);
  t.is(pit.lostTicks, 0);
});

// ---- behaviour the first mutation run found unchecked (8254 datasheet, order no. 231164) ----

/** Input clocks → the first ns at which that many have elapsed since a load at time 0. */
const at = (ticks: number) => Math.ceil(ticks * PIT_TICK_NS);

/** Read-back command (D7 D6 = 11): D5 COUNT and D4 STATUS are active low; D3-D1 select counters 2-0. */
const readBack = (channels: number[], count: boolean, status: boolean) =>
  0xc0 | (count ? 0 : 0x20) | (status ? 0 : 0x10) | channels.reduce((m, c) => m | (2 << c), 0);

function statusOf(s: ReturnType<typeof setup>, ch: number): number {
  s.control(readBack([ch], false, true));
  return s.inb(ch);
}

test('after a control word OUT is low in mode 0 and high in modes 1-5; the status echoes RW, mode and BCD with NULL COUNT set', (t) => {
  // Status byte: D7 OUTPUT, D6 NULL COUNT, D5-D4 RW1 RW0, D3-D1 M2-M0, D0 BCD.
  for (let mode = 0; mode <= 5; mode++) {
    const s = setup();
    s.control((1 << 6) | 0x30 | (mode << 1));
    t.is(statusOf(s, 1), (mode === 0 ? 0 : 0x80) | 0x40 | 0x30 | (mode << 1), `mode ${mode}`);
  }
  const s = setup();
  s.control((1 << 6) | 0x10 | (2 << 1) | 1); // lobyte, mode 2, BCD
  t.is(statusOf(s, 1), 0x80 | 0x40 | 0x10 | (2 << 1) | 1);
});

test('at reset no counter counts and each shows a null count', (t) => {
  const s = setup();
  const before = s.readCount(1);
  s.clock.advanceTo(at(5000));
  t.is(s.readCount(1), before, 'no count was ever written: nothing counts');
  t.is(statusOf(s, 1) & 0x40, 0x40);
  t.deepEqual(s.irq.rises, []);
});

test('mode 2: OUT goes low for one clock when the count reaches 1, and is high otherwise', (t) => {
  const s = setup();
  s.program(1, 2, 10);
  const out = (ticks: number) => { s.clock.advanceTo(at(ticks)); return statusOf(s, 1) & 0x80; };
  for (const d of [0, 4, 5, 8]) t.is(out(d), 0x80, `count ${10 - d}`);
  t.is(out(9), 0, 'count 1');
  t.is(out(10), 0x80, 'reloaded');
  t.is(out(19), 0);
});

test('mode 3: OUT is high for the first half of the count and low for the second; an odd count is high one clock longer', (t) => {
  for (const [n, high] of [[10, 5], [11, 6]] as const) {
    const s = setup();
    s.program(1, 3, n);
    for (let d = 0; d <= n; d++) {
      s.clock.advanceTo(at(d));
      const want = d === n || d < high ? 0x80 : 0;
      t.is(statusOf(s, 1) & 0x80, want, `N = ${n}, ${d} clocks`);
    }
  }
});

test('modes 4 and 5: OUT is high, goes low for one clock at terminal count, then high again', (t) => {
  const four = setup();
  four.program(1, 4, 10);
  const out4 = (d: number) => { four.clock.advanceTo(at(d)); return statusOf(four, 1) & 0x80; };
  t.deepEqual([out4(0), out4(9), out4(10), out4(11)], [0x80, 0x80, 0, 0x80]);
  // Mode 5 counts from a rising gate: channel 2's, through port B.
  const five = setup();
  five.program(2, 5, 10);
  five.clock.advanceTo(1000);
  five.pit.portB.write(0, 1, PortB.GATE2);
  const out5 = (d: number) => { five.clock.advanceTo(1000 + at(d)); return statusOf(five, 2) & 0x80; };
  t.deepEqual([out5(0), out5(9), out5(10), out5(11)], [0x80, 0x80, 0, 0x80]);
});

test('mode 1: a falling gate neither stops nor restarts the one-shot', (t) => {
  const s = setup();
  s.program(2, 1, 100);
  s.pit.channel2.setGate(true); // trigger at time 0
  s.clock.advanceTo(at(30));
  s.pit.channel2.setGate(false);
  t.is(s.readCount(2), 70);
  s.clock.advanceTo(at(50));
  t.is(s.readCount(2), 50);
});

test('a rising gate does not start a counter that has no count yet', (t) => {
  const s = setup();
  s.control((2 << 6) | 0x30 | (2 << 1)); // channel 2, mode 2, no count written
  s.pit.channel2.setGate(true);
  const first = s.readCount(2);
  s.clock.advanceTo(at(500));
  t.is(s.readCount(2), first);
  t.is(statusOf(s, 2) & 0xc0, 0xc0, 'OUT high, null count');
});

test('modes 0 and 4: a rising gate does not reload the counter', (t) => {
  for (const mode of [0, 4]) {
    const s = setup();
    s.pit.channel2.setGate(true);
    s.program(2, mode, 1000);
    s.clock.advanceTo(at(300));
    s.pit.channel2.setGate(false);
    s.pit.channel2.setGate(true);
    t.is(s.readCount(2), 700, `mode ${mode}`);
  }
});

test('mode 2: a rising gate reloads the counter with the count written last', (t) => {
  const s = setup();
  s.pit.channel2.setGate(true);
  s.program(2, 2, 1000);
  s.clock.advanceTo(at(300));
  s.out(2, 500 & 0xff);
  s.out(2, 500 >>> 8); // waits for the end of the period…
  s.clock.advanceTo(at(400));
  s.pit.channel2.setGate(false);
  s.pit.channel2.setGate(true); // …or a trigger
  t.is(s.readCount(2), 500);
  s.clock.advanceTo(s.clock.time + Math.ceil(100 * PIT_TICK_NS));
  t.is(s.readCount(2), 400);
});

test('read-back acts on the selected counters only', (t) => {
  const s = setup();
  s.program(1, 2, 0xabcd);
  s.control(readBack([0], false, true));
  t.is(s.inb(1), 0xcd, 'counter 1 was not selected: its live count');
  t.is(s.inb(1), 0xab);
});

test('read-back of the count latches every selected counter and no status', (t) => {
  const s = setup();
  s.program(0, 2, 0x1000);
  s.program(1, 2, 0x2000);
  s.clock.advanceTo(at(0x100));
  s.control(readBack([0, 1], true, false));
  s.clock.advanceTo(at(0x300));
  t.is(s.inb(0) | (s.inb(0) << 8), 0x0f00);
  t.is(s.inb(1) | (s.inb(1) << 8), 0x1f00);
  t.is(s.inb(1) | (s.inb(1) << 8), 0x1d00, 'the latch was read: live again');
});

test('read-back of the status alone does not latch the count', (t) => {
  const s = setup();
  s.program(1, 2, 0x1000);
  s.clock.advanceTo(at(0x100));
  s.control(readBack([1], false, true));
  t.is(s.inb(1), 0x80 | 0x30 | (2 << 1));
  s.clock.advanceTo(at(0x300));
  t.is(s.inb(1) | (s.inb(1) << 8), 0x0d00);
});

test('a second status read-back before the first status is read is ignored', (t) => {
  const s = setup();
  s.control((1 << 6) | 0x30 | (2 << 1));
  s.control(readBack([1], false, true)); // NULL COUNT set
  s.out(1, 0x00);
  s.out(1, 0x10); // the count is loaded: NULL COUNT clears
  s.control(readBack([1], false, true));
  t.is(s.inb(1) & 0x40, 0x40, 'the first status');
  t.is(statusOf(s, 1) & 0x40, 0, 'a new read-back sees the loaded count');
});

test('counter latch in lobyte and hibyte access: one byte is latched, then reads are live again', (t) => {
  const lo = setup();
  lo.control((1 << 6) | 0x10 | (2 << 1)); // lobyte, mode 2
  lo.out(1, 200);
  lo.clock.advanceTo(at(50));
  lo.control(1 << 6); // latch
  lo.clock.advanceTo(at(70));
  t.is(lo.inb(1), 150, 'latched');
  t.is(lo.inb(1), 130, 'live');
  const hi = setup();
  hi.control((1 << 6) | 0x20 | (2 << 1)); // hibyte, mode 2
  hi.out(1, 0x10); // count 0x1000
  hi.clock.advanceTo(at(0x100));
  hi.control(1 << 6);
  hi.clock.advanceTo(at(0x200));
  t.is(hi.inb(1), 0x0f, 'latched high byte of 0x0f00');
  t.is(hi.inb(1), 0x0e, 'live high byte of 0x0e00');
});

test('a control word for another counter, or for counter 0 in a mode other than 0, leaves IRQ0 high', (t) => {
  const s = setup();
  s.program(0, 0, 10);
  s.clock.advanceTo(at(20));
  t.true(s.irq.level);
  s.control((2 << 6) | 0x30); // counter 2, mode 0
  t.true(s.irq.level, 'counter 2 does not drive IRQ0');
  s.control(0x30 | (2 << 1)); // counter 0, mode 2: OUT is high after the control word
  t.true(s.irq.level);
  s.out(0, 100);
  s.out(0, 0); // a count in mode 2 does not lower OUT either
  t.true(s.irq.level);
});

test('mode 0: a new count lowers OUT until its own terminal count; a count for counter 2 does not touch IRQ0', (t) => {
  const s = setup();
  s.program(0, 0, 10);
  s.clock.advanceTo(at(20));
  t.true(s.irq.level);
  s.program(2, 0, 5);
  t.true(s.irq.level);
  const loadAt = s.clock.time;
  s.out(0, 20); // lo/hi: the low byte stops the count, the high byte loads 20
  s.out(0, 0);
  t.false(s.irq.level, '"OUT remains high until a new count or a new mode 0 control word"');
  s.clock.advanceTo(loadAt + Math.ceil(20 * PIT_TICK_NS) + 1);
  t.true(s.irq.level);
  t.is(s.irq.rises.length, 2);
});

test('mode 0 with a one-byte count: a new count is loaded at once and counting continues from it', (t) => {
  const s = setup();
  s.control((1 << 6) | 0x10); // counter 1, lobyte, mode 0
  s.out(1, 100);
  s.clock.advanceTo(at(50));
  t.is(s.inb(1), 50);
  s.out(1, 200);
  const loadAt = s.clock.time;
  t.is(s.inb(1), 200);
  s.clock.advanceTo(loadAt + Math.ceil(10 * PIT_TICK_NS));
  t.is(s.inb(1), 190);
});

test('mode 2: a count written during a period leaves the current period alone (counter loaded at a non-zero time)', (t) => {
  const s = setup();
  const t0 = 1_000_000;
  s.clock.advanceTo(t0);
  s.program(1, 2, 1000);
  const when = (ticks: number) => t0 + Math.ceil(ticks * PIT_TICK_NS);
  s.clock.advanceTo(when(500));
  s.out(1, 2000 & 0xff);
  s.out(1, 2000 >>> 8);
  s.clock.advanceTo(when(600));
  t.is(s.readCount(1), 400, 'still the old period');
  s.clock.advanceTo(when(1500));
  t.is(s.readCount(1), 1500, 'the new count since the end of the old period');
});

test('exactly one second is 1,193,182 input clocks', (t) => {
  const s = setup();
  s.program(1, 2, 0); // 65536
  s.clock.advanceTo(1e9);
  t.is(s.readCount(1), 65536 - (1_193_182 % 65536));
});

test('channel0PeriodNs is the programmed count in input clocks', (t) => {
  const s = setup();
  s.program(0, 2, 1193);
  t.true(Math.abs(s.pit.channel0PeriodNs() - (1193 * 1e9) / 1_193_182) < 1e-6);
});

test('dispose stops IRQ0 and leaves no clock event', (t) => {
  const s = setup();
  s.program(0, 2, 1193);
  s.pit.dispose();
  t.is(s.clock.size, 0);
  s.clock.advanceTo(at(1193 * 5));
  t.deepEqual(s.irq.rises, []);
});

test('only counter 0 uses clock events; reprogramming counter 2 leaves counter 0 ticking', (t) => {
  const s = setup();
  s.program(2, 2, 100);
  t.is(s.clock.size, 0);
  s.program(0, 2, 1193);
  s.control((2 << 6) | 0x30 | (3 << 1));
  s.clock.advanceTo(at(1193 * 2) + 1);
  t.is(s.irq.rises.length, 2);
});

test('a one-shot after a rate-limited periodic tick is not delayed by the rate limit', (t) => {
  const s = setup({ minPeriodNs: 200_000 });
  s.program(0, 2, 1193);
  s.clock.advanceTo(at(1193) + 1);
  t.is(s.irq.rises.length, 1);
  s.program(0, 0, 10);
  const loadAt = s.clock.time;
  s.clock.advanceTo(loadAt + Math.ceil(10 * PIT_TICK_NS) + 1);
  t.is(s.irq.rises.length, 2);
  t.true(s.irq.rises[1]! <= loadAt + Math.ceil(10 * PIT_TICK_NS) + 1);
});

test('a count read while the VMM is late applies a pending reload without losing or inventing a tick', (t) => {
  let now = 0;
  const clock = new TimerQueue(() => now);
  let rises = 0;
  const pit = new Pit8254(clock, { raise: () => rises++, lower: () => {} }, { minPeriodNs: 0 });
  pit.write(PitReg.CONTROL, 1, 0x34); // counter 0, lo/hi, mode 2
  pit.write(0, 1, 1000 & 0xff);
  pit.write(0, 1, 1000 >>> 8);
  now = at(500);
  pit.write(0, 1, 2000 & 0xff);
  pit.write(0, 1, 2000 >>> 8);
  now = at(1500); // the period boundary at 1000 passed; the VMM has not run the clock yet
  pit.write(PitReg.CONTROL, 1, 0x00);
  t.is(pit.read(0, 1) | (pit.read(0, 1) << 8), 1500, 'the new count since 1000');
  clock.runDue(now);
  t.is(pit.ticks, 1);
  t.is(pit.lostTicks, 0);
  now = at(3000) + 1;
  clock.runDue(now);
  t.is(pit.ticks, 2);
  t.is(pit.lostTicks, 0);
});

test('ports beyond the control word and counters that do not exist are ignored', (t) => {
  const s = setup();
  t.notThrows(() => s.pit.write(4, 1, 0x34));
  t.is(s.pit.read(4, 1), 0xff);
  t.notThrows(() => s.pit.setGate(3, true));
});
