/**
 * SSE and SSE2 (legacy encodings, no VEX): the moves, the packed integer operations, packed and
 * scalar single and double arithmetic, compares and conversions, MXCSR (LDMXCSR/STMXCSR), with
 * the checks every SSE instruction makes first: CR0.EM or CR4.OSFXSR clear → #UD, CR0.TS → #NM;
 * 16-byte memory operands of non-"unaligned" forms must be aligned (#GP(0)). Floating-point
 * exceptions follow MXCSR (execute/fp.ts): masked ones only set flags, an unmasked one raises #XM
 * (#UD if CR4.OSXMMEXCPT is clear) before anything is written. MMX forms (no mandatory prefix on
 * the integer opcodes, MMX registers) are not emulated: counted #UD (CPUID has no MMX).
 *
 * XMM registers live in `cpu.xmm` (32-bit lanes); results are built in the scratch register
 * {@link XMM_RES} and copied, so a source that is also the destination reads its old value.
 * @module
 */
import {
  CR0_EM, CR0_TS, CR4_OSFXSR, MXCSR_MASK, RDI, XMM_RES, XMM_SRC, type Cpu,
} from '../cpu/cpu.js';
import { AF, CF, OF, PF, SF, ZF, materialize } from '../cpu/flags.js';
import type { Insn } from '../decoder/decoder.js';
import {
  DE, IE, OP_ADD, OP_DIV, OP_MUL, OP_SQRT, OP_SUB, PE, arith, beginSimd, denormalD, denormalF, endSimd, fromInt64,
  roundInt, roundResult, toSingle,
} from './fp.js';
import { ea, setReg } from './operands.js';

/** Mandatory prefix classes. */
const NP = 0, P66 = 1, PF3 = 2, PF2 = 3;

const RES = XMM_RES * 4, SRC = XMM_SRC * 4;

/** Raises #UD for a form the emulator does not implement (counted). */
function unimplemented(cpu: Cpu): never {
  cpu.unimplemented++;
  return cpu.raise(6);
}

/** The checks before any SSE instruction: #UD without OSFXSR or with EM, #NM with TS. */
export function sseAvailable(cpu: Cpu): void {
  if ((cpu.cr0 & CR0_EM) !== 0 || (cpu.cr4 & CR4_OSFXSR) === 0) cpu.raise(6);
  if ((cpu.cr0 & CR0_TS) !== 0) cpu.raise(7);
}

function prefixOf(d: Insn): number {
  return d.rep === 0xf3 ? PF3 : d.rep === 0xf2 ? PF2 : d.p66 ? P66 : NP;
}

// ------------------------------------------------------------------ operands

/** Loads 16 bytes at `a` into lanes `at`…`at`+3. */
function load128(cpu: Cpu, a: number, at: number): void {
  const X = cpu.xmm;
  const lo = cpu.mmu.read64(a), lh = cpu.rh;
  const hi = cpu.mmu.read64(a + 8), hh = cpu.rh;
  X[at] = lo; X[at + 1] = lh; X[at + 2] = hi; X[at + 3] = hh;
}

function store128(cpu: Cpu, a: number, at: number): void {
  const X = cpu.xmm;
  cpu.mmu.probeWrite(a, 16);
  cpu.mmu.write64(a, X[at]!, X[at + 1]!);
  cpu.mmu.write64(a + 8, X[at + 2]!, X[at + 3]!);
}

function aligned(cpu: Cpu, a: number): number {
  if ((a & 15) !== 0) cpu.raise(13, 0);
  return a;
}

/** The 128-bit source operand's first lane: a register, or memory read into the scratch source (`align`: #GP unless 16-aligned). */
function src128(cpu: Cpu, d: Insn, align: boolean): number {
  if (d.mod === 3) return d.rm * 4;
  const a = ea(cpu, d);
  load128(cpu, align ? aligned(cpu, a) : a, SRC);
  return SRC;
}

/** A 64-bit source (low qword of a register, or 8 bytes of memory in the scratch source's low half). */
function src64(cpu: Cpu, d: Insn): number {
  if (d.mod === 3) return d.rm * 4;
  const X = cpu.xmm;
  X[SRC] = cpu.mmu.read64(ea(cpu, d)); X[SRC + 1] = cpu.rh;
  return SRC;
}

function src32(cpu: Cpu, d: Insn): number {
  if (d.mod === 3) return d.rm * 4;
  cpu.xmm[SRC] = cpu.mmu.read32(ea(cpu, d));
  return SRC;
}

function copy4(X: Uint32Array, to: number, from: number): void {
  X[to] = X[from]!; X[to + 1] = X[from + 1]!; X[to + 2] = X[from + 2]!; X[to + 3] = X[from + 3]!;
}

/** Writes the result to the ModRM reg register. */
function commit(cpu: Cpu, d: Insn): void {
  copy4(cpu.xmm, d.reg * 4, RES);
}

// ------------------------------------------------------------------ NaNs and values

function isNaND(X: Uint32Array, i: number): boolean {
  const hi = X[i + 1]!;
  return (hi & 0x7ff00000) === 0x7ff00000 && ((hi & 0xfffff) | X[i]!) !== 0;
}
function isSNaND(X: Uint32Array, i: number): boolean {
  return isNaND(X, i) && (X[i + 1]! & 0x80000) === 0;
}
function isNaNF(X: Uint32Array, i: number): boolean {
  return (X[i]! & 0x7fffffff) > 0x7f800000;
}
function isSNaNF(X: Uint32Array, i: number): boolean {
  return isNaNF(X, i) && (X[i]! & 0x400000) === 0;
}

/** Writes double `r` to lane pair `i` (the default NaN — negative, quiet — for NaN). */
function putD(cpu: Cpu, i: number, r: number): void {
  if (Number.isNaN(r)) { cpu.xmm[i] = 0; cpu.xmm[i + 1] = 0xfff80000; } else cpu.xmmF64[i >> 1] = r;
}
function putF(cpu: Cpu, i: number, r: number): void {
  if (Number.isNaN(r)) cpu.xmm[i] = 0xffc00000; else cpu.xmmF32[i] = r;
}

