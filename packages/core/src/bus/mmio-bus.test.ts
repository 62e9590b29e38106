import test from 'ava';
import { WiringError } from '../errors.js';
import type { MmioDevice } from './device.js';
import { MmioBus } from './mmio-bus.js';

function probe(tag: number, log: string[] = []): MmioDevice {
  return {
    read: (offset) => tag + offset,
    write: (offset, size, value) => void log.push(`${tag}:${offset}/${size}=${value}`),
  };
}

test('lookup finds the right range among many, with the offset from its base', (t) => {
  const bus = new MmioBus();
  // Registered out of order: the bus must sort them for its binary search.
  for (const i of [5, 1, 9, 3, 7, 0, 2, 8, 4, 6]) bus.register(`dev${i}`, 0xfe000000 + i * 0x1000, 0x100, probe(i * 0x10000));
  for (let i = 0; i < 10; i++) {
    t.is(bus.read(0xfe000000 + i * 0x1000 + 0x20, 4), i * 0x10000 + 0x20, `dev${i}`);
    t.is(bus.find(0xfe000000 + i * 0x1000 + 0xff)?.name, `dev${i}`);
    t.is(bus.find(0xfe000000 + i * 0x1000 + 0x100), undefined, `gap after dev${i}`);
  }
});

test('a write routes to the owning device; an unowned write returns false', (t) => {
  const log: string[] = [];
  const bus = new MmioBus();
  bus.register('a', 0x1000, 0x10, probe(1, log));
  t.true(bus.write(0x1008, 4, 7));
  t.false(bus.write(0x1010, 4, 7));
  t.deepEqual(log, ['1:8/4=7']);
});

test('an unowned address reads as -1', (t) => {
  const bus = new MmioBus();
  bus.register('a', 0x1000, 0x10, probe(1));
  t.is(bus.read(0xfff, 1), -1);
  t.is(bus.read(0x1010, 1), -1);
});

test('overlapping registration fails naming both devices', (t) => {
  const bus = new MmioBus();
  bus.register('hpet', 0xfed00000, 0x400, probe(0));
  const err = t.throws(() => bus.register('ioapic', 0xfed003ff, 0x20, probe(0)), { instanceOf: WiringError });
  t.regex(err!.message, /ioapic .* overlaps hpet \[0xfed00000, 0xfed00400\)/);
});

test('a device read with bit 31 set is not mistaken for an unowned address', (t) => {
  const bus = new MmioBus();
  bus.register('msb', 0x1000, 4, { read: () => 0xfee00000 | 0, write() {} });
  t.is(bus.read(0x1000, 4), 0xfee00000);
});

test('a bad range is rejected', (t) => {
  const bus = new MmioBus();
  t.throws(() => bus.register('neg', -1, 4, probe(0)), { instanceOf: WiringError });
  t.throws(() => bus.register('empty', 0, 0, probe(0)), { instanceOf: WiringError });
});

test('each range gets its registration index, dense even after a refused registration', (t) => {
  const bus = new MmioBus();
  bus.register('hi', 0xfee00000, 0x1000, probe(0));
  t.throws(() => bus.register('clash', 0xfee00800, 0x10, probe(0)), { instanceOf: WiringError });
  bus.register('lo', 0x1000, 0x10, probe(0));
  t.is(bus.find(0xfee00010)?.index, 0);
  t.is(bus.find(0x1004)?.index, 1, 'sorted first by address, indexed by registration');
  t.is(bus.range(1)?.name, 'lo');
  t.is(bus.range(2), undefined);
  const r = bus.find(0x1004)!;
  t.is(bus.readIn(r, 0x1004, 4), 4, 'readIn: the offset from the base, no second lookup');
});

test('an unregistered range frees its addresses; its index still names it for telemetry', (t) => {
  const bus = new MmioBus();
  const reg = bus.register('bar0', 0xfebf0000, 0x1000, { read: () => 7, write() {} });
  const index = bus.find(0xfebf0004)!.index;
  reg.dispose();
  t.is(bus.read(0xfebf0004, 4), -1);
  t.is(bus.ranges.length, 0);
  t.is(bus.range(index)?.name, 'bar0');
  bus.register('bar0-moved', 0xfebf0800, 0x1000, { read: () => 9, write() {} });
  t.is(bus.read(0xfebf0804, 4), 9);
  t.not(bus.find(0xfebf0804)!.index, index);
});
