#!/usr/bin/env node
/**
 * `pnpm mutation [TARGET…]`: StrykerJS over the device and facet models, the PV MMU and event
 * channels, and the emulator's ALU and flags (mutation/targets.mjs), one target after another
 * with concurrency 1, then a per-target score table. Not part of `pnpm test` or CI: it takes a
 * long time (each mutant is one ava run). Incremental: a second run only tests what changed.
 * Sources are instrumented in place and restored by Stryker; the packages are rebuilt at the end.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TARGETS } from '../mutation/targets.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// `node scripts/mutation.mjs [TARGET…] [-- STRYKER-ARGS…]`: arguments after `--` go to `stryker
// run` (e.g. `--mutate packages/strategy-pv/src/mmu/pte.ts` for part of a target).
const argv = process.argv.slice(2);
const dashes = argv.indexOf('--');
const wanted = dashes < 0 ? argv : argv.slice(0, dashes);
const strykerArgs = dashes < 0 ? [] : argv.slice(dashes + 1);
for (const w of wanted) {
  if (!TARGETS.some((t) => t.name === w)) {
    console.error(`pnpm mutation: unknown target '${w}'; known: ${TARGETS.map((t) => t.name).join(', ')}`);
    process.exit(2);
  }
}
const targets = wanted.length > 0 ? TARGETS.filter((t) => wanted.includes(t.name)) : TARGETS;

/** Counts of a Stryker JSON report (mutation-testing-report-schema). */
export function score(report) {
  const n = { Killed: 0, Timeout: 0, Survived: 0, NoCoverage: 0, CompileError: 0, RuntimeError: 0, Ignored: 0, Pending: 0 };
  for (const file of Object.values(report.files)) for (const m of file.mutants) n[m.status] = (n[m.status] ?? 0) + 1;
  const detected = n.Killed + n.Timeout;
  const valid = detected + n.Survived + n.NoCoverage;
  return { ...n, detected, valid, score: valid === 0 ? NaN : (100 * detected) / valid };
}

const rows = [];
let failed = false;
try {
  for (const t of targets) {
    console.log(`\n== mutation: ${t.name} (${t.mutate.join(', ')})`);
    const r = spawnSync('npx', ['stryker', 'run', 'mutation/stryker.conf.mjs', ...strykerArgs], {
      cwd: root, stdio: 'inherit', env: { ...process.env, HYVISOR_MUTATION_TARGET: t.name },
    });
    if (r.status !== 0) { failed = true; console.error(`stryker failed for ${t.name} (exit ${r.status})`); continue; }
    const report = JSON.parse(fs.readFileSync(path.join(root, 'reports/mutation', `${t.name}.json`), 'utf8'));
    rows.push({ target: t.name, ...score(report) });
  }
} finally {
  // The packages' dist holds instrumented code now: rebuild from the restored sources.
  spawnSync('npx', ['tsc', '-b', ...new Set(targets.map((t) => `packages/${t.package}`))], { cwd: root, stdio: 'inherit' });
}
console.log('\n| target | killed | timeout | survived | no coverage | score |');
console.log('| --- | --- | --- | --- | --- | --- |');
for (const r of rows) console.log(`| ${r.target} | ${r.Killed} | ${r.Timeout} | ${r.Survived} | ${r.NoCoverage} | ${r.score.toFixed(1)} % |`);
process.exit(failed ? 1 : 0);