/**
 * Two-operand double arithmetic on lanes `a` (first source, the destination) and `b`, result to
 * lanes `out`. NaN operands: the first NaN operand, quieted (SNaN → IE).
 */
function arithD(cpu: Cpu, op: number, a: number, b: number, out: number): void {
  const X = cpu.xmm;
  const an = isNaND(X, a), bn = op !== OP_SQRT && isNaND(X, b);
  if (op === OP_SQRT) {
    if (isNaND(X, b)) {
      if (isSNaND(X, b)) cpu.simdFlags |= IE;
      X[out] = X[b]!; X[out + 1] = X[b + 1]! | 0x80000;
      return;
    }
    putD(cpu, out, arith(cpu, op, cpu.xmmF64[b >> 1]!, 0, false));
    return;
  }
  if (an || bn) {
    if (isSNaND(X, a) || (bn && isSNaND(X, b))) cpu.simdFlags |= IE;
    const n = an ? a : b;
    X[out] = X[n]!; X[out + 1] = X[n + 1]! | 0x80000;
    return;
  }
  putD(cpu, out, arith(cpu, op, cpu.xmmF64[a >> 1]!, cpu.xmmF64[b >> 1]!, false));
}

function arithF(cpu: Cpu, op: number, a: number, b: number, out: number): void {
  const X = cpu.xmm;
  if (op === OP_SQRT) {
    if (isNaNF(X, b)) {
      if (isSNaNF(X, b)) cpu.simdFlags |= IE;
      X[out] = X[b]! | 0x400000;
      return;
    }
    putF(cpu, out, arith(cpu, op, cpu.xmmF32[b]!, 0, true));
    return;
  }
  const an = isNaNF(X, a), bn = isNaNF(X, b);
  if (an || bn) {
    if (isSNaNF(X, a) || isSNaNF(X, b)) cpu.simdFlags |= IE;
    X[out] = X[an ? a : b]! | 0x400000;
    return;
  }
  putF(cpu, out, arith(cpu, op, cpu.xmmF32[a]!, cpu.xmmF32[b]!, true));
}

/** MIN/MAX: a NaN in either operand, or two zeros, give the second operand unchanged (IE for any NaN). */
function minmax(cpu: Cpu, max: boolean, a: number, b: number, out: number, dbl: boolean): void {
  const X = cpu.xmm;
  if (dbl) {
    if (isNaND(X, a) || isNaND(X, b)) cpu.simdFlags |= IE;
    else {
      const x = cpu.xmmF64[a >> 1]!, y = cpu.xmmF64[b >> 1]!;
      if (denormalD(x) || denormalD(y)) cpu.simdFlags |= DE;
      if (max ? x > y : x < y) { X[out] = X[a]!; X[out + 1] = X[a + 1]!; return; }
    }
    X[out] = X[b]!; X[out + 1] = X[b + 1]!;
  } else {
    if (isNaNF(X, a) || isNaNF(X, b)) cpu.simdFlags |= IE;
    else {
      const x = cpu.xmmF32[a]!, y = cpu.xmmF32[b]!;
      if (denormalF(x) || denormalF(y)) cpu.simdFlags |= DE;
      if (max ? x > y : x < y) { X[out] = X[a]!; return; }
    }
    X[out] = X[b]!;
  }
}

/** CMPccPS/PD/SS/SD predicate `p` (0–7): all ones or zeros into lanes `out`. */
function compare(cpu: Cpu, p: number, a: number, b: number, out: number, dbl: boolean): void {
  const X = cpu.xmm;
  const nan = dbl ? isNaND(X, a) || isNaND(X, b) : isNaNF(X, a) || isNaNF(X, b);
  const snan = dbl ? isSNaND(X, a) || isSNaND(X, b) : isSNaNF(X, a) || isSNaNF(X, b);
  // LT, LE, NLT, NLE signal on any NaN; EQ, UNORD, NEQ, ORD only on a signalling one.
  if (snan || (nan && (p & 3) !== 0 && (p & 3) !== 3)) cpu.simdFlags |= IE;
  let r = false;
  if (!nan) {
    const x = dbl ? cpu.xmmF64[a >> 1]! : cpu.xmmF32[a]!, y = dbl ? cpu.xmmF64[b >> 1]! : cpu.xmmF32[b]!;
    if (dbl ? denormalD(x) || denormalD(y) : denormalF(x) || denormalF(y)) cpu.simdFlags |= DE;
    switch (p & 3) {
      case 0: r = x === y; break;
      case 1: r = x < y; break;
      case 2: r = x <= y; break;
      default: r = false;
    }
    if (p >= 4) r = !r;
  } else {
    r = p === 3 || p === 4 || p === 5 || p === 6;
  }
  const v = r ? 0xffffffff : 0;
  X[out] = v;
  if (dbl) X[out + 1] = v;
}

/** UCOMISS/SD, COMISS/SD: ZF, PF, CF; OF, SF, AF cleared. */
function comis(cpu: Cpu, d: Insn, dbl: boolean, signalQuiet: boolean): void {
  const X = cpu.xmm;
  const a = d.reg * 4, b = dbl ? src64(cpu, d) : src32(cpu, d);
  beginSimd(cpu);
  const nan = dbl ? isNaND(X, a) || isNaND(X, b) : isNaNF(X, a) || isNaNF(X, b);
  const snan = dbl ? isSNaND(X, a) || isSNaND(X, b) : isSNaNF(X, a) || isSNaNF(X, b);
  let f: number;
  if (nan) {
    if (snan || signalQuiet) cpu.simdFlags |= IE;
    f = ZF | PF | CF;
  } else {
    const x = dbl ? cpu.xmmF64[a >> 1]! : cpu.xmmF32[a]!, y = dbl ? cpu.xmmF64[b >> 1]! : cpu.xmmF32[b]!;
    if (dbl ? denormalD(x) || denormalD(y) : denormalF(x) || denormalF(y)) cpu.simdFlags |= DE;
    f = x > y ? 0 : x < y ? CF : ZF;
  }
  endSimd(cpu);
  materialize(cpu);
  cpu.flags = (cpu.flags & ~(OF | SF | ZF | AF | PF | CF)) | f;
}

