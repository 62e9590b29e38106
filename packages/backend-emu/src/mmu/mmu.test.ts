import test from 'ava';
import { ExitKind } from '@hyvisor/core';
import {
  CODE, DATA, RSP0, STACK_TOP, UCODE, harness, handler, hex, map4k, reg, run, runToHlt, setRegs, toUser, userPaging,
  type Harness,
} from '../test-support.js';

const VA = 0x80_0000_0000; // PML4 slot 1
const P = 1n, RW = 2n, US = 4n, NX = 1n << 63n;

/** The #PF frame on the handler's stack: error code, then RIP, CS, RFLAGS, RSP, SS. */
function pfFrame(h: Harness): { err: bigint; rip: bigint; cs: bigint; rsp: bigint } {
  const sp = Number(reg(h, 'rsp'));
  const m = h.mem;
  return { err: m.u64(sp)!, rip: m.u64(sp + 8)!, cs: m.u64(sp + 16)!, rsp: m.u64(sp + 32)! };
}

function cr2(h: Harness): bigint {
  return h.vcpu.getSpecialRegisters().cr2;
}

function paged(code: string): Harness {
  const h = harness(hex(code, 'f4'));
  userPaging(h);
  return h;
}

test('a read of a not-present page raises #PF with CR2 and error code 0', (t) => {
  const h = paged('488b03');
  setRegs(h, { rbx: BigInt(VA + 0x123) });
  runToHlt(h);
  t.is(h.vcpu.readRegister('rip'), handler(14) + 1);
  t.is(cr2(h), BigInt(VA + 0x123));
  t.deepEqual(pfFrame(h).err, 0n);
  t.is(pfFrame(h).rip, BigInt(CODE), 'the faulting instruction restarts');
});

test('a supervisor write to a read-only page faults with P|W when CR0.WP is set', (t) => {
  const h = paged('488903');
  map4k(h, VA, DATA, P | US);
  setRegs(h, { rbx: BigInt(VA) });
  runToHlt(h);
  t.is(pfFrame(h).err, 3n);
});

test('user code reading a supervisor page faults with P|U, on the RSP0 stack', (t) => {
  const h = paged('488b03');
  map4k(h, VA, DATA, P | RW);
  toUser(h);
  setRegs(h, { rbx: BigInt(VA) });
  runToHlt(h);
  const f = pfFrame(h);
  t.is(f.err, 5n);
  t.is(f.cs, BigInt(UCODE));
  t.is(f.rsp, BigInt(STACK_TOP));
  t.is(reg(h, 'rsp'), BigInt(RSP0 - 48));
});

test('fetching from an NX page faults with P|I', (t) => {
  const h = paged('ffe3');
  map4k(h, VA, DATA, P | RW | NX);
  setRegs(h, { rbx: BigInt(VA) });
  runToHlt(h);
  t.is(pfFrame(h).err, 0x11n);
  t.is(cr2(h), BigInt(VA));
});

test('a user write to a user read-only page faults with P|W|U', (t) => {
  const h = paged('488903');
  map4k(h, VA, DATA, P | US);
  toUser(h);
  setRegs(h, { rbx: BigInt(VA) });
  runToHlt(h);
  t.is(pfFrame(h).err, 7n);
});

test('reads set the accessed bit, writes set accessed and dirty', (t) => {
  const h = paged('488b03 488903');
  const pte = map4k(h, VA, DATA, P | RW);
  setRegs(h, { rbx: BigInt(VA) });
  t.is(h.vcpu.singleStep(), null);
  t.is(h.mem.u64(pte)! & 0x60n, 0x20n, 'A after the read');
  t.is(h.vcpu.singleStep(), null);
  t.is(h.mem.u64(pte)! & 0x60n, 0x60n, 'A and D after the write');
});

test('1 GiB pages translate (PDPT entry with PS)', (t) => {
  const h = paged('488b03');
  const pml4 = 0x400000;
  h.mem.setU64(pml4 + 8, BigInt(0x40f000) | 3n);
  h.mem.fill(0x40f000, 0x1000);
  h.mem.setU64(0x40f000, 0x83n); // 1 GiB at PA 0
  h.mem.setU64(DATA + 0x40, 0xfeedn);
  setRegs(h, { rbx: BigInt(VA + DATA + 0x40) });
  runToHlt(h);
  t.is(reg(h, 'rax'), 0xfeedn);
});

test('the TLB keeps a stale translation until INVLPG or a CR3 write', (t) => {
  // mov rax,[rbx]; mov rax,[rbx]; invlpg [rbx]; mov rax,[rbx]; hlt
  const h = paged('488b03 488b03 0f013b 488b03');
  const pte = map4k(h, VA, DATA, P | RW);
  h.mem.setU64(DATA, 1n);
  h.mem.setU64(DATA + 0x1000, 2n);
  setRegs(h, { rbx: BigInt(VA) });
  h.vcpu.singleStep();
  t.is(reg(h, 'rax'), 1n);
  h.mem.setU64(pte, BigInt(DATA + 0x1000) | P | RW);
  h.vcpu.singleStep();
  t.is(reg(h, 'rax'), 1n, 'stale entry still used');
  h.vcpu.singleStep();
  h.vcpu.singleStep();
  t.is(reg(h, 'rax'), 2n, 'after INVLPG');
  t.is(run(h).kind, ExitKind.Hlt);
});

test('writing CR3 flushes the TLB', (t) => {
  // mov rax,[rbx]; mov rcx, cr3; mov cr3, rcx; mov rax,[rbx]
  const h = paged('488b03 0f20d9 0f22d9 488b03');
  const pte = map4k(h, VA, DATA, P | RW);
  h.mem.setU64(DATA, 1n);
  h.mem.setU64(DATA + 0x1000, 2n);
  setRegs(h, { rbx: BigInt(VA) });
  h.vcpu.singleStep();
  h.mem.setU64(pte, BigInt(DATA + 0x1000) | P | RW);
  runToHlt(h);
  t.is(reg(h, 'rax'), 2n);
});

test('non-canonical addresses raise #GP, not #PF', (t) => {
  const h = paged('488b03');
  setRegs(h, { rbx: 0x0000_8000_0000_0000n });
  runToHlt(h);
  t.is(h.vcpu.readRegister('rip'), handler(13) + 1);
});
