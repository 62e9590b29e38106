/**
 * The hyvisor command as a user runs it: a child process, its output and its exit code.
 */
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { kvmTest } from '@hyvisor/backend-kvm/testing';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const cli = path.join(root, 'packages/cli/dist/main.js');

function hyvisor(...args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: root, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A temporary config file with `text`; the kernel path points at the hello guest. */
function tempConfig(text: string, ext = '.yaml'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hyvisor-cli-'));
  const file = path.join(dir, `vm${ext}`);
  fs.writeFileSync(file, text.replaceAll('HELLO', path.join(root, 'packages/guest-hello/build/hello.elf')));
  return file;
}

function oneLineError(t: import('ava').ExecutionContext, r: ReturnType<typeof hyvisor>, pattern: RegExp): void {
  t.is(r.code, 2, r.stderr);
  const lines = r.stderr.trim().split('\n');
  t.is(lines.length, 1, `one line, got: ${r.stderr}`);
  t.regex(lines[0]!, /^hyvisor: /);
  t.regex(lines[0]!, pattern);
  t.notRegex(r.stderr, /\n\s+at /, 'no stack trace');
}


kvmTest('run examples/hello.yaml prints the greeting and exits 0', (t) => {
  const r = hyvisor('run', 'examples/hello.yaml');
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, 'Hello from the Hyvisor guest! RAM: 64 MiB, cmdline: ""\n');
});

kvmTest('the CLI exits with the code the guest wrote to the exit port', (t) => {
  const r = hyvisor('run', tempConfig('guest: { kernel: HELLO, cmdline: "exit=5" }\n'));
  t.is(r.code, 5, r.stderr);
  t.regex(r.stdout, /cmdline: "exit=5"/);
});

kvmTest('a JSON config works like a YAML one', (t) => {
  const r = hyvisor('run', tempConfig('{"memory": "16MiB", "guest": {"kernel": "HELLO"}}', '.json'));
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /RAM: 16 MiB/);
});

kvmTest('--time-limit stops a spinning guest with a message and a non-zero code', (t) => {
  const r = hyvisor('run', tempConfig('guest: { kernel: HELLO, cmdline: spin }\n'), '--time-limit', '300ms');
  t.is(r.code, 124);
  t.regex(r.stderr, /time limit of 300 ms reached/);
});

kvmTest('Ctrl-C stops a running guest and exits 130', async (t) => {
  const child = spawn(process.execPath, [cli, 'run', tempConfig('guest: { kernel: HELLO, cmdline: spin }\n')], { cwd: root });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  await new Promise((r) => setTimeout(r, 1500));
  child.kill('SIGINT');
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  t.is(code, 130, stderr);
  t.regex(stderr, /interrupted \(Ctrl-C\)/);
});

kvmTest('info names the KVM flavour of this host', (t) => {
  const r = hyvisor('info', '--json');
  t.is(r.code, 0, r.stderr);
  const info = JSON.parse(r.stdout) as { backends: { name: string; available: boolean; flavour?: string }[] };
  const kvm = info.backends.find((b) => b.name === 'kvm')!;
  t.true(kvm.available);
  const expected = fs.existsSync('/sys/module/kvm_pvm') ? 'kvm_pvm' : /vmx/.test(fs.readFileSync('/proc/cpuinfo', 'utf8')) ? 'kvm-vmx' : 'kvm-svm';
  t.is(kvm.flavour, expected);
  t.regex(hyvisor('info').stdout, new RegExp(`kvm: ${expected}`));
});

test('info lists every facet with the services it provides, needs and excludes', (t) => {
  const r = hyvisor('info', '--json');
  t.is(r.code, 0, r.stderr);
  const facets = (JSON.parse(r.stdout) as { facets: { kind: string; name: string; provides: string[]; needs: string[]; excludes: string[] }[] }).facets;
  t.is(facets.length, 12);
  t.like(facets.find((f) => f.name === 'event-channel'), { kind: 'interrupt', provides: ['hyvisor.event-channels'] });
  t.like(facets.find((f) => f.name === 'pvclock'), { kind: 'timer', needs: ['hyvisor.event-channels', 'hyvisor.pv-domain'] });
  t.like(facets.find((f) => f.name === 'emulated-pit'), { excludes: ['hyvisor.in-kernel-pit'] });
  t.regex(hyvisor('info').stdout, /timer pvclock: .*\n    requires msr; provides guest clock source, timer statistics; needs event-channel delivery, PV domain/);
});

test('a bad size in the config gets one line naming file, field and expectation, exit 2', (t) => {
  const file = tempConfig('memory: lots\nguest: { kernel: HELLO }\n');
  oneLineError(t, hyvisor('run', file), new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: memory: expected a size like "256MiB", got "lots"`));
});

test('an unknown config field suggests the right one', (t) => {
  oneLineError(t, hyvisor('run', tempConfig('memroy: 64MiB\nguest: { kernel: HELLO }\n')), /memroy: unknown field; did you mean memory\?/);
});

test('broken YAML gets its line number', (t) => {
  oneLineError(t, hyvisor('run', tempConfig('guest:\n  kernel: [unclosed\n')), /not valid YAML at line \d+/);
});

test('a missing config file is a one-line error', (t) => {
  oneLineError(t, hyvisor('run', 'no/such/file.yaml'), /no\/such\/file\.yaml: no such file/);
});

test('an unknown flag is a one-line error', (t) => {
  oneLineError(t, hyvisor('run', 'examples/hello.yaml', '--turbo'), /run: unknown option '--turbo'; known: --backend, /);
});

test('an unknown strategy lists the known ones', (t) => {
  oneLineError(t, hyvisor('run', 'examples/hello.yaml', '--strategy', 'pvh'), /strategy: unknown strategy 'pvh'; known: hvm, hvm-userspace, hybrid, minimal, pv/);
});

test('an unknown backend lists the known ones', (t) => {
  oneLineError(t, hyvisor('run', 'examples/hello.yaml', '--backend', 'xen'), /backend: unknown backend 'xen'; known: emu, kvm/);
});

test('the hello guest runs on the emulator backend without /dev/kvm', (t) => {
  const r = hyvisor('run', 'examples/hello.yaml', '--backend', 'emu');
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, 'Hello from the Hyvisor guest! RAM: 64 MiB, cmdline: ""\n');
});

test('a kernel that is not an ELF file is a one-line error naming it', (t) => {
  oneLineError(t, hyvisor('run', tempConfig(`guest: { kernel: ${JSON.stringify(path.join(root, 'README.md'))} }\n`)), /README\.md: not an ELF file/);
});

test('an unknown command is a one-line error', (t) => {
  oneLineError(t, hyvisor('launch'), /unknown command 'launch'; known: run, info, bench, help/);
});

test('an unknown benchmark is a one-line error', (t) => {
  oneLineError(t, hyvisor('bench', 'warp-speed'), /unknown benchmark 'warp-speed'; known: exit-cost/);
});
