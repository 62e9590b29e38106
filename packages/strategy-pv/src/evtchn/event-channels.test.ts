import test from 'ava';
import { EvtchnOp, Hypercall, HypercallErrno, Irq, SchedOp, SharedInfo, Virq } from '@hyvisor/core';
import { fakeMachine } from '../testing/fake-machine.js';
import { EventChannelInterrupts } from '../facets/event-channel.js';
import { pvDomain } from '../pv-domain.js';

const SHARED = 0x10000;
const VECTOR = 0xf3;

/** A machine with the event-channel facet attached, a registered shared-info page and an upcall vector. */
function setup(register = true) {
  const m = fakeMachine();
  const facet = new EventChannelInterrupts();
  facet.attach(m.ctx);
  if (register) {
    m.hypercall(Hypercall.REGISTER_SHARED_INFO, SHARED);
    m.hypercall(Hypercall.SET_CALLBACK, VECTOR);
  }
  const op = (cmd: number, arg = 0) => m.hypercall(Hypercall.EVENT_CHANNEL_OP, cmd, arg);
  const byte = (off: number) => m.memory.u8(SHARED + off);
  const pending = (p: number) => (byte(SharedInfo.EVTCHN_PENDING + (p >> 3)) >> (p & 7)) & 1;
  const masked = (p: number) => (byte(SharedInfo.EVTCHN_MASK + (p >> 3)) >> (p & 7)) & 1;
  const upcallPending = () => byte(SharedInfo.UPCALL_PENDING);
  const sel = () => m.memory.u64(SHARED + SharedInfo.PENDING_SEL)!;
  /** A bound, unmasked port. */
  const openPort = (cmd: number = EvtchnOp.BIND_VIRQ, arg = Virq.TIMER) => {
    const port = op(cmd, arg);
    op(EvtchnOp.UNMASK, port);
    return port;
  };
  return { m, facet, op, byte, pending, masked, upcallPending, sel, openPort };
}

test('REGISTER_SHARED_INFO zeroes the page and sets every mask bit', (t) => {
  const { m, byte } = setup(false);
  m.memory.fill(SHARED, 4096, 0x5a);
  t.is(m.hypercall(Hypercall.REGISTER_SHARED_INFO, SHARED), 0);
  t.is(byte(SharedInfo.UPCALL_PENDING), 0);
  t.is(byte(SharedInfo.EVTCHN_PENDING), 0);
  for (let i = 0; i < SharedInfo.NR_EVENT_CHANNELS / 8; i++) {
    if (byte(SharedInfo.EVTCHN_MASK + i) !== 0xff) return t.fail(`mask byte ${i}`);
  }
  t.is(byte(SharedInfo.EVTCHN_MASK + SharedInfo.NR_EVENT_CHANNELS / 8), 0, 'nothing past the bitmap');
});

test('REGISTER_SHARED_INFO refuses an unaligned page and a page outside RAM', (t) => {
  const { m } = setup(false);
  t.is(m.hypercall(Hypercall.REGISTER_SHARED_INFO, SHARED + 8), -HypercallErrno.EINVAL);
  t.is(m.hypercall(Hypercall.REGISTER_SHARED_INFO, m.ramSize), -HypercallErrno.EFAULT);
  t.is(m.hypercall(Hypercall.REGISTER_SHARED_INFO, 0xc0000000), -HypercallErrno.EFAULT, 'the pool is not RAM');
});

test('ports are allocated from 1 upwards', (t) => {
  const { op } = setup();
  t.is(op(EvtchnOp.BIND_VIRQ, Virq.TIMER), 1);
  t.is(op(EvtchnOp.BIND_PIRQ, Irq.IRQ_TEST), 2);
  t.is(op(EvtchnOp.CLOSE, 1), 0);
  t.is(op(EvtchnOp.BIND_PIRQ, Irq.COM1), 1, 'the lowest free port is reused');
});

test('binding the timer VIRQ twice is EBUSY', (t) => {
  const { op } = setup();
  t.is(op(EvtchnOp.BIND_VIRQ, Virq.TIMER), 1);
  t.is(op(EvtchnOp.BIND_VIRQ, Virq.TIMER), -HypercallErrno.EBUSY);
});

test('binding the same PIRQ twice is EBUSY; a line outside 0..15 is EINVAL', (t) => {
  const { op } = setup();
  t.true(op(EvtchnOp.BIND_PIRQ, 5) > 0);
  t.is(op(EvtchnOp.BIND_PIRQ, 5), -HypercallErrno.EBUSY);
  t.is(op(EvtchnOp.BIND_PIRQ, 16), -HypercallErrno.EINVAL);
  t.is(op(EvtchnOp.BIND_VIRQ, 1), -HypercallErrno.EINVAL, 'only VIRQ_TIMER exists');
});

