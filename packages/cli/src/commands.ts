/**
 * The `hyvisor` command table: every command and subcommand, its arguments and options. The
 * parser and `--help` both read it; the lists in help (benchmarks, backends, strategies, facets,
 * boards, devices) come from the registries at help time. Command code is imported only when
 * the command runs, so parsing a command line loads nothing but this table.
 * @module
 */
import type { CommandSpec, HelpSection, OptionTable } from './spec.js';

/** A top-level command: its name and a loader for its full spec (some read a registry to build it). */
export interface CommandEntry {
  readonly name: string;
  spec(): Promise<CommandSpec>;
}

const RUN_OPTIONS: OptionTable = {
  backend: { type: 'string', value: 'NAME', description: "backend to run on, instead of the config's (backends below)" },
  strategy: { type: 'string', value: 'NAME', description: "strategy, instead of the config's (strategies below)" },
  'time-limit': { type: 'string', value: 'DURATION', description: 'stop the guest after this long (e.g. 30s, 500ms); exit code 124' },
  workload: { type: 'string', value: 'NAME', description: "testbed workload, added to the guest's command line (workloads below)" },
  iterations: { type: 'string', value: 'N', description: "iterations of the workload, added to the guest's command line" },
  telemetry: { type: 'string', value: '[HOST:]PORT', description: 'serve live telemetry (dashboard, WebSocket, /metrics) on this port' },
  gdb: { type: 'string', value: '[HOST:]PORT', description: 'serve the GDB remote protocol on this port (loopback by default; another address needs HYVISOR_GDB_TOKEN); the guest waits before its first instruction until the debugger continues (docs/debugging.md)' },
  exec: { type: 'string', value: 'CMD', description: "Linux guests: run CMD through the guest's init, print its output, power off; exit with CMD's status" },
  'snapshot-on-signal': { type: 'string', value: 'DIR', description: 'on SIGUSR1, save a snapshot of the running guest into DIR (docs/snapshots.md); the run goes on' },
  restore: { type: 'string', value: 'DIR', description: 'continue the guest saved in snapshot DIR instead of booting CONFIG (its config is in the snapshot; --backend picks another backend)' },
};

const run: CommandSpec = {
  path: 'run',
  summary: "boots the guest a YAML/JSON config describes; exits with the guest's exit code (written to port 0xf4), 0 when it powers off or resets, 124 at the time limit, 130 on Ctrl-C (a console on a terminal is raw: Ctrl-C goes to the guest, Ctrl-A x quits)",
  positionals: [{ name: 'CONFIG', description: 'a YAML or JSON config file (not with --restore)', optional: true }],
  options: RUN_OPTIONS,
  example: 'hyvisor run examples/hello.yaml',
  sections: async () => (await import('./catalog.js')).registrySections(),
  run: async (p) => (await import('./commands/run.js')).runCommand(p),
};

const info: CommandSpec = {
  path: 'info',
  summary: 'what this host offers: backends (and the KVM flavour), their capabilities, the strategies, boards and devices',
  positionals: [],
  options: { json: { type: 'boolean', description: 'print one JSON object' } },
  run: async (p) => (await import('./commands/info.js')).infoCommand(p),
};

/** `bench` and one subcommand per registered benchmark (read from `@hyvisor/bench`'s registry). */
async function bench(): Promise<CommandSpec> {
  const { BENCHMARKS } = await import('@hyvisor/bench');
  const subs: CommandSpec[] = Object.entries(BENCHMARKS).map(([name, b]) => ({
    path: `bench ${name}`,
    summary: b.description,
    positionals: [],
    options: { ...b.options, json: { type: 'boolean', description: 'print the result as JSON (progress lines are silenced)' } },
    run: async (p) => (await import('./commands/bench.js')).benchCommand(name, b, p),
  }));
  return {
    path: 'bench',
    summary: 'runs a benchmark: Hyvisor and a reference side by side, alternating rounds, medians and ratios',
    positionals: [{ name: 'NAME', description: `the benchmark: ${Object.keys(BENCHMARKS).join(', ')}` }],
    options: {},
    subcommands: () => subs,
    example: 'hyvisor bench exit-cost --json',
  };
}

const help: CommandSpec = {
  path: 'help',
  summary: "this overview, or a command's help (same as `hyvisor COMMAND --help`)",
  positionals: [{ name: 'COMMAND', description: 'a command, e.g. run or bench', optional: true }, { name: 'SUBCOMMAND', description: 'a subcommand, e.g. paper', optional: true }],
  options: {},
};

/** The commands, in the order help lists them. */
export const COMMANDS: readonly CommandEntry[] = [
  { name: 'run', spec: async () => run },
  { name: 'info', spec: async () => info },
  { name: 'bench', spec: bench },
  { name: 'help', spec: async () => help },
];

/** Sections of the top-level help beyond the command list. */
export const TOP_SECTIONS: readonly HelpSection[] = [
  {
    title: 'exit codes',
    rows: [
      ['0', "success (run: the guest's own code, 0 when it halts)"],
      ['1', 'a runtime failure (the backend, a port that cannot be bound, a guest crash)'],
      ['2', 'a usage or config error: one line that names the fix'],
      ['70', 'an internal error (HYVISOR_DEBUG=1 shows the stack)'],
    ],
  },
];
