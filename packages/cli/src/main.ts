#!/usr/bin/env node
/**
 * The `hyvisor` command: `run`, `info`, `bench`. Errors the user can fix print one line and exit
 * with code 2; a stack trace is a bug (set HYVISOR_DEBUG=1 to see one anyway).
 * @module
 */
import 'reflect-metadata';
import { HyvisorError, BackendError } from '@hyvisor/core';
import { UsageError } from './usage.js';
import { runCommand } from './commands/run.js';
import { infoCommand } from './commands/info.js';
import { benchCommand } from './commands/bench.js';

const HELP = `usage: hyvisor <command> [options]

commands:
  run CONFIG [--backend NAME] [--strategy NAME] [--time-limit DURATION]
                         boot the guest a YAML/JSON config describes; exits with the guest's code
  info [--json]          what this host offers: backends, KVM flavour, capabilities, strategies
  bench NAME [--json]    run a benchmark (exit-cost)
  help                   this text
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'run': return runCommand(rest);
    case 'info': return infoCommand(rest);
    case 'bench': return benchCommand(rest);
    case undefined: case 'help': case '--help': case '-h':
      process.stdout.write(HELP);
      return command === undefined ? 2 : 0;
    default:
      throw new UsageError(`unknown command '${command}'; expected run, info, bench or help`);
  }
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err: unknown) => {
    if (process.env.HYVISOR_DEBUG) console.error(err);
    if (err instanceof UsageError || (err instanceof HyvisorError && !(err instanceof BackendError) && err.code !== 'GUEST_CRASH')) {
      process.stderr.write(`hyvisor: ${err.message}\n`);
      process.exitCode = 2;
    } else if (err instanceof HyvisorError) {
      process.stderr.write(`hyvisor: ${err.message}\n`);
      process.exitCode = 1;
    } else {
      process.stderr.write(`hyvisor: internal error: ${err instanceof Error ? err.message : String(err)} (HYVISOR_DEBUG=1 shows the stack)\n`);
      process.exitCode = 70;
    }
  },
);