test('an unbound or impossible port is EINVAL for send, mask, unmask and close', (t) => {
  const { op } = setup();
  for (const cmd of [EvtchnOp.SEND, EvtchnOp.MASK, EvtchnOp.UNMASK, EvtchnOp.CLOSE]) {
    for (const port of [0, 7, 1024, 2 ** 40, -1]) t.is(op(cmd, port), -HypercallErrno.EINVAL, `cmd ${cmd} port ${port}`);
  }
  t.is(op(99, 1), -HypercallErrno.EINVAL, 'unknown command');
});

test('when every port is bound, binding is ENOSPC', (t) => {
  const { facet, op } = setup();
  for (let i = 1; i < SharedInfo.NR_EVENT_CHANNELS; i++) facet.channels.bindDevice(() => {});
  t.is(op(EvtchnOp.BIND_VIRQ, Virq.TIMER), -HypercallErrno.ENOSPC);
});

test('sending sets the pending bit, PENDING_SEL bit port/64 and UPCALL_PENDING', (t) => {
  const { facet, op, pending, sel, upcallPending } = setup();
  for (let i = 1; i < 70; i++) facet.channels.bindDevice(() => {});
  op(EvtchnOp.UNMASK, 67);
  t.is(op(EvtchnOp.SEND, 67), 0);
  t.is(pending(67), 1);
  t.is(sel(), 1n << 1n);
  t.is(upcallPending(), 1);
});

test('a masked port keeps its pending bit', (t) => {
  const { m, op, pending, sel, upcallPending } = setup();
  const port = op(EvtchnOp.BIND_VIRQ, Virq.TIMER);
  t.is(op(EvtchnOp.SEND, port), 0);
  t.is(pending(port), 1);
  t.is(sel(), 0n, 'no selector bit');
  t.is(upcallPending(), 0, 'no upcall');
  t.is(m.counter('pv.evtchn.masked'), 1);
});

test('unmask delivers a pending event', (t) => {
  const { m, facet, op, upcallPending, sel } = setup();
  const port = op(EvtchnOp.BIND_VIRQ, Virq.TIMER);
  op(EvtchnOp.SEND, port);
  t.is(op(EvtchnOp.UNMASK, port), 0);
  t.is(upcallPending(), 1);
  t.is(sel(), 1n);
  facet.beforeRun(m.vcpu);
  t.deepEqual(m.vcpu.injected, [VECTOR]);
});

test('MASK sets the mask bit and holds later events', (t) => {
  const { op, masked, upcallPending } = setup();
  const port = op(EvtchnOp.BIND_VIRQ, Virq.TIMER);
  op(EvtchnOp.UNMASK, port);
  t.is(masked(port), 0);
  t.is(op(EvtchnOp.MASK, port), 0);
  t.is(masked(port), 1);
  op(EvtchnOp.SEND, port);
  t.is(upcallPending(), 0);
});

test('the upcall is injected once until the guest clears UPCALL_PENDING', (t) => {
  const { m, facet, op, openPort } = setup();
  const port = openPort();
  op(EvtchnOp.SEND, port);
  facet.beforeRun(m.vcpu);
  op(EvtchnOp.SEND, port);
  facet.beforeRun(m.vcpu);
  t.deepEqual(m.vcpu.injected, [VECTOR], 'one upcall for two events');
  m.memory.setU8(SHARED + SharedInfo.UPCALL_PENDING, 0); // the guest's handler
  op(EvtchnOp.SEND, port);
  facet.beforeRun(m.vcpu);
  t.deepEqual(m.vcpu.injected, [VECTOR, VECTOR]);
});

test('the upcall waits for an interrupt window', (t) => {
  const { m, facet, op, openPort } = setup();
  op(EvtchnOp.SEND, openPort());
  m.vcpu.windowOpen = false;
  facet.beforeRun(m.vcpu);
  facet.beforeRun(m.vcpu);
  t.deepEqual(m.vcpu.injected, []);
  t.deepEqual(m.vcpu.windowRequests, [true], 'asked for a window once');
  t.true(facet.interruptPending());
  m.vcpu.windowOpen = true;
  facet.beforeRun(m.vcpu);
  t.deepEqual(m.vcpu.injected, [VECTOR]);
  t.deepEqual(m.vcpu.windowRequests, [true, false], 'and cancelled it once delivered');
  t.false(facet.interruptPending());
});

