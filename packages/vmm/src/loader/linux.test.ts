import test from 'ava';
import { GuestImageError, GuestMemory } from '@hyvisor/core';
import { parseBzImage } from './bzimage.js';
import { E820, LinuxBootLayout, loadLinux, pcE820 } from './linux.js';

const MiB = 1 << 20;
const RAM = 64 * MiB;

interface Hdr {
  setupSects?: number; syssize?: number; size?: number; bootFlag?: number; magic?: number; version?: number;
  jump?: number; jumpLen?: number; loadflags?: number; xloadflags?: number; relocatable?: number; kernelAlignment?: number;
  prefAddress?: bigint; initSize?: number; cmdlineSize?: number; initrdAddrMax?: number; payloadOffset?: number; payloadLength?: number;
}

/**
 * A synthetic bzImage laid out as boot.rst describes: 3 setup sectors after the boot sector, so
 * the protected-mode image starts at 0x800; syssize 0x200 paragraphs = 8 KiB of "kernel".
 */
function bzImage(h: Hdr = {}): Uint8Array {
  const setupSects = h.setupSects ?? 3;
  const syssize = h.syssize ?? 0x200;
  const kernelOffset = ((setupSects || 4) + 1) * 512;
  const b = new Uint8Array(h.size ?? kernelOffset + syssize * 16);
  const v = new DataView(b.buffer);
  const set = (o: number, n: number, bytes: 1 | 2 | 4) => { if (o + bytes <= b.length) (bytes === 1 ? v.setUint8(o, n) : bytes === 2 ? v.setUint16(o, n, true) : v.setUint32(o, n, true)); };
  set(0x1f1, setupSects, 1);
  set(0x1f4, syssize, 4);
  set(0x1fa, 0xffff, 2);
  set(0x1fe, h.bootFlag ?? 0xaa55, 2);
  set(0x200, h.jump ?? 0xeb, 1);
  set(0x201, h.jumpLen ?? 0x6a, 1);
  set(0x202, h.magic ?? 0x53726448, 4);
  set(0x206, h.version ?? 0x020f, 2);
  set(0x211, h.loadflags ?? 0x01, 1);
  set(0x22c, h.initrdAddrMax ?? 0x7fffffff, 4);
  set(0x230, h.kernelAlignment ?? 0x200000, 4);
  set(0x234, h.relocatable ?? 1, 1);
  set(0x235, 0x15, 1);
  set(0x236, h.xloadflags ?? 0x7f, 2);
  set(0x238, h.cmdlineSize ?? 0x7ff, 4);
  set(0x248, h.payloadOffset ?? 0x100, 4);
  set(0x24c, h.payloadLength ?? 0x1000, 4);
  if (b.length >= 0x260) v.setBigUint64(0x258, h.prefAddress ?? 0x1000000n, true);
  set(0x260, h.initSize ?? 0x100000, 4);
  // Recognisable kernel bytes: the first is cld (0xfc) at the image start, then a counter.
  for (let i = kernelOffset; i < b.length; i++) b[i] = i & 0xff;
  return b;
}

function ram(size = RAM): GuestMemory {
  const m = new GuestMemory();
  m.addRegion({ name: 'ram', gpa: 0, size, buffer: new ArrayBuffer(size), readonly: false });
  return m;
}

test('the setup header fields are read from their boot.rst offsets', (t) => {
  const h = parseBzImage(bzImage(), RAM, 'k.bz');
  t.like(h, {
    version: 0x020f, setupSects: 3, kernelOffset: 0x800, kernelSize: 0x2000, headerEnd: 0x26c, loadflags: 1,
    xloadflags: 0x7f, relocatable: true, kernelAlignment: 0x200000, minAlignment: 0x15, prefAddress: 0x1000000,
    initSize: 0x100000, cmdlineSize: 0x7ff, initrdAddrMax: 0x7fffffff, payloadOffset: 0x100, payloadLength: 0x1000,
  });
  t.is(parseBzImage(bzImage({ setupSects: 0 }), RAM).kernelOffset, 5 * 512, 'setup_sects 0 means 4');
});

