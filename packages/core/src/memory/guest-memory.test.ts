import test from 'ava';
import { WiringError } from '../errors.js';
import { GuestMemory, MAX_GPA, type MemoryRegion } from './guest-memory.js';

function region(name: string, gpa: number, size: number, readonly = false): MemoryRegion {
  return { name, gpa, size, buffer: new ArrayBuffer(size), readonly };
}

/** RAM at [0, 64 KiB) and a second region right after it at [64 KiB, 68 KiB). */
function twoRegions(): GuestMemory {
  const m = new GuestMemory();
  m.addRegion(region('ram', 0, 0x10000));
  m.addRegion(region('high', 0x10000, 0x1000));
  return m;
}

const hostile = [-1, -0.5, NaN, 1.5, Infinity, -Infinity, MAX_GPA, 2 ** 64, 0x11000, 0x10fff + 1];

test('hostile addresses read as BAD or undefined and never throw', (t) => {
  const m = twoRegions();
  for (const a of hostile) {
    t.is(m.u8(a), GuestMemory.BAD, `u8(${a})`);
    t.is(m.u16(a), GuestMemory.BAD, `u16(${a})`);
    t.is(m.u32(a), GuestMemory.BAD, `u32(${a})`);
    t.is(m.u64(a), undefined, `u64(${a})`);
    t.is(m.slice(a, 1), undefined, `slice(${a})`);
    t.is(m.read(a, 1), undefined, `read(${a})`);
  }
});

test('hostile addresses refuse writes and never throw', (t) => {
  const m = twoRegions();
  for (const a of hostile) {
    t.false(m.setU8(a, 1), `setU8(${a})`);
    t.false(m.setU16(a, 1), `setU16(${a})`);
    t.false(m.setU32(a, 1), `setU32(${a})`);
    t.false(m.setU64(a, 1n), `setU64(${a})`);
    t.false(m.write(a, new Uint8Array(1)), `write(${a})`);
    t.false(m.fill(a, 1), `fill(${a})`);
  }
});

test('hostile lengths miss', (t) => {
  const m = twoRegions();
  for (const len of [-1, NaN, 0.5, Infinity, 2 ** 60]) {
    t.is(m.slice(0, len), undefined, `len ${len}`);
    t.false(m.contains(0, len), `contains len ${len}`);
  }
});

test('an access straddling two adjacent regions misses', (t) => {
  const m = twoRegions();
  t.is(m.u32(0xfffe), GuestMemory.BAD);
  t.false(m.setU64(0xfffc, 0n));
  t.is(m.read(0xff00, 0x200), undefined);
});

test('an access ending exactly at the end of a region hits', (t) => {
  const m = twoRegions();
  t.true(m.setU32(0xfffc, 0x01020304));
  t.is(m.u32(0xfffc), 0x01020304);
  t.is(m.u8(0x10fff), 0);
});

test('a failed multi-byte write leaves memory untouched', (t) => {
  const m = twoRegions();
  t.false(m.write(0xfffe, Uint8Array.of(1, 2, 3, 4)));
  t.is(m.u16(0xfffe), 0);
});

test('accessors are little-endian', (t) => {
  const m = twoRegions();
  m.setU32(0x100, 0x11223344);
  t.deepEqual([...m.read(0x100, 4)!], [0x44, 0x33, 0x22, 0x11]);
  m.setU64(0x200, 0x0102030405060708n);
  t.is(m.u8(0x200), 0x08);
  t.is(m.u16(0x206), 0x0102);
  t.is(m.u32(0x204), 0x01020304);
});

test('values wider than the access are truncated, negatives wrap', (t) => {
  const m = twoRegions();
  m.setU32(0, -1);
  t.is(m.u32(0), 0xffffffff);
  m.setU64(8, -1n);
  t.is(m.u64(8), 0xffffffffffffffffn);
  m.setU64(16, 1n << 64n | 5n);
  t.is(m.u64(16), 5n);
});

test('addresses in the second region reach its own buffer', (t) => {
  const m = new GuestMemory();
  const high = region('high', 0x100000, 0x1000);
  m.addRegion(region('low', 0, 0x1000));
  m.addRegion(high);
  m.setU8(0x100010, 0xab);
  t.is(new Uint8Array(high.buffer)[0x10], 0xab);
  t.is(m.regionOf(0x100010)?.name, 'high');
});

test('a slice is a live view: writes through it reach the guest', (t) => {
  const m = twoRegions();
  m.slice(0x40, 2)!.set([9, 8]);
  t.is(m.u16(0x40), 0x0809);
});

test('read returns a copy, not a view', (t) => {
  const m = twoRegions();
  const copy = m.read(0x40, 1)!;
  copy[0] = 0x55;
  t.is(m.u8(0x40), 0);
});

test('overlapping regions are rejected with both names', (t) => {
  const m = new GuestMemory();
  m.addRegion(region('ram', 0x1000, 0x2000));
  const err = t.throws(() => m.addRegion(region('rom', 0x2fff, 0x10)), { instanceOf: WiringError });
  t.regex(err!.message, /rom .*overlaps ram/);
});

test('a region inside another is rejected', (t) => {
  const m = new GuestMemory();
  m.addRegion(region('ram', 0, 0x10000));
  t.throws(() => m.addRegion(region('inner', 0x100, 0x100)), { instanceOf: WiringError });
});

test('touching regions are allowed', (t) => {
  const m = new GuestMemory();
  m.addRegion(region('a', 0x1000, 0x1000));
  t.notThrows(() => m.addRegion(region('b', 0, 0x1000)));
  t.deepEqual(m.regions.map((r) => r.name), ['b', 'a'], 'regions are sorted by address');
  t.is(m.totalSize, 0x2000);
});

test('a region whose buffer is too small is rejected', (t) => {
  const m = new GuestMemory();
  const err = t.throws(() => m.addRegion({ name: 'ram', gpa: 0, size: 0x2000, buffer: new ArrayBuffer(0x1000), readonly: false }));
  t.regex(err!.message, /buffer has 4096 bytes, region needs 8192/);
});

test('a region with a bad address or size is rejected', (t) => {
  const m = new GuestMemory();
  for (const [gpa, size] of [[-4096, 4096], [0.5, 4096], [0, 0], [MAX_GPA - 4096, 8192]] as const) {
    t.throws(() => m.addRegion({ name: 'x', gpa, size, buffer: new ArrayBuffer(8192), readonly: false }), { instanceOf: WiringError }, `gpa ${gpa} size ${size}`);
  }
});
