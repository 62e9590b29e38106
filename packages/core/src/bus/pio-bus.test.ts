import test from 'ava';
import { WiringError } from '../errors.js';
import type { PioDevice } from './device.js';
import { PioBus } from './pio-bus.js';

/** Remembers accesses and answers reads with `0x100 * offset + size`. */
class Probe implements PioDevice {
  readonly writes: [number, number, number][] = [];
  read(offset: number, size: number): number {
    return 0x100 * offset + size;
  }
  write(offset: number, size: number, value: number): void {
    this.writes.push([offset, size, value]);
  }
}

test('a port routes to its device with the offset from the base', (t) => {
  const bus = new PioBus();
  const uart = new Probe();
  const exit = new Probe();
  bus.register('uart', 0x3f8, 8, uart);
  bus.register('debug-exit', 0xf4, 4, exit);
  t.is(bus.read(0x3fd, 1), 0x501);
  t.true(bus.write(0xf6, 2, 0x42));
  t.deepEqual(exit.writes, [[2, 2, 0x42]]);
  t.deepEqual(uart.writes, []);
  t.is(bus.find(0x3ff)?.name, 'uart');
});

test('the ports around a device are not its', (t) => {
  const bus = new PioBus();
  bus.register('uart', 0x3f8, 8, new Probe());
  t.is(bus.find(0x3f7), undefined);
  t.is(bus.find(0x400), undefined);
});

test('an unowned port reads as -1 and drops writes', (t) => {
  const bus = new PioBus();
  t.is(bus.read(0x80, 1), -1);
  t.false(bus.write(0x80, 1, 0));
});

test('overlapping registration fails naming both devices', (t) => {
  const bus = new PioBus();
  bus.register('uart', 0x3f8, 8, new Probe());
  const err = t.throws(() => bus.register('mouse', 0x3fc, 8, new Probe()), { instanceOf: WiringError });
  t.is(err!.message, 'pio device mouse [0x3fc, 0x404) overlaps uart [0x3f8, 0x400)');
});

test('a failed registration leaves the bus unchanged', (t) => {
  const bus = new PioBus();
  bus.register('uart', 0x3f8, 8, new Probe());
  t.throws(() => bus.register('wide', 0x3f0, 0x10, new Probe()));
  t.is(bus.find(0x3f0), undefined);
  t.is(bus.ranges.length, 1);
});

test('ports outside 0..0xffff are rejected', (t) => {
  const bus = new PioBus();
  t.throws(() => bus.register('top', 0xfffe, 4, new Probe()), { instanceOf: WiringError });
  t.throws(() => bus.register('neg', -1, 2, new Probe()), { instanceOf: WiringError });
  t.throws(() => bus.register('empty', 0x10, 0, new Probe()), { instanceOf: WiringError });
  t.notThrows(() => bus.register('last', 0xfffc, 4, new Probe()));
});

test('a device read with bit 31 set is not mistaken for an unowned port', (t) => {
  const bus = new PioBus();
  // `|` in JS yields a signed 32-bit result: a natural way for a device to return 0x80000000.
  bus.register('msb', 0x10, 4, { read: () => 0x80000000 | 0, write() {} });
  t.is(bus.read(0x10, 4), 0x80000000);
});

test('an unregistered range frees its ports for a new owner and stops receiving accesses', (t) => {
  const bus = new PioBus();
  const got: number[] = [];
  const reg = bus.register('bar', 0xc000, 0x20, { read: () => 0x11, write: (_o, _s, v) => void got.push(v) });
  t.is(bus.read(0xc010, 1), 0x11);
  reg.dispose();
  reg.dispose(); // twice is harmless
  t.is(bus.read(0xc010, 1), -1);
  t.false(bus.write(0xc010, 1, 5));
  t.deepEqual(got, []);
  t.is(bus.ranges.length, 0);
  bus.register('moved', 0xc000, 0x10, { read: () => 0x22, write() {} });
  t.is(bus.read(0xc00f, 1), 0x22);
  t.is(bus.read(0xc010, 1), -1);
});
