import test from 'ava';
import { DATA, harness, hex, reg, rflags, runToHlt, setRegs, type Harness } from '../test-support.js';

/** Flags the tests compare: CF PF AF ZF SF OF. */
const ARITH = 0x8d5;
/** Shifts leave AF undefined. */
const NO_AF = 0x8c5;
const STC = 'f9', CLC = 'f8', HLT = 'f4';

function exec(code: string, regs: Record<string, bigint> = {}, data?: Uint8Array): Harness {
  const h = harness(hex(code, HLT));
  setRegs(h, { rdi: BigInt(DATA), ...regs });
  if (data) h.mem.write(DATA, data);
  runToHlt(h);
  return h;
}

const M64 = (1n << 64n) - 1n;

test('add al, bl: 0xff + 1 wraps to 0 with CF, ZF, AF and PF', (t) => {
  const h = exec('00d8', { rax: 0xffn, rbx: 1n });
  t.is(reg(h, 'rax'), 0n);
  t.is(rflags(h) & ARITH, 0x55);
});

test('add al, bl: 0x7f + 1 overflows into the sign bit (OF, SF, AF; odd parity)', (t) => {
  const h = exec('00d8', { rax: 0x7fn, rbx: 1n });
  t.is(reg(h, 'rax'), 0x80n);
  t.is(rflags(h) & ARITH, 0x890);
});

test('sub eax, ebx: 1 − 2 borrows (CF, SF, AF, PF) and clears the upper half', (t) => {
  const h = exec('29d8', { rax: 0xdead_0000_0001n, rbx: 2n });
  t.is(reg(h, 'rax'), 0xffffffffn);
  t.is(rflags(h) & ARITH, 0x95);
});

test('add rax, rbx: 64-bit signed overflow sets OF and SF', (t) => {
  const h = exec('4801d8', { rax: 0x7fffffffffffffffn, rbx: 1n });
  t.is(reg(h, 'rax'), 0x8000000000000000n);
  t.is(rflags(h) & ARITH, 0x894);
});

test('add rax, rbx: the carry crosses both 32-bit halves and out (CF, ZF)', (t) => {
  const h = exec('4801d8', { rax: M64, rbx: 1n });
  t.is(reg(h, 'rax'), 0n);
  t.is(rflags(h) & ARITH, 0x55);
});

test('adc rax, rbx adds the carry into the high half', (t) => {
  const h = exec(STC + '4811d8', { rax: 0xffffffffn, rbx: 0n });
  t.is(reg(h, 'rax'), 0x100000000n);
  t.is(rflags(h) & ARITH, 0x14);
});

test('sbb ecx, 1 subtracts the borrow too', (t) => {
  const h = exec(STC + '83d901', { rcx: 1n });
  t.is(reg(h, 'rcx'), 0xffffffffn);
  t.is(rflags(h) & ARITH, 0x95);
});

test('inc dword [rdi] overflows to 0x80000000 and keeps CF', (t) => {
  const h = exec(STC + 'ff07', {}, Uint8Array.of(0xff, 0xff, 0xff, 0x7f));
  t.is(h.mem.u32(DATA), 0x80000000);
  t.is(rflags(h) & ARITH, 0x895);
});

test('dec r8 from 0 gives −1 with SF, AF, PF and CF kept clear', (t) => {
  const h = exec(CLC + '49ffc8', { r8: 0n });
  t.is(reg(h, 'r8'), M64);
  t.is(rflags(h) & ARITH, 0x94);
});

test('neg rax: CF is set unless the operand is 0', (t) => {
  t.is(rflags(exec('48f7d8', { rax: 0n })) & ARITH, 0x44);
  const h = exec('48f7d8', { rax: 1n });
  t.is(reg(h, 'rax'), M64);
  t.is(rflags(h) & ARITH, 0x95);
});

test('cmp rax, rbx compares 64-bit values without writing (no borrow out of the low half)', (t) => {
  const h = exec('4839d8', { rax: 0x100000000n, rbx: 1n });
  t.is(reg(h, 'rax'), 0x100000000n);
  t.is(rflags(h) & ARITH, 0x14);
});

test('shl rax, cl: CF is the last bit out, OF = MSB xor CF', (t) => {
  const h = exec('48d3e0', { rax: 0x8000000000000001n, rcx: 1n });
  t.is(reg(h, 'rax'), 2n);
  t.is(rflags(h) & NO_AF, 0x801);
  t.is(reg(exec('48d3e0', { rax: 1n, rcx: 33n }), 'rax'), 0x200000000n);
});

test('shl by a count of 0 (after masking) leaves flags alone', (t) => {
  const h = exec(STC + '48d3e0', { rax: 5n, rcx: 64n });
  t.is(reg(h, 'rax'), 5n);
  t.is(rflags(h) & 1, 1);
});

