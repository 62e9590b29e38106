/**
 * Carry and shift flags at the operand boundaries, with every expected value worked out by hand
 * from the Intel SDM vol. 2 (ADC, SBB, SAL/SAR/SHL/SHR) and written as a literal: all-ones
 * operands with a carry in, and arithmetic right shifts by counts at and beyond the operand size.
 * The random differential test meets these cases only by chance; here each is pinned.
 */
import test from 'ava';
import { DATA, harness, hex, reg, rflags, runToHlt, setRegs } from '../test-support.js';

const CF = 0x1, PF = 0x4, AF = 0x10, ZF = 0x40, SF = 0x80, OF = 0x800;
/** All six arithmetic flags: ADC and SBB define every one. */
const ARITH = CF | PF | AF | ZF | SF | OF;
/** SAR by more than 1 leaves OF and AF undefined; CF, ZF, SF and PF are defined. */
const SAR_DEFINED = CF | PF | ZF | SF;
const M64 = (1n << 64n) - 1n;

interface Case {
  readonly name: string;
  /** Hex bytes (`f9` stc, `f8` clc first where the carry in matters). */
  readonly code: string;
  readonly rax: bigint;
  readonly rbx?: bigint;
  readonly want: bigint;
  readonly flags: number;
  readonly mask: number;
}

function check(c: Case) {
  test(c.name, (t) => {
    const h = harness(hex(c.code, 'f4'));
    setRegs(h, { rdi: BigInt(DATA), rax: c.rax, rbx: c.rbx ?? 0n });
    runToHlt(h);
    t.is(reg(h, 'rax'), c.want, 'result');
    t.is(rflags(h) & c.mask, c.flags, `flags 0x${(rflags(h) & c.mask).toString(16)}, want 0x${c.flags.toString(16)}`);
  });
}

// ADC/SBB with an all-ones operand and CF = 1: the sum wraps back to the first operand and the
// carry (borrow) out is 1. AF from bit 3: low nibbles x + F + 1 always carry.
const CARRY: Case[] = [
  { name: 'adc al, bl: 0x12 + 0xff + CF=1 = 0x12 with CF (and AF, PF)', code: 'f9 10d8', rax: 0x12n, rbx: 0xffn, want: 0x12n, flags: CF | AF | PF, mask: ARITH },
  { name: 'adc al, bl: 0 + 0xff + CF=1 = 0 with CF and ZF', code: 'f9 10d8', rax: 0n, rbx: 0xffn, want: 0n, flags: CF | ZF | AF | PF, mask: ARITH },
  { name: 'adc al, bl: 0xff + 0xff + CF=1 = 0xff with CF and SF, no OF', code: 'f9 10d8', rax: 0xffn, rbx: 0xffn, want: 0xffn, flags: CF | SF | AF | PF, mask: ARITH },
  { name: 'adc al, bl: 0x12 + 0xff + CF=0 = 0x11 with CF', code: 'f8 10d8', rax: 0x12n, rbx: 0xffn, want: 0x11n, flags: CF | AF | PF, mask: ARITH },
  { name: 'adc ax, bx: 0x1234 + 0xffff + CF=1 = 0x1234 with CF (odd parity of 0x34)', code: 'f9 6611d8', rax: 0x1234n, rbx: 0xffffn, want: 0x1234n, flags: CF | AF, mask: ARITH },
  { name: 'adc eax, ebx: 0x12345678 + 0xffffffff + CF=1 = 0x12345678 with CF', code: 'f9 11d8', rax: 0x12345678n, rbx: 0xffffffffn, want: 0x12345678n, flags: CF | AF | PF, mask: ARITH },
  { name: 'adc rax, rbx: x + (2^64 - 1) + CF=1 = x with CF', code: 'f9 4811d8', rax: 0x123456789abcdef0n, rbx: M64, want: 0x123456789abcdef0n, flags: CF | AF | PF, mask: ARITH },
  { name: 'adc eax, -1 (imm8) with CF=1 keeps eax and sets CF', code: 'f9 83d0ff', rax: 5n, want: 5n, flags: CF | AF | PF, mask: ARITH },
  { name: 'adc rax, -1 (imm8) with CF=1 at the sign bit: CF and SF, no OF', code: 'f9 4883d0ff', rax: 0x8000000000000000n, want: 0x8000000000000000n, flags: CF | SF | AF | PF, mask: ARITH },
  { name: 'sbb al, bl: 0x12 - 0xff - CF=1 = 0x12 with a borrow', code: 'f9 18d8', rax: 0x12n, rbx: 0xffn, want: 0x12n, flags: CF | AF | PF, mask: ARITH },
  { name: 'sbb rax, rbx: 0 - (2^64 - 1) - CF=1 = 0 with a borrow and ZF', code: 'f9 4819d8', rax: 0n, rbx: M64, want: 0n, flags: CF | ZF | AF | PF, mask: ARITH },
  { name: 'sbb eax, -1 (imm8) with CF=1 keeps eax and sets CF', code: 'f9 83d8ff', rax: 7n, want: 7n, flags: CF | AF, mask: ARITH },
];

