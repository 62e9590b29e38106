/**
 * IRET frames a hostile kernel might hand over (issue 15 §3): RFLAGS with IOPL 3, NT or VM, and a
 * CS whose RPL disagrees with its descriptor. And hypercalls from user mode: -EPERM, as on Xen.
 */
import test from 'ava';
import { Hypercall, HypercallErrno } from '@hyvisor/core';
import { fakeMachine } from '../testing/fake-machine.js';
import { PvSyscallCpu } from '../facets/pv-syscall.js';
import { IretFrame } from './iret-frame.js';
import { GDT_BASE, installUserGdt } from './user-gdt.test-support.js';

const FRAME = 0x8000;

function setup() {
  const m = fakeMachine();
  installUserGdt(m);
  new PvSyscallCpu().attach(m.ctx);
  const frame = (f: { cs?: bigint; rflags?: bigint } = {}) => {
    m.memory.setU64(FRAME + IretFrame.RIP, 0x400000n);
    m.memory.setU64(FRAME + IretFrame.CS, f.cs ?? 0x2bn);
    m.memory.setU64(FRAME + IretFrame.RFLAGS, f.rflags ?? 0x202n);
    m.memory.setU64(FRAME + IretFrame.RSP, 0x7fff_0000n);
    m.memory.setU64(FRAME + IretFrame.SS, 0x23n);
    return m.hypercall(Hypercall.IRET, FRAME);
  };
  return { m, frame };
}

test('IRET refuses RFLAGS with IOPL 3, NT or VM', (t) => {
  const { m, frame } = setup();
  t.is(frame({ rflags: 0x3202n }), -HypercallErrno.EINVAL, 'IOPL 3');
  t.is(frame({ rflags: 0x4202n }), -HypercallErrno.EINVAL, 'NT');
  t.is(frame({ rflags: 0x20202n }), -HypercallErrno.EINVAL, 'VM');
  t.is(m.counter('pv.iret.rejected.flags'), 3);
  t.is(frame({ rflags: 0x1202n }), 0, 'IOPL 1 gives user mode nothing');
});

test('IRET refuses a CS whose RPL 3 names a DPL-0 descriptor, a 32-bit one, or one past the GDT', (t) => {
  const { m, frame } = setup();
  t.is(frame({ cs: 0x0bn }), -HypercallErrno.EINVAL, 'kernel code with RPL 3');
  t.is(frame({ cs: 0x33n }), -HypercallErrno.EINVAL, 'kernel code again');
  t.is(frame({ cs: 0x23n }), -HypercallErrno.EINVAL, 'a data descriptor');
  t.is(frame({ cs: 0x3bn }), -HypercallErrno.EINVAL, 'compatibility-mode code');
  t.is(frame({ cs: 0x43n }), -HypercallErrno.EINVAL, 'past the limit');
  t.is(frame({ cs: 0x2fn }), -HypercallErrno.EINVAL, 'an LDT selector');
  t.is(m.counter('pv.iret.rejected.cs'), 6);
  t.is(frame(), 0);
});

test('a GDT the kernel moved is read again before a frame is refused', (t) => {
  const { m, frame } = setup();
  t.is(frame(), 0); // GDTR cached
  const moved = 0x3000;
  for (let i = 0; i < 8; i++) m.memory.setU64(moved + i * 8, m.memory.u64(GDT_BASE + i * 8)!);
  m.memory.setU64(moved + 6 * 8, 0x00affa000000ffffn); // 0x33 is user code in the new GDT
  m.vcpu.sregs = { ...m.vcpu.sregs, gdt: { base: BigInt(moved), limit: 63 } };
  t.is(frame({ cs: 0x33n }), 0);
});

test('a hypercall from user mode (CPL 3, reachable with IOPL 3) gets -EPERM and does nothing', (t) => {
  const m = fakeMachine();
  new PvSyscallCpu().attach(m.ctx);
  const s = m.vcpu.sregs;
  m.vcpu.sregs = { ...s, cs: { ...s.cs, selector: 0x2b, dpl: 3 } };
  m.vcpu.regs.rflags = 0x3202;
  t.is(m.hypercall(Hypercall.SYSCALL_ENTRY), -HypercallErrno.EPERM);
  t.is(m.counter('pv.syscall.entries'), 0);
  t.is(m.counter('pv.hypercall.from_user'), 1);
  m.vcpu.sregs = s; // the kernel, even with IOPL 3
  t.is(m.hypercall(Hypercall.SYSCALL_ENTRY), 0);
});