// ------------------------------------------------------------------ conversions

/** Double/single lane to a signed integer of `bits` (32 or 64) in mode `rc`; indefinite (IE) when NaN or out of range. Low half returned, high in `cpu.rh`. */
function toInt(cpu: Cpu, X: Uint32Array, i: number, dbl: boolean, bits: number, rc: number): number {
  const nan = dbl ? isNaND(X, i) : isNaNF(X, i);
  const x = dbl ? cpu.xmmF64[i >> 1]! : cpu.xmmF32[i]!;
  const t = nan ? NaN : roundInt(x, rc);
  const lim = bits === 32 ? 2147483648 : 9223372036854775808;
  if (Number.isNaN(t) || t >= lim || t < -lim) {
    cpu.simdFlags |= IE;
    cpu.rh = bits === 64 ? 0x80000000 : 0;
    return bits === 64 ? 0 : 0x80000000;
  }
  if (t !== x) cpu.simdFlags |= PE;
  cpu.rh = bits === 64 ? Math.floor(t / 4294967296) >>> 0 : 0;
  return t >>> 0;
}

/** CVTSS2SD-style widening of a single lane to a double lane pair (exact; SNaN quieted with IE). */
function singleToDouble(cpu: Cpu, X: Uint32Array, from: number, out: number): void {
  const v = X[from]!;
  if (isNaNF(X, from)) {
    if ((v & 0x400000) === 0) cpu.simdFlags |= IE;
    const frac = v & 0x7fffff;
    X[out] = (frac << 29) >>> 0;
    X[out + 1] = ((v & 0x80000000) | 0x7ff80000 | (frac >>> 3)) >>> 0;
    return;
  }
  const x = cpu.xmmF32[from]!;
  if (denormalF(x)) cpu.simdFlags |= DE;
  cpu.xmmF64[out >> 1] = x;
}

/** CVTSD2SS-style narrowing (rounded in the MXCSR's mode; NaN payload truncated and quieted). */
function doubleToSingle(cpu: Cpu, X: Uint32Array, from: number, out: number): void {
  if (isNaND(X, from)) {
    if (isSNaND(X, from)) cpu.simdFlags |= IE;
    const hi = X[from + 1]!;
    X[out] = ((hi & 0x80000000) | 0x7fc00000 | ((hi & 0xfffff) << 3) | (X[from]! >>> 29)) >>> 0;
    return;
  }
  putF(cpu, out, toSingle(cpu, cpu.xmmF64[from >> 1]!));
}

/** An int32 (lane value) to single in the MXCSR's mode (PE when inexact). */
function int32ToSingle(cpu: Cpu, v: number): number {
  return roundResult(cpu, v, 0, true, (cpu.mxcsr >>> 13) & 3, false, true);
}

// ------------------------------------------------------------------ packed integers

const SAT_S8 = (v: number): number => (v > 127 ? 127 : v < -128 ? -128 : v);
const SAT_U8 = (v: number): number => (v > 255 ? 255 : v < 0 ? 0 : v);
const SAT_S16 = (v: number): number => (v > 32767 ? 32767 : v < -32768 ? -32768 : v);
const SAT_U16 = (v: number): number => (v > 65535 ? 65535 : v < 0 ? 0 : v);

/** Byte-lane operations (opcode low byte → result byte from a, b). */
function bytes(cpu: Cpu, op: number, a: number, b: number): void {
  const B = cpu.xmmB, R = RES * 4;
  for (let i = 0; i < 16; i++) {
    const x = B[a + i]!, y = B[b + i]!;
    let r: number;
    switch (op) {
      case 0x64: r = ((x << 24) >> 24) > ((y << 24) >> 24) ? 0xff : 0; break; // PCMPGTB
      case 0x74: r = x === y ? 0xff : 0; break; // PCMPEQB
      case 0xd8: r = SAT_U8(x - y); break; // PSUBUSB
      case 0xda: r = x < y ? x : y; break; // PMINUB
      case 0xdc: r = SAT_U8(x + y); break; // PADDUSB
      case 0xde: r = x > y ? x : y; break; // PMAXUB
      case 0xe0: r = (x + y + 1) >> 1; break; // PAVGB
      case 0xe8: r = SAT_S8(((x << 24) >> 24) - ((y << 24) >> 24)); break; // PSUBSB
      case 0xec: r = SAT_S8(((x << 24) >> 24) + ((y << 24) >> 24)); break; // PADDSB
      case 0xf8: r = x - y; break; // PSUBB
      default: r = x + y; // 0xfc PADDB
    }
    B[R + i] = r;
  }
}

/** Word-lane operations. */
function words(cpu: Cpu, op: number, a: number, b: number): void {
  const W = cpu.xmmW, R = RES * 2;
  for (let i = 0; i < 8; i++) {
    const x = W[a + i]!, y = W[b + i]!, sx = (x << 16) >> 16, sy = (y << 16) >> 16;
    let r: number;
    switch (op) {
      case 0x65: r = sx > sy ? 0xffff : 0; break; // PCMPGTW
      case 0x75: r = x === y ? 0xffff : 0; break; // PCMPEQW
      case 0xd5: r = Math.imul(sx, sy); break; // PMULLW
      case 0xd9: r = SAT_U16(x - y); break; // PSUBUSW
      case 0xdd: r = SAT_U16(x + y); break; // PADDUSW
      case 0xe3: r = (x + y + 1) >> 1; break; // PAVGW
      case 0xe4: r = (x * y) >>> 16; break; // PMULHUW
      case 0xe5: r = Math.imul(sx, sy) >> 16; break; // PMULHW
      case 0xe9: r = SAT_S16(sx - sy); break; // PSUBSW
      case 0xea: r = sx < sy ? x : y; break; // PMINSW
      case 0xed: r = SAT_S16(sx + sy); break; // PADDSW
      case 0xee: r = sx > sy ? x : y; break; // PMAXSW
      case 0xf9: r = x - y; break; // PSUBW
      default: r = x + y; // 0xfd PADDW
    }
    W[R + i] = r;
  }
}