test('shr eax, 1: CF from bit 0, OF from the original sign', (t) => {
  const h = exec('d1e8', { rax: 0x80000001n });
  t.is(reg(h, 'rax'), 0x40000000n);
  t.is(rflags(h) & NO_AF, 0x805);
});

test('sar rbx, 63 fills with the sign', (t) => {
  const h = exec('48c1fb3f', { rbx: 0x8000000000000000n });
  t.is(reg(h, 'rbx'), M64);
  t.is(rflags(h) & NO_AF, 0x84);
});

test('rol al, 1 and ror rdx, 4 rotate; CF and OF follow the rotated bits', (t) => {
  const h = exec('d0c0', { rax: 0x81n });
  t.is(reg(h, 'rax'), 0x03n);
  t.is(rflags(h) & 0x801, 0x801);
  const h2 = exec('48c1ca04', { rdx: 0x123456789abcdef1n });
  t.is(reg(h2, 'rdx'), 0x1123456789abcdefn);
  t.is(rflags(h2) & 1, 0);
});

test('rcl and rcr rotate through CF', (t) => {
  const h = exec(STC + 'd1d0', { rax: 0x80000000n });
  t.is(reg(h, 'rax'), 1n);
  t.is(rflags(h) & 0x801, 0x801);
  const h2 = exec(CLC + '66c1d803', { rax: 0xabcd0001n });
  t.is(reg(h2, 'rax'), 0xabcd4000n);
  t.is(rflags(h2) & 1, 0);
});

test('shld and shrd shift in bits from the second register', (t) => {
  const h = exec('480fa4d808', { rax: 0x1122334455667788n, rbx: 0xaabbccddeeff0011n });
  t.is(reg(h, 'rax'), 0x22334455667788aan);
  t.is(rflags(h) & 1, 1);
  const h2 = exec('0fadd8', { rax: 0x12345678n, rbx: 0x9abcdef0n, rcx: 8n });
  t.is(reg(h2, 'rax'), 0xf0123456n);
  t.is(rflags(h2) & 1, 0);
});

test('mul rbx: 128-bit product in RDX:RAX with CF = OF = 1', (t) => {
  const h = exec('48f7e3', { rax: M64, rbx: M64 });
  t.is(reg(h, 'rax'), 1n);
  t.is(reg(h, 'rdx'), 0xfffffffffffffffen);
  t.is(rflags(h) & 0x801, 0x801);
});

test('imul rbx: signed 128-bit product; CF/OF only when RDX is not the sign extension', (t) => {
  const h = exec('48f7eb', { rax: BigInt.asUintN(64, -2n), rbx: 3n });
  t.is(reg(h, 'rax'), BigInt.asUintN(64, -6n));
  t.is(reg(h, 'rdx'), M64);
  t.is(rflags(h) & 0x801, 0);
  const h2 = exec('48f7eb', { rax: 0x4000000000000000n, rbx: 4n });
  t.is(reg(h2, 'rax'), 0n);
  t.is(reg(h2, 'rdx'), 1n);
  t.is(rflags(h2) & 0x801, 0x801);
});

test('imul with an immediate: three-operand forms', (t) => {
  t.is(reg(exec('486bc3fd', { rbx: 5n }), 'rax'), BigInt.asUintN(64, -15n));
  const h = exec('6b0f07', { rcx: M64 }, Uint8Array.of(0, 0, 0, 0x20));
  t.is(reg(h, 'rcx'), 0xe0000000n);
  t.is(rflags(h) & 0x801, 0x801);
});

test('div and idiv: quotient and remainder at 64 and 32 bits', (t) => {
  const h = exec('48f7f3', { rdx: 1n, rax: 0n, rbx: 2n });
  t.is(reg(h, 'rax'), 0x8000000000000000n);
  t.is(reg(h, 'rdx'), 0n);
  const h2 = exec('48f7f3', { rdx: 0n, rax: 100n, rbx: 7n });
  t.is(reg(h2, 'rax'), 14n);
  t.is(reg(h2, 'rdx'), 2n);
  const h3 = exec('f7f9', { rdx: 0xffffffffn, rax: 0xfffffff9n, rcx: 2n });
  t.is(reg(h3, 'rax'), 0xfffffffdn);
  t.is(reg(h3, 'rdx'), 0xffffffffn);
});

test('div bl with a quotient that does not fit raises #DE through the IDT', (t) => {
  const h = exec('f6f3', { rax: 0x100n, rbx: 1n });
  t.is(h.vcpu.readRegister('rip'), 0x4000 + 1, 'stopped in the #DE handler');
  t.is(h.vcpu.readRegister('rax'), 0x100, 'RAX untouched');
});
