import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  GuestMemory, MmioBus, BoardRegistry, ConfigError, CompositionError, DeviceRegistry, PioBus, TimerQueue, WiringError, planDevices, validateConfig,
  type Disposable, type IrqLine,
} from '@hyvisor/core';
import { addBuiltinDevices, BufferSerialOutput, NullSerialOutput } from '@hyvisor/devices';
import { PciFunctionBase, type PciBus } from '@hyvisor/pci';
import { addVirtioDevices } from '@hyvisor/virtio';
import { attachDevices, type DeviceHost } from './attach.js';

const RAM = 1 << 20;

/** A machine as devices see it: a real PIO bus and clock, recorded interrupt lines and exits. */
function host() {
  const raised: number[] = [];
  const exits: number[] = [];
  let resets = 0;
  const owned: Disposable[] = [];
  const msis: [number, number][] = [];
  const memory = new GuestMemory();
  memory.addRegion({ name: 'ram', gpa: 0, size: RAM, buffer: new ArrayBuffer(RAM), readonly: false });
  const h: DeviceHost = {
    pio: new PioBus(),
    mmio: new MmioBus(),
    clock: new TimerQueue(() => 0),
    vm: { memory },
    ramSize: RAM,
    signalMsi: (address: number, data: number) => { msis.push([address, data]); },
    irqLine: (irq: number): IrqLine => ({ raise: () => raised.push(irq), lower() {} }),
    requestExit: (code: number) => exits.push(code),
    requestReset: () => { resets++; },
    own: <T extends Disposable>(d: T) => { owned.push(d); return d; },
  };
  return { h, raised, exits, owned, msis, memory, resets: () => resets };
}

function plan(raw: Record<string, unknown>) {
  const devices = new DeviceRegistry();
  const boards = new BoardRegistry();
  addBuiltinDevices(devices, boards);
  addVirtioDevices(devices);
  return planDevices(validateConfig({ guest: { kernel: '/g.elf' }, serial: { output: 'buffer' }, ...raw }), devices, boards);
}
const serial = { output: 'buffer', input: 'none' } as const;

test('the testbed board puts its five devices on their ports, wired to the machine', (t) => {
  const { h, raised, exits } = host();
  const d = attachDevices(h, plan({ board: 'testbed' }), { serial });
  t.deepEqual(h.pio.ranges.map((r) => [r.name, r.base, r.length]), [['com1', 0x3f8, 8], ['debug-exit', 0xf4, 4], ['bench', 0x510, 2], ['irq-test', 0x512, 2], ['stall', 0x514, 4]]);
  h.pio.write(0x3f8, 1, 0x41);
  t.is((d.serialOutput as BufferSerialOutput).text(), 'A');
  h.pio.write(0x510, 1, 0);
  t.is(d.bench.count, 1);
  h.pio.write(0x512, 1, 1);
  t.deepEqual(raised, [5], 'irq-test raises IRQ 5 through the machine');
  h.pio.write(0xf4, 4, 7);
  t.deepEqual(exits, [7]);
  t.is(d.board, 'testbed');
  t.is(d.find('stall')?.device, 'stall');
});

test('on the pc board the i8042 reset command reaches the machine\'s reset trigger, not its exit code', (t) => {
  const { h, exits, resets } = host();
  attachDevices(h, plan({ board: 'pc' }), { serial });
  h.pio.write(0x64, 1, 0xfe);
  t.is(resets(), 1);
  t.deepEqual(exits, []);
});

test('on the pc board PCI bus 0 answers configuration cycles and places a function\'s BAR on the machine\'s MMIO bus', (t) => {
  const { h } = host();
  const d = attachDevices(h, plan({ board: 'pc' }), { serial });
  h.pio.write(0xcf8, 4, 0x80000000);
  t.is(h.pio.read(0xcfc, 4), 0x00081b36, 'host bridge at 00:00.0');
  h.pio.write(0xcf8, 4, 0x80000800);
  t.is(h.pio.read(0xcfc, 4), 0xffffffff, 'slot 1 empty');
  const bus = d.get<PciBus>('pci');
  class Fn extends PciFunctionBase {
    constructor() {
      super('fn', { vendorId: 0x1af4, deviceId: 0x1044, classCode: 0xff0000 });
      this.setBar(0, { kind: 'mem32', size: 0x1000 }, { read: () => 0x5a, write() {} });
    }
  }
  const slot = bus.attach(new Fn());
  h.pio.write(0xcf8, 4, (0x80000010 | (slot << 11)) >>> 0);
  h.pio.write(0xcfc, 4, 0xfebf0000);
  h.pio.write(0xcf8, 4, (0x80000004 | (slot << 11)) >>> 0);
  h.pio.write(0xcfc, 2, 0x2);
  t.is(h.mmio.read(0xfebf0000, 4), 0x5a);
});

test('a virtio-rng entry plugs into the pc board\'s PCI bus with its INTx on IRQ 11 (or the config\'s irq)', (t) => {
  const { h } = host();
  attachDevices(h, plan({ board: 'pc', devices: [{ device: 'virtio-rng', seed: 7 }, { device: 'virtio-rng', name: 'rng2', irq: 10, slot: 5 }] }), { serial });
  const cfg = (slot: number, reg: number, size = 4) => { h.pio.write(0xcf8, 4, (0x80000000 | (slot << 11) | reg) >>> 0); return h.pio.read(0xcfc, size); };
  t.is(cfg(1, 0x00), 0x10441af4, 'slot 1: virtio 1.x entropy device');
  t.is(cfg(1, 0x3c) & 0xff, 11);
  t.is(cfg(5, 0x00), 0x10441af4, 'the second one in the slot the config asked for');
  t.is(cfg(5, 0x3c) & 0xff, 10);
});