/** Dword-lane operations. */
function dwords(cpu: Cpu, op: number, a: number, b: number): void {
  const X = cpu.xmm;
  for (let i = 0; i < 4; i++) {
    const x = X[a + i]!, y = X[b + i]!;
    let r: number;
    switch (op) {
      case 0x66: r = (x | 0) > (y | 0) ? -1 : 0; break; // PCMPGTD
      case 0x76: r = x === y ? -1 : 0; break; // PCMPEQD
      case 0xfa: r = x - y; break; // PSUBD
      default: r = x + y; // 0xfe PADDD
    }
    X[RES + i] = r >>> 0;
  }
}

/** PADDQ / PSUBQ on the halves. */
function qwords(cpu: Cpu, sub: boolean, a: number, b: number): void {
  const X = cpu.xmm;
  for (let i = 0; i < 4; i += 2) {
    const al = X[a + i]!, ah = X[a + i + 1]!, bl = X[b + i]!, bh = X[b + i + 1]!;
    if (sub) {
      X[RES + i] = (al - bl) >>> 0;
      X[RES + i + 1] = (ah - bh - (al < bl ? 1 : 0)) >>> 0;
    } else {
      const s = al + bl;
      X[RES + i] = s >>> 0;
      X[RES + i + 1] = (ah + bh + (s > 0xffffffff ? 1 : 0)) >>> 0;
    }
  }
}

/** Shifts by a count (0–2^64): `kind` 0 logical right, 1 arithmetic right, 2 left; `size` 2, 4 or 8. */
function shiftLanes(cpu: Cpu, kind: number, size: number, a: number, count: number): void {
  const X = cpu.xmm, W = cpu.xmmW;
  const bits = size * 8;
  if (size === 2) {
    for (let i = 0; i < 8; i++) {
      const x = W[a * 2 + i]!;
      let r: number;
      if (kind === 1) r = ((x << 16) >> 16) >> Math.min(count, 15);
      else r = count >= 16 ? 0 : kind === 0 ? x >>> count : x << count;
      W[RES * 2 + i] = r;
    }
  } else if (size === 4) {
    for (let i = 0; i < 4; i++) {
      const x = X[a + i]!;
      let r: number;
      if (kind === 1) r = (x | 0) >> Math.min(count, 31);
      else r = count >= 32 ? 0 : kind === 0 ? x >>> count : x << count;
      X[RES + i] = r >>> 0;
    }
  } else {
    for (let i = 0; i < 4; i += 2) {
      let lo = X[a + i]!, hi = X[a + i + 1]!;
      if (count >= bits) { lo = 0; hi = 0; }
      else if (count >= 32) {
        if (kind === 0) { lo = hi >>> (count - 32); hi = 0; } else { hi = lo << (count - 32); lo = 0; }
      } else if (count > 0) {
        if (kind === 0) { lo = (lo >>> count) | (hi << (32 - count)); hi >>>= count; }
        else { hi = (hi << count) | (lo >>> (32 - count)); lo <<= count; }
      }
      X[RES + i] = lo >>> 0; X[RES + i + 1] = hi >>> 0;
    }
  }
}

/** PSLLDQ (left) / PSRLDQ by whole bytes. */
function byteShift(cpu: Cpu, left: boolean, a: number, n: number): void {
  const B = cpu.xmmB, R = RES * 4;
  for (let i = 0; i < 16; i++) {
    const j = left ? i - n : i + n;
    B[R + i] = j >= 0 && j < 16 ? B[a * 4 + j]! : 0;
  }
}

/** The shift count of the xmm/m128 forms: the low qword, saturated. */
function countOf(X: Uint32Array, b: number): number {
  return X[b + 1] !== 0 ? 0xffff : Math.min(X[b]!, 0xffff);
}

function pack(cpu: Cpu, op: number, a: number, b: number): void {
  // The result register is neither source: lanes can be written as they are computed.
  if (op === 0x6b) { // PACKSSDW
    const X = cpu.xmm, W = cpu.xmmW;
    for (let i = 0; i < 4; i++) { W[RES * 2 + i] = SAT_S16(X[a + i]! | 0); W[RES * 2 + i + 4] = SAT_S16(X[b + i]! | 0); }
    return;
  }
  const W = cpu.xmmW, B = cpu.xmmB;
  const sat = op === 0x63 ? SAT_S8 : SAT_U8;
  for (let i = 0; i < 8; i++) {
    B[RES * 4 + i] = sat((W[a * 2 + i]! << 16) >> 16);
    B[RES * 4 + i + 8] = sat((W[b * 2 + i]! << 16) >> 16);
  }
}

/** PUNPCKL/H of bytes, words, dwords, qwords: `size` bytes per element, `high` half. */
function unpack(cpu: Cpu, size: number, high: boolean, a: number, b: number): void {
  const B = cpu.xmmB, R = RES * 4, base = high ? 8 : 0;
  for (let i = 0, n = 8 / size; i < n; i++) {
    for (let k = 0; k < size; k++) {
      B[R + 2 * i * size + k] = B[a * 4 + base + i * size + k]!;
      B[R + (2 * i + 1) * size + k] = B[b * 4 + base + i * size + k]!;
    }
  }
}

// ------------------------------------------------------------------ the executor

