/**
 * Hyvisor's benchmarks by name. Each prints JSON; none is a timed test.
 *
 * This module is the registry the CLI parses with and prints help from: names, descriptions and
 * options live here; each benchmark's code is a separate module loaded only when it runs.
 * @packageDocumentation
 */
import type { BenchmarkSpec } from './benchmark.js';

export * from './benchmark.js';
export type { ExitCostResult } from './exit-cost.js';
export type { WorkloadResult } from './workloads.js';
export type { TelemetryBenchResult } from './telemetry.js';
export type { PaperRow, PaperResult } from './paper.js';
export type { StartupResult } from './startup.js';
export type { SnapshotBenchResult, SnapshotRow } from './snapshot.js';
export type { LinuxBootResult, TopFunction } from './linux-boot.js';

const rounds = (what: string) => ({ type: 'string', value: 'N', description: what }) as const;

/** Benchmarks by the name `hyvisor bench NAME` takes. */
export const BENCHMARKS: Readonly<Record<string, BenchmarkSpec>> = {
  'exit-cost': {
    description: 'µs per userspace port exit: Hyvisor vs a minimal C KVM VMM, same guest loop',
    options: {
      rounds: rounds('alternating rounds, at least 5 (default 101: see docs/testing.md for why)'),
      exits: { type: 'string', value: 'N', description: 'port exits per round (default 20000)' },
    },
    load: async () => (await import('./exit-cost.js')).exitCost,
  },
  workloads: {
    description: 'the testbed workloads per strategy: ns/op and exits/op, with QEMU TCG beside them',
    options: {
      strategy: { type: 'string', value: 'LIST', description: 'comma-separated strategies (default hvm,hvm-userspace)' },
      workload: { type: 'string', value: 'LIST', description: 'comma-separated workloads: cpu, syscall, memory, irq, io, time (default all)' },
      rounds: rounds('alternating rounds (default 3)'),
      iterations: { type: 'string', value: 'N', description: "iterations per workload (default: the guest's own)" },
      qemu: { type: 'boolean', description: 'run the same binary under QEMU TCG beside it (the default when QEMU is installed)' },
      'no-qemu': { type: 'boolean', description: 'skip QEMU TCG' },
    },
    load: async () => (await import('./workloads.js')).workloads,
  },
  telemetry: {
    description: 'cost of live telemetry on the exit path: exit-heavy guest with telemetry off vs on with a connected client',
    options: {
      rounds: rounds('alternating rounds, at least 4 (default 8)'),
      exits: { type: 'string', value: 'N', description: 'port exits per round (default 200000)' },
      interval: { type: 'string', value: 'MS', description: 'telemetry sampling interval in ms (default 100)' },
    },
    load: async () => (await import('./telemetry.js')).telemetry,
  },
  paper: {
    description: "the paper's experiments: every workload under pv, hvm, hybrid and hvm-userspace, alternating rounds, medians, ratios, SVG plot",
    options: {
      backend: { type: 'string', value: 'NAME', description: 'kvm or emu (default kvm)' },
      rounds: rounds('alternating rounds, at least 5 (default 5)'),
      workload: { type: 'string', value: 'LIST', description: 'comma-separated workloads (default all)' },
      iterations: { type: 'string', value: 'N|W=N,…', description: 'iterations for every workload, or per workload (e.g. syscall=20000)' },
      svg: { type: 'string', value: 'PATH', description: 'where the plot goes (default bench/out/paper.svg)' },
      from: { type: 'string', value: 'FILE', description: 're-render the table and plot from a saved --json output instead of running' },
    },
    load: async () => (await import('./paper.js')).paper,
  },
  emu: {
    description: 'emulator backend MIPS on the testbed cpu and syscall workloads, and its speed against QEMU TCG on the same binary',
    options: {
      rounds: rounds('rounds (default 3)'),
      'cpu-iterations': { type: 'string', value: 'N', description: 'iterations of the cpu workload (default 500)' },
      'syscall-iterations': { type: 'string', value: 'N', description: 'iterations of the syscall workload (default 100000)' },
    },
    load: async () => (await import('./emu.js')).emu,
  },
  'linux-boot': {
    description: "Debian's kernel + busybox initramfs to init's marker: Hyvisor's emulator vs QEMU TCG, same files and command line, medians, ratio, MIPS, top kernel functions",
    options: {
      rounds: rounds('alternating rounds, at least 3 (default 3)'),
      timeout: { type: 'string', value: 'S', description: 'give up on a boot after this many seconds (default 1800)' },
      'no-qemu': { type: 'boolean', description: 'skip QEMU TCG' },
    },
    load: async () => (await import('./linux-boot.js')).linuxBoot,
  },
  snapshot: {
    description: 'save and restore of the testbed per backend at 64 MiB, 1 GiB and 4 GiB of guest memory: snapshotMs, restoreMs, bytes on disk',
    options: {
      rounds: rounds('rounds per backend and size (default 3)'),
    },
    load: async () => (await import('./snapshot.js')).snapshot,
  },
  startup: {
    description: 'hyvisor run of the hello guest vs node -e 0 as whole processes, and the time to the first guest instruction at 64 MiB and 4 GiB',
    options: {
      rounds: rounds('alternating rounds, at least 10 (default 10)'),
      backend: { type: 'string', value: 'NAME', description: 'kvm or emu (default kvm where /dev/kvm is usable, else emu)' },
    },
    load: async () => (await import('./startup.js')).startup,
  },
};
