import test from 'ava';
import { MmioBus } from '../bus/mmio-bus.js';
import { PioBus } from '../bus/pio-bus.js';
import { CoreCounter, Counters } from '../telemetry/counters.js';
import { MMIO_RANGE_SLOTS, TelemetryProbes } from '../telemetry/probes.js';
import type { MmioDevice } from '../bus/device.js';
import { Disposition, ExitDispatcher } from './dispatcher.js';
import { ExitKind, createExit, exitValue, type VmExit } from './vm-exit.js';

function setup() {
  const pio = new PioBus();
  const mmio = new MmioBus();
  const counters = new Counters();
  const dispatcher = new ExitDispatcher(pio, mmio, counters);
  // Data lives away from offset 0, as in KVM's kvm_run page.
  const exit = createExit(new DataView(new ArrayBuffer(4096)));
  exit.dataOffset = 0x100;
  return { pio, mmio, counters, dispatcher, exit };
}

function io(exit: VmExit, port: number, size: number, write: boolean, count = 1): VmExit {
  exit.kind = ExitKind.Io;
  exit.port = port;
  exit.size = size;
  exit.write = write;
  exit.count = count;
  return exit;
}

test('a string OUT with count > 1 reaches the device element by element', (t) => {
  const { pio, dispatcher, exit } = setup();
  const got: number[] = [];
  pio.register('sink', 0x3f8, 1, { read: () => 0, write: (_o, _s, v) => void got.push(v) });
  const text = new TextEncoder().encode('hello');
  new Uint8Array(exit.data.buffer).set(text, exit.dataOffset);
  t.is(dispatcher.dispatch(io(exit, 0x3f8, 1, true, text.length)), Disposition.Continue);
  t.deepEqual(got, [...text]);
});

test('a string IN with count > 1 fills each element from a separate device read', (t) => {
  const { pio, dispatcher, exit } = setup();
  let next = 0x1000;
  pio.register('seq', 0x60, 2, { read: () => next++, write() {} });
  dispatcher.dispatch(io(exit, 0x60, 2, false, 3));
  t.deepEqual([0, 1, 2].map((i) => exitValue(exit, i)), [0x1000, 0x1001, 0x1002]);
});

test('an unowned port reads as all ones of the access size and is counted', (t) => {
  const { counters, dispatcher, exit } = setup();
  for (const [size, ones] of [[1, 0xff], [2, 0xffff], [4, 0xffffffff]] as const) {
    dispatcher.dispatch(io(exit, 0x80, size, false));
    t.is(exitValue(exit), ones, `size ${size}`);
  }
  t.is(counters.values[CoreCounter.PioUnhandled], 3);
  t.is(counters.get('pio.unhandled'), 3);
});

test('an unowned port write is counted once per element', (t) => {
  const { counters, dispatcher, exit } = setup();
  dispatcher.dispatch(io(exit, 0x80, 1, true, 4));
  t.is(counters.get('pio.unhandled'), 4);
});

test('an owned port read does not count as unhandled', (t) => {
  const { pio, counters, dispatcher, exit } = setup();
  pio.register('zero', 0x70, 1, { read: () => 0, write() {} });
  dispatcher.dispatch(io(exit, 0x70, 1, false));
  t.is(exitValue(exit), 0);
  t.is(counters.get('pio.unhandled'), 0);
});

test('a guest read of a device value with bit 31 set sees that value', (t) => {
  const { pio, counters, dispatcher, exit } = setup();
  pio.register('msb', 0x70, 4, { read: () => 0x80000000 | 0x1234, write() {} });
  dispatcher.dispatch(io(exit, 0x70, 4, false));
  t.is(exitValue(exit), 0x80001234);
  t.is(counters.get('pio.unhandled'), 0);
});

test('an MMIO write reaches the device at its offset', (t) => {
  const { mmio, dispatcher, exit } = setup();
  const got: number[][] = [];
  mmio.register('dev', 0xfee00000, 0x1000, { read: () => 0, write: (o, s, v) => void got.push([o, s, v]) });
  exit.kind = ExitKind.Mmio;
  exit.gpa = 0xfee000b0;
  exit.size = 4;
  exit.write = true;
  exit.data.setUint32(exit.dataOffset, 0xabcd, true);
  dispatcher.dispatch(exit);
  t.deepEqual(got, [[0xb0, 4, 0xabcd]]);
});

test('an unowned MMIO read returns all ones of the access size and is counted', (t) => {
  const { counters, dispatcher, exit } = setup();
  exit.kind = ExitKind.Mmio;
  exit.gpa = 0xd0000000;
  exit.write = false;
  for (const size of [1, 2, 4, 8]) {
    exit.size = size;
    exit.data.setBigUint64(exit.dataOffset, 0n);
    dispatcher.dispatch(exit);
    const bytes = [...new Uint8Array(exit.data.buffer, exit.dataOffset, 8)];
    t.deepEqual(bytes, [...new Array(size).fill(0xff), ...new Array(8 - size).fill(0)], `size ${size}`);
  }
  t.is(counters.get('mmio.unhandled'), 4);
});

