#!/usr/bin/env node
/**
 * `node mutation/known-bugs.mjs [ID…]`: the seven bugs of issue 10, reintroduced one at a time
 * into the working copy; after each, the package is rebuilt and its tests run, and the bug must
 * make at least one test fail. The source is restored after every bug (and on Ctrl-C). Exit 1 if a
 * bug went unnoticed or a patch no longer applies (then update its `from` text here).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const BUGS = [
  { id: 'uart-ddsr', pkg: 'devices', file: 'packages/devices/src/uart/uart16550.ts',
    from: '    if (changed & Msr.DSR) this.msrDelta |= Msr.DDSR;\n', to: '' },
  { id: 'uart-iir-line-status', pkg: 'devices', file: 'packages/devices/src/uart/uart16550.ts',
    from: '  LINE_STATUS: 0x06,', to: '  LINE_STATUS: 0x04,' },
  { id: 'pit-mode0-low-byte', pkg: 'strategy-hvm', file: 'packages/strategy-hvm/src/timer/pit8254.ts',
    from: '        if (ch.mode === PitMode.INTERRUPT_ON_TERMINAL_COUNT) this.stop(index);\n', to: '' },
  { id: 'pit-modes-6-7', pkg: 'strategy-hvm', file: 'packages/strategy-hvm/src/timer/pit8254.ts',
    from: '    if (mode > 5) mode -= 4;\n', to: '' },
  { id: 'mmu-reserved-bit-57', pkg: 'strategy-pv', file: 'packages/strategy-pv/src/mmu/pte.ts',
    from: 'const RESERVED_HI = 0x7ff00000;', to: 'const RESERVED_HI = 0x7df00000;' },
  { id: 'emu-sar-cf', pkg: 'backend-emu', file: 'packages/backend-emu/src/execute/alu.ts',
    from: '        cf = (s >> Math.min(n - 1, 31)) & 1;', to: '        cf = n >= bits ? 0 : (s >> Math.min(n - 1, 31)) & 1;' },
  { id: 'emu-adc-all-ones', pkg: 'backend-emu', file: 'packages/backend-emu/src/cpu/flags.ts',
    from: '    case L_ADC: return (cpu.lcf ? !below(cpu.la, cpu.laH, cpu.lr, cpu.lrH) : below(cpu.lr, cpu.lrH, cpu.la, cpu.laH)) ? 1 : 0;',
    to: '    case L_ADC: return below(cpu.lr, cpu.lrH, cpu.la, cpu.laH) ? 1 : 0;' },
];

const only = process.argv.slice(2);
let restore = () => {};
process.on('SIGINT', () => { restore(); process.exit(130); });
let bad = 0;
for (const bug of BUGS.filter((b) => only.length === 0 || only.includes(b.id))) {
  const file = path.join(root, bug.file);
  const original = fs.readFileSync(file, 'utf8');
  if (original.split(bug.from).length !== 2) { console.log(`${bug.id}: the patch no longer applies to ${bug.file}`); bad++; continue; }
  restore = () => fs.writeFileSync(file, original);
  try {
    fs.writeFileSync(file, original.replace(bug.from, bug.to));
    const build = spawnSync('npx', ['tsc', '-b', `packages/${bug.pkg}`], { cwd: root, encoding: 'utf8' });
    if (build.status !== 0) { console.log(`${bug.id}: does not build\n${build.stdout}`); bad++; continue; }
    // A short differential run: the spec-literal tests are what must catch these; a failing
    // 2,000-program run would spend minutes shrinking its counterexample.
    const env = { ...process.env, FORCE_COLOR: '0', HYVISOR_DIFF_RUNS: process.env.HYVISOR_DIFF_RUNS ?? '16' };
    const run = spawnSync('npx', ['ava', `packages/${bug.pkg}/dist/**/*.test.js`], { cwd: root, encoding: 'utf8', env });
    const failed = (run.stdout + run.stderr).split('\n').filter((l) => l.includes('✘')).map((l) => l.trim());
    if (run.status === 0 || failed.length === 0) { console.log(`${bug.id}: NOT CAUGHT`); bad++; }
    else console.log(`${bug.id}: caught by ${failed.length} failing test(s):\n  ${failed.slice(0, 4).join('\n  ')}`);
  } finally {
    restore();
    restore = () => {};
  }
}
spawnSync('npx', ['tsc', '-b', ...new Set(BUGS.map((b) => `packages/${b.pkg}`))], { cwd: root, stdio: 'inherit' });
process.exit(bad === 0 ? 0 : 1);
