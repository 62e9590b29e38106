import test from 'ava';
import { GuestImageError, GuestMemory } from '@hyvisor/core';
import { loadElf, parseElf } from './elf.js';

const RAM = 16 * 1024 * 1024;

interface Seg { type?: number; flags?: number; offset: number; paddr: number; filesz: number; memsz: number }

/** Builds an ELF64 x86-64 executable with the given program headers and file size. */
function elf(segs: Seg[], opts: { entry?: number; size?: number; phnum?: number; phentsize?: number; machine?: number; cls?: number } = {}): Uint8Array {
  const size = opts.size ?? 0x3000;
  const b = new Uint8Array(size);
  const v = new DataView(b.buffer);
  v.setUint32(0, 0x7f454c46);
  b[4] = opts.cls ?? 2; b[5] = 1; b[6] = 1;
  v.setUint16(16, 2, true);
  v.setUint16(18, opts.machine ?? 62, true);
  v.setBigUint64(24, BigInt(opts.entry ?? 0x100000), true);
  v.setBigUint64(32, 64n, true);
  v.setUint16(54, opts.phentsize ?? 56, true);
  v.setUint16(56, opts.phnum ?? segs.length, true);
  segs.forEach((s, i) => {
    const at = 64 + i * 56;
    v.setUint32(at, s.type ?? 1, true);
    v.setUint32(at + 4, s.flags ?? 5, true);
    v.setBigUint64(at + 8, BigInt(s.offset), true);
    v.setBigUint64(at + 16, BigInt(s.paddr), true);
    v.setBigUint64(at + 24, BigInt(s.paddr), true);
    v.setBigUint64(at + 32, BigInt(s.filesz), true);
    v.setBigUint64(at + 40, BigInt(s.memsz), true);
  });
  return b;
}

const good: Seg = { offset: 0x1000, paddr: 0x100000, filesz: 0x100, memsz: 0x2000 };

test('a well-formed image parses with its entry and segments', (t) => {
  const img = parseElf(elf([good]), RAM);
  t.is(img.entry, 0x100000n);
  t.deepEqual(img.segments.map((s) => [s.paddr, s.fileSize, s.memSize]), [[0x100000, 0x100, 0x2000]]);
});

test('loading copies file bytes and zeroes the rest of the segment', (t) => {
  const bytes = elf([good]);
  bytes[0x1000] = 0xaa; bytes[0x10ff] = 0xbb;
  const mem = new GuestMemory();
  mem.addRegion({ name: 'ram', gpa: 0, size: RAM, buffer: new ArrayBuffer(RAM), readonly: false });
  mem.fill(0x100000, 0x2000, 0x55);
  loadElf(mem, bytes, parseElf(bytes, RAM));
  t.is(mem.u8(0x100000), 0xaa);
  t.is(mem.u8(0x1000ff), 0xbb);
  t.is(mem.u8(0x100100), 0);
  t.is(mem.u8(0x101fff), 0);
});

const hostile: [string, () => Uint8Array, RegExp][] = [
  ['a truncated file', () => new Uint8Array(10), /too small/],
  ['bad magic', () => { const b = elf([good]); b[0] = 0; return b; }, /not an ELF/],
  ['a 32-bit ELF', () => elf([good], { cls: 1 }), /not a 64-bit/],
  ['another architecture', () => elf([good], { machine: 183 }), /not an x86-64/],
  ['absurd program-header count', () => elf([good], { phnum: 5000 }), /5000 program headers/],
  ['odd program-header size', () => elf([good], { phentsize: 32 }), /header size is 32/],
  ['headers past the end of the file', () => elf([good], { phnum: 60, size: 0x200 }), /outside the file/],
  ['segment data past the end of the file', () => elf([{ ...good, filesz: 0x10000, memsz: 0x10000 }]), /outside the file/],
  ['file size larger than memory size', () => elf([{ ...good, filesz: 0x200, memsz: 0x100 }]), /exceeds memory size/],
  ['segment in the boot area', () => elf([{ ...good, paddr: 0x8000 }], { entry: 0x8000 }), /below 0x100000/],
  ['segment beyond RAM', () => elf([{ ...good, paddr: RAM - 0x1000 }], { entry: RAM - 0x1000 }), /beyond guest RAM/],
  ['absurd segment size', () => elf([{ ...good, memsz: 2 ** 62 }]), /larger than guest RAM/],
  ['overlapping segments', () => elf([good, { ...good, paddr: 0x101000 }]), /overlaps/],
  ['no loadable segment', () => elf([{ ...good, type: 4 }]), /no loadable/],
  ['entry outside any executable segment', () => elf([good], { entry: 0x900000 }), /entry point/],
  ['entry in a non-executable segment', () => elf([{ ...good, flags: 6 }]), /entry point/],
];

for (const [what, make, message] of hostile) {
  test(`rejects ${what} with a clear message`, (t) => {
    const err = t.throws(() => parseElf(make(), RAM, 'k.elf'), { instanceOf: GuestImageError });
    t.regex(err!.message, /^k\.elf: /);
    t.regex(err!.message, message);
  });
}
