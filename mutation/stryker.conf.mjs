/**
 * StrykerJS configuration for one target of mutation/targets.mjs, chosen by the environment
 * variable HYVISOR_MUTATION_TARGET (scripts/mutation.mjs sets it). The command test runner runs
 * ava on the compiled tests; the build command recompiles the package after Stryker has
 * instrumented its sources. `inPlace`: a pnpm workspace resolves its packages through per-package
 * node_modules links that a sandbox copy would not have, so the sources are instrumented where
 * they are and restored afterwards (scripts/mutation.mjs then rebuilds). Stryker restores every
 * file of the workspace that existed when it started: do not edit files while it runs.
 */
import { TARGETS } from './targets.mjs';

const name = process.env.HYVISOR_MUTATION_TARGET;
const target = TARGETS.find((t) => t.name === name);
if (!target) throw new Error(`HYVISOR_MUTATION_TARGET: expected one of ${TARGETS.map((t) => t.name).join(', ')}, got ${name}`);
const env = Object.entries(target.env ?? {}).map(([k, v]) => `${k}=${v} `).join('');

export default {
  testRunner: 'command',
  // ava's own entry point, not `npx ava`: npx costs ~2 s a mutant on this host before ava starts.
  // `--fail-fast`: a killed mutant (most of them) stops at its first failing test.
  commandRunner: { command: `${env}node node_modules/ava/entrypoints/cli.mjs --fail-fast --timeout=60s ${target.tests.join(' ')}` },
  buildCommand: `npx tsc -b packages/${target.package}`,
  mutate: target.mutate,
  inPlace: true,
  // Only the mutated files get \`// @ts-nocheck\` (the default would stamp every source file of the
  // workspace, in place).
  disableTypeChecks: target.mutate.length === 1 ? target.mutate[0] : `{${target.mutate.join(',')}}`,
  concurrency: 1,
  coverageAnalysis: 'off',
  incremental: true,
  incrementalFile: `reports/mutation/${target.name}.incremental.json`,
  reporters: ['clear-text', 'progress', 'json'],
  jsonReporter: { fileName: `reports/mutation/${target.name}.json` },
  clearTextReporter: { allowColor: false, logTests: false, reportScoreTable: true },
  timeoutMS: 20_000,
  thresholds: { high: 90, low: 80, break: null },
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
};
