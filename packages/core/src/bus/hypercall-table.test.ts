import test from 'ava';
import { WiringError } from '../errors.js';
import { HypercallError, HypercallTable, MAX_HYPERCALL, type HypercallArgs } from './hypercall-table.js';

const args = (a0 = 0): HypercallArgs => ({ vcpu: 0, a0, a1: 0, a2: 0, a3: 0, a4: 0, a5: 0 });

test('a registered hypercall gets its arguments and its result goes back', (t) => {
  const table = new HypercallTable();
  table.register(3, 'double', (a) => a.a0 * 2);
  t.is(table.call(3, args(21)), 42);
  t.is(table.nameOf(3), 'double');
});

test('an unknown number gives ENOSYS', (t) => {
  const table = new HypercallTable();
  table.register(1, 'one', () => 0);
  for (const nr of [0, 2, MAX_HYPERCALL, MAX_HYPERCALL + 1, -1, NaN, 2 ** 40]) {
    t.is(table.call(nr, args()), HypercallError.ENOSYS, `nr ${nr}`);
  }
});

test('a fractional number gives ENOSYS rather than reaching a neighbour', (t) => {
  const table = new HypercallTable();
  table.register(1, 'one', () => 0);
  t.is(table.call(1.5, args()), HypercallError.ENOSYS);
});

test('a handler that throws gives EINVAL and is reported', (t) => {
  const table = new HypercallTable();
  const boom = new Error('boom');
  table.register(7, 'broken', () => {
    throw boom;
  });
  const reported: [number, unknown][] = [];
  t.is(table.call(7, args(), (nr, err) => reported.push([nr, err])), HypercallError.EINVAL);
  t.deepEqual(reported, [[7, boom]]);
});

test('a handler that throws without a reporter still gives EINVAL', (t) => {
  const table = new HypercallTable();
  table.register(7, 'broken', () => {
    throw new Error('boom');
  });
  t.is(table.call(7, args()), HypercallError.EINVAL);
});

test('registration outside 0..MAX_HYPERCALL fails', (t) => {
  const table = new HypercallTable();
  for (const nr of [-1, MAX_HYPERCALL + 1, 1.5, NaN]) {
    const err = t.throws(() => table.register(nr, 'bad', () => 0), { instanceOf: WiringError });
    t.true(err!.message.includes(`outside 0..${MAX_HYPERCALL}`), err!.message);
  }
});

test('registering a taken number fails naming both hypercalls', (t) => {
  const table = new HypercallTable();
  table.register(4, 'yield', () => 0);
  const err = t.throws(() => table.register(4, 'sched', () => 0), { instanceOf: WiringError });
  t.is(err!.message, 'hypercall sched: number 4 is already taken by yield');
});
