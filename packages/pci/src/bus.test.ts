import test from 'ava';
import { MmioBus, PioBus, type ResourceMapper } from '@hyvisor/core';
import { PciBus, PciConfigIo } from './bus.js';
import { PciFunctionBase } from './function.js';
import { PciHostBridge } from './host-bridge.js';

class TestFunction extends PciFunctionBase {
  constructor() {
    super('nic', { vendorId: 0x8086, deviceId: 0x100e, classCode: 0x020000, interruptPin: 1 });
    this.setBar(0, { kind: 'mem32', size: 0x1000 }, { read: (o) => 0xa0000000 + o, write() {} });
    this.setBar(1, { kind: 'io', size: 0x40 }, { read: (o) => 0xb0 + o, write() {} });
    this.setBar(2, { kind: 'mem64', size: 0x4000 }, { read: (o) => 0xc0000000 + o, write() {} });
  }
}

function machine() {
  const pio = new PioBus();
  const mmio = new MmioBus();
  const resources: ResourceMapper = { mapMmio: (...a) => mmio.register(...a), mapPio: (...a) => pio.register(...a) };
  const bus = new PciBus(resources);
  bus.attach(new PciHostBridge(), 0);
  pio.register('pci', 0xcf8, 8, new PciConfigIo(bus));
  const cfg = (dev: number, reg: number) => pio.write(0xcf8, 4, (0x80000000 | (dev << 11) | reg) >>> 0);
  const read = (dev: number, reg: number, size = 4) => { cfg(dev, reg & 0xfc); return pio.read(0xcfc + (reg & 3), size); };
  const write = (dev: number, reg: number, value: number, size = 4) => { cfg(dev, reg & 0xfc); pio.write(0xcfc + (reg & 3), size, value); };
  return { pio, mmio, bus, read, write };
}

test('mechanism #1: a dword write to 0xcf8 latches the address; reads of it drop the reserved bits', (t) => {
  const { pio } = machine();
  pio.write(0xcf8, 4, 0xffffffff);
  t.is(pio.read(0xcf8, 4), 0x80fffffc);
  pio.write(0xcfb, 1, 0x01); // Linux's probe pokes the mechanism #2 enable byte first
  t.is(pio.read(0xcf8, 4), 0x80fffffc, 'a byte write is not the address register');
  t.is(pio.read(0xcf8, 1), 0xff);
});

test('enumeration: the host bridge answers at 00:00.0, empty slots and other buses read all ones', (t) => {
  const { pio, read } = machine();
  t.is(read(0, 0x00), 0x00081b36);
  t.is(read(0, 0x08) >>> 8, 0x060000);
  t.is(read(1, 0x00), 0xffffffff);
  t.is(read(31, 0x00, 2), 0xffff);
  pio.write(0xcf8, 4, 0x80010000); // bus 1
  t.is(pio.read(0xcfc, 4), 0xffffffff);
  pio.write(0xcf8, 4, 0x00000000); // enable bit clear
  t.is(pio.read(0xcfc, 4), 0xffffffff);
});

test('the data window reaches the register at the byte offset of the port, any width', (t) => {
  const { read } = machine();
  t.is(read(0, 0x02, 2), 0x0008); // device ID through 0xcfe
  t.is(read(0, 0x0b, 1), 0x06); // base class through 0xcff
  t.is(read(0, 0x01, 1), 0x1b);
});

test('a BAR decodes only once the guest enables its space, and follows the guest when moved', (t) => {
  const { mmio, pio, bus, read, write } = machine();
  const slot = bus.attach(new TestFunction());
  t.is(slot, 1);
  write(slot, 0x10, 0xfebf0000);
  write(slot, 0x14, 0xc000);
  t.is(mmio.read(0xfebf0010, 4), -1, 'memory space not enabled yet');
  t.is(pio.read(0xc004, 1), -1);
  write(slot, 0x04, 0x3, 2);
  t.is(mmio.read(0xfebf0010, 4), 0xa0000010);
  t.is(pio.read(0xc004, 1), 0xb4);
  write(slot, 0x10, 0xfebf8000);
  t.is(mmio.read(0xfebf0010, 4), -1, 'the old range is free again');
  t.is(mmio.read(0xfebf8010, 4), 0xa0000010);
  write(slot, 0x04, 0x1, 2);
  t.is(mmio.read(0xfebf8010, 4), -1, 'memory decoding off');
  t.is(pio.read(0xc004, 1), 0xb4, 'I/O decoding still on');
  t.is(read(slot, 0x04, 2), 0x1);
});

test('sizing and address 0 leave a BAR unmapped; a 64-bit BAR maps above 4 GiB', (t) => {
  const { mmio, bus, read, write } = machine();
  const slot = bus.attach(new TestFunction());
  write(slot, 0x04, 0x2, 2);
  write(slot, 0x10, 0xffffffff);
  t.is(read(slot, 0x10), 0xfffff000);
  t.is(mmio.ranges.length, 0, 'the sizing pattern is not an address');
  write(slot, 0x18, 0x0);
  write(slot, 0x1c, 0x2);
  t.is(mmio.read(0x2_0000_0010, 4), 0xc0000010);
});

test('a BAR placed over another device stays unmapped and is counted; the VMM keeps running', (t) => {
  const { mmio, bus, write } = machine();
  mmio.register('lapic', 0xfee00000, 0x1000, { read: () => 0x14, write() {} });
  const slot = bus.attach(new TestFunction());
  t.notThrows(() => {
    write(slot, 0x10, 0xfee00000);
    write(slot, 0x04, 0x2, 2);
  });
  t.is(bus.stats.barConflicts, 1);
  t.is(mmio.read(0xfee00000, 4), 0x14, 'the LAPIC keeps its range');
  write(slot, 0x10, 0xfebf0000);
  t.is(mmio.read(0xfebf0000, 4), 0xa0000000, 'moved to a free range, the BAR decodes');
});

test('slots: a taken or out-of-range slot is a wiring error naming the device', (t) => {
  const { bus } = machine();
  t.throws(() => bus.attach(new TestFunction(), 0), { message: /slot 0 is taken by pci-host-bridge/ });
  t.throws(() => bus.attach(new TestFunction(), 32), { message: /outside/ });
});

test('dispose frees every BAR range', (t) => {
  const { mmio, bus, write } = machine();
  const slot = bus.attach(new TestFunction());
  write(slot, 0x10, 0xfebf0000);
  write(slot, 0x04, 0x2, 2);
  t.is(mmio.ranges.length, 1);
  bus.dispose();
  t.is(mmio.ranges.length, 0);
});
