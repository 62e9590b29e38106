/**
 * `workloads`: every testbed workload under each requested strategy, alternating rounds,
 * reporting the guest-measured ns per operation (median) and exits per operation by kind, with
 * the same binary in QEMU TCG beside it where that means something.
 * @module
 */
import * as fs from 'node:fs';
import { KvmBackend } from '@hyvisor/backend-kvm';
import { positiveInt, type Benchmark } from './benchmark.js';
import { TESTBED_ELF, qemuAvailable, runTestbedInQemu } from '@hyvisor/guest-testbed';
import { ALL_WORKLOADS, parseWorkloads, round3, runRounds, summarizeRounds } from './rounds.js';

export { ALL_WORKLOADS };
/** Workloads QEMU can run meaningfully (it has no IRQ_TEST or STALL device). */
const QEMU_WORKLOADS = new Set(['cpu', 'syscall', 'memory', 'io']);

/** One line of `bench workloads --json`. */
export interface WorkloadResult {
  readonly workload: string;
  readonly strategy: string;
  readonly host: string;
  readonly rounds: number;
  readonly iterations: number;
  /** Median guest-measured ns per operation. */
  readonly nsPerOp: number;
  /** Exits per operation by kind (median round), between the guest's markers. */
  readonly exitsPerOp: Record<string, number>;
  /** Extra figures of the median round's guest result (driftUs, lostTicks, mbPerSec, …). */
  readonly guest: Record<string, unknown>;
  readonly check: string;
  /** The same binary in QEMU TCG, if run. */
  readonly qemuNsPerOp?: number;
  readonly qemuRatio?: number;
}

export const workloads: Benchmark = {
  async run(options, log) {
    if (!fs.existsSync(TESTBED_ELF)) throw new Error(`${TESTBED_ELF} is missing: run \`pnpm build\` first`);
    const strategies = String(options.strategy ?? 'hvm,hvm-userspace').split(',').filter(Boolean);
    const names = parseWorkloads(options.workload);
    const rounds = positiveInt('rounds', options.rounds, 3);
    const iterations = options.iterations === undefined ? undefined : positiveInt('iterations', options.iterations, 1);
    const useQemu = !options['no-qemu'] && qemuAvailable();
    const host = new KvmBackend();
    const flavour = host.info.flavour;
    host.dispose();

    const out: WorkloadResult[] = [];
    for (const workload of names) {
      const { samples } = await runRounds({
        workloads: [workload], strategies, rounds, iterations: () => iterations,
        onRun: ({ strategy, round, sample }) => {
          if (sample.ok) log(`${workload} ${strategy} round ${round + 1}/${rounds}: ${sample.result.nsPerOp.toFixed(0)} ns/op, check ${sample.result.check}`);
        },
      });
      let qemuNsPerOp: number | undefined;
      if (useQemu && QEMU_WORKLOADS.has(workload)) {
        const q = runTestbedInQemu(workload, iterations);
        const qr = q.results.find((x) => x.workload === workload);
        if (qr) qemuNsPerOp = qr.nsPerOp;
        log(`${workload} qemu-tcg: ${qr ? `${qr.nsPerOp.toFixed(0)} ns/op` : `no result (exit ${q.exitCode})`}`);
      }
      for (const strategy of strategies) {
        const s = summarizeRounds(samples.get(workload)!.get(strategy)!);
        out.push({
          workload, strategy, host: flavour, rounds, iterations: s.iterations, nsPerOp: s.nsPerOp, exitsPerOp: s.exitsPerOp, guest: s.guest,
          check: s.check,
          ...(qemuNsPerOp !== undefined ? { qemuNsPerOp: round3(qemuNsPerOp), qemuRatio: round3(s.nsPerOp / qemuNsPerOp) } : {}),
        });
      }
    }
    return { results: out };
  },
  jsonLines(r) {
    return (r as { results: WorkloadResult[] }).results;
  },
  format(r) {
    const rows = (r as { results: WorkloadResult[] }).results;
    return rows.map((x) => {
      const exits = Object.entries(x.exitsPerOp).map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
      const q = x.qemuNsPerOp !== undefined ? `, qemu-tcg ${x.qemuNsPerOp} ns/op` : '';
      return `${x.workload.padEnd(8)} ${x.strategy.padEnd(10)} ${String(x.nsPerOp).padStart(12)} ns/op  exits/op: ${exits}${q}  [${x.check}]`;
    }).join('\n');
  },
};

