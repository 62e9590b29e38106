/**
 * What a benchmark program looks like to the CLI.
 * @module
 */

/** Option definitions in `util.parseArgs` form (all strings or booleans). */
export type BenchOptions = Record<string, { type: 'string' | 'boolean'; short?: string }>;

/** A benchmark: runs Hyvisor and a reference side by side and returns one JSON-able object. */
export interface Benchmark {
  readonly description: string;
  readonly options: BenchOptions;
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
