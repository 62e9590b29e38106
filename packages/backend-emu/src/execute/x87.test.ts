/**
 * x87 arithmetic against the Intel SDM's literals: FXAM's classes (vol. 2, FXAM table), FCOM and
 * FUCOM condition codes, FPREM/FPREM1 quotient bits, FNSTENV's layout and tag word (vol. 1 figure
 * 8-9), known extended-precision results in each rounding and precision mode (1/3, √2, π), the
 * masked overflow response and an unmasked divide-by-zero. Bit-for-bit comparison with the CPU
 * over random operands: differential/x87.test.ts.
 */
import test from 'ava';
import { DATA, handler, harness, hex, reg, runToHlt, setRegs, type Harness } from '../test-support.js';

/** Runs `code` + HLT with RDI → DATA and `data` at DATA. */
function exec(code: string, data: Record<number, number[]> = {}): Harness {
  const h = harness(hex(code, 'f4'));
  setRegs(h, { rdi: BigInt(DATA) });
  for (const [at, bytes] of Object.entries(data)) h.mem.write(DATA + Number(at), Uint8Array.from(bytes));
  runToHlt(h);
  return h;
}

const le = (v: bigint, n: number): number[] => Array.from({ length: n }, (_, i) => Number((v >> BigInt(8 * i)) & 0xffn));
/** An 80-bit value's 10 bytes from its sign/exponent word and significand. */
const ext = (se: number, mant: bigint): number[] => [...le(mant, 8), se & 0xff, se >> 8];
const bytesAt = (h: Harness, at: number, n: number): number[] => [...h.mem.read(DATA + at, n)!];
const sw = (h: Harness): number => Number(reg(h, 'rax')) & 0xffff;

const FLDCW = 'd9 af 20 03 00 00', FLD_M80 = 'db af 00 03 00 00', FLD_M80_B = 'db af 10 03 00 00';
const FSTP_M80 = 'db bf 40 03 00 00', FNSTSW_AX = 'df e0';
const C0 = 0x100, C1 = 0x200, C2 = 0x400, C3 = 0x4000;

test('FXAM: the SDM classes in C3 C2 C0 and the sign in C1', (t) => {
  const cls = (v: number[]): number => sw(exec(`${FLD_M80} d9 e5 ${FNSTSW_AX}`, { 0x300: v })) & (C3 | C2 | C1 | C0);
  t.is(cls(ext(0, 0n)), C3, '+0: zero');
  t.is(cls(ext(0x8000, 0n)), C3 | C1, '−0');
  t.is(cls(ext(0x3fff, 1n << 63n)), C2, '1.0: normal');
  t.is(cls(ext(0xffff, 1n << 63n)), C2 | C0 | C1, '−∞: infinity');
  t.is(cls(ext(0x7fff, 0xc000000000000000n)), C0, 'QNaN: NaN');
  t.is(cls(ext(0, 1n)), C3 | C2, 'denormal');
  t.is(cls(ext(0x3fff, 1n << 62n)), 0, 'unnormal: unsupported');
  t.is(sw(exec(`db e3 d9 e5 ${FNSTSW_AX}`)) & (C3 | C2 | C0), C3 | C0, 'empty');
});

test('FCOM ST(1): C3 C2 C0 = 000 greater, 001 less, 100 equal, 111 unordered with IE; FUCOM: no IE for a QNaN', (t) => {
  const one = ext(0x3fff, 1n << 63n), two = ext(0x4000, 1n << 63n), qnan = ext(0x7fff, 0xc000000000000000n);
  // fld [a]; fld [b]; fcom st(1): compares b with a.
  const cmp = (a: number[], b: number[], op = 'd8 d1'): number => sw(exec(`${FLD_M80} ${FLD_M80_B} ${op} ${FNSTSW_AX}`, { 0x300: a, 0x310: b }));
  t.is(cmp(one, two) & (C3 | C2 | C0), 0);
  t.is(cmp(two, one) & (C3 | C2 | C0), C0);
  t.is(cmp(two, two) & (C3 | C2 | C0), C3);
  t.is(cmp(one, qnan) & (C3 | C2 | C0 | 1), C3 | C2 | C0 | 1, 'unordered, IE');
  t.is(cmp(one, qnan, 'dd e1') & (C3 | C2 | C0 | 1), C3 | C2 | C0, 'FUCOM: unordered, no IE');
  t.is(cmp(one, ext(0, 0n), 'd9 e4') & (C3 | C2 | C0), C3, 'FTST of +0: equal');
});

