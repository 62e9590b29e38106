import test from 'ava';
import { ExitKind } from '@hyvisor/core';
import {
  CODE, DATA, IDT, IST1, KCODE, RSP0, STACK_TOP, UCODE, UDATA, harness, handler, hex, reg, run, runToHlt, setGate,
  setRegs, toUser, userPaging,
} from '../test-support.js';

function frame(h: ReturnType<typeof harness>, words: number): bigint[] {
  const sp = Number(reg(h, 'rsp'));
  return Array.from({ length: words }, (_, i) => h.mem.u64(sp + 8 * i)!);
}

test('int3 traps through gate 3 with RIP after the instruction; IRETQ returns', (t) => {
  const h = harness(hex('cc', 'b801000000', 'f4')); // int3; mov eax,1; hlt
  runToHlt(h);
  t.is(h.vcpu.readRegister('rip'), handler(3) + 1);
  const [rip, cs, , rsp, ss] = frame(h, 5);
  t.is(rip, BigInt(CODE + 1));
  t.is(cs, BigInt(KCODE));
  t.is(rsp, BigInt(STACK_TOP));
  t.is(ss, 0x10n);
  runToHlt(h);
  t.is(reg(h, 'rax'), 1n);
  t.is(reg(h, 'rsp'), BigInt(STACK_TOP));
});

test('ud2 raises #UD at the instruction; an unimplemented opcode does too and is counted', (t) => {
  const h = harness(hex('0f0b'));
  runToHlt(h);
  t.is(frame(h, 1)[0], BigInt(CODE));
  t.is(h.vcpu.unimplementedInstructions, 0);
  const h2 = harness(hex('d9f0')); // f2xm1: no x87 transcendental instructions in this CPU
  runToHlt(h2);
  t.is(h2.vcpu.readRegister('rip'), handler(6) + 1);
  t.is(h2.vcpu.unimplementedInstructions, 1);
});

test('an interrupt from ring 3 switches to RSP0 and pushes the user SS:RSP and CS', (t) => {
  const h = harness(hex('cc f4'));
  userPaging(h);
  setGate(h.mem, 3, handler(3), 3, 0, 0xe);
  toUser(h);
  runToHlt(h);
  t.is(reg(h, 'rsp'), BigInt(RSP0 - 40));
  const [rip, cs, , rsp, ss] = frame(h, 5);
  t.deepEqual([rip, cs, rsp, ss], [BigInt(CODE + 1), BigInt(UCODE), BigInt(STACK_TOP), BigInt(UDATA)]);
  t.is(h.vcpu.getSpecialRegisters().cs.selector, KCODE);
  runToHlt(h); // iretq back to ring 3, then hlt at CPL 3 → #GP
  t.is(h.vcpu.readRegister('rip'), handler(13) + 1);
});

test('int3 through a DPL-0 gate from ring 3 is #GP with the IDT error code', (t) => {
  const h = harness(hex('cc'));
  userPaging(h);
  toUser(h);
  runToHlt(h);
  t.is(h.vcpu.readRegister('rip'), handler(13) + 1);
  t.is(frame(h, 1)[0], BigInt(3 * 8 + 2));
});

test('a gate with IST 1 switches to the IST stack even without a privilege change', (t) => {
  const h = harness(hex('cd40'));
  setGate(h.mem, 0x40, handler(0x40), 0, 1, 0xe);
  runToHlt(h);
  t.is(reg(h, 'rsp'), BigInt(IST1 - 40));
});

test('interrupt gates clear IF, trap gates keep it', (t) => {
  const h = harness(hex('fb cd40'));
  setGate(h.mem, 0x40, handler(0x40), 0, 0, 0xe);
  runToHlt(h);
  t.is(h.vcpu.readRegister('rflags') & 0x200, 0);
  const h2 = harness(hex('fb cd41'));
  setGate(h2.mem, 0x41, handler(0x41), 0, 0, 0xf);
  runToHlt(h2);
  t.is(h2.vcpu.readRegister('rflags') & 0x200, 0x200);
});

test('a fault with no usable IDT escalates to #DF and then to a triple fault (shutdown exit)', (t) => {
  const h = harness(hex('0f0b'));
  const s = h.vcpu.getSpecialRegisters();
  s.idt = { base: BigInt(IDT), limit: 0 };
  h.vcpu.setSpecialRegisters(s);
  t.is(run(h).kind, ExitKind.Shutdown);
  t.is(h.vcpu.run().kind, ExitKind.Shutdown, 'stays shut down');
});

test('a #PF while pushing an exception frame, then again for the #PF, becomes #DF on its IST stack', (t) => {
  const h = harness(hex('0f0b'));
  userPaging(h);
    setGate(h.mem, 8, handler(8), 0, 1, 0xe);
  setRegs(h, { rsp: 0x7f00_0000_0000n }); // unmapped stack: pushing the #UD frame faults
  runToHlt(h);
  t.is(h.vcpu.readRegister('rip'), handler(8) + 1);
  t.is(reg(h, 'rsp'), BigInt(IST1 - 48));
});

test('syscall enters LSTAR at CPL 0 with RCX/R11 saved and FMASK applied; sysretq returns to ring 3', (t) => {
  // user: syscall; (back here) hlt → #GP at CPL 3. kernel at CODE+0x100: sysretq
  const code = new Uint8Array(0x110);
  code.set(hex('0f05 f4'), 0);
  code.set(hex('480f07'), 0x100);
  const h = harness(code);
  userPaging(h);
  h.vcpu.setMsr(0xc0000080, h.vcpu.getMsr(0xc0000080) | 1n); // EFER.SCE
  h.vcpu.setMsr(0xc0000081, (0x10n << 48n) | (0x08n << 32n)); // STAR: sysret base 0x10, syscall CS 0x08
  h.vcpu.setMsr(0xc0000082, BigInt(CODE + 0x100));
  h.vcpu.setMsr(0xc0000084, 0x200n); // FMASK: IF
  toUser(h);
  setRegs(h, { rflags: 0x202n });
  t.is(h.vcpu.singleStep(), null);
  t.is(h.vcpu.readRegister('rip'), CODE + 0x100);
  t.is(h.vcpu.getSpecialRegisters().cs.selector, 0x08);
  t.is(reg(h, 'rcx'), BigInt(CODE + 2));
  t.is(reg(h, 'r11') & 0x200n, 0x200n);
  t.is(h.vcpu.readRegister('rflags') & 0x200, 0);
  t.is(h.vcpu.singleStep(), null);
  t.is(h.vcpu.readRegister('rip'), CODE + 2);
  t.is(h.vcpu.getSpecialRegisters().cs.selector, 0x23);
  t.is(h.vcpu.getSpecialRegisters().ss.selector, 0x1b);
  t.is(h.vcpu.readRegister('rflags') & 0x200, 0x200);
});

test('syscall without EFER.SCE is #UD (real hardware, not kvm_pvm)', (t) => {
  const h = harness(hex('0f05'));
  runToHlt(h);
  t.is(h.vcpu.readRegister('rip'), handler(6) + 1);
});

test('swapgs exchanges GS base and KERNEL_GS_BASE', (t) => {
  const h = harness(hex('0f01f8 f4'));
  h.vcpu.setMsr(0xc0000101, 0x1000n);
  h.vcpu.setMsr(0xc0000102, BigInt(DATA));
  runToHlt(h);
  t.is(h.vcpu.getMsr(0xc0000101), BigInt(DATA));
  t.is(h.vcpu.getMsr(0xc0000102), 0x1000n);
});
