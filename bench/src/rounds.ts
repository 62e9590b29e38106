/**
 * Running the testbed workloads in alternating rounds and reducing the rounds to medians: shared by
 * `bench workloads` and `bench paper`.
 * @module
 */
import { runTestbed, type GuestResult } from '@hyvisor/guest-testbed';
import { median } from './benchmark.js';

/** Testbed workloads in the order they run. */
export const ALL_WORKLOADS = ['cpu', 'syscall', 'memory', 'irq', 'io', 'time'] as const;

/** Parses a comma-separated `--workload` list, or throws a RangeError naming the unknown one. */
export function parseWorkloads(value: string | boolean | undefined): string[] {
  const names = String(value ?? ALL_WORKLOADS.join(',')).split(',').map((s) => s.trim()).filter(Boolean);
  for (const n of names) {
    if (!(ALL_WORKLOADS as readonly string[]).includes(n)) throw new RangeError(`--workload: unknown workload '${n}'; known: ${ALL_WORKLOADS.join(', ')}`);
  }
  if (names.length === 0) throw new RangeError('--workload: empty list');
  return names;
}

/** One testbed run of one workload under one strategy: its result line and the exits between its markers, or why it failed. */
export type RoundSample =
  | { readonly ok: true; readonly result: GuestResult; readonly exits: Record<string, number>; readonly wallMs: number }
  | { readonly ok: false; readonly error: string; readonly wallMs: number };

/** How to run the rounds. */
export interface RoundsPlan {
  readonly workloads: readonly string[];
  readonly strategies: readonly string[];
  readonly rounds: number;
  /** Iterations per workload (undefined: the guest's default). */
  readonly iterations: (workload: string) => number | undefined;
  /** Backend name for runTestbed (default kvm). */
  readonly backend?: string;
  /** Throw at the first run without a result line (default), or record it and go on. */
  readonly onFailure?: 'throw' | 'record';
  /** Runs that throw (not guest failures) are retried this often, after a short pause (default 0). */
  readonly retries?: number;
  /** Called after each run (progress display). */
  readonly onRun?: (e: RunEvent) => void;
  /** Called when a run that threw is retried. */
  readonly onRetry?: (e: { workload: string; strategy: string; round: number; error: string }) => void;
}

/** What {@link RoundsPlan.onRun} hears. */
export interface RunEvent {
  readonly workload: string;
  readonly strategy: string;
  /** 0-based round. */
  readonly round: number;
  /** Runs done so far, this one included, and in all. */
  readonly done: number;
  readonly total: number;
  readonly sample: RoundSample;
}

/** Samples by workload, then by strategy, in round order. */
export type RoundSamples = Map<string, Map<string, RoundSample[]>>;

/**
 * Runs every workload under every strategy `rounds` times. Workload by workload; within a
 * workload the order of the strategies alternates each round, so host drift hits all of them alike.
 */