test('1/3 in extended precision: AAAA…AAB to nearest (C1 = 1, PE), …AAA toward zero; PC = 24 and 53 round the significand', (t) => {
  // fldcw; fild [1]; fild [3]; fdivp st(1), st; fstp m80; fnstsw ax
  const third = (fcw: number): Harness => exec(`${FLDCW} db 87 00 03 00 00 db 87 04 03 00 00 de f9 ${FNSTSW_AX} ${FSTP_M80}`,
    { 0x300: [1, 0, 0, 0, 3, 0, 0, 0], 0x320: le(BigInt(fcw), 2) });
  let h = third(0x37f);
  t.deepEqual(bytesAt(h, 0x340, 10), ext(0x3ffd, 0xaaaaaaaaaaaaaaabn));
  t.is(sw(h) & (C1 | 0x3f), C1 | 0x20, 'PE, rounded up');
  h = third(0xf7f);
  t.deepEqual(bytesAt(h, 0x340, 10), ext(0x3ffd, 0xaaaaaaaaaaaaaaaan));
  t.is(sw(h) & (C1 | 0x3f), 0x20, 'PE, not rounded up');
  t.deepEqual(bytesAt(third(0x07f), 0x340, 10), ext(0x3ffd, 0xaaaaab0000000000n), 'PC = 24 bits');
  t.deepEqual(bytesAt(third(0x27f), 0x340, 10), ext(0x3ffd, 0xaaaaaaaaaaaaa800n), 'PC = 53 bits');
});

test('FSQRT of 2 is 3FFF B504F333F9DE6484 to nearest and …6485 rounding up; FLDPI is …C235 to nearest, …C234 toward zero', (t) => {
  const two = ext(0x4000, 1n << 63n);
  const sqrt = (fcw: number): number[] => bytesAt(exec(`${FLDCW} ${FLD_M80} d9 fa ${FSTP_M80}`, { 0x300: two, 0x320: le(BigInt(fcw), 2) }), 0x340, 10);
  t.deepEqual(sqrt(0x37f), ext(0x3fff, 0xb504f333f9de6484n));
  t.deepEqual(sqrt(0xb7f), ext(0x3fff, 0xb504f333f9de6485n));
  const pi = (fcw: number): number[] => bytesAt(exec(`${FLDCW} d9 eb ${FSTP_M80}`, { 0x320: le(BigInt(fcw), 2) }), 0x340, 10);
  t.deepEqual(pi(0x37f), ext(0x4000, 0xc90fdaa22168c235n));
  t.deepEqual(pi(0xf7f), ext(0x4000, 0xc90fdaa22168c234n));
});

test('FPREM 5 by 3 is 2 with quotient 1 (C1 = Q0); FPREM1 is −1 with quotient 2 (C3 = Q1)', (t) => {
  const rem = (op: string): Harness => exec(`db 87 04 03 00 00 db 87 00 03 00 00 ${op} ${FNSTSW_AX} ${FSTP_M80}`, { 0x300: [5, 0, 0, 0, 3, 0, 0, 0] });
  let h = rem('d9 f8');
  t.deepEqual(bytesAt(h, 0x340, 10), ext(0x4000, 1n << 63n));
  t.is(sw(h) & (C3 | C2 | C1 | C0), C1);
  h = rem('d9 f5');
  t.deepEqual(bytesAt(h, 0x340, 10), ext(0xbfff, 1n << 63n));
  t.is(sw(h) & (C3 | C2 | C1 | C0), C3);
});

