import test from 'ava';
import { checkClaims, renderClaims, type PaperRow } from './paper.js';

/** Rows with only what the claims read: the median ns per operation of each strategy. */
function rows(ns: Record<string, Record<string, number>>): PaperRow[] {
  return Object.entries(ns).flatMap(([workload, byStrategy]) =>
    Object.entries(byStrategy).map(([strategy, nsPerOp]) => ({ workload, strategy, nsPerOp }) as unknown as PaperRow));
}

const claim = (name: string, r: PaperRow[]) => checkClaims(r).find((c) => c.claim.startsWith(name))!;

test('a speed-up claim is met only when the measured ratio reaches the paper\'s figure', (t) => {
  // memory: PV / hybrid must reach 1.3×; syscall 1.5×; io HVM / hybrid 1.16×.
  t.true(claim('memory', rows({ memory: { hybrid: 100, pv: 130 } })).holds);
  t.false(claim('memory', rows({ memory: { hybrid: 100, pv: 129 } })).holds);
  t.false(claim('memory', rows({ memory: { hybrid: 100, pv: 101 } })).holds, 'faster, but not by ~30 %');
  t.true(claim('system-call', rows({ syscall: { hybrid: 100, pv: 150 } })).holds);
  t.false(claim('system-call', rows({ syscall: { hybrid: 100, pv: 149 } })).holds);
  t.true(claim('I/O', rows({ io: { hybrid: 100, hvm: 116 } })).holds);
  t.false(claim('I/O', rows({ io: { hybrid: 100, hvm: 115 } })).holds);
  t.false(claim('I/O', rows({ io: { hybrid: 100, hvm: 90 } })).holds, 'slower');
  t.is(claim('memory', rows({ io: { hybrid: 1, hvm: 2 } })).holds, undefined, 'not measured');
});

test('a claim that falls short shows ❌ and says by how much, not ✅', (t) => {
  const text = renderClaims(checkClaims(rows({ memory: { hybrid: 100, pv: 110 } })));
  const line = text.split('\n').find((l) => l.includes('memory-intensive'))!;
  t.true(line.startsWith('- ❌'), line);
  t.regex(line, /pv\/hybrid = 1\.100× \(paper: ≥ 1\.30×\)/);
  t.regex(line, /faster, but by less than the paper reports/);
});
