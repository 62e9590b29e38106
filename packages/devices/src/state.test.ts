/**
 * Every built-in device hands out its state as a plain record that survives JSON and rebuilds an
 * equal device: the same registers, the same answers to the guest's next accesses.
 */
import test from 'ava';
import { DeviceStateError, type IrqLine } from '@hyvisor/core';
import { BenchCounter, BenchMarker } from './bench-counter.js';
import { DebugExit } from './debug-exit.js';
import { IrqTestDevice } from './irq-test.js';
import { StallDevice } from './stall.js';
import { BufferSerialOutput } from './uart/serial-io.js';
import { Fcr, Ier, Lcr, Mcr, Uart16550, UartReg } from './uart/uart16550.js';

/** Through JSON and back, as a snapshot file would carry it. */
function viaJson<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

class Line implements IrqLine {
  level = false;
  edges = 0;
  raise(): void { this.level = true; this.edges++; }
  lower(): void { this.level = false; }
}

test('uart16550: registers, divisor, FIFO contents and pending interrupts survive a round trip', (t) => {
  const line = new Line();
  const a = new Uart16550(line, new BufferSerialOutput());
  a.write(UartReg.LCR, 1, Lcr.DLAB | 0x03);
  a.write(UartReg.DATA, 1, 0x01);
  a.write(UartReg.IER, 1, 0x00);
  a.write(UartReg.LCR, 1, 0x03);
  a.write(UartReg.IIR_FCR, 1, Fcr.ENABLE | 0x40); // trigger level 4
  a.write(UartReg.MCR, 1, Mcr.DTR | Mcr.RTS | Mcr.OUT2);
  a.write(UartReg.SCR, 1, 0x5a);
  a.write(UartReg.IER, 1, Ier.ERBFI);
  a.enqueueInput(new Uint8Array([0x61, 0x62, 0x63]));
  t.is(a.read(UartReg.DATA, 1), 0x61);
  const saved = a.saveState();
  t.deepEqual(saved.rx, [0x62, 0x63]);

  const line2 = new Line();
  const b = new Uart16550(line2, new BufferSerialOutput());
  b.restoreState(viaJson(saved));
  t.deepEqual(b.saveState(), saved);
  // Same answers to what the guest does next: IIR (timeout below the trigger level), the FIFO, the divisor.
  t.is(b.read(UartReg.IIR_FCR, 1), a.read(UartReg.IIR_FCR, 1));
  t.true(line2.level, 'the restored UART drives its interrupt line from the restored registers');
  t.is(b.read(UartReg.DATA, 1), 0x62);
  t.is(b.read(UartReg.DATA, 1), 0x63);
  t.is(b.read(UartReg.LSR, 1) & 0x01, 0);
  t.is(b.read(UartReg.SCR, 1), 0x5a);
  b.write(UartReg.LCR, 1, Lcr.DLAB | 0x03);
  t.is(b.read(UartReg.DATA, 1), 0x01);
  t.false(line2.level);
});

test('uart16550: a bad record is refused whole, leaving the UART as it was', (t) => {
  const u = new Uart16550(new Line(), new BufferSerialOutput());
  u.write(UartReg.SCR, 1, 7);
  const good = u.saveState();
  t.throws(() => u.restoreState({ ...good, scr: 1, rx: [1, 2] }), { instanceOf: DeviceStateError, message: /^uart16550 state: rx: expected a list of at most 1 bytes/ });
  t.throws(() => u.restoreState({ ...good, version: 2 } as never), { instanceOf: DeviceStateError, message: 'uart16550 state: version 2 is not supported (expected 1)' });
  t.throws(() => u.restoreState({ ...good, rxTrigger: 3 }), { message: /rxTrigger: expected 1, 4, 8 or 14/ });
  t.throws(() => u.restoreState({ ...good, lcr: 256 }), { message: /lcr: expected a whole number in \[0, 255\]/ });
  t.is(u.read(UartReg.SCR, 1), 7);
});

test('bench-counter: counts and clock readings survive a round trip (as decimal strings)', (t) => {
  let now = 1_000n;
  const a = new BenchCounter(() => now);
  a.write(1, 1, BenchMarker.START);
  for (let i = 0; i < 5; i++) a.write(0, 1, 0);
  now = 2_000_000_000_123n;
  a.write(1, 1, BenchMarker.END);
  const saved = viaJson(a.saveState());
  t.is(saved.endNs, '2000000000123');
  const b = new BenchCounter(() => 0n);
  b.restoreState(saved);
  t.deepEqual(b.saveState(), a.saveState());
  t.is(b.elapsedNs(), a.elapsedNs());
  t.is(b.read(0, 4), 5);
  t.throws(() => b.restoreState({ ...saved, startNs: '-1' }), { instanceOf: DeviceStateError, message: /startNs: expected a decimal string/ });
});

test('irq-test: counters and the line level survive; the restored device raises its line', (t) => {
  const a = new IrqTestDevice(new Line());
  a.write(0, 1, 1);
  a.read(0, 4);
  a.write(0, 1, 1);
  const saved = viaJson(a.saveState());
  t.deepEqual(saved, { version: 1, raised: 2, acknowledged: 1, asserted: true });
  const line = new Line();
  const b = new IrqTestDevice(line);
  b.restoreState(saved);
  t.true(line.level);
  t.true(b.asserted);
  t.is(b.read(0, 4), 2, 'the acknowledgement returns the restored count');
  t.false(line.level);
});

test('stall: counters survive a round trip', (t) => {
  let now = 0;
  const a = new StallDevice((ms) => { now += ms; }, () => now);
  a.write(0, 4, 30);
  a.write(0, 4, 1000);
  const saved = viaJson(a.saveState());
  const b = new StallDevice(() => {}, () => 0);
  b.restoreState(saved);
  t.deepEqual(b.saveState(), { version: 1, stalls: 2, totalMs: 250, clamped: 1 });
  t.is(b.read(0, 4), 2);
});

test('debug-exit: a versioned empty record', (t) => {
  const d = new DebugExit({ requestExit() {} });
  t.deepEqual(viaJson(d.saveState()), { version: 1 });
  d.restoreState({ version: 1 });
  t.throws(() => d.restoreState({ version: 0 } as never), { instanceOf: DeviceStateError });
});