test('FNSTENV: FCW, FSW with TOP, the full tag word (valid 00, zero 01, empty 11) at 0, 4, 8; then every exception masked', (t) => {
  // fninit; fldcw (all unmasked but PE); fld1; fldz; fnstenv [rdi+0x340]; fnstcw [rdi+0x360]
  const h = exec(`db e3 ${FLDCW} d9 e8 d9 ee d9 b7 40 03 00 00 d9 bf 60 03 00 00`, { 0x320: le(0x360n, 2) });
  t.is(h.mem.u32(DATA + 0x340), 0xffff0360 >>> 0);
  t.is(h.mem.u16(DATA + 0x344), 6 << 11);
  t.is(h.mem.u16(DATA + 0x348), 0x1fff, 'physical 7 valid, 6 zero, 0–5 empty');
  t.is(h.mem.u16(DATA + 0x360), 0x37f);
});

test('masked overflow: largest + largest is +∞ with OE, PE, C1 = 1; toward zero it is the largest finite value', (t) => {
  const largest = ext(0x7ffe, (1n << 64n) - 1n);
  const sum = (fcw: number): Harness => exec(`${FLDCW} ${FLD_M80} d8 c0 ${FNSTSW_AX} ${FSTP_M80}`, { 0x300: largest, 0x320: le(BigInt(fcw), 2) });
  let h = sum(0x37f);
  t.deepEqual(bytesAt(h, 0x340, 10), ext(0x7fff, 1n << 63n));
  t.is(sw(h) & (C1 | 0x3f), C1 | 0x28);
  h = sum(0xf7f);
  t.deepEqual(bytesAt(h, 0x340, 10), largest);
  t.is(sw(h) & (C1 | 0x3f), 0x28);
});

test('unmasked divide by zero: no result, ZE and ES set, the next waiting instruction raises #MF', (t) => {
  // fldcw (ZM clear); fld1; fldz; fdivp st(1), st; fnstsw ax; fwait
  const h = exec(`${FLDCW} d9 e8 d9 ee de f9 ${FNSTSW_AX} 9b`, { 0x320: le(0x37bn, 2) });
  t.is(h.vcpu.readRegister('rip'), handler(16) + 1);
  t.is(sw(h) & 0xbf, 0x84, 'ZE and ES');
  t.is((sw(h) >> 11) & 7, 6, 'nothing popped');
  t.is(h.vcpu.cpu.ftw, 0xc0);
});

test('FBLD loads 18 packed BCD digits and the sign exactly; FBSTP rounds by RC (2.5 → 2 to nearest, PE) and stores the BCD indefinite beyond 18 digits', (t) => {
  // fbld [rdi+0x300]; fbstp [rdi+0x340]
  const bcd = [0x89, 0x67, 0x45, 0x23, 0x01, 0x89, 0x67, 0x45, 0x23, 0x80]; // −234567890123456789
  t.deepEqual(bytesAt(exec('df a7 00 03 00 00 df b7 40 03 00 00', { 0x300: bcd }), 0x340, 10), bcd);
  const h = exec(`${FLD_M80} df b7 40 03 00 00 ${FNSTSW_AX}`, { 0x300: ext(0x4000, 0xa000000000000000n) });
  t.deepEqual(bytesAt(h, 0x340, 10), [2, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  t.is(sw(h) & (C1 | 0x3f), 0x20, 'PE, not rounded up');
  const big = exec(`${FLD_M80} df b7 40 03 00 00 ${FNSTSW_AX}`, { 0x300: ext(0x403f, 1n << 63n) }); // 2^64
  t.deepEqual(bytesAt(big, 0x340, 10), [0, 0, 0, 0, 0, 0, 0, 0xc0, 0xff, 0xff]);
  t.is(sw(big) & 1, 1, 'IE');
});
