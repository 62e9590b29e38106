/**
 * `workloads`: every testbed workload under each requested strategy, alternating rounds,
 * reporting the guest-measured ns per operation (median) and exits per operation by kind, with
 * the same binary in QEMU TCG beside it where that means something.
 * @module
 */
import * as fs from 'node:fs';
import { KvmBackend } from '@hyvisor/backend-kvm';
import { median, positiveInt, type Benchmark } from './benchmark.js';
import { TESTBED_ELF, qemuAvailable, runTestbed, runTestbedInQemu, type GuestResult } from '@hyvisor/guest-testbed';

/** Workloads in the order they run. */
export const ALL_WORKLOADS = ['cpu', 'syscall', 'memory', 'irq', 'io', 'time'] as const;
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
  description: 'the testbed workloads per strategy: ns/op and exits/op, with QEMU TCG beside them',
  options: {
    strategy: { type: 'string' }, workload: { type: 'string' }, rounds: { type: 'string' },
    iterations: { type: 'string' }, qemu: { type: 'boolean' }, 'no-qemu': { type: 'boolean' },
  },
  async run(options, log) {
    if (!fs.existsSync(TESTBED_ELF)) throw new Error(`${TESTBED_ELF} is missing: run \`pnpm build\` first`);
    const strategies = String(options.strategy ?? 'hvm,hvm-userspace').split(',').filter(Boolean);
    const names = String(options.workload ?? ALL_WORKLOADS.join(',')).split(',').filter(Boolean);
    for (const n of names) if (!(ALL_WORKLOADS as readonly string[]).includes(n)) throw new RangeError(`--workload: unknown workload '${n}'; known: ${ALL_WORKLOADS.join(', ')}`);
    const rounds = positiveInt('rounds', options.rounds, 3);
    const iterations = options.iterations === undefined ? undefined : positiveInt('iterations', options.iterations, 1);
    const useQemu = !options['no-qemu'] && qemuAvailable();
    const host = new KvmBackend();
    const flavour = host.info.flavour;
    host.dispose();

    const out: WorkloadResult[] = [];
    for (const workload of names) {
      const perStrategy = new Map<string, { result: GuestResult; exits: Record<string, number> }[]>();
      for (let r = 0; r < rounds; r++) {
        // Alternate the order of strategies each round so host drift hits all of them alike.
        const order = r % 2 === 0 ? strategies : [...strategies].reverse();
        for (const strategy of order) {
          const run = await runTestbed({ strategy, workload, ...(iterations ? { iterations } : {}) });
          const result = run.results.find((x) => x.workload === workload);
          if (!result) throw new Error(`${workload} under ${strategy}: no result line (exit ${run.exitCode}, ${run.reason} ${run.message}); console:\n${run.console}`);
          log(`${workload} ${strategy} round ${r + 1}/${rounds}: ${result.nsPerOp.toFixed(0)} ns/op, check ${result.check}`);
          perStrategy.set(strategy, [...(perStrategy.get(strategy) ?? []), { result, exits: run.markedExits }]);
        }
      }
      let qemuNsPerOp: number | undefined;
      if (useQemu && QEMU_WORKLOADS.has(workload)) {
        const q = runTestbedInQemu(workload, iterations);
        const qr = q.results.find((x) => x.workload === workload);
        if (qr) qemuNsPerOp = qr.nsPerOp;
        log(`${workload} qemu-tcg: ${qr ? `${qr.nsPerOp.toFixed(0)} ns/op` : `no result (exit ${q.exitCode})`}`);
      }
      for (const strategy of strategies) {
        const runs = perStrategy.get(strategy)!;
        const sorted = [...runs].sort((a, b) => a.result.nsPerOp - b.result.nsPerOp);
        const mid = sorted[sorted.length >> 1]!;
        const exitsPerOp: Record<string, number> = {};
        for (const [k, v] of Object.entries(mid.exits)) if (v !== 0) exitsPerOp[k] = round3(v / mid.result.iterations);
        const { workload: _w, iterations: it, ns: _ns, nsPerOp: _n, check, ...guest } = mid.result;
        const nsPerOp = median(runs.map((x) => x.result.nsPerOp));
        out.push({
          workload, strategy, host: flavour, rounds, iterations: it, nsPerOp: round3(nsPerOp), exitsPerOp, guest,
          check: runs.every((x) => x.result.check === 'ok') ? 'ok' : runs.map((x) => x.result.check).join(','),
          ...(qemuNsPerOp !== undefined ? { qemuNsPerOp: round3(qemuNsPerOp), qemuRatio: round3(nsPerOp / qemuNsPerOp) } : {}),
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

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
