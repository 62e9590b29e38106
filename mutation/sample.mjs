#!/usr/bin/env node
/**
 * `node mutation/sample.mjs TARGET N [SEED] [FILE:A-B…]`: a `--mutate` list for part of a target
 * of mutation/targets.mjs, for when a whole run does not fit the time: whole source lines drawn
 * at random (seeded) until they hold N mutants, each line with every mutant on it (mutants that
 * span several lines, such as a removed function body, are not drawn). Optional FILE:A-B
 * arguments restrict the draw to those line ranges. Stryker's own instrumenter counts the mutants,
 * so the list is exactly what a run will test:
 *
 *     pnpm mutation lapic -- --mutate "$(node mutation/sample.mjs lapic 50)" \
 *       --incrementalFile reports/mutation/lapic-sample.incremental.json
 *
 * `node mutation/sample.mjs --survivors REPORT.json`: the exact ranges of the mutants that survived
 * in a JSON report, to re-run them after new tests (`-- --mutate "$(…)"` as above).
 */
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { TARGETS } from './targets.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);

if (args[0] === '--survivors') {
  const report = JSON.parse(fs.readFileSync(args[1], 'utf8'));
  const out = new Set();
  for (const [file, data] of Object.entries(report.files)) {
    for (const m of data.mutants) {
      if (m.status !== 'Survived') continue;
      // Report columns are 1-based; --mutate ranges take 1-based lines and 0-based columns.
      const { start: s, end: e } = m.location;
      out.add(`${file}:${s.line}:${s.column - 1}-${e.line}:${e.column - 1}`);
    }
  }
  console.log([...out].join(','));
  process.exit(0);
}

const [name, n, seed = '1', ...only] = args;
const target = TARGETS.find((t) => t.name === name);
if (!target || !(Number(n) > 0)) {
  console.error(`usage: node mutation/sample.mjs TARGET N [SEED] [FILE:A-B…] | --survivors REPORT.json; targets: ${TARGETS.map((t) => t.name).join(', ')}`);
  process.exit(2);
}
// The instrumenter is a dependency of @stryker-mutator/core, not of the workspace.
const core = createRequire(path.join(root, 'package.json')).resolve('@stryker-mutator/core');
const { Instrumenter } = await import(pathToFileURL(createRequire(core).resolve('@stryker-mutator/instrumenter')).href);
const quiet = () => {};
const instrumenter = new Instrumenter({ debug: quiet, info: quiet, warn: quiet, error: quiet, trace: quiet, isDebugEnabled: () => false, isTraceEnabled: () => false });
const options = { plugins: null, excludedMutations: [], ignorers: [], mutationRanges: [], parserOptions: { plugins: null }, ignoreStatic: false };

const specs = only.length > 0 ? only : target.mutate;
const lines = [];
let total = 0;
for (const spec of specs) {
  const [file, range] = spec.split(':');
  const [lo, hi] = range ? range.split('-').map((x) => Number(x) - 1) : [0, Infinity];
  const { mutants } = await instrumenter.instrument([{ name: file, mutate: true, content: fs.readFileSync(path.join(root, file), 'utf8') }], options);
  const perLine = new Map();
  for (const m of mutants) {
    const l = m.location.start.line;
    if (l < lo || l > hi) continue;
    total++;
    if (m.location.end.line === l) perLine.set(l, (perLine.get(l) ?? 0) + 1);
  }
  for (const [line, count] of perLine) lines.push({ file, line, count });
}
let s = Number(seed) >>> 0;
const random = () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 2 ** 32; };
for (let i = lines.length - 1; i > 0; i--) {
  const j = Math.floor(random() * (i + 1));
  [lines[i], lines[j]] = [lines[j], lines[i]];
}
const picked = [];
let mutants = 0;
for (const l of lines) {
  if (mutants >= Number(n)) break;
  picked.push(l);
  mutants += l.count;
}
console.error(`${name}: ${total} mutants on ${lines.length} lines; drew ${picked.length} lines with ${mutants} mutants`);
console.log(picked.map((l) => `${l.file}:${l.line + 1}-${l.line + 1}`).join(','));