test('UPCALL_MASK holds the upcall off until the guest clears it', (t) => {
  const { m, facet, op, openPort } = setup();
  m.memory.setU8(SHARED + SharedInfo.UPCALL_MASK, 1);
  op(EvtchnOp.SEND, openPort());
  facet.beforeRun(m.vcpu);
  t.deepEqual(m.vcpu.injected, []);
  t.false(facet.interruptPending());
  m.memory.setU8(SHARED + SharedInfo.UPCALL_MASK, 0);
  facet.beforeRun(m.vcpu);
  t.deepEqual(m.vcpu.injected, [VECTOR]);
});

test('a guest that clears UPCALL_PENDING itself gets no upcall', (t) => {
  const { m, facet, op, openPort } = setup();
  m.memory.setU8(SHARED + SharedInfo.UPCALL_MASK, 1);
  op(EvtchnOp.SEND, openPort());
  m.memory.setU8(SHARED + SharedInfo.UPCALL_PENDING, 0);
  m.memory.setU8(SHARED + SharedInfo.UPCALL_MASK, 0);
  facet.beforeRun(m.vcpu);
  t.deepEqual(m.vcpu.injected, []);
});

test('without a callback vector nothing is injected', (t) => {
  const m = fakeMachine();
  const facet = new EventChannelInterrupts();
  facet.attach(m.ctx);
  m.hypercall(Hypercall.REGISTER_SHARED_INFO, SHARED);
  const port = m.hypercall(Hypercall.EVENT_CHANNEL_OP, EvtchnOp.BIND_VIRQ, Virq.TIMER);
  m.hypercall(Hypercall.EVENT_CHANNEL_OP, EvtchnOp.UNMASK, port);
  m.hypercall(Hypercall.EVENT_CHANNEL_OP, EvtchnOp.SEND, port);
  facet.beforeRun(m.vcpu);
  t.deepEqual(m.vcpu.injected, []);
  m.hypercall(Hypercall.SET_CALLBACK, 0x40);
  facet.beforeRun(m.vcpu);
  t.deepEqual(m.vcpu.injected, [0x40]);
});

test('SET_CALLBACK accepts vectors 32..255 only', (t) => {
  const { m } = setup(false);
  t.is(m.hypercall(Hypercall.SET_CALLBACK, 31), -HypercallErrno.EINVAL);
  t.is(m.hypercall(Hypercall.SET_CALLBACK, 256), -HypercallErrno.EINVAL);
  t.is(m.hypercall(Hypercall.SET_CALLBACK, 32), 0);
  t.is(m.hypercall(Hypercall.SET_CALLBACK, 255), 0);
});

test('a rising device line sends the event of its PIRQ port', (t) => {
  const { facet, op, pending, upcallPending } = setup();
  const line = facet.irqLine(Irq.IRQ_TEST);
  const port = op(EvtchnOp.BIND_PIRQ, Irq.IRQ_TEST);
  op(EvtchnOp.UNMASK, port);
  line.raise();
  t.is(pending(port), 1);
  t.is(upcallPending(), 1);
});

test('a line sends on its rising edge only', (t) => {
  const { m, facet, op, pending } = setup();
  const line = facet.irqLine(Irq.IRQ_TEST);
  const port = op(EvtchnOp.BIND_PIRQ, Irq.IRQ_TEST);
  line.raise();
  m.memory.setU8(SHARED + SharedInfo.EVTCHN_PENDING, 0);
  line.raise();
  t.is(pending(port), 0, 'still high: no new edge');
  line.lower();
  line.raise();
  t.is(pending(port), 1);
  t.is(m.counter('pv.evtchn.sent'), 2);
});

test('a line with no port bound counts a drop', (t) => {
  const { m, facet } = setup();
  facet.irqLine(Irq.COM1).raise();
  t.is(m.counter('pv.evtchn.dropped'), 1);
});

test('an event before the shared-info page exists is dropped and counted', (t) => {
  const { m, facet, op } = setup(false);
  const port = op(EvtchnOp.BIND_VIRQ, Virq.TIMER);
  t.false(facet.channels.send(port));
  t.is(m.counter('pv.evtchn.dropped'), 1);
});

test('CLOSE clears the pending bit and masks the port', (t) => {
  const { op, pending, masked } = setup();
  const port = op(EvtchnOp.BIND_VIRQ, Virq.TIMER);
  op(EvtchnOp.SEND, port);
  op(EvtchnOp.UNMASK, port);
  t.is(op(EvtchnOp.CLOSE, port), 0);
  t.is(pending(port), 0);
  t.is(masked(port), 1);
  t.is(op(EvtchnOp.BIND_VIRQ, Virq.TIMER), port, 'the VIRQ can be bound again');
});

