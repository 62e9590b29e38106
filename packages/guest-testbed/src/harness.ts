/**
 * The testbed's harness: runs the guest in Hyvisor (in-process) and in QEMU TCG (its PVH entry),
 * collecting its JSON result lines and the VM's exits between the guest's markers. Used by the
 * tests here and by `hyvisor bench workloads`.
 * @module
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DependencyContainer } from 'tsyringe';
import { EXIT_KIND_NAMES, createHyvisorContainer, validateConfig, type VmConfig } from '@hyvisor/core';
import { registerKvmBackend } from '@hyvisor/backend-kvm';
import { registerEmuBackend } from '@hyvisor/backend-emu';
import type { BufferSerialOutput } from '@hyvisor/devices';
import { registerHvmStrategies } from '@hyvisor/strategy-hvm';
import { registerPvStrategy } from '@hyvisor/strategy-pv';
import { registerHybridStrategy } from '@hyvisor/strategy-hybrid';
import { createMachineFromConfig, registerMinimalStrategy } from '@hyvisor/vmm';

/** The testbed guest ELF (built by `pnpm build`, i.e. `make` in this package). */
export const TESTBED_ELF = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../build/testbed.elf');

/** One workload result line as the guest prints it. */
export interface GuestResult {
  readonly workload: string;
  readonly iterations: number;
  readonly ns: number;
  readonly nsPerOp: number;
  readonly check: string;
  readonly [extra: string]: unknown;
}

/** A testbed run in Hyvisor. */
export interface TestbedRun {
  readonly exitCode: number;
  readonly reason: string;
  readonly message: string;
  readonly console: string;
  readonly results: GuestResult[];
  /** Exits by kind between the guest's start and end markers (the last marked region). */
  readonly markedExits: Record<string, number>;
}

/** Parses the guest's JSON result lines out of its console text. */
export function parseResults(text: string): GuestResult[] {
  const out: GuestResult[] = [];
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (!t.startsWith('{') || !t.includes('"workload"')) continue;
    try {
      out.push(JSON.parse(t) as GuestResult);
    } catch {
      // a garbled line is reported by the caller as a missing result
    }
  }
  return out;
}

/** Options of a Hyvisor testbed run. */
export interface TestbedOptions {
  readonly strategy: string;
  /** Backend name: `kvm` (default) or `emu`. */
  readonly backend?: string;
  readonly workload: string;
  readonly iterations?: number;
  readonly memory?: string;
  /**
   * Wall-clock limit of the run (default 60 s: every workload takes a few seconds, so a guest
   * that hangs fails its test quickly with its console instead of at the test runner's limit).
   */
  readonly timeLimit?: string;
  readonly diskPath?: string;
  /** Extra `devices:` entries on top of the testbed board (e.g. a PCI host and a virtio-blk disk). */
  readonly devices?: readonly Record<string, unknown>[];
}

/** A container with both backends and every built-in strategy, as the testbed runs use. */
export function testbedContainer(): DependencyContainer {
  const container = createHyvisorContainer();
  registerKvmBackend(container);
  registerEmuBackend(container);
  registerMinimalStrategy(container);
  registerHvmStrategies(container);
  registerPvStrategy(container);
  registerHybridStrategy(container);
  return container;
}

/**
 * The config of a testbed run: board `testbed`, console into a buffer, a 16 MiB disk file at
 * `diskPath` (a new temporary one by default; `null`: a memory disk).
 */
export function testbedConfig(o: Omit<TestbedOptions, 'diskPath'> & { readonly diskPath?: string | null }): VmConfig {
  const disk = o.diskPath === null ? undefined : o.diskPath ?? path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'hyvisor-testbed-')), 'disk.img');
  return validateConfig({
    name: `testbed-${o.workload}`, backend: o.backend ?? 'kvm', strategy: o.strategy, board: 'testbed', memory: o.memory ?? '64MiB',
    guest: { kernel: TESTBED_ELF, workload: o.workload, ...(o.iterations ? { iterations: o.iterations } : {}) },
    serial: { output: 'buffer' }, ...(disk !== undefined ? { storage: { path: disk, size: '16MiB' } } : {}), timeLimit: o.timeLimit ?? '60s',
    ...(o.devices ? { devices: o.devices } : {}),
  });
}

/** Boots the testbed in Hyvisor (on KVM unless `backend` says otherwise) with `strategy` and runs `workload`. */
export async function runTestbed(o: TestbedOptions): Promise<TestbedRun> {
  const container = testbedContainer();
  const config = testbedConfig(o);
  const composed = createMachineFromConfig(container, config);
  const counters = composed.machine.telemetry.counters;
  let atStart: Record<string, number> = {};
  const markedExits: Record<string, number> = {};
  composed.devices.bench.onMarker = (v) => {
    if (v === 1) atStart = counters.snapshot();
    else if (v === 2) {
      const now = counters.snapshot();
      for (const k of EXIT_KIND_NAMES) markedExits[k] = (now[`exits.${k}`] ?? 0) - (atStart[`exits.${k}`] ?? 0);
      // The end marker's own write is one io exit; it is not part of the measured work.
      markedExits.io = (markedExits.io ?? 0) - 1;
    }
  };
  try {
    const r = await composed.machine.run();
    const console = (composed.devices.serialOutput as BufferSerialOutput).text();
    return { exitCode: r.exitCode, reason: r.reason, message: r.message, console, results: parseResults(console), markedExits };
  } finally {
    composed.dispose();
  }
}

/** True if QEMU's x86-64 system emulator is installed. */
export function qemuAvailable(): boolean {
  return spawnSync('qemu-system-x86_64', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** Boots the same testbed binary in QEMU TCG (PVH entry) and returns its console and exit code. */
export function runTestbedInQemu(workload: string, iterations?: number, timeoutMs = 300_000): { exitCode: number; console: string; results: GuestResult[] } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hyvisor-qemu-'));
  const disk = path.join(dir, 'disk.img');
  fs.writeFileSync(disk, Buffer.alloc(16 * 1024 * 1024));
  const append = `workload=${workload}${iterations ? ` iterations=${iterations}` : ''}`;
  const r = spawnSync('qemu-system-x86_64', [
    '-M', 'pc', '-accel', 'tcg', '-m', '64', '-nographic', '-no-reboot', '-nodefaults', '-serial', 'stdio',
    '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04',
    '-drive', `file=${disk},format=raw,if=ide,index=0`,
    '-kernel', TESTBED_ELF, '-append', append,
  ], { encoding: 'utf8', timeout: timeoutMs });
  fs.rmSync(dir, { recursive: true, force: true });
  // isa-debug-exit makes QEMU exit with (code << 1) | 1.
  const status = r.status ?? -1;
  const exitCode = status >= 1 && status % 2 === 1 ? (status - 1) / 2 : -1;
  return { exitCode, console: r.stdout ?? '', results: parseResults(r.stdout ?? '') };
}
