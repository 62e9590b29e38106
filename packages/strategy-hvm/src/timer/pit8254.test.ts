import test from 'ava';
import type { IrqLine } from '@hyvisor/core';
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
