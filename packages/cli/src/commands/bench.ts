/**
 * `hyvisor bench NAME`: runs a benchmark program from `bench/` and prints its result.
 * @module
 */
import { BENCHMARKS } from '@hyvisor/bench';
import { parse, UsageError } from '../usage.js';

export async function benchCommand(args: string[]): Promise<number> {
  const name = args[0];
  const known = Object.keys(BENCHMARKS).join(', ');
  if (name === undefined || name.startsWith('-')) throw new UsageError(`bench: expected a benchmark name (${known})`);
  const bench = BENCHMARKS[name];
  if (!bench) throw new UsageError(`bench: unknown benchmark '${name}'; known: ${known}`);
  const { values, positionals } = parse(`bench ${name}`, args.slice(1), { json: { type: 'boolean' }, ...bench.options });
  if (positionals.length > 0) throw new UsageError(`bench ${name}: unexpected argument '${positionals[0]}'`);
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