test('every exit is counted by kind', (t) => {
  const { counters, dispatcher, exit } = setup();
  exit.kind = ExitKind.Deadline;
  dispatcher.dispatch(exit);
  dispatcher.dispatch(exit);
  exit.kind = ExitKind.Hlt;
  dispatcher.dispatch(exit);
  t.is(counters.get('exits.deadline'), 2);
  t.is(counters.get('exits.hlt'), 1);
});

test('each exit kind gives the run loop the right disposition', (t) => {
  const { dispatcher, exit } = setup();
  const expect: [number, Disposition][] = [
    [ExitKind.IrqWindow, Disposition.Continue],
    [ExitKind.Hypercall, Disposition.Continue],
    [ExitKind.Deadline, Disposition.Yield],
    [ExitKind.Hlt, Disposition.Halt],
    [ExitKind.Shutdown, Disposition.Shutdown],
    [ExitKind.InternalError, Disposition.Error],
    [ExitKind.FailEntry, Disposition.Error],
    [ExitKind.Unknown, Disposition.Error],
  ];
  for (const [kind, disp] of expect) {
    exit.kind = kind as VmExit['kind'];
    t.is(dispatcher.dispatch(exit), disp, `kind ${kind}`);
  }
});

test('a hypercall exit goes to the installed handler', (t) => {
  const { dispatcher, exit } = setup();
  const seen: number[] = [];
  dispatcher.onHypercall = (e) => void seen.push(e.hypercall);
  exit.kind = ExitKind.Hypercall;
  exit.hypercall = 12;
  dispatcher.dispatch(exit);
  t.deepEqual(seen, [12]);
});

function mmioExit(exit: VmExit, gpa: number, size: number, write: boolean): VmExit {
  exit.kind = ExitKind.Mmio;
  exit.gpa = gpa;
  exit.size = size;
  exit.write = write;
  return exit;
}

test('MMIO exits are counted per registered range through the dispatcher, unowned apart', (t) => {
  const pio = new PioBus();
  const mmio = new MmioBus();
  const counters = new Counters();
  const probes = new TelemetryProbes(counters);
  const dispatcher = new ExitDispatcher(pio, mmio, counters, probes);
  const exit = createExit(new DataView(new ArrayBuffer(4096)));
  exit.dataOffset = 0x100;
  const log: string[] = [];
  const fake = (name: string): MmioDevice => ({
    read: (o, s) => { log.push(`${name} r ${o}/${s}`); return 0x80000000 + o; },
    write: (o, s, v) => void log.push(`${name} w ${o}/${s}=${v}`),
  });
  // Registered above-first: indexes follow registration, not address order.
  mmio.register('lapic', 0xfee00000, 0x1000, fake('lapic'));
  mmio.register('hpet', 0xfed00000, 0x400, fake('hpet'));
  for (let i = 0; i < 3; i++) dispatcher.dispatch(mmioExit(exit, 0xfee000b0, 4, true));
  dispatcher.dispatch(mmioExit(exit, 0xfed000f0, 4, false));
  t.is(exitValue(exit), 0x800000f0, 'the read value reaches the guest (bit 31 set)');
  dispatcher.dispatch(mmioExit(exit, 0xd0000000, 4, false));
  dispatcher.dispatch(mmioExit(exit, 0xd0000000, 2, true));
  t.is(probes.mmioExits[0], 3, 'lapic');
  t.is(probes.mmioExits[1], 1, 'hpet');
  t.is(probes.mmioUnownedExits, 2);
  t.is(counters.get('mmio.unhandled'), 2);
  t.is(counters.get('exits.mmio'), 6);
  t.is(counters.get('io.mmio.write.ops'), 4);
  t.is(counters.get('io.mmio.read.bytes'), 8);
  t.deepEqual(log, ['lapic w 176/4=0', 'lapic w 176/4=0', 'lapic w 176/4=0', 'hpet r 240/4']);
  t.is(probes.mmioRange(0)?.name, 'lapic', 'the dispatcher names the indexes from its bus');
  t.is(probes.mmioRange(1)?.base, 0xfed00000);
  t.is(probes.mmioRange(2), undefined);
});

test('the per-range MMIO table grows for a range beyond its size, keeping the counts', (t) => {
  const probes = new TelemetryProbes(new Counters());
  probes.mmio(4, false, 3);
  probes.mmio(4, false, MMIO_RANGE_SLOTS + 5);
  t.true(probes.mmioExits.length > MMIO_RANGE_SLOTS + 5);
  t.is(probes.mmioExits[3], 1);
  t.is(probes.mmioExits[MMIO_RANGE_SLOTS + 5], 1);
});
