/**
 * Debian's stock kernel on the emulator, composed from `examples/linux.yaml` as `hyvisor run`
 * does. The first test gets it through the bzImage's decompressor into the kernel proper, which
 * prints its banner, the command line we passed, the e820 map we wrote and the initrd where we
 * put it; the run is stopped there (seconds). The others boot to init and run commands through
 * `hyvisor run --exec`, or reboot (about 100 s of CPU each on an idle host; they need the
 * emulator to advertise the x87 FPU). All skip with guest-linux's one-line reason when Debian's
 * packages cannot be fetched, and only then.
 */
import 'reflect-metadata';
import test from 'ava';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { EmuBackend } from '@hyvisor/backend-emu';
import { loadConfigFile } from '@hyvisor/core';
import { initCommandArgs, linuxGuestForTests } from '@hyvisor/guest-linux';
import { createMachineFromConfig } from '@hyvisor/vmm';
import { containerFor } from './catalog.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const fetched = linuxGuestForTests();
const linuxTest = 'missing' in fetched ? test.skip : test.serial;
if ('missing' in fetched) console.log(`skipping the Linux boot test: ${fetched.missing}`);

/** The line the kernel prints once it has reserved the initrd (early in setup_arch): where the run is stopped. */
const STOP_LINE = /^\[\s*[\d.]+\] RAMDISK: \[mem 0x[0-9a-f]+-0x[0-9a-f]+\]$/m;

linuxTest('Debian\'s kernel boots on the emulator past its decompressor: banner, our command line, e820 map and initrd', async (t) => {
  t.timeout(15 * 60_000); // ~110 M instructions: seconds on an idle host, minutes on a loaded one (the run's own limit is below)
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

/**
 * True when the emulator's CPU advertises the x87 FPU (CPUID 1 EDX bit 0): it does once its x87
 * arithmetic is complete; without it Linux stops at "x86/fpu: Giving up, no FPU found".
 */
function emulatorHasFpu(): boolean {
  const backend = new EmuBackend();
  try {
    const vm = backend.createVm({ name: 'cpuid-probe' });
    try {
      return ((vm.createVcpu(0).supportedCpuid().find((l) => l.function === 1)?.edx ?? 0) & 1) !== 0;
    } finally {
      vm.dispose();
    }
  } finally {
    backend.dispose();
  }
}

/** Why the boot-to-init tests do not run here, if they do not: they take minutes of CPU each. */
const longSkip = 'missing' in fetched ? fetched.missing
  : !emulatorHasFpu() ? 'the emulator does not advertise the x87 FPU yet (CPUID 1 EDX bit 0), and Linux stops at its FPU check without it'
      : undefined;
const longTest = longSkip === undefined ? test.serial : test.skip;
if (longSkip !== undefined && !('missing' in fetched)) console.log(`skipping the Linux boot-to-init tests: ${longSkip}`);

/** C's `%.6g`, awk's default output format (OFMT) for a number that is not an integer. */
function g6(x: number): string {
  const [mant, ex] = x.toExponential(5).split('e') as [string, string];
  const exp = Number(ex);
  if (exp < -4 || exp >= 6) return `${mant.replace(/\.?0+$/, '')}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  return String(Number(x.toPrecision(6)));
}

longTest('hyvisor run --exec boots Debian\'s kernel to init on the emulator: uname -r, floating-point awk, sha256sum, the exit status', async (t) => {
  t.timeout(45 * 60_000);
  const release = 'guest' in fetched ? fetched.guest.manifest.kernel.release : '';
  const initFile = path.join(root, 'packages/guest-linux/initramfs/init');
  const digest = createHash('sha256').update(fs.readFileSync(initFile)).digest('hex');
  // Floating point in user space (Debian's busybox awk has no math library: arithmetic, parsing
  // and %.6g printing only); exit 7 checks the status path.
  const command = "uname -r; awk 'BEGIN { s = 0; for (i = 1; i <= 1000; i++) s += 1 / (i * i); print s, 1 / 3, 355 / 113, 1 / 7 * 1e10, -0.1 * 3, 2 / 3 * 1e-7 }'; sha256sum /init; exit 7";
  const started = Date.now();
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [path.join(root, 'packages/cli/dist/main.js'), 'run', path.join(root, 'examples/linux.yaml'), '--exec', command, '--time-limit', '40m'],
      { maxBuffer: 16 << 20 }, (err, out, errOut) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout: out, stderr: errOut }));
  });
  t.log(`${((Date.now() - started) / 1000).toFixed(0)} s; ${stderr.trim().split('\n').filter((l) => l.startsWith('hyvisor: emu:')).join(' ')}`);
  let s = 0;
  for (let i = 1; i <= 1000; i++) s += 1 / (i * i);
  t.is(stdout, [
    release,
    [s, 1 / 3, 355 / 113, (1 / 7) * 1e10, -0.1 * 3, (2 / 3) * 1e-7].map(g6).join(' '),
    `${digest}  /init`,
    '',
  ].join('\n'), stderr);
  t.is(code, 7, 'the CLI exits with the command\'s status');
});

longTest('a Linux guest that reboots through the i8042 ends the run with reason reset, exit code 0', async (t) => {
  t.timeout(45 * 60_000);
  const config = loadConfigFile(path.join(root, 'examples/linux.yaml'));
  // reboot=k: the kernel resets through the keyboard controller (0xfe to port 0x64) instead of
  // the example's triple fault; init reboots after its command with hyvisor.end=reboot.
  const cmdline = `${config.guest.cmdline.replace(/\breboot=t\b/, 'reboot=k')} hyvisor.end=reboot ${initCommandArgs('echo rebooting')}`;
  let text = '';
  const console = new Writable({ write(chunk: Buffer, _enc, done) { text += chunk.toString('latin1').replace(/\r/g, ''); done(); } });
  const container = await containerFor({ backend: 'emu', strategy: config.strategy });
  const composed = createMachineFromConfig(container, { ...config, backend: 'emu', timeLimitMs: 40 * 60_000, guest: { ...config.guest, cmdline } }, { stdout: console });
  try {
    const r = await composed.machine.run();
    t.log(`${composed.machine.vcpu.stats?.()['instructions']} instructions, ${(r.durationMs / 1000).toFixed(0)} s`);
    t.is(r.reason, 'reset', `${r.message}\n${text.slice(-3000)}`);
    t.is(r.exitCode, 0);
    t.regex(text, /^rebooting\nHYVISOR-EXIT=0$/m);
    t.regex(text, /reboot: Restarting system/);
  } finally {
    composed.dispose();
  }
});
