import test from 'ava';
import { ManualClock } from '@hyvisor/core/testing';
import { SystemControlPort, type TimerChannel2 } from './system-control-port.js';

// Port 0x61 as the PC/AT technical reference gives it: bit 0 timer 2 gate, bit 1 speaker data,
// bits 2-3 parity / channel check enables, bit 4 refresh toggle, bit 5 timer 2 output,
// bits 6-7 channel check / parity error status.

function rig() {
  const clock = new ManualClock(0);
  const gates: boolean[] = [];
  let out = false;
  const ch2: TimerChannel2 = { setGate: (l) => gates.push(l), output: () => out };
  const port = new SystemControlPort(clock, ch2);
  return { clock, port, gates, setOut: (v: boolean) => { out = v; } };
}

test('bit 0 drives the channel 2 gate and reads back; bit 5 is the channel 2 output', (t) => {
  const { port, gates, setOut } = rig();
  port.write(0, 1, 0x01);
  t.deepEqual(gates, [true]);
  t.is(port.read(0, 1) & 0x21, 0x01);
  setOut(true);
  t.is(port.read(0, 1) & 0x21, 0x21);
  port.write(0, 1, 0x00);
  t.deepEqual(gates, [true, false]);
});

test('bits 1-3 are stored; read-only bits 4-7 are not', (t) => {
  const { port } = rig();
  port.write(0, 1, 0xfe);
  t.is(port.read(0, 1) & 0xcf, 0x0e);
});

test('bit 4 toggles every 15.085 µs (DRAM refresh)', (t) => {
  const { clock, port } = rig();
  t.is(port.read(0, 1) & 0x10, 0);
  clock.advanceTo(15_084);
  t.is(port.read(0, 1) & 0x10, 0);
  clock.advanceTo(15_085);
  t.is(port.read(0, 1) & 0x10, 0x10);
  clock.advanceTo(30_170);
  t.is(port.read(0, 1) & 0x10, 0);
});

test('without a PIT the output bit reads 0 and the gate is only stored', (t) => {
  const port = new SystemControlPort(new ManualClock(0));
  port.write(0, 1, 0x01);
  t.is(port.read(0, 1) & 0x21, 0x01);
});
