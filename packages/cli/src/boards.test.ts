/**
 * Boards and devices from config, as a user meets them: `hyvisor run` with `board:` and
 * `devices:` on the emulator backend (no /dev/kvm needed), and one-line errors (exit 2) for
 * the mistakes a config can make.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const cli = path.join(root, 'packages/cli/dist/main.js');
const hello = path.join(root, 'packages/guest-hello/build/hello.elf');

function hyvisor(...args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: root, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function config(text: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hyvisor-boards-'));
  const file = path.join(dir, 'vm.yaml');
  fs.writeFileSync(file, `backend: emu\nstrategy: minimal\nguest:\n  kernel: ${hello}\n  cmdline: "exits=100"\n${text}`);
  return file;
}

function oneLineError(t: import('ava').ExecutionContext, r: ReturnType<typeof hyvisor>, pattern: RegExp): void {
  t.is(r.code, 2, r.stderr);
  const lines = r.stderr.trim().split('\n');
  t.is(lines.length, 1, `one line, got: ${r.stderr}`);
  t.regex(lines[0]!, pattern);
  t.notRegex(r.stderr, /\n\s+at /, 'no stack trace');
}

const built = fs.existsSync(hello);
const guestTest = built ? test : test.skip;

guestTest('board: minimal plus devices: [bench-counter] runs the hello guest on the emulator', (t) => {
  const r = hyvisor('run', config('board: minimal\ndevices:\n  - bench-counter\n'));
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, 'Hello from the Hyvisor guest! RAM: 64 MiB, cmdline: "exits=100"\n');
});

guestTest('a device moved off the port the guest uses is not reached (the guest still runs)', (t) => {
  // The bench loop writes to 0x510; with the counter at 0x600 those writes go nowhere, harmlessly.
  const r = hyvisor('run', config('board: minimal\ndevices:\n  - { device: bench-counter, port: 0x600 }\n'));
  t.is(r.code, 0, r.stderr);
});

test('config mistakes about boards and devices are one line and exit 2', (t) => {
  oneLineError(t, hyvisor('run', config('board: tesbed\n')), /vm\.yaml: board: unknown board 'tesbed'; did you mean testbed\? \(known: minimal, pc, testbed\)|board: unknown board 'tesbed'; did you mean testbed\?/);
  oneLineError(t, hyvisor('run', config('devices: [bench-countr]\n')), /vm\.yaml: devices\[0\]\.device: unknown device 'bench-countr'; did you mean bench-counter\?/);
  oneLineError(t, hyvisor('run', config('devices:\n  - { device: uart16550, name: com2, port: 0x2f8, irq: 3, ouput: buffer }\n')), /vm\.yaml: devices\[0\]\.ouput: unknown option of uart16550; did you mean output\?/);
  oneLineError(t, hyvisor('run', config('board: minimal\ndevices:\n  - { device: irq-test, port: 0x3fc }\n')), /vm\.yaml: devices\[0\]: irq-test 'irq-test' at ports \[0x3fc, 0x3fe\) clashes with 'com1' \(uart16550, board minimal\)/);
  oneLineError(t, hyvisor('run', config('devices:\n  - { device: debug-exit, irq: 3 }\n')), /devices\[0\]\.irq: debug-exit has no interrupt line/);
});

test('hyvisor info lists the boards and devices', (t) => {
  const r = hyvisor('info');
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^ {2}testbed: com1 \(uart16550\), debug-exit, bench \(bench-counter\), irq-test, stall$/m);
  t.regex(r.stdout, /^ {2}minimal: com1 \(uart16550\), debug-exit$/m);
  t.regex(r.stdout, /^ {2}stall: .*at most 250 ms per second/m);
  const j = JSON.parse(hyvisor('info', '--json').stdout) as { boards: { name: string }[]; devices: { name: string }[] };
  t.deepEqual(j.boards.map((b) => b.name), ['minimal', 'pc', 'testbed']);
  t.deepEqual(j.devices.map((d) => d.name), ['bench-counter', 'debug-exit', 'i8042', 'irq-test', 'mc146818-rtc', 'pci-host', 'post-code', 'stall', 'uart16550', 'virtio-blk', 'virtio-rng']);
  t.regex(r.stdout, /^ {2}pc: com1 \(uart16550\), debug-exit, rtc \(mc146818-rtc\), i8042, post \(post-code\), pci \(pci-host\)$/m);
});
