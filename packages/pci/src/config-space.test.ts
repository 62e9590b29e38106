import test from 'ava';
import { PciConfig, PciConfigSpace, PciStatus } from './config-space.js';

const ids = { vendorId: 0x1af4, deviceId: 0x1042, classCode: 0x010000, revision: 1, subsystemVendorId: 0x1af4, subsystemId: 0x0002, interruptPin: 1 };

test('the header reads as the specification lays it out (little-endian, class code in 0x09-0x0b)', (t) => {
  const c = new PciConfigSpace(ids);
  t.is(c.read(0x00, 4), 0x10421af4);
  t.is(c.read(0x08, 4), 0x01000001); // revision 1, prog-if 0, sub-class 0, base class 1 (mass storage)
  t.is(c.read(0x0e, 1), 0); // header type 0, single function
  t.is(c.read(0x2c, 4), 0x00021af4);
  t.is(c.read(0x3d, 1), 1); // INTA#
  t.is(c.read(0xfc, 4), 0);
});

test('read-only registers ignore writes; command, cache line, latency and interrupt line take them', (t) => {
  const c = new PciConfigSpace(ids);
  c.write(0x00, 4, 0xdeadbeef);
  c.write(0x08, 4, 0xffffffff);
  c.write(0x3d, 1, 4);
  t.is(c.read(0x00, 4), 0x10421af4);
  t.is(c.read(0x08, 4), 0x01000001);
  t.is(c.read(0x3d, 1), 1);
  c.write(0x04, 2, 0xffff);
  t.is(c.read(0x04, 2), 0x0407); // I/O, memory, bus master, INTx disable: the bits this model implements
  c.write(0x0c, 2, 0x4010);
  t.is(c.read(0x0c, 2), 0x4010);
  c.write(0x3c, 1, 11);
  t.is(c.read(0x3c, 1), 11);
});

test('status error bits are write-one-to-clear; writing zero leaves them', (t) => {
  const c = new PciConfigSpace(ids);
  c.set(PciConfig.STATUS, 2, 0x8000 | 0x2000 | PciStatus.INTERRUPT);
  c.write(PciConfig.STATUS, 2, 0);
  t.is(c.read(PciConfig.STATUS, 2), 0xa008);
  c.write(PciConfig.STATUS, 2, 0x8000 | PciStatus.INTERRUPT); // the interrupt status bit is read-only
  t.is(c.read(PciConfig.STATUS, 2), 0x2008);
});

test('BAR sizing: all ones written read back as the size mask with the type bits', (t) => {
  const c = new PciConfigSpace(ids);
  c.defineBar(0, { kind: 'mem32', size: 0x1000 });
  c.defineBar(1, { kind: 'io', size: 0x20 });
  c.defineBar(2, { kind: 'mem64', size: 0x4000, prefetchable: true });
  c.defineBar(4, { kind: 'mem64', size: 2 ** 33 });
  t.is(c.read(0x10, 4), 0); // memory, 32-bit, not prefetchable
  t.is(c.read(0x14, 4), 0x1);
  t.is(c.read(0x18, 4), 0xc);
  for (let at = 0x10; at < 0x28; at += 4) c.write(at, 4, 0xffffffff);
  t.is(c.read(0x10, 4), 0xfffff000);
  t.is(c.read(0x14, 4), 0xffffffe1);
  t.is(c.read(0x18, 4), 0xffffc00c);
  t.is(c.read(0x1c, 4), 0xffffffff);
  t.is(c.read(0x20, 4), 0x00000004); // 8 GiB: no address bit in the low dword
  t.is(c.read(0x24, 4), 0xfffffffe);
  t.is(c.bar(3), undefined, 'the upper half of a 64-bit BAR is not a BAR of its own');
});

test('BAR addresses: type bits stripped, 64-bit halves joined', (t) => {
  const c = new PciConfigSpace(ids);
  c.defineBar(0, { kind: 'mem32', size: 0x1000 });
  c.defineBar(2, { kind: 'mem64', size: 0x4000, prefetchable: true });
  c.write(0x10, 4, 0xfebf1234);
  c.write(0x18, 4, 0x00004000);
  c.write(0x1c, 4, 0x1);
  t.is(c.barAddress(0), 0xfebf1000);
  t.is(c.barAddress(2), 0x1_0000_4000);
  t.is(c.barAddress(1), undefined);
});

test('bad BAR declarations are the device author\'s error, said plainly', (t) => {
  const c = new PciConfigSpace(ids);
  t.throws(() => c.defineBar(0, { kind: 'mem32', size: 3000 }), { message: /power of two/ });
  t.throws(() => c.defineBar(5, { kind: 'mem64', size: 4096 }), { message: /two/ });
  t.throws(() => c.defineBar(0, { kind: 'io', size: 2 }), { message: />= 4/ });
  c.defineBar(0, { kind: 'mem64', size: 4096 });
  t.throws(() => c.defineBar(1, { kind: 'mem32', size: 4096 }), { message: /already/ });
});

test('capabilities chain from 0x34 and set the capabilities-list status bit', (t) => {
  const c = new PciConfigSpace(ids);
  t.is(c.read(PciConfig.STATUS, 2) & PciStatus.CAPABILITIES_LIST, 0);
  const a = c.addCapability(0x09, 0x10);
  const b = c.addCapability(0x11, 12, [{ offset: 2, size: 2, mask: 0xc000 }]);
  t.is(c.read(0x34, 1), a);
  t.is(a, 0x40);
  t.is(c.read(a + 1, 1), b);
  t.is(b, 0x50);
  t.is(c.read(b, 1), 0x11);
  t.is(c.read(b + 1, 1), 0, 'the last capability ends the list');
  t.truthy(c.read(PciConfig.STATUS, 2) & PciStatus.CAPABILITIES_LIST);
  c.write(b + 2, 2, 0xffff);
  t.is(c.read(b + 2, 2), 0xc000);
});

test('accesses beyond the 256 bytes read all ones and write nothing (never throw)', (t) => {
  const c = new PciConfigSpace(ids);
  t.is(c.read(0xfe, 4), 0xffffffff);
  t.is(c.read(0x100, 2), 0xffff);
  t.notThrows(() => c.write(0xff, 4, 0x12345678));
  t.is(c.read(0xfc, 4), 0);
});
