import test from 'ava';
import { BootLayout, GuestMemory, StartInfo, WiringError } from '@hyvisor/core';
import { writeStartInfo } from './start-info.js';

function ram(size = 4 << 20): GuestMemory {
  const m = new GuestMemory();
  m.addRegion({ name: 'ram', gpa: 0, size, buffer: new ArrayBuffer(size), readonly: false });
  return m;
}

test('start info carries the PVH magic, the command line and a RAM map of the whole memory', (t) => {
  const m = ram();
  writeStartInfo(m, 4 << 20, 'exits=5 spin');
  const s = BootLayout.START_INFO;
  t.is(m.u32(s + StartInfo.OFF_MAGIC), 0x336ec578);
  t.is(m.u32(s + StartInfo.OFF_VERSION), 1);
  const cmd = Number(m.u64(s + StartInfo.OFF_CMDLINE_PADDR));
  t.is(new TextDecoder().decode(m.read(cmd, 12)), 'exits=5 spin');
  t.is(m.u8(cmd + 12), 0);
  t.is(m.u32(s + StartInfo.OFF_MEMMAP_ENTRIES), 1);
  const map = Number(m.u64(s + StartInfo.OFF_MEMMAP_PADDR));
  t.is(m.u64(map + 8), BigInt(4 << 20));
  t.is(m.u32(map + 16), StartInfo.MEMMAP_TYPE_RAM);
});

test('a command line that does not fit is refused', (t) => {
  t.throws(() => writeStartInfo(ram(), 4 << 20, 'x'.repeat(BootLayout.CMDLINE_MAX)), { instanceOf: WiringError, message: /at most 2047/ });
});