export async function runRounds(plan: RoundsPlan): Promise<{ samples: RoundSamples; retried: number }> {
  const samples: RoundSamples = new Map();
  const total = plan.workloads.length * plan.strategies.length * plan.rounds;
  let done = 0;
  let retried = 0;
  const record = plan.onFailure === 'record';
  for (const workload of plan.workloads) {
    const perStrategy = new Map<string, RoundSample[]>(plan.strategies.map((s) => [s, []]));
    samples.set(workload, perStrategy);
    const iterations = plan.iterations(workload);
    for (let r = 0; r < plan.rounds; r++) {
      const order = r % 2 === 0 ? plan.strategies : [...plan.strategies].reverse();
      for (const strategy of order) {
        let sample: RoundSample | undefined;
        for (let attempt = 0; sample === undefined; attempt++) {
          const t0 = performance.now();
          let run: Awaited<ReturnType<typeof runTestbed>>;
          try {
            run = await runTestbed({ strategy, workload, timeLimit: '600s', ...(plan.backend ? { backend: plan.backend } : {}), ...(iterations ? { iterations } : {}) });
          } catch (err) {
            const error = `${workload} under ${strategy}: ${(err as Error).message}`;
            if (attempt < (plan.retries ?? 0)) {
              retried++;
              plan.onRetry?.({ workload, strategy, round: r, error });
              await new Promise((res) => setTimeout(res, 3000));
              continue;
            }
            if (record) sample = { ok: false, error, wallMs: performance.now() - t0 };
            else throw err;
            continue;
          }
          const wallMs = performance.now() - t0;
          const result = run.results.find((x) => x.workload === workload);
          if (result) {
            sample = { ok: true, result, exits: run.markedExits, wallMs };
          } else {
            const error = `${workload} under ${strategy}: no result line (exit ${run.exitCode}, ${run.reason} ${run.message}); console:\n${run.console}`;
            if (!record) throw new Error(error);
            sample = { ok: false, error, wallMs };
          }
        }
        perStrategy.get(strategy)!.push(sample);
        plan.onRun?.({ workload, strategy, round: r, done: ++done, total, sample });
      }
    }
  }
  return { samples, retried };
}

/** The rounds of one (workload, strategy) reduced to medians. */
export interface RoundsSummary {
  /** Rounds with a result line. */
  readonly okRounds: number;
  readonly rounds: number;
  readonly iterations: number;
  /** Median guest-measured ns per operation (NaN if no round produced a result). */
  readonly nsPerOp: number;
  readonly nsPerOpMin: number;
  readonly nsPerOpMax: number;
  /** ns per operation of each round that produced a result, in round order. */
  readonly perRound: number[];
  /** Exits per operation by kind (non-zero only), of the median round. */
  readonly exitsPerOp: Record<string, number>;
  /** The median round's extra guest figures (driftUs, lostTicks, MBps, …). */
  readonly guest: Record<string, unknown>;
  /** `ok` if every round said ok, else every round's check (or `error`) in order. */
  readonly check: string;
  /** Why rounds failed, if any did. */
  readonly errors: string[];
}

/** Reduces the rounds of one (workload, strategy) to their medians; the "median round" is the middle one by ns per operation. */
export function summarizeRounds(runs: readonly RoundSample[]): RoundsSummary {
  const good = runs.filter((x): x is Extract<RoundSample, { ok: true }> => x.ok);
  const errors = runs.filter((x): x is Extract<RoundSample, { ok: false }> => !x.ok).map((x) => x.error);
  const check = runs.every((x) => x.ok && x.result.check === 'ok')
    ? 'ok'
    : runs.map((x) => (x.ok ? x.result.check + (typeof x.result.reason === 'string' ? ` (${x.result.reason})` : '') : 'error')).join(',');
  if (good.length === 0) {
    return { okRounds: 0, rounds: runs.length, iterations: 0, nsPerOp: NaN, nsPerOpMin: NaN, nsPerOpMax: NaN, perRound: [], exitsPerOp: {}, guest: {}, check, errors };
  }
  const sorted = [...good].sort((a, b) => a.result.nsPerOp - b.result.nsPerOp);
  const mid = sorted[sorted.length >> 1]!;
  const exitsPerOp: Record<string, number> = {};
  for (const [k, v] of Object.entries(mid.exits)) {
    const perOp = round3(v / mid.result.iterations);
    if (perOp !== 0) exitsPerOp[k] = perOp;
  }
  const { workload: _w, iterations, ns: _ns, nsPerOp: _n, check: _c, ...guest } = mid.result;
  const perRound = good.map((x) => x.result.nsPerOp);
  return {
    okRounds: good.length, rounds: runs.length, iterations, nsPerOp: round3(median(perRound)),
    nsPerOpMin: Math.min(...perRound), nsPerOpMax: Math.max(...perRound), perRound,
    exitsPerOp, guest, check, errors,
  };
}

/** Rounds to three decimals. */
export function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
