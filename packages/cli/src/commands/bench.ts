/**
 * `hyvisor bench NAME`: loads one benchmark's code from `bench/`, runs it and prints its result.
 * @module
 */
import type { BenchmarkSpec } from '@hyvisor/bench';
import { UsageError, type Parsed } from '../spec.js';

export async function benchCommand(name: string, spec: BenchmarkSpec, { values }: Parsed): Promise<number> {
  const bench = await spec.load();
  let result: object;
  try {
    result = await bench.run(values, (line) => {
      if (!values.json) process.stderr.write(line + '\n');
    });
  } catch (err) {
    // Bad option values are the user's to fix: one line, exit code 2.
    if (err instanceof RangeError) throw new UsageError(`bench ${name}: ${err.message}`);
    throw err;
  }
  if (values.json) {
    const lines = bench.jsonLines ? bench.jsonLines(result) : [result];
    process.stdout.write(lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  } else {
    process.stdout.write(bench.format(result) + '\n');
  }
  return 0;
}