test('a virtio-blk entry opens (or creates) its image and shows as a virtio 1.x block device', (t) => {
  const { h, owned } = host();
  const image = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'hyvisor-vblk-')), 'disk.img');
  attachDevices(h, plan({ board: 'pc', devices: [{ device: 'virtio-blk', path: image, size: '1MiB' }] }), { serial });
  h.pio.write(0xcf8, 4, 0x80000800);
  t.is(h.pio.read(0xcfc, 4), 0x10421af4, 'slot 1: vendor 0x1af4, device 0x1040 + 2 (block)');
  t.is(fs.statSync(image).size, 1 << 20);
  t.true(owned.length > 0, 'the image is closed with the machine');
  t.throws(() => attachDevices(host().h, plan({ board: 'pc', devices: [{ device: 'virtio-blk' }] }), { serial }), { message: /needs path/ });
});

test('a virtio device without a PCI bus, or given a port, is refused with one line that says what to do', (t) => {
  const { h } = host();
  const e = t.throws(() => attachDevices(h, plan({ board: 'minimal', devices: [{ device: 'virtio-rng' }] }), { serial }));
  t.regex(e!.message, /no PCI host named 'pci' \(use board: pc/);
  t.throws(() => plan({ board: 'pc', devices: [{ device: 'virtio-rng', port: 0x100 }] }), { message: /has no fixed ports .* leave port out/ });
});

test('on the minimal board the test devices are absent and their accessors say which board has them', (t) => {
  const { h } = host();
  const d = attachDevices(h, plan({ board: 'minimal' }), { serial });
  t.deepEqual(h.pio.ranges.map((r) => r.name), ['com1', 'debug-exit']);
  t.is(h.pio.read(0x514, 4), -1, 'the stall port is unowned');
  t.throws(() => d.stall, { instanceOf: WiringError, message: 'this machine (board minimal) has no stall device; use board: testbed or add it under devices:' });
  t.throws(() => d.bench, { instanceOf: WiringError, message: /use board: testbed/ });
  t.throws(() => d.get('bench'), { instanceOf: WiringError, message: "this machine (board minimal) has no device named 'bench' (it has: com1, debug-exit)" });
});

test('a second UART from config gets its own port, IRQ and output; com1 stays the console', (t) => {
  const { h, raised } = host();
  const d = attachDevices(h, plan({ board: 'minimal', devices: [{ device: 'uart16550', name: 'com2', port: 0x2f8, irq: 3, output: 'none' }] }), { serial });
  t.is(d.ofType('uart16550').length, 2);
  t.true(d.serialOutput instanceof BufferSerialOutput);
  t.true(d.find<{ output: unknown }>('com2')!.handle.output instanceof NullSerialOutput);
  h.pio.write(0x2f8 + 4, 1, 0x08); // MCR.OUT2
  h.pio.write(0x2f8 + 1, 1, 0x02); // IER.ETBEI: THR empty raises at once
  t.deepEqual(raised, [3]);
});

test('a device on a port a strategy facet already owns is a config error naming the entry', (t) => {
  const { h } = host();
  h.pio.register('pit', 0x40, 4, { read: () => 0, write() {} });
  const err = t.throws(() => attachDevices(h, plan({ devices: [{ device: 'irq-test', name: 'irq2', port: 0x42 }] }), { serial }), { instanceOf: ConfigError });
  t.is(err!.message, 'devices[0]: pio device irq2 [0x42, 0x44) overlaps pit [0x40, 0x44); move it with port: or pick another board or strategy');
});

test('a factory that throws is a composition error naming the device', (t) => {
  const devices = new DeviceRegistry();
  const boards = new BoardRegistry();
  devices.register({ name: 'broken', description: 'x', ports: [{ base: 0x600, count: 1 }], create: () => { throw new Error('no backing file\nstack'); } });
  boards.register({ name: 'b', description: 'x', devices: [{ device: 'broken' }] });
  const p = planDevices({ board: 'b', devices: [] }, devices, boards);
  t.throws(() => attachDevices(host().h, p, { serial }), { instanceOf: CompositionError, message: "board b: device broken 'broken' failed to start: no backing file" });
});

test('device states: saved by instance name as plain data, restored onto a machine with the same devices', (t) => {
  const a = attachDevices(host().h, plan({ board: 'testbed' }), { serial });
  a.bench.write(0, 1, 0);
  a.bench.write(0, 1, 0);
  a.irqTest.write(0, 1, 1);
  a.uart.write(7, 1, 0x99);
  const saved = JSON.parse(JSON.stringify(a.saveState()));
  t.deepEqual(Object.keys(saved), ['com1', 'debug-exit', 'bench', 'irq-test', 'stall']);
  const { h, raised } = host();
  const b = attachDevices(h, plan({ board: 'testbed' }), { serial });
  b.restoreState(saved);
  t.deepEqual(b.saveState(), a.saveState());
  t.is(b.bench.count, 2);
  t.deepEqual(raised, [5], 'the restored irq-test drives its line');
  t.is(h.pio.read(0x3ff, 1), 0x99);
  const minimal = attachDevices(host().h, plan({ board: 'minimal' }), { serial });
  t.throws(() => minimal.restoreState(saved), { instanceOf: WiringError, message: /device state for 'bench' \(bench-counter\) does not match this machine's devices/ });
});
