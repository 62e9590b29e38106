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
  const result = await bench.run(values as Record<string, string | boolean | undefined>, (line) => {
    if (!values.json) process.stderr.write(line + '\n');
  });
  process.stdout.write(values.json ? JSON.stringify(result) + '\n' : bench.format(result) + '\n');
  return 0;
}
