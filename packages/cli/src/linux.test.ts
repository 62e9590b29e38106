/**
 * Debian's stock kernel on the emulator, composed from `examples/linux.yaml` as `hyvisor run`
 * does: it must get through the bzImage's decompressor into the kernel proper, which prints its
 * banner, the command line we passed, the e820 map we wrote and the initrd where we put it. The
 * run is stopped there (the emulator cannot take Linux further than its FPU set-up yet). Skips
 * with guest-linux's one-line reason when Debian's packages cannot be fetched.
 */
import 'reflect-metadata';
import test from 'ava';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { loadConfigFile } from '@hyvisor/core';
import { linuxGuestForTests } from '@hyvisor/guest-linux';
import { createMachineFromConfig } from '@hyvisor/vmm';
import { containerFor } from './catalog.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const fetched = linuxGuestForTests();
const linuxTest = 'missing' in fetched ? test.skip : test.serial;
if ('missing' in fetched) console.log(`skipping the Linux boot test: ${fetched.missing}`);

/** The line the kernel prints once it has reserved the initrd (early in setup_arch): where the run is stopped. */
const STOP_LINE = /^\[\s*[\d.]+\] RAMDISK: \[mem 0x[0-9a-f]+-0x[0-9a-f]+\]$/m;

linuxTest('Debian\'s kernel boots on the emulator past its decompressor: banner, our command line, e820 map and initrd', async (t) => {
  const config = loadConfigFile(path.join(root, 'examples/linux.yaml'));
  // nokaslr: the kernel runs at its link address, so addresses match System.map run after run.
  const cmdline = `${config.guest.cmdline} nokaslr`;
  let text = '';
  let stop: (() => void) | undefined;
  const console = new Writable({
    write(chunk: Buffer, _enc, done) {
      text += chunk.toString('latin1').replace(/\r/g, '');
      if (STOP_LINE.test(text)) stop?.();
      done();
    },
  });
  const container = await containerFor({ backend: 'emu', strategy: config.strategy });
  const composed = createMachineFromConfig(container, { ...config, backend: 'emu', timeLimitMs: 600_000, guest: { ...config.guest, cmdline } }, { stdout: console });
  try {
    const { machine } = composed;
    stop = () => machine.stop('the initrd line came');
    const r = await machine.run();
    const stats = machine.vcpu.stats?.() ?? {};
    t.log(`${stats['instructions']} instructions, ${r.durationMs.toFixed(0)} ms; last line: ${text.trimEnd().split('\n').at(-1)}`);
    t.is(r.reason, 'stopped', `${r.message}\n${text}`);
    t.is(stats['unimplemented'], 0, 'the kernel ran into nothing the emulator lacks');

    const release = 'guest' in fetched ? fetched.guest.manifest.kernel.release : '';
    t.regex(text, new RegExp(`^\\[\\s*0\\.000000\\] Linux version ${release.replace(/\./g, '\\.')} .*Debian`, 'm'));
    t.regex(text, new RegExp(`^\\[\\s*0\\.000000\\] Command line: ${cmdline}$`, 'm'));
    // The PC map for the example's 256 MiB, as firmware would report it (zero-page.rst, e820).
    t.is(config.memory, 256 * 1024 * 1024);
    t.deepEqual([...text.matchAll(/BIOS-e820: .*$/gm)].map((m) => m[0]), [
      'BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable',
      'BIOS-e820: [mem 0x000000000009fc00-0x000000000009ffff] reserved',
      'BIOS-e820: [mem 0x00000000000f0000-0x00000000000fffff] reserved',
      'BIOS-e820: [mem 0x0000000000100000-0x000000000fffffff] usable',
    ]);
    // ramdisk_image and ramdisk_size of the setup header in the zero page (boot.rst: 0x218, 0x21c), at 0x1000 where rsi points.
    const zeroPage = 0x1000; // where the loader put it (RSI at entry); the kernel has not reused the page yet
    const image = machine.vm.memory.u32(zeroPage + 0x218);
    const size = machine.vm.memory.u32(zeroPage + 0x21c);
    const end = Math.ceil((image + size) / 4096) * 4096 - 1; // the kernel prints PAGE_ALIGN(end) - 1
    t.regex(text, new RegExp(`RAMDISK: \\[mem 0x${image.toString(16).padStart(8, '0')}-0x${end.toString(16).padStart(8, '0')}\\]`));
  } finally {
    composed.dispose();
  }
});
