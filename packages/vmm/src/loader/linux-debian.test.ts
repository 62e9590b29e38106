import test from 'ava';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { GuestImageError, GuestMemory } from '@hyvisor/core';
import { linuxGuestForTests } from '@hyvisor/guest-linux';
import { parseBzImage } from './bzimage.js';
import { LinuxBootLayout, loadLinux } from './linux.js';

const MiB = 1 << 20;
const RAM = 256 * MiB;
const fetched = linuxGuestForTests();
if ('missing' in fetched) console.log(`skipping the Debian kernel loader tests: ${fetched.missing}`);
const debianTest = 'missing' in fetched ? test.skip : test;
const guest = 'guest' in fetched ? fetched.guest : undefined;

/** A little-endian field of the file read with `od`, independently of our parser. */
function od(file: string, offset: number, size: 1 | 2 | 4 | 8): number {
  const out = execFileSync('od', ['-An', `-tu${size}`, '-j', String(offset), '-N', String(size), file], { encoding: 'utf8' });
  return Number(out.trim());
}

debianTest('Debian\'s cloud kernel header matches what od reads at the documented offsets', (t) => {
  const file = guest!.kernel;
  let kind: string | undefined;
  try { kind = execFileSync('file', ['-b', file], { encoding: 'utf8' }); } catch { t.log('file(1) is not installed: its check is skipped'); }
  if (kind !== undefined) t.regex(kind, /^Linux kernel x86 boot executable bzImage, version 6\./);
  const h = parseBzImage(fs.readFileSync(file), RAM, file);
  t.is(h.version, od(file, 0x206, 2));
  t.true(h.version >= 0x020c);
  t.is(h.setupSects, od(file, 0x1f1, 1));
  t.is(h.kernelSize, od(file, 0x1f4, 4) * 16);
  t.is(h.headerEnd, 0x202 + od(file, 0x201, 1));
  t.is(h.relocatable, od(file, 0x234, 1) === 1);
  t.is(h.kernelAlignment, od(file, 0x230, 4));
  t.is(h.xloadflags, od(file, 0x236, 2));
  t.is(h.xloadflags & 1, 1, 'XLF_KERNEL_64');
  t.is(h.prefAddress, od(file, 0x258, 8));
  t.is(h.initSize, od(file, 0x260, 4));
  t.is(h.cmdlineSize, od(file, 0x238, 4));
  t.is(h.initrdAddrMax, od(file, 0x22c, 4));
  // The payload is LZ4 (Debian's cloud flavour): legacy-frame magic 02 21 4c 18 where payload_offset says.
  t.is(od(file, h.kernelOffset + h.payloadOffset, 4), 0x184c2102);
  // The 64-bit entry (startup_64 of the decompressor) starts with cld; cli.
  t.deepEqual([od(file, h.kernelOffset + 0x200, 1), od(file, h.kernelOffset + 0x201, 1)], [0xfc, 0xfa]);
  t.log(`protocol ${(h.version >> 8)}.${h.version & 0xff}, pref_address 0x${h.prefAddress.toString(16)}, init_size ${(h.initSize / MiB).toFixed(1)} MiB, cmdline_size ${h.cmdlineSize}`);
});

debianTest('Debian\'s kernel and our initramfs load into 256 MiB with the entry at pref_address + 0x200', (t) => {
  const kernel = fs.readFileSync(guest!.kernel);
  const initrd = fs.readFileSync(guest!.initramfs);
  const mem = new GuestMemory();
  mem.addRegion({ name: 'ram', gpa: 0, size: RAM, buffer: new ArrayBuffer(RAM), readonly: false });
  const boot = loadLinux(mem, RAM, { kernel, initrd, cmdline: 'console=ttyS0 reboot=t panic=-1 cryptomgr.notests' });
  const h = boot.header!;
  t.is(boot.entry, h.prefAddress + 0x200);
  t.deepEqual(mem.read(h.prefAddress, 4096), new Uint8Array(kernel.subarray(h.kernelOffset, h.kernelOffset + 4096)));
  t.true(boot.initrd!.addr >= boot.kernelEnd && boot.initrd!.addr + boot.initrd!.size <= RAM);
  t.deepEqual(mem.read(boot.initrd!.addr, 2), new Uint8Array([0x1f, 0x8b]), 'gzip magic where ramdisk_image points');
  t.is(mem.u32(LinuxBootLayout.ZERO_PAGE + 0x218), boot.initrd!.addr);
  // The setup header is the image's, except the fields a loader writes (0x210–0x22b: type_of_loader … cmd_line_ptr).
  const zp = LinuxBootLayout.ZERO_PAGE;
  const same = (from: number, to: number) => t.deepEqual(mem.read(zp + from, to - from), new Uint8Array(kernel.subarray(from, to)), `[0x${from.toString(16)}, 0x${to.toString(16)})`);
  same(0x1f1, 0x210);
  same(0x22c, h.headerEnd);
  t.is(mem.u8(zp + 0x210), 0xff);
});

debianTest('Debian\'s kernel truncated, corrupted or given too little RAM gets one clear error', (t) => {
  const kernel = fs.readFileSync(guest!.kernel);
  const mem = new GuestMemory();
  mem.addRegion({ name: 'ram', gpa: 0, size: RAM, buffer: new ArrayBuffer(RAM), readonly: false });
  const truncated = kernel.subarray(0, kernel.length >> 1);
  t.throws(() => loadLinux(mem, RAM, { kernel: truncated, kernelName: 'vmlinuz' }), { instanceOf: GuestImageError, message: /^vmlinuz: is truncated: the header says \d+ bytes/ });
  const corrupt = Buffer.from(kernel); corrupt.write('HdrZ', 0x202, 'latin1');
  t.throws(() => loadLinux(mem, RAM, { kernel: corrupt, kernelName: 'vmlinuz' }), { message: /^vmlinuz: not a bzImage \(no "HdrS"/ });
  t.throws(() => loadLinux(mem, 64 * MiB, { kernel, kernelName: 'vmlinuz' }), { message: /^vmlinuz: needs guest RAM up to 0x[0-9a-f]+ .*give the VM at least \d+ MiB, it has 64 MiB$/ });
});
