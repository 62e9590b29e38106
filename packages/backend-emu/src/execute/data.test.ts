import test from 'ava';
import { DATA, harness, hex, reg, rflags, runToHlt, setRegs, type Harness } from '../test-support.js';

const HLT = 'f4';
const M64 = (1n << 64n) - 1n;

function exec(code: string, regs: Record<string, bigint> = {}, data?: Uint8Array): Harness {
  const h = harness(hex(code, HLT));
  setRegs(h, { rdi: BigInt(DATA), ...regs });
  if (data) h.mem.write(DATA, data);
  runToHlt(h);
  return h;
}

test('AH–BH without REX, SIL with REX: byte registers of the encoding', (t) => {
  const h = exec('b412 88e7 40b605', { rax: 0xffffn, rbx: 0n, rsi: 0x1100n }); // mov ah,0x12; mov bh,ah; mov sil,5
  t.is(reg(h, 'rax'), 0x12ffn);
  t.is(reg(h, 'rbx'), 0x1200n);
  t.is(reg(h, 'rsi'), 0x1105n);
});

test('movabs, movzx, movsx, movsxd, cdqe and cqo extend as specified', (t) => {
  t.is(reg(exec('48b88877665544332211'), 'rax'), 0x1122334455667788n);
  t.is(reg(exec('0fb607', { rax: M64 }, Uint8Array.of(0x80)), 'rax'), 0x80n);
  t.is(reg(exec('480fbf07', {}, Uint8Array.of(0x00, 0x80)), 'rax'), BigInt.asUintN(64, -0x8000n));
  t.is(reg(exec('486307', {}, Uint8Array.of(0xff, 0xff, 0xff, 0xff)), 'rax'), M64);
  t.is(reg(exec('4898', { rax: 0x80000000n }), 'rax'), 0xffffffff80000000n);
  const h = exec('4899', { rax: 0x8000000000000000n });
  t.is(reg(h, 'rdx'), M64);
});

test('lea computes base + index×scale + displacement, truncated by 0x67', (t) => {
  t.is(reg(exec('488d44cbf8', { rbx: 0x1000n, rcx: 3n }), 'rax'), 0x1010n);
  t.is(reg(exec('678d044b', { rbx: 0xffffffffn, rcx: 1n }), 'rax'), 1n);
});

test('RIP-relative loads are relative to the next instruction', (t) => {
  // mov rax, [rip+2]; hlt; hlt; .quad
  const h = harness(hex('488b0502000000', 'f4 f4', '8877665544332211'));
  runToHlt(h);
  t.is(reg(h, 'rax'), 0x1122334455667788n);
});

test('FS and GS overrides add the segment base (set through the MSRs)', (t) => {
  const h = harness(hex('64488b042510000000', '65488b03', HLT)); // mov rax, fs:[0x10]; mov rax, gs:[rbx]
  h.vcpu.setMsr(0xc0000100, BigInt(DATA));
  h.vcpu.setMsr(0xc0000101, BigInt(DATA + 0x100));
  h.mem.setU64(DATA + 0x10, 0x1234n);
  h.mem.setU64(DATA + 0x108, 0x5678n);
  setRegs(h, { rbx: 8n });
  runToHlt(h);
  t.is(reg(h, 'rax'), 0x5678n);
});

test('cmovl and setcc follow the flags of the last comparison', (t) => {
  // cmp rax, rbx; cmovl rax, rcx; setg dl
  const h = exec('4839d8 480f4cc1 0f9fc2', { rax: BigInt.asUintN(64, -5n), rbx: 3n, rcx: 42n, rdx: 0xffn });
  t.is(reg(h, 'rax'), 42n);
  t.is(reg(h, 'rdx'), 0n);
});

test('a 32-bit cmov with a false condition still zero-extends the destination', (t) => {
  const h = exec('39c0 0f45c1', { rax: 0xffffffff00000001n }); // cmp eax, eax; cmovne eax, ecx
  t.is(reg(h, 'rax'), 1n);
});

test('bt, bts, btr, btc: CF is the old bit; memory forms address beyond the operand', (t) => {
  const h = exec('480fbae028', { rax: 1n << 40n });
  t.is(rflags(h) & 1, 1);
  const h2 = exec('480fab0f', { rcx: 68n }, new Uint8Array(16)); // bts [rdi], rcx → bit 4 of the next qword
  t.is(h2.mem.u64(DATA + 8), 0x10n);
  t.is(rflags(h2) & 1, 0);
  const h3 = exec('0fb3d8', { rax: 0xffn, rbx: 3n });
  t.is(reg(h3, 'rax'), 0xf7n);
  const h4 = exec('660fbaf803', { rax: 0xffff0000n });
  t.is(reg(h4, 'rax'), 0xffff0008n);
});

test('bsf and bsr find bits in both halves; ZF when the source is 0', (t) => {
  t.is(reg(exec('480fbcc3', { rbx: 1n << 45n }), 'rax'), 45n);
  t.is(reg(exec('0fbdca', { rdx: 0x00f00000n }), 'rcx'), 23n);
  const h = exec('480fbcc3', { rax: 7n, rbx: 0n });
  t.is(rflags(h) & 0x40, 0x40);
  t.is(reg(h, 'rax'), 7n, 'destination unchanged');
});

