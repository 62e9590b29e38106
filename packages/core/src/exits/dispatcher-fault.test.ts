/**
 * A device that throws is a VMM bug (issue 15 §2): the dispatcher stops the exception, names the
 * device and the exit in `fault`, and answers Disposition.Error so the run ends cleanly.
 */
import test from 'ava';
import { MmioBus } from '../bus/mmio-bus.js';
import { PioBus } from '../bus/pio-bus.js';
import { Counters } from '../telemetry/counters.js';
import { Disposition, ExitDispatcher } from './dispatcher.js';
import { ExitKind, createExit } from './vm-exit.js';

function setup() {
  const pio = new PioBus();
  const mmio = new MmioBus();
  const dispatcher = new ExitDispatcher(pio, mmio, new Counters());
  const exit = createExit(new DataView(new ArrayBuffer(4096)));
  return { pio, mmio, dispatcher, exit };
}

const broken = { read(): number { throw new RangeError('Invalid typed array length: 8589934592'); }, write(): void { throw new RangeError('Invalid typed array length: 8589934592'); } };

test('a port device that throws ends the run with Disposition.Error and a message naming it and the access', (t) => {
  const { pio, dispatcher, exit } = setup();
  pio.register('com1', 0x3f8, 8, broken);
  Object.assign(exit, { kind: ExitKind.Io, port: 0x3f8, size: 1, write: true, count: 4096 });
  t.notThrows(() => t.is(dispatcher.dispatch(exit), Disposition.Error));
  t.is(dispatcher.fault, "device 'com1' failed on a 1-byte port write at 0x3f8 (×4096): Invalid typed array length: 8589934592");
});

test('an MMIO device that throws on a read is named with the address', (t) => {
  const { mmio, dispatcher, exit } = setup();
  mmio.register('lapic', 0xfee00000, 0x1000, broken);
  Object.assign(exit, { kind: ExitKind.Mmio, gpa: 0xfee00030, size: 4, write: false, count: 1 });
  t.is(dispatcher.dispatch(exit), Disposition.Error);
  t.is(dispatcher.fault, "device 'lapic' failed on a 4-byte MMIO read at 0xfee00030: Invalid typed array length: 8589934592");
});

test('a throwing native hypercall handler is reported with the hypercall number', (t) => {
  const { dispatcher, exit } = setup();
  dispatcher.onHypercall = () => { throw new Error('boom'); };
  Object.assign(exit, { kind: ExitKind.Hypercall, hypercall: 7 });
  t.is(dispatcher.dispatch(exit), Disposition.Error);
  t.is(dispatcher.fault, 'the handler of hypercall 7 failed: boom');
});

test('no fault is recorded while devices behave', (t) => {
  const { pio, dispatcher, exit } = setup();
  pio.register('ok', 0x80, 1, { read: () => 0, write() {} });
  Object.assign(exit, { kind: ExitKind.Io, port: 0x80, size: 1, write: true, count: 1 });
  t.is(dispatcher.dispatch(exit), Disposition.Continue);
  t.is(dispatcher.fault, undefined);
});
