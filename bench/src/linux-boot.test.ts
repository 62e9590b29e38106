import test from 'ava';
import { parseKallsyms, topFunctions } from './linux-boot.js';

const KALLSYMS = [
  'ffffffff81000000 T startup_64',
  'ffffffff81162330 t kallsyms_expand_symbol.constprop.0',
  'ffffffff811623f0 t kallsyms_lookup_buildid',
  'ffffffff81162520 t __sprint_symbol.constprop.0',
  'ffffffff82000000 D some_data',
  'ffffffff8304ee41 T start_kernel',
].join('\n');

test('kallsyms text symbols are parsed in address order; data symbols are left out', (t) => {
  const syms = parseKallsyms(KALLSYMS.split('\n').reverse().join('\n'));
  t.deepEqual(syms.map((s) => s.name), ['startup_64', 'kallsyms_expand_symbol.constprop.0', 'kallsyms_lookup_buildid', '__sprint_symbol.constprop.0', 'start_kernel']);
});

test('sampled RIPs go to the symbol at or below them; the lower half is one row; shares are of the total', (t) => {
  const syms = parseKallsyms(KALLSYMS);
  const rows = topFunctions({
    ffffffff811623f0: 300, // the symbol's first byte
    ffffffff8116251f: 200, // its last byte
    ffffffff81162520: 100, // the next symbol
    '1000000': 250, // the bzImage decompressor
    '401000': 50, // user space
    ffffffff8304f000: 100,
  }, syms, 1000, 3);
  t.deepEqual(rows, [
    { name: 'kallsyms_lookup_buildid', instructions: 500, percent: 50 },
    { name: '(lower half: bzImage decompressor, user space)', instructions: 300, percent: 30 },
    { name: '__sprint_symbol.constprop.0', instructions: 100, percent: 10 },
  ]);
});
