/**
 * Snapshots of the testbed guest (issue 14): taken mid-workload (at the workload's start marker),
 * restored in a new process on the emulator with the same output and instruction count as the
 * run that was not interrupted; on KVM every workload completes after a restore; KVM → emulator;
 * refusals of broken and unfitting snapshots; 100 restore cycles leak nothing.
 */
import 'reflect-metadata';
import test, { type ExecutionContext } from 'ava';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BACKENDS, SnapshotError, type VmConfig } from '@hyvisor/core';
import { kvmSerialTest } from '@hyvisor/backend-kvm/testing';
import type { BufferSerialOutput } from '@hyvisor/devices';
import type { PvClockTimer } from '@hyvisor/strategy-pv';
import { createMachineFromConfig, restoreMachineFromSnapshot, type SnapshotInfo } from '@hyvisor/vmm';
import { testbedConfig, testbedContainer } from './harness.js';

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'snapshot-child.js');

function tempDir(t: ExecutionContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hyvisor-snap-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

interface Reference {
  readonly exitCode: number;
  readonly console: string;
  readonly instructions: number | undefined;
  readonly info: SnapshotInfo | undefined;
}

/**
 * Runs `config` to its end, saving a snapshot into `dir` when the guest writes its workload's
 * start marker (the snapshot is taken at the next slice boundary, mid-workload).
 */
async function runWithSnapshot(config: VmConfig, dir: string): Promise<Reference> {
  const composed = createMachineFromConfig(testbedContainer(), config);
  try {
    let pending: Promise<SnapshotInfo> | undefined;
    composed.devices.bench.onMarker = (v) => { if (v === 1 && pending === undefined) pending = composed.machine.snapshot(dir); };
    const r = await composed.machine.run();
    const info = pending ? await pending : undefined;
    return {
      exitCode: r.exitCode, console: (composed.devices.serialOutput as BufferSerialOutput).text(),
      instructions: composed.machine.vcpu.stats?.()['instructions'], info,
    };
  } finally {
    composed.dispose();
  }
}

interface ChildRun { exitCode: number; reason: string; message: string; instructions: number | null; takenAt: number | null; console: string }

function restoreInNewProcess(dir: string, backend?: string): ChildRun {
  const out = execFileSync(process.execPath, [CHILD, dir, ...(backend ? [backend] : [])], { encoding: 'utf8', timeout: 90_000 });
  return JSON.parse(out) as ChildRun;
}

for (const [strategy, workload] of [['pv', 'cpu'], ['pv', 'memory'], ['hybrid', 'io'], ['hybrid', 'syscall']] as const) {
  test.serial(`emulator, ${strategy} ${workload}: restored in a new process, the run ends with the same output and instruction count as without the snapshot`, async (t) => {
    const dir = tempDir(t);
    const config = testbedConfig({ backend: 'emu', strategy, workload, iterations: 30, diskPath: null });
    const ref = await runWithSnapshot(config, dir);
    t.is(ref.exitCode, 0, ref.console);
    t.truthy(ref.info, 'the snapshot was taken');
    const taken = ref.info!.stats['instructions']!;
    t.true(taken > 0 && taken < ref.instructions!, `taken mid-run: at ${taken} of ${ref.instructions} instructions`);
    const after = restoreInNewProcess(dir);
    t.is(after.exitCode, 0, after.message + after.console);
    t.is(after.takenAt, taken);
    t.is(taken + after.instructions!, ref.instructions!, 'instructions before the snapshot + after the restore = the uninterrupted run');
    t.true(after.console.includes('"check":"ok"') && after.console.includes('all checks passed'), after.console);
    t.true(ref.console.endsWith(after.console), 'the restored run prints exactly the rest of the original output');
  });
}

test('a strategy whose facets cannot save their state is refused at snapshot time, naming the facet', async (t) => {
  const dir = tempDir(t);
  const composed = createMachineFromConfig(testbedContainer(), testbedConfig({ backend: 'emu', strategy: 'hvm-userspace', workload: 'cpu', iterations: 1, diskPath: null }));
  t.teardown(() => composed.dispose());
  const err = await t.throwsAsync(composed.machine.snapshot(dir), { instanceOf: SnapshotError });
  t.regex(err!.message, /facet 'emulated-pic-apic' cannot save its state/);
  t.false(err!.message.includes('\n'));
  t.false(fs.existsSync(path.join(dir, 'state.json')));
});

/** A snapshot of the emulator's pv cpu run (taken before the first instruction: quick), for the refusal tests. */
async function quickSnapshot(t: ExecutionContext): Promise<string> {
  const dir = tempDir(t);
  const composed = createMachineFromConfig(testbedContainer(), testbedConfig({ backend: 'emu', strategy: 'pv', workload: 'cpu', iterations: 1, diskPath: null }));
  try {
    await composed.machine.snapshot(dir);
  } finally {
    composed.dispose();
  }
  return dir;
}

function refused(t: ExecutionContext, dir: string, pattern: RegExp, backend = 'emu'): void {
  const err = t.throws(() => restoreMachineFromSnapshot(testbedContainer(), dir, { backend }), { instanceOf: SnapshotError });
  t.regex(err!.message, pattern);
  t.false(err!.message.includes('\n'), 'one line');
}

test('broken snapshots are refused with one line: truncated, flipped byte, wrong version, missing or short memory', async (t) => {
  const dir = await quickSnapshot(t);
  const state = path.join(dir, 'state.json');
  const good = fs.readFileSync(state);
  const ok = restoreMachineFromSnapshot(testbedContainer(), dir);
  ok.dispose();

  fs.writeFileSync(state, good.subarray(0, good.length - 10));
  refused(t, dir, /state\.json is truncated/);

  const flipped = Buffer.from(good);
  flipped[flipped.length - 100]! ^= 0x04;
  fs.writeFileSync(state, flipped);
  refused(t, dir, /state\.json is corrupted \(checksum mismatch\)/);

  fs.writeFileSync(state, Buffer.from(good.toString('utf8').replace('"version":1,', '"version":2,')));
  refused(t, dir, /format version 2 is not supported/);

  fs.writeFileSync(state, good);
  const memory = path.join(dir, 'memory.bin');
  const bytes = fs.readFileSync(memory);
  fs.writeFileSync(memory, bytes.subarray(0, bytes.length - 4096));
  refused(t, dir, /memory file memory\.bin is truncated or padded/);

  const flippedMemory = Buffer.from(bytes);
  flippedMemory[0x100000]! ^= 1;
  fs.writeFileSync(memory, flippedMemory);
  refused(t, dir, /memory file memory\.bin is corrupted/);

  fs.rmSync(memory);
  refused(t, dir, /memory file memory\.bin is missing/);
  refused(t, path.join(dir, 'nowhere'), /no state\.json/);
});

test('a snapshot is refused by a machine with another board or other facets, before anything is restored', async (t) => {
  const dir = await quickSnapshot(t);
  const container = testbedContainer();
  const other = createMachineFromConfig(container, { ...testbedConfig({ backend: 'emu', strategy: 'pv', workload: 'cpu', diskPath: null }), board: 'minimal' });
  t.teardown(() => other.dispose());
  const err = t.throws(() => other.machine.restoreSnapshot(dir), { instanceOf: SnapshotError });
  t.regex(err!.message, /the board is testbed in the snapshot but minimal here/);
  const hybrid = createMachineFromConfig(container, testbedConfig({ backend: 'emu', strategy: 'hybrid', workload: 'cpu', diskPath: null }));
  t.teardown(() => hybrid.dispose());
  t.throws(() => hybrid.machine.restoreSnapshot(dir), { message: /the cpu facet is 'pv-syscall' in the snapshot but 'native' here/ });
  t.is(hybrid.machine.state, 'created', 'nothing restored: the machine can still boot its own kernel');
});

/** In-process: snapshot at the marker on `backend`, restore on `restoreOn`, run to the end. */
async function snapshotAndRestore(t: ExecutionContext, backend: string, restoreOn: string, strategy: string, workload: string): Promise<string> {
  const dir = tempDir(t);
  const ref = await runWithSnapshot(testbedConfig({ backend, strategy, workload, iterations: workload === 'time' ? undefined : 30, diskPath: null }), dir);
  t.is(ref.exitCode, 0, `${strategy} ${workload} on ${backend}: ${ref.console}`);
  t.truthy(ref.info, `${strategy} ${workload}: a snapshot was taken`);
  const restored = restoreMachineFromSnapshot(testbedContainer(), dir, { backend: restoreOn });
  try {
    const r = await restored.machine.run();
    const out = (restored.devices.serialOutput as BufferSerialOutput).text();
    t.is(r.exitCode, 0, `${strategy} ${workload} restored on ${restoreOn}: ${r.message} ${out}`);
    t.true(out.includes('"check":"ok"'), `${strategy} ${workload} restored on ${restoreOn}: ${out}`);
    return out;
  } finally {
    restored.dispose();
  }
}

kvmSerialTest('KVM: every testbed workload completes with check ok after a snapshot mid-workload and a restore', async (t) => {
  for (const strategy of ['pv', 'hybrid']) {
    for (const workload of ['cpu', 'syscall', 'memory', 'irq', 'io', 'time']) await snapshotAndRestore(t, 'kvm', 'kvm', strategy, workload);
  }
});

kvmSerialTest('KVM → emulator: the testbed started on KVM finishes on the emulator, its pvclock continuing', async (t) => {
  for (const workload of ['cpu', 'memory', 'time']) await snapshotAndRestore(t, 'kvm', 'emu', 'pv', workload);
  await snapshotAndRestore(t, 'kvm', 'emu', 'hybrid', 'io');
  // The clock at the restore: the guest's system time goes on from the saved one at the new TSC rate.
  const dir = tempDir(t);
  await runWithSnapshot(testbedConfig({ backend: 'kvm', strategy: 'pv', workload: 'cpu', iterations: 30, diskPath: null }), dir);
  const saved = JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8').split('\n')[1]!) as { facets: { timer: { state: { systemNs: number; tscKhz: number } } } };
  const restored = restoreMachineFromSnapshot(testbedContainer(), dir, { backend: 'emu' });
  t.teardown(() => restored.dispose());
  const clock = (restored.machine.strategy.timer as PvClockTimer).clock!;
  const now = clock.systemTimeNow();
  t.true(now >= saved.facets.timer.state.systemNs && now - saved.facets.timer.state.systemNs < 1e6, `system time ${now} continues from ${saved.facets.timer.state.systemNs}`);
  t.is(clock.calibration.tscKhz, 1_000_000, 'the emulator’s TSC rate');
  t.not(saved.facets.timer.state.tscKhz, 1_000_000);
});

kvmSerialTest('emulator → KVM: refused on kvm_pvm (the guest chose a system-call gate kvm_pvm cannot run), runs on hardware KVM', async (t) => {
  const backend = testbedContainer().resolve(BACKENDS).create('kvm');
  const host = backend.info.host;
  backend.dispose();
  if (host === 'hardware') {
    await snapshotAndRestore(t, 'emu', 'kvm', 'pv', 'cpu');
    return;
  }
  const dir = await quickSnapshot(t);
  refused(t, dir, /kvm_pvm cannot run that gate/, 'kvm');
});

kvmSerialTest('100 restores of one KVM snapshot, each run for a while and disposed, leak no file descriptor and no mapping', async (t) => {
  const dir = tempDir(t);
  await runWithSnapshot(testbedConfig({ backend: 'kvm', strategy: 'pv', workload: 'cpu', iterations: 30, diskPath: null }), dir);
  const fds = (): number => fs.readdirSync('/proc/self/fd').length;
  const maps = (): number => fs.readFileSync('/proc/self/maps', 'utf8').split('\n').filter((l) => l.includes('/dev/zero') || l.includes('anon_inode:kvm')).length;
  const cycle = async (): Promise<void> => {
    const r = restoreMachineFromSnapshot(testbedContainer(), dir, { timeLimitMs: 20, verify: false });
    try {
      await r.machine.run();
    } finally {
      r.dispose();
    }
  };
  await cycle(); // warm-up: lazily created process-wide resources (the shared /dev/kvm fd)
  const before = { fds: fds(), maps: maps() };
  for (let i = 0; i < 100; i++) await cycle();
  t.deepEqual({ fds: fds(), maps: maps() }, before);
});