/** Executes an SSE/SSE2 instruction of the 0F map (`op` the low byte). Returns false if `op` is not one. */
export function executeSse(cpu: Cpu, d: Insn, op: number): boolean {
  const pfx = prefixOf(d);
  sseAvailable(cpu);
  const X = cpu.xmm;
  const dst = d.reg * 4;
  switch (op) {
    case 0x10: { // MOVUPS/MOVUPD/MOVSS/MOVSD load
      if (pfx === PF3 || pfx === PF2) {
        if (d.mod === 3) {
          X[dst] = X[d.rm * 4]!;
          if (pfx === PF2) X[dst + 1] = X[d.rm * 4 + 1]!;
        } else {
          const a = ea(cpu, d);
          if (pfx === PF3) { X[dst] = cpu.mmu.read32(a); X[dst + 1] = 0; }
          else { X[dst] = cpu.mmu.read64(a); X[dst + 1] = cpu.rh; }
          X[dst + 2] = 0; X[dst + 3] = 0;
        }
        return true;
      }
      copy4(X, dst, src128(cpu, d, false));
      return true;
    }
    case 0x11: { // stores
      if (d.mod === 3) {
        const to = d.rm * 4;
        if (pfx === PF3) X[to] = X[dst]!;
        else if (pfx === PF2) { X[to] = X[dst]!; X[to + 1] = X[dst + 1]!; }
        else copy4(X, to, dst);
        return true;
      }
      const a = ea(cpu, d);
      if (pfx === PF3) cpu.mmu.write32(a, X[dst]!);
      else if (pfx === PF2) cpu.mmu.write64(a, X[dst]!, X[dst + 1]!);
      else store128(cpu, a, dst);
      return true;
    }
    case 0x12: case 0x13: case 0x16: case 0x17: { // MOVLPS/PD, MOVHLPS, MOVHPS/PD, MOVLHPS
      if (pfx === PF3 || pfx === PF2) return unimplemented(cpu); // MOVSLDUP/MOVDDUP/MOVSHDUP: SSE3
      const high = op >= 0x16;
      const off = high ? 2 : 0;
      if (op === 0x13 || op === 0x17) { // stores
        if (d.mod === 3) return unimplemented(cpu);
        cpu.mmu.write64(ea(cpu, d), X[dst + off]!, X[dst + off + 1]!);
        return true;
      }
      if (d.mod === 3) {
        if (pfx === P66) return unimplemented(cpu);
        const s = d.rm * 4 + (high ? 0 : 2); // MOVLHPS: low of source → high; MOVHLPS: high of source → low
        const lo = X[s]!, hi = X[s + 1]!;
        X[dst + off] = lo; X[dst + off + 1] = hi;
        return true;
      }
      X[dst + off] = cpu.mmu.read64(ea(cpu, d)); X[dst + off + 1] = cpu.rh;
      return true;
    }
    case 0x14: case 0x15: { // UNPCKL/HPS, UNPCKL/HPD
      if (pfx >= PF3) return unimplemented(cpu);
      const b = src128(cpu, d, true);
      unpack(cpu, pfx === P66 ? 8 : 4, op === 0x15, dst, b);
      commit(cpu, d);
      return true;
    }
    case 0x28: case 0x29: { // MOVAPS/MOVAPD
      if (pfx >= PF3) return unimplemented(cpu);
      if (op === 0x28) { copy4(X, dst, src128(cpu, d, true)); return true; }
      if (d.mod === 3) copy4(X, d.rm * 4, dst);
      else store128(cpu, aligned(cpu, ea(cpu, d)), dst);
      return true;
    }
    case 0x2a: { // CVTSI2SS/SD
      if (pfx < PF3) return unimplemented(cpu); // CVTPI2PS/PD: MMX
      let lo: number, hi: number;
      if (d.rex & 8) { lo = d.mod === 3 ? cpu.lo[d.rm]! : cpu.mmu.read64(ea(cpu, d)); hi = d.mod === 3 ? cpu.hi[d.rm]! : cpu.rh; }
      else { lo = d.mod === 3 ? cpu.lo[d.rm]! : cpu.mmu.read32(ea(cpu, d)); hi = (lo | 0) < 0 ? 0xffffffff : 0; }
      beginSimd(cpu);
      const r = fromInt64(cpu, lo, hi, pfx === PF3);
      endSimd(cpu);
      if (pfx === PF3) putF(cpu, dst, r); else putD(cpu, dst, r);
      return true;
    }
    case 0x2b: { // MOVNTPS/PD
      if (pfx >= PF3 || d.mod === 3) return unimplemented(cpu);
      store128(cpu, aligned(cpu, ea(cpu, d)), dst);
      return true;
    }
    case 0x2c: case 0x2d: { // CVTTSS2SI/CVTSS2SI/CVTTSD2SI/CVTSD2SI
      if (pfx < PF3) return unimplemented(cpu);
      const s = pfx === PF3 ? src32(cpu, d) : src64(cpu, d);
      beginSimd(cpu);
      const bits = d.rex & 8 ? 64 : 32;
      const v = toInt(cpu, X, s, pfx === PF2, bits, op === 0x2c ? 3 : (cpu.mxcsr >>> 13) & 3), vh = cpu.rh;
      endSimd(cpu);
      setReg(cpu, d, d.reg, bits / 8, v, vh);
      return true;
    }
    case 0x2e: case 0x2f: // UCOMISS/SD, COMISS/SD
      if (pfx >= PF3) return unimplemented(cpu);
      comis(cpu, d, pfx === P66, op === 0x2f);
      return true;
    case 0x50: { // MOVMSKPS/PD
      if (pfx >= PF3 || d.mod !== 3) return unimplemented(cpu);
      const s = d.rm * 4;
      const m = pfx === P66 ? (X[s + 1]! >>> 31) | ((X[s + 3]! >>> 31) << 1)
        : (X[s]! >>> 31) | ((X[s + 1]! >>> 31) << 1) | ((X[s + 2]! >>> 31) << 2) | ((X[s + 3]! >>> 31) << 3);
      cpu.lo[d.reg] = m; cpu.hi[d.reg] = 0;
      return true;
    }
    case 0x51: case 0x58: case 0x59: case 0x5c: case 0x5e: case 0x5d: case 0x5f: {
      const fop = op === 0x51 ? OP_SQRT : op === 0x58 ? OP_ADD : op === 0x59 ? OP_MUL : op === 0x5c ? OP_SUB : OP_DIV;
      const mm = op === 0x5d || op === 0x5f;
      beginSimd(cpu);
      if (pfx === PF3 || pfx === PF2) { // scalar: the other lanes of the destination stay
        const dbl = pfx === PF2;
        const b = dbl ? src64(cpu, d) : src32(cpu, d);
        copy4(X, RES, dst);
        if (mm) minmax(cpu, op === 0x5f, dst, b, RES, dbl);
        else if (dbl) arithD(cpu, fop, dst, b, RES); else arithF(cpu, fop, dst, b, RES);
      } else {
        const b = src128(cpu, d, true);
        const dbl = pfx === P66;
        for (let i = 0; i < 4; i += dbl ? 2 : 1) {
          if (mm) minmax(cpu, op === 0x5f, dst + i, b + i, RES + i, dbl);
          else if (dbl) arithD(cpu, fop, dst + i, b + i, RES + i); else arithF(cpu, fop, dst + i, b + i, RES + i);
        }
      }
      endSimd(cpu);
      commit(cpu, d);
      return true;
    }
    case 0x52: case 0x53: { // RSQRTPS/SS, RCPPS/SS: approximations (here: correctly rounded)
      if (pfx === P66 || pfx === PF2) return unimplemented(cpu);
      const b = pfx === PF3 ? src32(cpu, d) : src128(cpu, d, true);
      copy4(X, RES, dst);
      for (let i = 0; i < (pfx === PF3 ? 1 : 4); i++) {
        if (isNaNF(X, b + i)) { X[RES + i] = X[b + i]! | 0x400000; continue; }
        const x = cpu.xmmF32[b + i]!;
        const r = op === 0x52 ? (x < 0 ? NaN : 1 / Math.sqrt(x)) : 1 / x;
        putF(cpu, RES + i, Number.isNaN(r) ? NaN : Math.fround(denormalF(Math.fround(r)) ? 0 * Math.sign(r) : r));
      }
      commit(cpu, d);
      return true;
    }
    case 0x54: case 0x55: case 0x56: case 0x57: case 0xdb: case 0xdf: case 0xeb: case 0xef: { // ANDPS…XORPD, PAND…PXOR
      if (pfx >= PF3 || (op >= 0xdb && pfx !== P66)) return unimplemented(cpu);
      const b = src128(cpu, d, true);
      const and = op === 0x54 || op === 0xdb, andn = op === 0x55 || op === 0xdf, or = op === 0x56 || op === 0xeb;
      for (let i = 0; i < 4; i++) {
        const x = X[dst + i]!, y = X[b + i]!;
        X[RES + i] = (and ? x & y : andn ? ~x & y : or ? x | y : x ^ y) >>> 0;
      }
      commit(cpu, d);
      return true;
    }
    case 0x5a: { // CVTPS2PD, CVTPD2PS, CVTSS2SD, CVTSD2SS
      beginSimd(cpu);
      if (pfx === PF3) { const b = src32(cpu, d); copy4(X, RES, dst); singleToDouble(cpu, X, b, RES); }
      else if (pfx === PF2) { const b = src64(cpu, d); copy4(X, RES, dst); doubleToSingle(cpu, X, b, RES); }
      else if (pfx === NP) {
        const b = src64(cpu, d);
        const l0 = X[b]!, l1 = X[b + 1]!;
        X[SRC + 2] = l0; X[SRC + 3] = l1; // keep both singles while the result overwrites
        singleToDouble(cpu, X, SRC + 2, RES); singleToDouble(cpu, X, SRC + 3, RES + 2);
      } else {
        const b = src128(cpu, d, true);
        doubleToSingle(cpu, X, b, RES); doubleToSingle(cpu, X, b + 2, RES + 1); X[RES + 2] = 0; X[RES + 3] = 0;
      }
      endSimd(cpu);
      commit(cpu, d);
      return true;
    }
    case 0x5b: { // CVTDQ2PS, CVTPS2DQ (66), CVTTPS2DQ (F3)
      if (pfx === PF2) return unimplemented(cpu);
      const b = src128(cpu, d, true);
      beginSimd(cpu);
      for (let i = 0; i < 4; i++) {
        if (pfx === NP) putF(cpu, RES + i, int32ToSingle(cpu, X[b + i]! | 0));
        else X[RES + i] = toInt(cpu, X, b + i, false, 32, pfx === PF3 ? 3 : (cpu.mxcsr >>> 13) & 3);
      }
      endSimd(cpu);
      commit(cpu, d);
      return true;
    }
    case 0xe6: { // CVTTPD2DQ (66), CVTDQ2PD (F3), CVTPD2DQ (F2)
      if (pfx === NP) return unimplemented(cpu);
      beginSimd(cpu);
      if (pfx === PF3) {
        const b = src64(cpu, d);
        const v0 = X[b]! | 0, v1 = X[b + 1]! | 0;
        cpu.xmmF64[RES >> 1] = v0; cpu.xmmF64[(RES >> 1) + 1] = v1;
      } else {
        const b = src128(cpu, d, true);
        const rc = pfx === P66 ? 3 : (cpu.mxcsr >>> 13) & 3;
        const r0 = toInt(cpu, X, b, true, 32, rc), r1 = toInt(cpu, X, b + 2, true, 32, rc);
        X[RES] = r0; X[RES + 1] = r1; X[RES + 2] = 0; X[RES + 3] = 0;
      }
      endSimd(cpu);
      commit(cpu, d);
      return true;
    }
    case 0xc2: { // CMPPS/PD/SS/SD
      const p = d.imm & 7;
      beginSimd(cpu);
      if (pfx >= PF3) {
        const dbl = pfx === PF2;
        const b = dbl ? src64(cpu, d) : src32(cpu, d);
        copy4(X, RES, dst);
        compare(cpu, p, dst, b, RES, dbl);
      } else {
        const b = src128(cpu, d, true);
        const dbl = pfx === P66;
        for (let i = 0; i < 4; i += dbl ? 2 : 1) compare(cpu, p, dst + i, b + i, RES + i, dbl);
      }
      endSimd(cpu);
      commit(cpu, d);
      return true;
    }
    case 0xc6: { // SHUFPS / SHUFPD
      if (pfx >= PF3) return unimplemented(cpu);
      const b = src128(cpu, d, true);
      const im = d.imm & 0xff;
      if (pfx === P66) {
        const s0 = dst + (im & 1) * 2, s1 = b + ((im >> 1) & 1) * 2;
        X[RES] = X[s0]!; X[RES + 1] = X[s0 + 1]!; X[RES + 2] = X[s1]!; X[RES + 3] = X[s1 + 1]!;
      } else {
        X[RES] = X[dst + (im & 3)]!; X[RES + 1] = X[dst + ((im >> 2) & 3)]!;
        X[RES + 2] = X[b + ((im >> 4) & 3)]!; X[RES + 3] = X[b + ((im >> 6) & 3)]!;
      }
      commit(cpu, d);
      return true;
    }
  }
  // The integer forms below exist only with 0x66 (MMX without it), except MOVQ/MOVDQU (F3) and PSHUFHW/LW.
  switch (op) {
    case 0x6f: case 0x7f: { // MOVDQA (66), MOVDQU (F3)
      if (pfx !== P66 && pfx !== PF3) return unimplemented(cpu);
      if (op === 0x6f) { copy4(X, dst, src128(cpu, d, pfx === P66)); return true; }
      if (d.mod === 3) copy4(X, d.rm * 4, dst);
      else { const a = ea(cpu, d); store128(cpu, pfx === P66 ? aligned(cpu, a) : a, dst); }
      return true;
    }
    case 0xe7: // MOVNTDQ
      if (pfx !== P66 || d.mod === 3) return unimplemented(cpu);
      store128(cpu, aligned(cpu, ea(cpu, d)), dst);
      return true;
    case 0x6e: { // MOVD/MOVQ xmm, r/m
      if (pfx !== P66) return unimplemented(cpu);
      const w = (d.rex & 8) !== 0;
      let lo: number, hi = 0;
      if (d.mod === 3) { lo = cpu.lo[d.rm]!; if (w) hi = cpu.hi[d.rm]!; }
      else if (w) { lo = cpu.mmu.read64(ea(cpu, d)); hi = cpu.rh; }
      else lo = cpu.mmu.read32(ea(cpu, d));
      X[dst] = lo; X[dst + 1] = hi; X[dst + 2] = 0; X[dst + 3] = 0;
      return true;
    }
    case 0x7e: { // MOVD/MOVQ r/m, xmm (66); MOVQ xmm, xmm/m64 (F3)
      if (pfx === PF3) {
        const b = src64(cpu, d);
        const lo = X[b]!, hi = X[b + 1]!;
        X[dst] = lo; X[dst + 1] = hi; X[dst + 2] = 0; X[dst + 3] = 0;
        return true;
      }
      if (pfx !== P66) return unimplemented(cpu);
      const w = (d.rex & 8) !== 0;
      if (d.mod === 3) { cpu.lo[d.rm] = X[dst]!; cpu.hi[d.rm] = w ? X[dst + 1]! : 0; }
      else if (w) cpu.mmu.write64(ea(cpu, d), X[dst]!, X[dst + 1]!);
      else cpu.mmu.write32(ea(cpu, d), X[dst]!);
      return true;
    }
    case 0xd6: { // MOVQ xmm/m64, xmm
      if (pfx !== P66) return unimplemented(cpu); // MOVQ2DQ/MOVDQ2Q: MMX
      if (d.mod === 3) {
        const to = d.rm * 4;
        const lo = X[dst]!, hi = X[dst + 1]!;
        X[to] = lo; X[to + 1] = hi; X[to + 2] = 0; X[to + 3] = 0;
      } else cpu.mmu.write64(ea(cpu, d), X[dst]!, X[dst + 1]!);
      return true;
    }
    case 0x70: { // PSHUFD (66), PSHUFHW (F3), PSHUFLW (F2)
      if (pfx === NP) return unimplemented(cpu);
      const b = src128(cpu, d, true);
      const im = d.imm & 0xff;
      if (pfx === P66) {
        for (let i = 0; i < 4; i++) X[RES + i] = X[b + ((im >> (2 * i)) & 3)]!;
      } else {
        const W = cpu.xmmW, base = pfx === PF3 ? 4 : 0, keep = pfx === PF3 ? 0 : 4;
        for (let i = 0; i < 4; i++) {
          W[RES * 2 + base + i] = W[b * 2 + base + ((im >> (2 * i)) & 3)]!;
          W[RES * 2 + keep + i] = W[b * 2 + keep + i]!;
        }
      }
      commit(cpu, d);
      return true;
    }
    case 0x71: case 0x72: case 0x73: { // shift groups by imm8
      if (pfx !== P66 || d.mod !== 3) return unimplemented(cpu);
      const k = d.reg & 7, n = d.imm & 0xff, r = d.rm * 4;
      if (op === 0x73 && (k === 3 || k === 7)) byteShift(cpu, k === 7, r, n);
      else if (k === 2) shiftLanes(cpu, 0, op === 0x71 ? 2 : op === 0x72 ? 4 : 8, r, n);
      else if (k === 4 && op !== 0x73) shiftLanes(cpu, 1, op === 0x71 ? 2 : 4, r, n);
      else if (k === 6) shiftLanes(cpu, 2, op === 0x71 ? 2 : op === 0x72 ? 4 : 8, r, n);
      else return unimplemented(cpu);
      copy4(X, r, RES);
      return true;
    }
    case 0xc4: { // PINSRW xmm, r32/m16, imm8
      if (pfx !== P66) return unimplemented(cpu);
      const v = d.mod === 3 ? cpu.lo[d.rm]! & 0xffff : cpu.mmu.read16(ea(cpu, d));
      cpu.xmmW[d.reg * 8 + (d.imm & 7)] = v;
      return true;
    }
    case 0xc5: { // PEXTRW r32, xmm, imm8
      if (pfx !== P66 || d.mod !== 3) return unimplemented(cpu);
      cpu.lo[d.reg] = cpu.xmmW[d.rm * 8 + (d.imm & 7)]!; cpu.hi[d.reg] = 0;
      return true;
    }
    case 0xd7: { // PMOVMSKB
      if (pfx !== P66 || d.mod !== 3) return unimplemented(cpu);
      const B = cpu.xmmB, s = d.rm * 16;
      let m = 0;
      for (let i = 0; i < 16; i++) m |= (B[s + i]! >>> 7) << i;
      cpu.lo[d.reg] = m; cpu.hi[d.reg] = 0;
      return true;
    }
    case 0xf7: { // MASKMOVDQU: bytes of xmm where the mask's top bit is set → [RDI]
      if (pfx !== P66 || d.mod !== 3) return unimplemented(cpu);
      const B = cpu.xmmB, s = d.reg * 16, m = d.rm * 16;
      let a = cpu.signed(RDI);
      if (d.adsz === 4) a = cpu.lo[RDI]!;
      if (d.seg >= 4) a += cpu.seg[d.seg]!.base;
      let any = false;
      for (let i = 0; i < 16; i++) if ((B[m + i]! & 0x80) !== 0) { any = true; }
      if (any) cpu.mmu.probeWrite(a, 16);
      for (let i = 0; i < 16; i++) if ((B[m + i]! & 0x80) !== 0) cpu.mmu.write8(a + i, B[s + i]!);
      return true;
    }
  }
  if (pfx !== P66) return unimplemented(cpu);
  const b = src128(cpu, d, true);
  switch (op) {
    case 0x60: unpack(cpu, 1, false, dst, b); break;
    case 0x61: unpack(cpu, 2, false, dst, b); break;
    case 0x62: unpack(cpu, 4, false, dst, b); break;
    case 0x6c: unpack(cpu, 8, false, dst, b); break;
    case 0x68: unpack(cpu, 1, true, dst, b); break;
    case 0x69: unpack(cpu, 2, true, dst, b); break;
    case 0x6a: unpack(cpu, 4, true, dst, b); break;
    case 0x6d: unpack(cpu, 8, true, dst, b); break;
    case 0x63: case 0x67: case 0x6b: pack(cpu, op, dst, b); break;
    case 0x64: case 0x74: case 0xd8: case 0xda: case 0xdc: case 0xde: case 0xe0: case 0xe8: case 0xec: case 0xf8: case 0xfc:
      bytes(cpu, op, dst * 4, b * 4); break;
    case 0x65: case 0x75: case 0xd5: case 0xd9: case 0xdd: case 0xe3: case 0xe4: case 0xe5: case 0xe9: case 0xea:
    case 0xed: case 0xee: case 0xf9: case 0xfd:
      words(cpu, op, dst * 2, b * 2); break;
    case 0x66: case 0x76: case 0xfa: case 0xfe: dwords(cpu, op, dst, b); break;
    case 0xd4: qwords(cpu, false, dst, b); break;
    case 0xfb: qwords(cpu, true, dst, b); break;
    case 0xd1: shiftLanes(cpu, 0, 2, dst, countOf(X, b)); break;
    case 0xd2: shiftLanes(cpu, 0, 4, dst, countOf(X, b)); break;
    case 0xd3: shiftLanes(cpu, 0, 8, dst, countOf(X, b)); break;
    case 0xe1: shiftLanes(cpu, 1, 2, dst, countOf(X, b)); break;
    case 0xe2: shiftLanes(cpu, 1, 4, dst, countOf(X, b)); break;
    case 0xf1: shiftLanes(cpu, 2, 2, dst, countOf(X, b)); break;
    case 0xf2: shiftLanes(cpu, 2, 4, dst, countOf(X, b)); break;
    case 0xf3: shiftLanes(cpu, 2, 8, dst, countOf(X, b)); break;
    case 0xf4: { // PMULUDQ: low dwords of each qword, 64-bit products
      for (let i = 0; i < 4; i += 2) {
        const x = X[dst + i]!, y = X[b + i]!;
        const xl = x & 0xffff, xh = x >>> 16, yl = y & 0xffff, yh = y >>> 16;
        const ll = xl * yl, mid = xh * yl + xl * yh, hh = xh * yh;
        const low = ll + (mid % 65536) * 65536;
        X[RES + i] = low >>> 0;
        X[RES + i + 1] = (hh + Math.floor(mid / 65536) + Math.floor(low / 4294967296)) >>> 0;
      }
      break;
    }
    case 0xf5: { // PMADDWD
      const W = cpu.xmmW;
      for (let i = 0; i < 4; i++) {
        const p = Math.imul((W[dst * 2 + 2 * i]! << 16) >> 16, (W[b * 2 + 2 * i]! << 16) >> 16)
          + Math.imul((W[dst * 2 + 2 * i + 1]! << 16) >> 16, (W[b * 2 + 2 * i + 1]! << 16) >> 16);
        X[RES + i] = p >>> 0;
      }
      break;
    }
    case 0xf6: { // PSADBW
      const B = cpu.xmmB;
      for (let h = 0; h < 2; h++) {
        let s = 0;
        for (let i = 0; i < 8; i++) s += Math.abs(B[dst * 4 + h * 8 + i]! - B[b * 4 + h * 8 + i]!);
        X[RES + 2 * h] = s; X[RES + 2 * h + 1] = 0;
      }
      break;
    }
    default: return unimplemented(cpu);
  }
  commit(cpu, d);
  return true;
}

/** 0F AE memory forms /2 LDMXCSR, /3 STMXCSR. */
export function mxcsrAccess(cpu: Cpu, d: Insn, load: boolean): void {
  sseAvailable(cpu);
  const a = ea(cpu, d);
  if (load) {
    const v = cpu.mmu.read32(a);
    if ((v & ~MXCSR_MASK) !== 0) cpu.raise(13, 0);
    cpu.mxcsr = v;
  } else cpu.mmu.write32(a, cpu.mxcsr);
}