test('SCHED_OP BLOCK sleeps when no event is pending', (t) => {
  const { m } = setup();
  t.is(m.hypercall(Hypercall.SCHED_OP, SchedOp.BLOCK), 0);
  t.is(m.blocks.count, 1);
});

test('SCHED_OP BLOCK sleeps until an upcall is pending: the wake predicate turns true with the next event', (t) => {
  const { m, op, openPort } = setup();
  const port = openPort();
  m.hypercall(Hypercall.SCHED_OP, SchedOp.BLOCK);
  const wake = m.blocks.wakeWhen!;
  t.is(typeof wake, 'function');
  t.false(wake(), 'nothing pending yet: the run loop keeps the vCPU asleep');
  op(EvtchnOp.SEND, port);
  t.true(wake(), 'UPCALL_PENDING raised: the vCPU wakes');
});

test('SCHED_OP BLOCK hands the same predicate every time (no closure per call)', (t) => {
  const { m } = setup();
  m.hypercall(Hypercall.SCHED_OP, SchedOp.BLOCK);
  const first = m.blocks.wakeWhen;
  m.hypercall(Hypercall.SCHED_OP, SchedOp.BLOCK);
  t.is(m.blocks.count, 2);
  t.is(m.blocks.wakeWhen, first);
});

test('SCHED_OP BLOCK without event channels sleeps with no predicate (the interrupt facet decides)', (t) => {
  const m = fakeMachine();
  pvDomain(m.ctx);
  t.is(m.hypercall(Hypercall.SCHED_OP, SchedOp.BLOCK), 0);
  t.is(m.blocks.count, 1);
  t.is(m.blocks.wakeWhen, undefined);
});

test('SCHED_OP BLOCK returns at once when an event is pending', (t) => {
  const { m, op, openPort } = setup();
  op(EvtchnOp.SEND, openPort());
  t.is(m.hypercall(Hypercall.SCHED_OP, SchedOp.BLOCK), 0);
  t.is(m.blocks.count, 0);
});

test('SCHED_OP YIELD returns at once; an unknown command is EINVAL', (t) => {
  const { m } = setup();
  t.is(m.hypercall(Hypercall.SCHED_OP, SchedOp.YIELD), 0);
  t.is(m.hypercall(Hypercall.SCHED_OP, 7), -HypercallErrno.EINVAL);
  t.is(m.blocks.count, 0);
});

test('a halted guest can be woken by an event', (t) => {
  const { facet } = setup();
  t.true(facet.canWake());
});

// ---- what the mutation run found unchecked (docs/pv-abi.md, event channels) ----

test('MASK and UNMASK before a shared-info page exists succeed and touch nothing', (t) => {
  const { op } = setup(false);
  const port = op(EvtchnOp.BIND_VIRQ, Virq.TIMER);
  t.is(op(EvtchnOp.MASK, port), 0);
  t.is(op(EvtchnOp.UNMASK, port), 0);
});

test('a device port: sendDevice delivers on it; once closed (its onClose runs) or on another kind of port it is a counted drop', (t) => {
  const { m, facet, op, pending, sel, upcallPending } = setup();
  const ch = facet.channels;
  let closed = 0;
  const port = ch.bindDevice(() => closed++);
  op(EvtchnOp.UNMASK, port);
  t.true(ch.sendDevice(port));
  t.is(pending(port), 1);
  t.is(upcallPending(), 1);
  t.is(sel(), 1n << BigInt(port >> 6));
  const virq = op(EvtchnOp.BIND_VIRQ, Virq.TIMER);
  for (const p of [0, -1, virq, SharedInfo.NR_EVENT_CHANNELS, port + 100]) t.false(ch.sendDevice(p), `port ${p}`);
  t.is(m.counter('pv.evtchn.dropped'), 5);
  t.is(op(EvtchnOp.CLOSE, port), 0);
  t.is(closed, 1);
  t.false(ch.sendDevice(port));
});

test('pending and selector bits of high ports: the byte and bit of the port (and of port / 64) are the ones that change', (t) => {
  const { facet, op, pending, sel, byte } = setup();
  const ch = facet.channels;
  let port = 0;
  while (port < 700) port = ch.bindDevice(() => {});
  op(EvtchnOp.UNMASK, port);
  t.true(ch.sendDevice(port));
  t.is(sel(), 1n << BigInt(port >> 6), `selector bit ${port >> 6} alone`);
  t.is(pending(port), 1);
  t.is(byte(SharedInfo.EVTCHN_PENDING), 0, 'nothing in the first byte');
  t.is(op(EvtchnOp.CLOSE, port), 0);
  t.is(pending(port), 0, 'CLOSE cleared the port\'s own pending bit');
});
