/**
 * Deterministic time end to end: the testbed (`workload=all`) under `hvm-userspace` (PIC, APIC
 * and PIT emulated in the VMM, their timers on the VM's virtual clock) runs twice, with different
 * host-time slices so the host-dependent Deadline exits fall elsewhere, and everything the guest
 * sees is the same: the console byte for byte (every JSON line, ns and time-workload figures
 * included), the instructions retired, the exits by kind and the instruction count at which each
 * exit happened. Deadline exits (host time) are the only difference allowed.
 */
import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ExitKind, createHyvisorContainer, validateConfig } from '@hyvisor/core';
import type { BufferSerialOutput } from '@hyvisor/devices';
import { registerHvmStrategies } from '@hyvisor/strategy-hvm';
import { createMachineFromConfig } from '@hyvisor/vmm';
import { registerEmuBackend } from './index.js';
import type { EmuVcpu } from './emu-vcpu.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const testbedElf = path.join(root, 'packages/guest-testbed/build/testbed.elf');

interface Outcome {
  console: string;
  exitCode: number;
  stats: Record<string, number>;
  /** A hash of (kind, port/address, direction, instructions retired) of every non-deadline exit. */
  exitTrace: number;
  traced: number;
}

async function runAll(sliceMs: number, iterations: number): Promise<Outcome> {
  const container = createHyvisorContainer();
  registerEmuBackend(container);
  registerHvmStrategies(container);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hyvisor-emu-det-'));
  const config = validateConfig({
    name: 'determinism', backend: 'emu', strategy: 'hvm-userspace', board: 'testbed', memory: '64MiB',
    guest: { kernel: testbedElf, workload: 'all', iterations }, serial: { output: 'buffer' },
    storage: { path: path.join(dir, 'disk.img'), size: '16MiB' }, timeLimit: '300s', slice: `${sliceMs}ms`,
  });
  const composed = createMachineFromConfig(container, config);
  try {
    const vcpu = composed.machine.vcpu as EmuVcpu;
    const run = vcpu.run.bind(vcpu);
    let hash = 0x811c9dc5, traced = 0;
    const mix = (v: number): void => { hash = Math.imul(hash ^ (v >>> 0), 16777619) ^ Math.floor(v / 2 ** 32); };
    vcpu.run = () => {
      const e = run();
      if (e.kind !== ExitKind.Deadline) {
        mix(e.kind); mix(e.kind === ExitKind.Io ? e.port : e.kind === ExitKind.Mmio ? e.gpa : 0); mix(e.write ? 1 : 0);
        mix(vcpu.instructionsRetired);
        traced++;
      }
      return e;
    };
    const r = await composed.machine.run();
    return {
      console: (composed.devices.serialOutput as BufferSerialOutput).text(), exitCode: r.exitCode,
      stats: vcpu.stats(), exitTrace: hash >>> 0, traced,
    };
  } finally {
    composed.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test.serial('two testbed runs (all workloads, hvm-userspace) are identical in everything the guest sees', async (t) => {
  if (!fs.existsSync(testbedElf)) {
    t.log(`skipped: ${path.relative(root, testbedElf)} is not built (make -C packages/guest-testbed)`);
    t.pass();
    return;
  }
  const a = await runAll(10, 50);
  const b = await runAll(1, 50);
  t.is(a.exitCode, 0, a.console);
  t.regex(a.console, /done, all checks passed/);
  t.is(b.console, a.console, 'console output (every JSON line, ns included)');
  const withoutDeadlines = (s: Record<string, number>): Record<string, number> =>
    Object.fromEntries(Object.entries(s).filter(([k]) => k !== 'exits.deadline'));
  t.deepEqual(withoutDeadlines(b.stats), withoutDeadlines(a.stats), 'instructions retired and exits by kind');
  t.is(b.traced, a.traced);
  t.is(b.exitTrace, a.exitTrace, 'every exit at the same instruction count');
  // The time workload is meaningful on the virtual clock: 50 PIT ticks at 1000 Hz take 50 ms of
  // guest time, and the VMM's stalls (host time) cost the guest no tick.
  const time = JSON.parse(a.console.split('\n').find((l) => l.startsWith('{"workload":"time"'))!) as Record<string, number>;
  t.is(time['ticks'], 50);
  t.true(Math.abs(time['guestUs']! - 50_000) <= 1000, JSON.stringify(time));
  t.true(Math.abs(time['lostTicks']!) <= 1, JSON.stringify(time));
  t.true(a.stats['skippedNs']! > 0, 'halted time was skipped, not slept');
  t.log(`${a.stats['instructions']} instructions, ${a.traced} exits besides deadlines (deadline exits: ${a.stats['exits.deadline']} vs ${b.stats['exits.deadline']})`);
});