test('a bzImage loads at pref_address with its 64-bit entry at +0x200 and RSI at the zero page', (t) => {
  const mem = ram();
  const image = bzImage();
  const boot = loadLinux(mem, RAM, { kernel: image, cmdline: 'console=ttyS0' });
  t.is(boot.format, 'bzImage');
  t.is(boot.entry, 0x1000200);
  t.is(boot.registers.rip, 0x1000200n);
  t.is(boot.registers.rsi, 0x1000n);
  t.is(boot.registers.rflags & 0x200n, 0n, 'IF = 0');
  t.deepEqual(mem.read(0x1000000, 0x2000), image.subarray(0x800), 'protected-mode image copied');
  t.deepEqual([boot.kernelStart, boot.kernelEnd], [0x1000000, 0x1100000]);
});

test('the zero page holds the image\'s setup header and the loader\'s fields', (t) => {
  const mem = ram();
  const image = bzImage();
  const initrd = new Uint8Array(10_000).fill(0x5a);
  const boot = loadLinux(mem, RAM, { kernel: image, initrd, cmdline: 'console=ttyS0 panic=-1' });
  const zp = LinuxBootLayout.ZERO_PAGE;
  t.is(mem.u16(zp + 0x1fe), 0xaa55);
  t.is(mem.u32(zp + 0x202), 0x53726448);
  t.is(mem.u16(zp + 0x206), 0x020f);
  t.is(mem.u32(zp + 0x260), 0x100000, 'init_size copied (the header runs to 0x202 + 0x6a)');
  t.is(mem.u8(zp + 0x26c), 0, 'nothing past the header end copied');
  t.is(mem.u8(zp + 0x1ef), 0, 'sentinel clear');
  t.is(mem.u8(zp + 0x210), 0xff, 'type_of_loader: undefined loader');
  t.is(mem.u32(zp + 0x214), 0x1000000, 'code32_start = load address');
  t.is(mem.u32(zp + 0x228), 0x20000, 'cmd_line_ptr');
  t.is(mem.u32(zp + 0x0c8), 0, 'ext_cmd_line_ptr');
  t.is(new TextDecoder().decode(mem.read(0x20000, 23)), 'console=ttyS0 panic=-1\0');
  // The initrd sits as high as possible, page-aligned, inside RAM.
  const addr = Math.floor((RAM - 10_000) / 4096) * 4096;
  t.deepEqual(boot.initrd, { addr, size: 10_000 });
  t.is(mem.u32(zp + 0x218), addr, 'ramdisk_image');
  t.is(mem.u32(zp + 0x21c), 10_000, 'ramdisk_size');
  t.deepEqual(mem.read(addr, 10_000), initrd);
});

test('the e820 map in the zero page is the PC layout for the RAM size', (t) => {
  const mem = ram();
  loadLinux(mem, RAM, { kernel: bzImage() });
  const zp = LinuxBootLayout.ZERO_PAGE;
  t.is(mem.u8(zp + 0x1e8), 4, 'e820_entries');
  const entry = (i: number) => {
    const at = zp + 0x2d0 + i * 20;
    return [Number(mem.u64(at)), Number(mem.u64(at + 8)), mem.u32(at + 16)];
  };
  t.deepEqual([0, 1, 2, 3].map(entry), [
    [0, 0x9fc00, 1],
    [0x9fc00, 0x400, 2],
    [0xf0000, 0x10000, 2],
    [0x100000, RAM - 0x100000, 1],
  ]);
  t.deepEqual(entry(4), [0, 0, 0]);
  t.deepEqual(pcE820(256 * MiB).map((e) => e.type), [E820.RAM, E820.RESERVED, E820.RESERVED, E820.RAM]);
  t.throws(() => pcE820(MiB), { instanceOf: GuestImageError, message: /more than 1 MiB/ });
});

test('the initrd stays below initrd_addr_max', (t) => {
  const mem = ram();
  const boot = loadLinux(mem, RAM, { kernel: bzImage({ initrdAddrMax: 0x2ffffff }), initrd: new Uint8Array(0x1800) });
  t.deepEqual(boot.initrd, { addr: 0x2ffe000, size: 0x1800 });
  t.true(boot.initrd!.addr + boot.initrd!.size - 1 <= 0x2ffffff);
});