test('bswap reverses 64- and 32-bit registers', (t) => {
  t.is(reg(exec('480fc8', { rax: 0x1122334455667788n }), 'rax'), 0x8877665544332211n);
  t.is(reg(exec('0fc9', { rcx: 0xaabbccdd11223344n }), 'rcx'), 0x44332211n);
});

test('xchg, lock cmpxchg and lock xadd on memory', (t) => {
  const h = exec('488707', { rax: 5n }, Uint8Array.of(9, 0, 0, 0, 0, 0, 0, 0));
  t.is(reg(h, 'rax'), 9n);
  t.is(h.mem.u64(DATA), 5n);
  const ok = exec('f0480fb10f', { rax: 9n, rcx: 77n }, Uint8Array.of(9, 0, 0, 0, 0, 0, 0, 0));
  t.is(ok.mem.u64(DATA), 77n);
  t.is(rflags(ok) & 0x40, 0x40);
  const miss = exec('f0480fb10f', { rax: 1n, rcx: 77n }, Uint8Array.of(9, 0, 0, 0, 0, 0, 0, 0));
  t.is(miss.mem.u64(DATA), 9n);
  t.is(reg(miss, 'rax'), 9n);
  t.is(rflags(miss) & 0x40, 0);
  const x = exec('f00fc107', { rax: 3n }, Uint8Array.of(0xff, 0xff, 0xff, 0xff));
  t.is(x.mem.u32(DATA), 2);
  t.is(reg(x, 'rax'), 0xffffffffn);
  t.is(rflags(x) & 1, 1);
});

test('cmpxchg8b compares EDX:EAX and stores ECX:EBX', (t) => {
  const h = exec('0fc70f', { rax: 1n, rdx: 2n, rbx: 3n, rcx: 4n }, Uint8Array.of(1, 0, 0, 0, 2, 0, 0, 0));
  t.is(h.mem.u64(DATA), 0x400000003n);
  t.is(rflags(h) & 0x40, 0x40);
});

test('rep stosb fills RCX bytes and leaves RCX 0, RDI past the end', (t) => {
  const h = exec('f3aa', { rax: 0xabn, rcx: 5000n });
  t.is(reg(h, 'rcx'), 0n);
  t.is(reg(h, 'rdi'), BigInt(DATA + 5000));
  t.is(h.mem.u8(DATA + 4999), 0xab);
  t.is(h.mem.u8(DATA + 5000), 0);
});

test('rep movsq copies across pages; std makes string ops go down', (t) => {
  const src = DATA + 0x1ff8;
  const h = harness(hex('f348a5', HLT));
  for (let i = 0; i < 4; i++) h.mem.setU64(src + i * 8, BigInt(i + 1));
  setRegs(h, { rsi: BigInt(src), rdi: BigInt(DATA + 0x10000), rcx: 4n });
  runToHlt(h);
  t.deepEqual([0, 1, 2, 3].map((i) => h.mem.u64(DATA + 0x10000 + i * 8)), [1n, 2n, 3n, 4n]);
  const d = exec('fd ad', { rsi: BigInt(DATA + 8) }, Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0x44, 0x33, 0x22, 0x11)); // std; lodsd
  t.is(reg(d, 'rax'), 0x11223344n);
  t.is(reg(d, 'rsi'), BigInt(DATA + 4));
});

test('repne scasb stops at the match; repe cmpsb stops at the first difference', (t) => {
  const h = exec('f2ae', { rax: 0x2an, rcx: 100n }, Uint8Array.of(1, 2, 3, 0x2a, 5));
  t.is(reg(h, 'rdi'), BigInt(DATA + 4));
  t.is(reg(h, 'rcx'), 96n);
  t.is(rflags(h) & 0x40, 0x40);
  const c2 = harness(hex('f3a6', HLT));
  c2.mem.write(DATA, Uint8Array.of(1, 2, 3, 4));
  c2.mem.write(DATA + 0x100, Uint8Array.of(1, 2, 9, 4));
  setRegs(c2, { rsi: BigInt(DATA + 0x100), rdi: BigInt(DATA), rcx: 10n });
  runToHlt(c2);
  t.is(reg(c2, 'rcx'), 7n);
  t.is(reg(c2, 'rsi'), BigInt(DATA + 0x103));
  t.is(rflags(c2) & 0x41, 0, 'ZF clear, CF clear (9 > 3)');
});

test('push, pushfq, popfq and the stack pointer', (t) => {
  // stc; pushfq; clc; popfq → CF back; push rax; pop rbx
  const h = exec('f9 9c f8 9d 50 5b', { rax: 0xdeadn });
  t.is(rflags(h) & 1, 1);
  t.is(reg(h, 'rbx'), 0xdeadn);
  t.is(reg(h, 'rsp'), 0x80000n);
});

test('call through memory and ret return to the next instruction', (t) => {
  // call [rbx]; hlt ; target: mov eax, 7; ret
  const h = harness(hex('ff13', HLT, 'b807000000 c3'));
  h.mem.setU64(DATA, BigInt(0x100003));
  setRegs(h, { rbx: BigInt(DATA) });
  runToHlt(h);
  t.is(reg(h, 'rax'), 7n);
  t.is(h.vcpu.readRegister('rip'), 0x100003);
});
