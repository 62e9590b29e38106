/**
 * The command table's shape, the parser that reads a command line with it and the help printed
 * from it. One definition per option feeds both `util.parseArgs` and `--help`, so the help
 * cannot list an option the parser refuses or miss one it takes.
 *
 * Only `node:util` is imported here: the CLI decides what to load after parsing.
 * @module
 */
import { parseArgs } from 'node:util';

/** A bad command line: printed as one line, exit code 2. */
export class UsageError extends Error {}

/** One option: its `util.parseArgs` type plus what help says about it. */
export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  /** The value's placeholder in help (`NAME`, `N`, `DURATION`); string options only. */
  readonly value?: string;
  /** One line of help. */
  readonly description: string;
}

/** Options by long name. */
export type OptionTable = Readonly<Record<string, OptionSpec>>;

/** A positional argument. */
export interface PositionalSpec {
  readonly name: string;
  readonly description: string;
  readonly optional?: boolean;
}

/** A titled block of help text (e.g. the registered strategies, read from the registry). */
export interface HelpSection {
  readonly title: string;
  /** `[term, description]` rows, or plain lines. */
  readonly rows: readonly (readonly [string, string] | string)[];
}

/** What a parsed command line gives a command. */
export interface Parsed {
  readonly values: Readonly<Record<string, string | boolean | undefined>>;
  readonly positionals: readonly string[];
}

/** A command or subcommand: the single source of its parser and its help. */
export interface CommandSpec {
  /** The words that invoke it after `hyvisor` (`run`, `bench exit-cost`). */
  readonly path: string;
  readonly summary: string;
  readonly positionals: readonly PositionalSpec[];
  readonly options: OptionTable;
  /** Subcommands chosen by the first positional (`bench NAME`); their names are what the parser accepts. */
  readonly subcommands?: () => readonly CommandSpec[];
  /** Help sections read at help time (registries: strategies, facets, …); may load plugins. */
  readonly sections?: () => Promise<readonly HelpSection[]>;
  /** An example line for the help's end and for "expected CONFIG" errors. */
  readonly example?: string;
  /** Runs the command (its code is imported here, not before). */
  readonly run?: (parsed: Parsed) => Promise<number>;
}

/** `--help` / `-h`, which every command takes. */
export const HELP_OPTION: OptionSpec = { type: 'boolean', short: 'h', description: 'show this help and exit' };

/** The command's options plus `--help`. */
export function optionsOf(cmd: CommandSpec): OptionTable {
  return { ...cmd.options, help: HELP_OPTION };
}

/** True if `args` ask for help (`--help` or `-h` before any `--`). */
export function wantsHelp(args: readonly string[]): boolean {
  for (const a of args) {
    if (a === '--') return false;
    if (a === '--help' || a === '-h') return true;
  }
  return false;
}

/**
 * Parses `args` for `cmd` in strict mode. Unknown options, missing values and wrong counts of
 * positionals become one-line {@link UsageError}s naming the command, with a did-you-mean where
 * a known option is close.
 */
export function parseCommand(cmd: CommandSpec, args: readonly string[]): Parsed {
  const options = optionsOf(cmd);
  let r;
  try {
    r = parseArgs({ args: [...args], options: options as Record<string, OptionSpec>, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(`${cmd.path}: ${parseErrorMessage(err as Error & { code?: string }, options)}`);
  }
  const min = cmd.positionals.filter((p) => !p.optional).length;
  if (r.positionals.length > cmd.positionals.length) {
    throw new UsageError(`${cmd.path}: unexpected argument '${r.positionals[cmd.positionals.length]}' (usage: ${usageLine(cmd)})`);
  }
  if (r.positionals.length < min) {
    const missing = cmd.positionals[r.positionals.length]!;
    const eg = cmd.example ? `, e.g. \`${cmd.example}\`` : '';
    throw new UsageError(`${cmd.path}: expected ${missing.name} (${missing.description})${eg}`);
  }
  return { values: r.values as Parsed['values'], positionals: r.positionals };
}

function parseErrorMessage(err: Error & { code?: string }, options: OptionTable): string {
  if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const m = /Unknown option '([^']+)'/.exec(err.message);
    const given = m?.[1] ?? '?';
    const names = Object.keys(options).map((n) => `--${n}`);
    const close = given.startsWith('--') ? suggest(given.split('=')[0]!, names) : undefined;
    return `unknown option '${given}'; ${close ? `did you mean ${close}?` : `known: ${names.join(', ')}`}`;
  }
  if (err.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const m = /Option '(?:-\w, )?--([\w-]+)/.exec(err.message);
    const o = m ? options[m[1]!] : undefined;
    if (m && o?.type === 'string') return `option '--${m[1]}' needs a value (${o.value ?? 'VALUE'})`;
    if (m) return `option '--${m[1]}' takes no value`;
  }
  return err.message.replace(/\. To specify a positional argument.*$/s, '');
}