test('the boot GDT has __BOOT_CS at 0x10 and __BOOT_DS at 0x18, and the segment registers use them', (t) => {
  const mem = ram();
  const boot = loadLinux(mem, RAM, { kernel: bzImage() });
  const gdt = LinuxBootLayout.GDT;
  t.is(mem.u64(gdt + 0x10), 0x00af9b000000ffffn, '64-bit code, execute/read, 4 GiB flat');
  t.is(mem.u64(gdt + 0x18), 0x00cf93000000ffffn, 'data, read/write, 4 GiB flat');
  const base = {
    cs: {}, ds: {}, es: {}, fs: {}, gs: {}, ss: {}, tr: {}, ldt: {}, gdt: { base: 0n, limit: 0 }, idt: { base: 0n, limit: 0 },
    cr0: 0x60000010n, cr2: 0n, cr3: 0n, cr4: 0n, cr8: 0n, efer: 0n, apicBase: 0xfee00900n,
  } as unknown as Parameters<typeof boot.specialRegisters>[0];
  const s = boot.specialRegisters(base);
  t.like(s.cs, { selector: 0x10, l: true, db: false, type: 0xb, present: true, dpl: 0, limit: 0xffffffff });
  for (const seg of [s.ds, s.es, s.ss]) t.like(seg, { selector: 0x18, type: 0x3, present: true, db: true });
  t.deepEqual(s.gdt, { base: BigInt(gdt), limit: 39 });
  t.is(s.cr0 & 0x80000001n, 0x80000001n, 'PE and PG');
  t.is(s.cr4 & 0x20n, 0x20n, 'PAE');
  t.is(s.efer & 0x500n, 0x500n, 'LME and LMA');
});

/** Walks the 4-level tables from CR3 = 0x9000 (2 MiB pages), as the MMU would. */
function translate(mem: GuestMemory, va: number): number | undefined {
  const entry = (table: bigint, index: number) => mem.u64(Number(table & 0xffffffffff000n) + index * 8) ?? 0n;
  const pml4e = entry(0x9000n, Math.floor(va / 2 ** 39) % 512);
  if (!(pml4e & 1n)) return undefined;
  const pdpte = entry(pml4e, Math.floor(va / 2 ** 30) % 512);
  if (!(pdpte & 1n)) return undefined;
  const pde = entry(pdpte, Math.floor(va / 2 ** 21) % 512);
  if (!(pde & 1n) || !(pde & 0x80n)) return undefined;
  return Number(pde & 0xfffffffe00000n) + (va % 2 ** 21);
}

test('identity paging covers the zero page, command line, kernel, initrd and the first 4 GiB', (t) => {
  const mem = ram();
  const boot = loadLinux(mem, RAM, { kernel: bzImage(), initrd: new Uint8Array(4096) });
  for (const a of [boot.zeroPage, boot.cmdline.addr, boot.entry, boot.kernelEnd - 1, boot.initrd!.addr, 0xfee00000, 2 ** 32 - 1]) {
    t.is(translate(mem, a), a, `0x${a.toString(16)}`);
  }
  t.is(translate(mem, 2 ** 32), undefined);
});

test('an ELF vmlinux boots at its entry with a zero page the loader made up', (t) => {
  const b = new Uint8Array(0x3000);
  const v = new DataView(b.buffer);
  v.setUint32(0, 0x7f454c46); b[4] = 2; b[5] = 1; b[6] = 1;
  v.setUint16(16, 2, true); v.setUint16(18, 62, true);
  v.setBigUint64(24, 0x1000000n, true); v.setBigUint64(32, 64n, true);
  v.setUint16(54, 56, true); v.setUint16(56, 1, true);
  v.setUint32(64, 1, true); v.setUint32(68, 5, true);
  v.setBigUint64(72, 0x1000n, true); v.setBigUint64(80, 0xffffffff81000000n, true); v.setBigUint64(88, 0x1000000n, true);
  v.setBigUint64(96, 0x2000n, true); v.setBigUint64(104, 0x400000n, true);
  b[0x1000] = 0xfc;
  const mem = ram();
  const boot = loadLinux(mem, RAM, { kernel: b, initrd: new Uint8Array(100), cmdline: 'x' });
  t.is(boot.format, 'elf');
  t.is(boot.entry, 0x1000000);
  t.deepEqual([boot.kernelStart, boot.kernelEnd], [0x1000000, 0x1400000]);
  t.is(mem.u8(0x1000000), 0xfc);
  const zp = LinuxBootLayout.ZERO_PAGE;
  t.is(mem.u16(zp + 0x1fe), 0xaa55);
  t.is(mem.u32(zp + 0x202), 0x53726448);
  t.is(mem.u8(zp + 0x210), 0xff);
  t.is(mem.u32(zp + 0x228), 0x20000);
  t.is(mem.u32(zp + 0x218), boot.initrd!.addr);
});

