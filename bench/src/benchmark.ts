/**
 * What a benchmark program looks like to the CLI.
 * @module
 */

/**
 * One option of a benchmark, in `util.parseArgs` form plus what its help says: the CLI parses
 * with this table and prints its help from it, so the two cannot disagree.
 */
export interface BenchOption {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  /** The value's placeholder in help (`N`, `PATH`, `LIST`); string options only. */
  readonly value?: string;
  /** One line for `hyvisor bench NAME --help`. */
  readonly description: string;
}

/** Option definitions by long name (`--json` and `--help` are the CLI's, common to all). */
export type BenchOptions = Readonly<Record<string, BenchOption>>;

/**
 * A registered benchmark as the CLI sees it before running it: what it is, its options, and how
 * to load its code (loaded only when it runs, so `hyvisor run` and `--help` never pay for it).
 */
export interface BenchmarkSpec {
  readonly description: string;
  readonly options: BenchOptions;
  load(): Promise<Benchmark>;
}

/** A benchmark's code: runs Hyvisor and a reference side by side and returns one JSON-able object. */
export interface Benchmark {
  /** Runs it; `log` prints progress for humans (silenced with --json). */
  run(options: Record<string, string | boolean | undefined>, log: (line: string) => void): Promise<object>;
  /** A human-readable summary of the result. */
  format(result: object): string;
  /** With --json: the objects to print, one per line (default: the result itself). */
  jsonLines?(result: object): object[];
}

/** The median of `xs` (mean of the two middle values for an even count). */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Parses a positive integer option, or throws a one-line error naming it. */
export function positiveInt(name: string, value: string | boolean | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`--${name}: expected a whole number ≥ 1, got "${String(value)}"`);
  return n;
}