/**
 * The known word closest to `given` by edit distance, if close enough to be a likely typo (at
 * most a third of its length, minimum 1), else undefined.
 */
export function suggest(given: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = editDistance(given.toLowerCase(), k.toLowerCase());
    if (d < bestD) { bestD = d; best = k; }
  }
  return bestD <= Math.max(1, Math.floor(given.length / 3)) ? best : undefined;
}

/** Levenshtein distance, with a swap of two neighbours counting as one edit. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** An unknown word (command, benchmark) as one line: the known ones, or the likely one. */
export function unknownWord(where: string, what: string, given: string, known: readonly string[]): UsageError {
  const close = suggest(given, known);
  return new UsageError(`${where}unknown ${what} '${given}'; ${close ? `did you mean ${close}?` : `known: ${known.join(', ')}`}`);
}

/** `hyvisor run CONFIG [options]`. */
export function usageLine(cmd: CommandSpec): string {
  const pos = cmd.positionals.map((p) => (p.optional ? `[${p.name}]` : p.name));
  const hasOptions = Object.keys(cmd.options).length > 0 || (cmd.subcommands?.().length ?? 0) > 0;
  return ['hyvisor', cmd.path, ...pos, ...(hasOptions ? ['[options]'] : [])].join(' ');
}

/** `--name VALUE` or `-h, --help`. */
export function optionLabel(name: string, o: OptionSpec): string {
  const long = `--${name}${o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : ''}`;
  return o.short ? `-${o.short}, ${long}` : long;
}

/** Help is wrapped at this width (fixed, so help reads the same in a terminal, a pipe and a test). */
const WIDTH = 100;

/** Renders `[term, description]` rows with the descriptions in one column, wrapped at {@link WIDTH}. */
export function table(rows: readonly (readonly [string, string] | string)[], indent = '  '): string[] {
  const width = Math.min(30, Math.max(0, ...rows.map((r) => (typeof r === 'string' ? 0 : r[0].length))));
  const col = indent.length + width + 2;
  const out: string[] = [];
  for (const r of rows) {
    if (typeof r === 'string') { out.push(...wrap(r, WIDTH - indent.length).map((l) => indent + l)); continue; }
    const [term, text] = r;
    const lines = wrap(text, WIDTH - col);
    if (term.length > width) out.push(indent + term);
    else out.push(`${indent}${term.padEnd(width)}  ${lines.shift() ?? ''}`.trimEnd());
    for (const l of lines) out.push(' '.repeat(col) + l);
  }
  return out;
}

/** Splits `text` into lines of at most `width` characters at spaces (a longer word stays whole). */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) { lines.push(line); line = word; }
    else line = line === '' ? word : `${line} ${word}`;
  }
  lines.push(line);
  return lines;
}

/** The full help of one command, from its spec and its (possibly registry-read) sections. */
export async function renderHelp(cmd: CommandSpec): Promise<string> {
  const lines = [`usage: ${usageLine(cmd)}`, '', ...wrap(cmd.summary, WIDTH)];
  if (cmd.positionals.length > 0) lines.push('', 'arguments:', ...table(cmd.positionals.map((p) => [p.name, p.description])));
  const opts = optionsOf(cmd);
  lines.push('', 'options:', ...table(Object.entries(opts).map(([n, o]) => [optionLabel(n, o), o.description])));
  const subs = cmd.subcommands?.() ?? [];
  if (subs.length > 0) {
    lines.push('', `${cmd.positionals[0]?.name ?? 'subcommands'}:`, ...table(subs.map((s) => [s.path.split(' ').pop()!, s.summary])));
    lines.push('', `\`hyvisor ${cmd.path} ${cmd.positionals[0]?.name ?? 'NAME'} --help\` shows one's options.`);
  }
  for (const s of (await cmd.sections?.()) ?? []) lines.push('', `${s.title}:`, ...table(s.rows));
  if (cmd.example) lines.push('', `example: ${cmd.example}`);
  return lines.join('\n') + '\n';
}
