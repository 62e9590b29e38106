/**
 * `emu`: the emulator backend's speed on the testbed's `cpu` and `syscall` workloads (ring-3
 * computation; null system calls through the SYSCALL gate): instructions retired per second of
 * host time between the guest's start and end markers (MIPS), and the host time per operation
 * against the same testbed binary under QEMU TCG in the same run (QEMU's guest-measured ns per
 * op; `qemuRatio` = emulator host ns per op / QEMU ns per op, so 10 means ten times slower). In
 * each round the two alternate who goes first, so the host's drift hits both alike.
 * @module
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHyvisorContainer, validateConfig } from '@hyvisor/core';
import { registerEmuBackend } from '@hyvisor/backend-emu';
import { TESTBED_ELF, parseResults, qemuAvailable, runTestbedInQemu } from '@hyvisor/guest-testbed';
import type { BufferSerialOutput } from '@hyvisor/devices';
import { createMachineFromConfig, registerMinimalStrategy } from '@hyvisor/vmm';
import { median, positiveInt, type Benchmark } from './benchmark.js';

/** One workload's figures. */
export interface EmuBenchRow {
  readonly workload: string;
  readonly iterations: number;
  /** Instructions retired between the guest's markers. */
  readonly instructions: number;
  /** Host ms between the markers (median over rounds). */
  readonly hostMs: number;
  /** Million instructions per second of host time (median over rounds). */
  readonly mips: number;
  /** Host ns per operation on the emulator. */
  readonly emuNsPerOp: number;
  /** Guest ns per operation on the emulator's virtual clock (1 instruction = 1 ns). */
  readonly emuGuestNsPerOp: number;
  /** QEMU TCG's guest-measured ns per operation, or null without QEMU. */
  readonly qemuNsPerOp: number | null;
  /** emuNsPerOp / qemuNsPerOp, or null without QEMU. */
  readonly qemuRatio: number | null;
}

/** Result printed by `hyvisor bench emu --json` (one line per workload). */
export interface EmuBenchResult {
  readonly benchmark: 'emu';
  readonly rounds: number;
  readonly rows: readonly EmuBenchRow[];
  readonly note?: string;
}

const DEFAULT_ITERATIONS: Readonly<Record<string, number>> = { cpu: 500, syscall: 100_000 };

interface EmuRound { instructions: number; hostMs: number; guestNsPerOp: number }

/** Boots the testbed on the emulator (strategy `minimal`) and measures between the guest's markers. */
async function emuRound(workload: string, iterations: number): Promise<EmuRound> {
  const container = createHyvisorContainer();
  registerEmuBackend(container);
  registerMinimalStrategy(container);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hyvisor-bench-emu-'));
  const config = validateConfig({
    name: `emu-${workload}`, backend: 'emu', strategy: 'minimal', board: 'testbed', memory: '64MiB',
    guest: { kernel: TESTBED_ELF, workload, iterations }, serial: { output: 'buffer' },
    storage: { path: path.join(dir, 'disk.img'), size: '16MiB' }, timeLimit: '600s',
  });
  const composed = createMachineFromConfig(container, config);
  try {
    const { machine } = composed;
    const retired = (): number => machine.vcpu.stats?.()['instructions'] ?? NaN;
    let t0 = 0, i0 = 0, t1 = 0, i1 = 0;
    composed.devices.bench.onMarker = (v) => {
      if (v === 1) { t0 = performance.now(); i0 = retired(); }
      else if (v === 2) { t1 = performance.now(); i1 = retired(); }
    };
    const r = await machine.run();
    const out = (composed.devices.serialOutput as BufferSerialOutput).text();
    const res = parseResults(out).find((x) => x.workload === workload);
    if (r.exitCode !== 0 || res?.check !== 'ok' || t1 === 0) throw new Error(`emulator: ${workload} failed (${r.reason} ${r.message}):\n${out}`);
    return { instructions: i1 - i0, hostMs: t1 - t0, guestNsPerOp: res.nsPerOp };
  } finally {
    composed.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export const emu: Benchmark = {
  async run(options, log) {
    if (!fs.existsSync(TESTBED_ELF)) throw new Error(`${TESTBED_ELF} is missing: run \`pnpm build\` first`);
    const rounds = positiveInt('rounds', options.rounds, 3);
    const qemu = qemuAvailable();
    const rows: EmuBenchRow[] = [];
    for (const workload of ['cpu', 'syscall']) {
      const iterations = positiveInt(`${workload}-iterations`, options[`${workload}-iterations`], DEFAULT_ITERATIONS[workload]!);
      const emuRounds: EmuRound[] = [];
      const qemuNs: number[] = [];
      const qemuRound = (): number => {
        const run = runTestbedInQemu(workload, iterations);
        const res = run.results.find((x) => x.workload === workload);
        if (run.exitCode !== 0 || res?.check !== 'ok') throw new Error(`QEMU: ${workload} failed:\n${run.console}`);
        return res.nsPerOp;
      };
      for (let r = 0; r < rounds; r++) {
        // Within a round the emulator and QEMU alternate who goes first (as exit-cost and the
        // workload rounds do), so drift in the host's load hits both sides alike.
        let q: number | undefined;
        if (qemu && r % 2 === 1) q = qemuRound();
        const e = await emuRound(workload, iterations);
        if (qemu && r % 2 === 0) q = qemuRound();
        emuRounds.push(e);
        if (q !== undefined) qemuNs.push(q);
        const order = qemu ? (r % 2 === 0 ? ' (emulator first)' : ' (QEMU first)') : '';
        log(`${workload} round ${r + 1}/${rounds}${order}: ${(e.instructions / e.hostMs / 1000).toFixed(2)} MIPS, ${((e.hostMs * 1e6) / iterations).toFixed(1)} host ns/op${q === undefined ? '' : `, QEMU ${q.toFixed(1)} ns/op`}`);
      }
      const hostMs = median(emuRounds.map((e) => e.hostMs));
      const instructions = emuRounds[0]!.instructions;
      const emuNsPerOp = (hostMs * 1e6) / iterations;
      const qemuNsPerOp = qemu ? median(qemuNs) : null;
      rows.push({
        workload, iterations, instructions, hostMs: round3(hostMs),
        mips: round3(median(emuRounds.map((e) => e.instructions / e.hostMs / 1000))),
        emuNsPerOp: round3(emuNsPerOp), emuGuestNsPerOp: emuRounds[0]!.guestNsPerOp,
        qemuNsPerOp: qemuNsPerOp === null ? null : round3(qemuNsPerOp),
        qemuRatio: qemuNsPerOp === null ? null : round3(emuNsPerOp / qemuNsPerOp),
      });
    }
    const result: EmuBenchResult = {
      benchmark: 'emu', rounds, rows,
      ...(qemu ? {} : { note: 'qemu-system-x86_64 is not installed: no QEMU comparison (apt-get install qemu-system-x86)' }),
    };
    return result;
  },
  format(r) {
    const x = r as EmuBenchResult;
    const lines = x.rows.map((w) => `emu ${w.workload}: ${w.mips} MIPS, ${w.emuNsPerOp} host ns/op` +
      (w.qemuRatio === null ? '' : `, QEMU TCG ${w.qemuNsPerOp} ns/op, ratio ${w.qemuRatio}`) + ` (${w.iterations} iterations, median of ${x.rounds})`);
    return [...lines, ...(x.note ? [x.note] : [])].join('\n');
  },
  jsonLines(r) {
    const x = r as EmuBenchResult;
    return x.rows.map((w) => ({ benchmark: 'emu', ...w, ...(x.note ? { note: x.note } : {}) }));
  },
};

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