const hostile: [string, () => Uint8Array, RegExp][] = [
  ['a file shorter than the header', () => bzImage().subarray(0, 0x200), /too small to be a Linux bzImage/],
  ['a missing boot flag', () => bzImage({ bootFlag: 0 }), /no 0xaa55 boot flag/],
  ['a missing HdrS magic', () => bzImage({ magic: 0x12345678 }), /no "HdrS"/],
  ['boot protocol 2.11', () => bzImage({ version: 0x020b }), /boot protocol 2\.11 is too old/],
  ['a jump that is not a short jump', () => bzImage({ jump: 0xe9 }), /no short jump/],
  ['a header longer than boot_params has room for', () => bzImage({ jumpLen: 0xff }), /ends at 0x301/],
  ['a zImage', () => bzImage({ loadflags: 0 }), /zImage/],
  ['a 32-bit kernel', () => bzImage({ xloadflags: 0x7e }), /XLF_KERNEL_64 clear/],
  ['setup sectors past the end', () => bzImage({ setupSects: 200, size: 0x1000 }), /setup code \(200 sectors\) runs past the end/],
  ['a truncated kernel', () => bzImage().subarray(0, 0x2000), /truncated: the header says 10240 bytes/],
  ['syssize 0', () => bzImage({ syssize: 0, size: 0x1000 }), /syssize 0/],
  ['an absurd syssize', () => bzImage({ syssize: 0xffffffff, size: 0x1000 }), /truncated/],
  ['alignment not a power of two', () => bzImage({ kernelAlignment: 0x300000 }), /not a power of two/],
  ['pref_address below 1 MiB', () => bzImage({ prefAddress: 0x8000n }), /pref_address 0x8000/],
  ['pref_address not aligned', () => bzImage({ prefAddress: 0x1100000n }), /not aligned to kernel_alignment/],
  ['a huge pref_address', () => bzImage({ prefAddress: 0xffffffffffff0000n }), /pref_address/],
  ['init_size smaller than the kernel', () => bzImage({ initSize: 0x1000 }), /init_size 0x1000 is smaller/],
  ['a kernel needing more RAM than the VM has', () => bzImage({ initSize: 0x4000000 }), /give the VM at least 80 MiB, it has 64 MiB/],
  ['a payload outside the kernel', () => bzImage({ payloadOffset: 0x1f00, payloadLength: 0x200 }), /payload .* lies outside/],
];

for (const [what, make, message] of hostile) {
  test(`rejects ${what} with one clear line`, (t) => {
    const mem = ram();
    mem.fill(0x1000000, 16, 0xcc);
    const err = t.throws(() => loadLinux(mem, RAM, { kernel: make(), kernelName: 'k.bz' }), { instanceOf: GuestImageError });
    t.regex(err!.message, /^k\.bz: /);
    t.regex(err!.message, message);
    t.false(err!.message.includes('\n'));
    t.is(mem.u8(0x1000000), 0xcc, 'nothing loaded');
  });
}

test('rejects a command line longer than cmdline_size, or with a NUL', (t) => {
  const kernel = bzImage({ cmdlineSize: 16 });
  t.notThrows(() => loadLinux(ram(), RAM, { kernel, cmdline: 'x'.repeat(16) }));
  t.throws(() => loadLinux(ram(), RAM, { kernel, cmdline: 'x'.repeat(17), kernelName: 'k.bz' }), { message: /command line is 17 bytes; k\.bz accepts at most 16/ });
  t.throws(() => loadLinux(ram(), RAM, { kernel, cmdline: 'a\0b' }), { message: /NUL/ });
});

test('rejects an initrd that does not fit above the kernel', (t) => {
  const mem = ram();
  mem.fill(0x1000000, 16, 0xcc);
  // RAM ends at 64 MiB and the kernel needs up to 17 MiB: 48 MiB is too much.
  t.throws(() => loadLinux(mem, RAM, { kernel: bzImage(), initrd: new Uint8Array(48 * MiB), initrdName: 'initramfs.cpio.gz' }),
    { instanceOf: GuestImageError, message: /^initramfs\.cpio\.gz \(50331648 bytes\) does not fit between the kernel's end 0x1100000 and 0x4000000/ });
  t.is(mem.u8(0x1000000), 0xcc);
});

test('rejects something that is neither bzImage nor ELF', (t) => {
  t.throws(() => loadLinux(ram(), RAM, { kernel: new Uint8Array(4096), kernelName: 'zeros' }), { message: /^zeros: neither a Linux bzImage/ });
});
