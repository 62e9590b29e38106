import test from 'ava';
import type { IrqLine } from '@hyvisor/core';
import { I8042 } from './i8042.js';

// Literals from the IBM PC/AT and PS/2 technical references (8042 status register, command byte
// and commands), not the model's constants.
const STATUS = 4, DATA = 0;

function rig() {
  const events: string[] = [];
  const line = (name: string): IrqLine => ({ raise: () => events.push(`${name}+`), lower: () => events.push(`${name}-`) });
  let resets = 0;
  const kbc = new I8042({ requestReset: () => { resets++; } }, line('irq1'), line('irq12'));
  const cmd = (c: number) => kbc.write(STATUS, 1, c);
  const out = (v: number) => kbc.write(DATA, 1, v);
  const status = () => kbc.read(STATUS, 1);
  const data = () => kbc.read(DATA, 1);
  return { kbc, events, cmd, out, status, data, resets: () => resets };
}

test('at rest: output buffer empty, input buffer empty, system flag set, not inhibited', (t) => {
  const { status } = rig();
  t.is(status(), 0x14); // SYS (bit 2) | keyboard not inhibited (bit 4); OBF = IBF = 0
});

test('self test 0xAA answers 0x55 through the output buffer, with OBF and the command bit', (t) => {
  const { cmd, status, data } = rig();
  cmd(0xaa);
  t.is(status(), 0x1d); // OBF | SYS | A2 (last write was a command) | unlocked
  t.is(data(), 0x55);
  t.is(status() & 0x01, 0);
});

test('the command byte reads with 0x20 and writes with 0x60; SYS follows its bit 2', (t) => {
  const { cmd, out, data, status } = rig();
  cmd(0x20);
  t.is(data(), 0x45); // keyboard interrupt, system flag, translation
  cmd(0x60); out(0x00);
  t.is(status() & 0x04, 0);
  cmd(0x20);
  t.is(data(), 0x00);
  cmd(0xad); cmd(0xa7);
  cmd(0x20);
  t.is(data(), 0x30, 'keyboard and auxiliary port disabled');
  cmd(0xae); cmd(0xa8);
  cmd(0x20);
  t.is(data(), 0x00);
});

test('interface tests 0xAB and 0xA9 pass (0x00)', (t) => {
  const { cmd, data } = rig();
  cmd(0xab);
  t.is(data(), 0x00);
  cmd(0xa9);
  t.is(data(), 0x00);
});

test('no keyboard: a byte for it times out at once with 0xFE and raises IRQ 1', (t) => {
  const { out, status, data, events } = rig();
  out(0xf2); // identify keyboard
  t.is(status() & 0x41, 0x41, 'OBF | time-out');
  t.deepEqual(events, ['irq1+']);
  t.is(data(), 0xfe);
  t.deepEqual(events, ['irq1+', 'irq1-']);
  t.is(status() & 0x41, 0, 'reading clears OBF and time-out');
});

test('no mouse: 0xD4 then a byte times out with 0xFE from the auxiliary side (AUXB), IRQ 12 when enabled', (t) => {
  const { cmd, out, status, data, events } = rig();
  cmd(0x60); out(0x47); // both interrupts on
  cmd(0xd4); out(0xff);
  t.is(status() & 0x61, 0x61, 'OBF | AUXB | time-out');
  t.deepEqual(events, ['irq12+']);
  t.is(data(), 0xfe);
  t.deepEqual(events, ['irq12+', 'irq12-']);
});

test('loopback writes 0xD2 and 0xD3 put the byte in the output buffer as keyboard or mouse data', (t) => {
  const { cmd, out, status, data } = rig();
  cmd(0xd3); out(0x5a);
  t.is(status() & 0x21, 0x21);
  t.is(data(), 0x5a);
  cmd(0xd2); out(0xa5);
  t.is(status() & 0x21, 0x01);
  t.is(data(), 0xa5);
});

test('command 0xFE pulses the reset line: the trigger fires', (t) => {
  const { cmd, resets, kbc } = rig();
  cmd(0xfe);
  t.is(resets(), 1);
  t.is(kbc.resets, 1);
  cmd(0xff); // pulses no bit
  t.is(resets(), 1);
  cmd(0xf0); // pulses bits 0-3, bit 0 among them
  t.is(resets(), 2);
});

test('writing the output port with bit 0 clear resets; reading it shows reset inactive and A20 on', (t) => {
  const { cmd, out, data, resets } = rig();
  cmd(0xd0);
  t.is(data() & 0x03, 0x03);
  cmd(0xd1); out(0x03);
  t.is(resets(), 0);
  cmd(0xd1); out(0x02);
  t.is(resets(), 1);
});

test('unknown commands are ignored and leave the output buffer empty', (t) => {
  const { cmd, status } = rig();
  for (const c of [0x00, 0x10, 0x90, 0xc0, 0xe0]) cmd(c);
  t.is(status() & 0x01, 0);
});
