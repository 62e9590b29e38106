import test from 'ava';
import { Hypercall, HypercallErrno } from '@hyvisor/core';
import { fakeMachine } from '../testing/fake-machine.js';
import { PvSyscallCpu } from '../facets/pv-syscall.js';
import { IretFrame } from './iret-frame.js';
import { installUserGdt } from './user-gdt.test-support.js';

const FRAME = 0x8000;

function setup() {
  const m = fakeMachine();
  installUserGdt(m);
  new PvSyscallCpu().attach(m.ctx);
  const frame = (f: { rip?: bigint; cs?: bigint; rflags?: bigint; rsp?: bigint; ss?: bigint } = {}) => {
    m.memory.setU64(FRAME + IretFrame.RIP, f.rip ?? 0x400000n);
    m.memory.setU64(FRAME + IretFrame.CS, f.cs ?? 0x2bn);
    m.memory.setU64(FRAME + IretFrame.RFLAGS, f.rflags ?? 0x202n);
    m.memory.setU64(FRAME + IretFrame.RSP, f.rsp ?? 0x7fff_0000n);
    m.memory.setU64(FRAME + IretFrame.SS, f.ss ?? 0x23n);
    return m.hypercall(Hypercall.IRET, FRAME);
  };
  return { m, frame };
}

test('IRET accepts a frame back to user mode', (t) => {
  const { frame } = setup();
  t.is(frame(), 0);
  t.is(frame({ rip: 0x7fff_ffff_f000n }), 0, 'the top user page');
});

test('IRET refuses a RIP in the kernel half or non-canonical', (t) => {
  const { m, frame } = setup();
  t.is(frame({ rip: 0xffff_8000_0000_0000n }), -HypercallErrno.EINVAL);
  t.is(frame({ rip: 0x0000_8000_0000_0000n }), -HypercallErrno.EINVAL);
  t.is(m.counter('pv.iret.rejected.rip'), 2);
});

test('IRET refuses CS or SS without RPL 3', (t) => {
  const { frame } = setup();
  t.is(frame({ cs: 0x08n }), -HypercallErrno.EINVAL);
  t.is(frame({ ss: 0x10n }), -HypercallErrno.EINVAL);
  t.is(frame({ cs: 0x1_0000_002bn }), -HypercallErrno.EINVAL, 'a selector is 16 bits');
});

test('IRET refuses a frame with interrupts disabled', (t) => {
  const { m, frame } = setup();
  t.is(frame({ rflags: 0x2n }), -HypercallErrno.EINVAL);
  t.is(m.counter('pv.iret.rejected.if'), 1);
});

test('IRET refuses a frame outside RAM with EFAULT', (t) => {
  const { m } = setup();
  t.is(m.hypercall(Hypercall.IRET, m.ramSize - 16), -HypercallErrno.EFAULT);
  t.is(m.hypercall(Hypercall.IRET, 0xc0000000), -HypercallErrno.EFAULT);
  t.is(m.hypercall(Hypercall.IRET, 2 ** 60), -HypercallErrno.EFAULT);
});

test('SYSCALL_ENTRY returns 0 and is counted', (t) => {
  const { m } = setup();
  t.is(m.hypercall(Hypercall.SYSCALL_ENTRY), 0);
  t.is(m.hypercall(Hypercall.SYSCALL_ENTRY), 0);
  t.is(m.counter('pv.syscall.entries'), 2);
});
