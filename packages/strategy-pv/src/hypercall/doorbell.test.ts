import test from 'ava';
import { CoreCounter, Hypercall, HypercallErrno, Ports } from '@hyvisor/core';
import { fakeMachine } from '../testing/fake-machine.js';
import { ensureDoorbell, HypercallDoorbell } from './doorbell.js';

function setup() {
  const m = fakeMachine();
  ensureDoorbell(m.ctx);
  return m;
}

test('an unknown hypercall returns -ENOSYS in RAX', (t) => {
  const m = setup();
  t.is(m.hypercall(200), -HypercallErrno.ENOSYS);
  t.is(m.hypercall(0xdead_beef), -HypercallErrno.ENOSYS);
});

test('the doorbell passes RDI, RSI, R10, R8, R9 to the handler and its result to RAX', (t) => {
  const m = setup();
  let seen: number[] = [];
  m.ctx.hypercalls.register(42, 'TEST', (a) => { seen = [a.a0, a.a1, a.a2, a.a3, a.a4]; return 7; });
  t.is(m.hypercall(42, 1, 2, 3, 4, 2 ** 40), 7);
  t.deepEqual(seen, [1, 2, 3, 4, 2 ** 40]);
});

test('hypercalls are counted per number, and failures in the core error counter', (t) => {
  const m = setup();
  m.ctx.hypercalls.register(Hypercall.SCHED_OP, 'SCHED_OP', () => -HypercallErrno.EINVAL);
  m.hypercall(Hypercall.SCHED_OP);
  m.hypercall(Hypercall.SCHED_OP);
  m.hypercall(99);
  t.is(m.counter('pv.hypercall.sched_op'), 2);
  t.is(m.counter('pv.hypercall.unknown'), 1);
  t.is(m.telemetry.counters.values[CoreCounter.Hypercalls], 3);
  t.is(m.telemetry.counters.values[CoreCounter.HypercallErrors], 3);
});

test('a write that is not 32 bits wide is ignored and counted', (t) => {
  const m = setup();
  m.vcpu.regs.rax = 1234;
  m.ctx.pio.write(Ports.HYPERCALL, 1, 200);
  t.is(m.vcpu.regs.rax, 1234, 'RAX untouched');
  t.is(m.counter('pv.doorbell.bad_access'), 1);
});

test('a handler that throws gives the guest -EINVAL and is counted', (t) => {
  const m = setup();
  m.ctx.hypercalls.register(50, 'BROKEN', () => { throw new Error('bug'); });
  t.is(m.hypercall(50), -HypercallErrno.EINVAL);
  t.is(m.counter('pv.hypercall.handler_errors'), 1);
});

test('the doorbell is installed once per machine', (t) => {
  const m = fakeMachine();
  const a = ensureDoorbell(m.ctx);
  t.is(ensureDoorbell(m.ctx), a);
  t.true(m.ctx.pio.find(Ports.HYPERCALL)?.device instanceof HypercallDoorbell);
});

test('the doorbell refuses a port that another device owns', (t) => {
  const m = fakeMachine();
  m.ctx.pio.register('squatter', Ports.HYPERCALL, 1, { read: () => 0, write: () => {} });
  t.throws(() => ensureDoorbell(m.ctx), { message: /already taken by squatter/ });
});
