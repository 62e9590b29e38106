/**
 * The `hyvisor` command. The command line is parsed with the table in commands.ts before anything
 * else is loaded; each command imports its own code. Errors the user can fix print one line and
 * exit with code 2; runtime failures one line and code 1; a stack trace is a bug (set
 * HYVISOR_DEBUG=1 to see one anyway). main.ts starts it (bundled or not), entry.ts is the
 * bundle's entry point.
 * @module
 */
import { COMMANDS, TOP_SECTIONS } from './commands.js';
import { UsageError, parseCommand, renderHelp, table, unknownWord, usageLine, wantsHelp, type CommandSpec } from './spec.js';
import { exitCodeFor } from './errors.js';

async function topHelp(): Promise<string> {
  const rows: [string, string][] = [];
  for (const c of COMMANDS) {
    const spec = await c.spec();
    rows.push([usageLine(spec).replace(/^hyvisor /, ''), spec.summary]);
    for (const sub of spec.subcommands?.() ?? []) rows.push([`  ${usageLine(sub).replace(/^hyvisor /, '')}`, sub.summary]);
  }
  const lines = ['usage: hyvisor COMMAND [options]', '', 'commands:', ...table(rows)];
  for (const s of TOP_SECTIONS) lines.push('', `${s.title}:`, ...table(s.rows));
  lines.push('', '`hyvisor COMMAND --help` (or `hyvisor help COMMAND`) shows a command\'s arguments and options.');
  return lines.join('\n') + '\n';
}

/** The command `words` name (`['bench', 'paper']`), and how many words that took. */
async function resolve(words: readonly string[]): Promise<{ spec: CommandSpec; used: number }> {
  const entry = COMMANDS.find((c) => c.name === words[0]);
  if (!entry) throw unknownWord('', 'command', words[0]!, COMMANDS.map((c) => c.name));
  const spec = await entry.spec();
  const subs = spec.subcommands?.();
  if (!subs) return { spec, used: 1 };
  const word = words[1];
  const names = subs.map((s) => s.path.split(' ').pop()!);
  if (word === undefined || word.startsWith('-')) return { spec, used: 1 };
  const sub = subs.find((s) => s.path === `${spec.path} ${word}`);
  if (!sub) throw unknownWord(`${spec.path}: `, spec.positionals[0]?.name === 'NAME' ? 'benchmark' : 'subcommand', word, names);
  return { spec: sub, used: 2 };
}

async function main(argv: readonly string[]): Promise<number> {
  const [first] = argv;
  if (first === undefined) {
    process.stderr.write(await topHelp());
    return 2;
  }
  if (first === '--help' || first === '-h') {
    process.stdout.write(await topHelp());
    return 0;
  }
  if (first === 'help') {
    if (wantsHelp(argv.slice(1))) {
      process.stdout.write(await renderHelp(await (COMMANDS.find((c) => c.name === 'help')!.spec())));
      return 0;
    }
    const words = argv.slice(1).filter((w) => !w.startsWith('-'));
    process.stdout.write(words.length === 0 ? await topHelp() : await renderHelp((await resolve(words)).spec));
    return 0;
  }
  if (first.startsWith('-')) throw new UsageError(`expected a command before '${first}' (run, info, bench, help)`);
  const { spec, used } = await resolve(argv);
  const args = argv.slice(used);
  if (wantsHelp(args)) {
    process.stdout.write(await renderHelp(spec));
    return 0;
  }
  if (!spec.run) {
    // A command with subcommands and none named.
    const names = (spec.subcommands?.() ?? []).map((s) => s.path.split(' ').pop()!);
    const what = spec.positionals[0]?.name === 'NAME' ? 'a benchmark name' : 'a subcommand';
    throw new UsageError(`${spec.path}: expected ${what} (${names.join(', ')})`);
  }
  return spec.run(parseCommand(spec, args));
}

/**
 * Runs the command `argv` (without `node` and the script) and returns the process's exit code;
 * every error has been printed by then, as one line.
 */
export async function cli(argv: readonly string[]): Promise<number> {
  try {
    return await main(argv);
  } catch (err) {
    if (process.env.HYVISOR_DEBUG) console.error(err);
    const code = err instanceof UsageError ? 2 : await exitCodeFor(err);
    if (code === 70) {
      process.stderr.write(`hyvisor: internal error: ${err instanceof Error ? err.message : String(err)} (HYVISOR_DEBUG=1 shows the stack)\n`);
    } else {
      process.stderr.write(`hyvisor: ${(err as Error).message}\n`);
    }
    return code;
  }
}
