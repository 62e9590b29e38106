/**
 * The GDB stub with the real gdb (Debian's, batch mode) against the testbed guest on the
 * emulator, as docs/debugging.md shows it: `hyvisor run … --gdb` holds the guest at its first
 * instruction; gdb connects, breaks on a function, prints a backtrace and a variable, steps,
 * continues to the guest's exit. Every process is bounded (gdb's timeout, the run's time limit).
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
const elf = path.join(root, 'packages/guest-testbed/build/testbed.elf');
const hasGdb = spawnSync('gdb', ['--version']).status === 0;

function config(backend = 'emu'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hyvisor-gdb-'));
  const file = path.join(dir, 'testbed.yaml');
  fs.writeFileSync(file, [
    `backend: ${backend}`, 'strategy: hvm', 'board: testbed', 'memory: 64MiB',
    `guest: { kernel: ${JSON.stringify(elf)}, workload: cpu, iterations: 10 }`,
    `storage: { path: ${JSON.stringify(path.join(dir, 'disk.img'))}, size: 16MiB }`,
    'serial: { output: stdout }', 'timeLimit: 60s', '',
  ].join('\n'));
  return file;
}

/** Runs `hyvisor run CONFIG --gdb 127.0.0.1:0` and the gdb commands against it; both bounded. */
async function session(commands: readonly string[], backend = 'emu'): Promise<{ gdb: string; code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [cli, 'run', config(backend), '--gdb', '127.0.0.1:0'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '', stderr = '';
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  // 'close', not 'exit': the console's last bytes are read by then.
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const address = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no gdb stub line in 30 s: ${stderr}`)), 30_000);
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      const m = /gdb stub at (\S+):/.exec(stderr);
      if (m) { clearTimeout(timer); resolve(m[1]!); }
    });
    child.on('exit', () => reject(new Error(`hyvisor ended before the stub listened: ${stderr}`)));
  });
  try {
    const args = ['-batch', '-nx', '-ex', `file ${elf}`, '-ex', `target remote ${address}`, ...commands.flatMap((c) => ['-ex', c])];
    const r = spawnSync('gdb', args, { encoding: 'utf8', timeout: 60_000 });
    const code = await Promise.race([exited, new Promise<null>((resolve) => setTimeout(() => resolve(null), 60_000))]);
    return { gdb: `${r.stdout}${r.stderr}`, code, stdout, stderr };
  } finally {
    child.kill('SIGKILL');
  }
}

test('gdb breaks on a testbed function, shows the backtrace and a variable, steps, and continues to the exit', async (t) => {
  if (!hasGdb) { t.log('gdb is not installed (apt-get install gdb); skipped'); t.pass(); return; }
  const r = await session([
    'info registers rip', 'break workloads_run', 'continue', 'bt', 'print boot.ram_regions', 'print/x boot.ram_bytes',
    'next', 'info registers rip', 'step', 'info registers rip', 'delete', 'continue',
  ]);
  t.regex(r.gdb, /rip\s+0x100000\s+0x100000 <_start>/, 'held at the first instruction');
  t.regex(r.gdb, /Breakpoint 1, workloads_run \(\) at workloads\.c:\d+/);
  t.regex(r.gdb, /#1 +0x[0-9a-f]+ in kmain \(si=[^)]*\) at main\.c:\d+/, 'backtrace through kmain');
  t.regex(r.gdb, /\$1 = 1\n/, 'boot.ram_regions');
  t.regex(r.gdb, /\$2 = 0x4000000\n/, 'boot.ram_bytes: 64 MiB');
  const rips = [...r.gdb.matchAll(/^rip\s+(0x[0-9a-f]+)/gm)].map((m) => m[1]);
  t.is(rips.length, 3);
  t.is(new Set(rips).size, 3, `next and step moved: ${rips.join(', ')}`);
  t.regex(r.gdb, /\[Inferior 1 \(Remote target\) exited normally\]/);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /testbed: done, all checks passed/);
});

test('gdb stops on a write to a watched testbed variable', async (t) => {
  if (!hasGdb) { t.log('gdb is not installed (apt-get install gdb); skipped'); t.pass(); return; }
  const r = await session(['watch pic_ok', 'continue', 'print pic_ok', 'delete', 'continue']);
  t.regex(r.gdb, /Hardware watchpoint 1: pic_ok/);
  t.regex(r.gdb, /Old value = false\s+New value = true/);
  t.regex(r.gdb, /\[Inferior 1 \(Remote target\) exited normally\]/);
  t.is(r.code, 0, r.stderr);
});

kvmTest('gdb on KVM: hardware breakpoint, backtrace, single steps and a software watchpoint [kvm]', async (t) => {
  if (!hasGdb) { t.log('gdb is not installed (apt-get install gdb); skipped'); t.pass(); return; }
  const r = await session([
    'stepi', 'info registers rip', 'break workloads_run', 'continue', 'bt', 'print/x boot.ram_bytes',
    // kvm_pvm does not stop on data breakpoints: gdb single-steps and compares instead.
    'set can-use-hw-watchpoints 0', 'watch pic_ok', 'continue', 'delete', 'continue',
  ], 'kvm');
  t.regex(r.gdb, /^rip\s+0x100001\s/m, 'one instruction stepped at ring 0');
  t.regex(r.gdb, /Breakpoint 1, workloads_run \(\) at workloads\.c:\d+/);
  t.regex(r.gdb, /#1 +0x[0-9a-f]+ in kmain \(si=[^)]*\) at main\.c:\d+/);
  t.regex(r.gdb, /\$1 = 0x4000000\n/);
  t.regex(r.gdb, /Old value = false\s+New value = true/);
  t.regex(r.gdb, /\[Inferior 1 \(Remote target\) exited normally\]/);
  t.is(r.code, 0, r.stderr);
});