// SAR: "CF contains the value of the last bit shifted out"; only SHL/SHR leave CF undefined when
// the count reaches the operand size. For SAR every bit shifted in and out past the top is the
// sign bit, so CF is the sign for any count ≥ the width (counts masked to 5 bits, 6 for 64-bit).
const SAR: Case[] = [
  { name: 'sar al, 9: 0x80 → 0xff, CF = the sign (1)', code: 'c0f809', rax: 0x80n, want: 0xffn, flags: CF | SF | PF, mask: SAR_DEFINED },
  { name: 'sar al, 9: 0x7f → 0, CF = the sign (0)', code: 'c0f809', rax: 0x7fn, want: 0n, flags: ZF | PF, mask: SAR_DEFINED },
  { name: 'sar al, 8: 0x80 → 0xff, CF = 1', code: 'c0f808', rax: 0x80n, want: 0xffn, flags: CF | SF | PF, mask: SAR_DEFINED },
  { name: 'sar al, 7: 0x80 → 0xff, CF = bit 6 (0)', code: 'c0f807', rax: 0x80n, want: 0xffn, flags: SF | PF, mask: SAR_DEFINED },
  { name: 'sar al, 31: 0x80 → 0xff, CF = 1', code: 'c0f81f', rax: 0x80n, want: 0xffn, flags: CF | SF | PF, mask: SAR_DEFINED },
  { name: 'sar al, cl=31: 0x81 → 0xff, CF = 1', code: 'b11f d2f8', rax: 0x81n, want: 0xffn, flags: CF | SF | PF, mask: SAR_DEFINED },
  { name: 'sar al, 1: 0x81 → 0xc0, CF = 1, OF = 0', code: 'd0f8', rax: 0x81n, want: 0xc0n, flags: CF | SF | PF, mask: SAR_DEFINED | OF },
  { name: 'sar ax, 16: 0x8000 → 0xffff, CF = 1', code: '66c1f810', rax: 0x8000n, want: 0xffffn, flags: CF | SF | PF, mask: SAR_DEFINED },
  { name: 'sar ax, 17: 0x4000 → 0, CF = 0', code: '66c1f811', rax: 0x4000n, want: 0n, flags: ZF | PF, mask: SAR_DEFINED },
  { name: 'sar ax, 17: 0x8000 → 0xffff, CF = 1', code: '66c1f811', rax: 0x8000n, want: 0xffffn, flags: CF | SF | PF, mask: SAR_DEFINED },
  { name: 'sar ax, 31: 0x8001 → 0xffff, CF = 1', code: '66c1f81f', rax: 0x8001n, want: 0xffffn, flags: CF | SF | PF, mask: SAR_DEFINED },
  { name: 'sar eax, 31: 0x80000000 → all ones, CF = bit 30 (0)', code: 'c1f81f', rax: 0x80000000n, want: 0xffffffffn, flags: SF | PF, mask: SAR_DEFINED },
  { name: 'sar rax, 63: 0xc000… → all ones, CF = bit 62 (1)', code: '48c1f83f', rax: 0xc000000000000000n, want: M64, flags: CF | SF | PF, mask: SAR_DEFINED },
  { name: 'sar al, 32 is a count of 0: nothing changes, CF kept (1)', code: 'f9 c0f820', rax: 0x80n, want: 0x80n, flags: CF, mask: CF },
  { name: 'sar rax, 64 is a count of 0: nothing changes, CF kept (0)', code: 'f8 48c1f840', rax: 0x8000000000000001n, want: 0x8000000000000001n, flags: 0, mask: CF },
  { name: 'shr al, 7: 0xc0 → 1, CF = bit 6 (1)', code: 'c0e807', rax: 0xc0n, want: 1n, flags: CF, mask: SAR_DEFINED },
  { name: 'shl ax, 15: 0x0003 → 0x8000, CF = bit 1 (1)', code: '66c1e00f', rax: 3n, want: 0x8000n, flags: CF | SF | PF, mask: SAR_DEFINED },
];

for (const c of [...CARRY, ...SAR]) check(c);
