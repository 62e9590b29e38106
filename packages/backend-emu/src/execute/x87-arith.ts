/**
 * x87 arithmetic (not part of the package's API): FADD/FSUB/FSUBR/FMUL/FDIV/FDIVR in every form
 * (ST(0) with ST(i), ST(i) with ST(0), the popping forms, m32/m64 reals, m16/m32 integers),
 * FCOM/FCOMP/FCOMPP/FUCOM/FUCOMP/FUCOMPP/FICOM/FICOMP, FTST, FXAM, FSQRT, FRNDINT, FSCALE,
 * FXTRACT, FPREM/FPREM1, FCMOVcc, FINCSTP/FDECSTP, FFREEP and the constants (FLD1, FLDL2T,
 * FLDL2E, FLDPI, FLDLG2, FLDLN2, FLDZ: rounded by RC from their 66-bit internal values as the
 * 487 and later do). Values are computed exactly (x87-float.ts) and rounded once; the
 * exceptions follow the x87's order: stack fault (IE + SF, C1 = 0), invalid operand (SNaN,
 * unsupported encoding, ∞ − ∞, 0 × ∞, 0/0, ∞/∞, √ of a negative), denormal operand, divide by
 * zero, then the result's overflow, underflow and precision (C1 = rounded up). A masked
 * exception gives the default result (QNaN indefinite, the quieted NaN, ∞); an unmasked
 * invalid, denormal or divide-by-zero exception leaves the registers and TOP unchanged and sets
 * ES/B (the next waiting instruction raises #MF); an unmasked overflow or underflow stores the
 * result scaled by 2^∓24576, as the hardware does.
 *
 * Not implemented (counted #UD): the transcendental instructions F2XM1, FYL2X, FYL2XP1, FPTAN,
 * FPATAN, FSIN, FCOS, FSINCOS, and the undocumented aliases (FCOM2, FCOMP3, FCOMP5, FXCH4,
 * FXCH7, FSTP1, FSTP8, FSTP9).
 * @module
 */
import type { Cpu } from '../cpu/cpu.js';
import type { Insn } from '../decoder/decoder.js';
import { condition } from '../cpu/flags.js';
import { ea } from './operands.js';
import {
  BIT63, F_DE, F_IE, F_ZE, INDEFINITE, K_DENORMAL, K_INF, K_NORMAL, K_QNAN, K_SNAN, K_UNSUPPORTED, K_ZERO, ZERO,
  add, bitLength, classify, div, fromInteger, isNaNClass, mul, order, propagateNaN, quiet, remainder, roundToInteger,
  scale, signalling, sqrt, truncToClamped, widen, type Ext, type Rounded,
} from './x87-float.js';
import {
  F_C0, F_C1, F_C2, F_C3, F_CC, F_SF, isEmpty, lastInstruction, physOf, pop, push, readReg, setTop, signal, top,
  waitPending, writeReg,
} from './x87-stack.js';

const OP_ADD = 0, OP_MUL = 1, OP_SUB = 2, OP_DIV = 3;
const PRE = F_IE | F_DE | F_ZE;

const invalid = (): Rounded => ({ v: INDEFINITE, flags: F_IE, up: false });
const inf = (sign: number, flags: number): Rounded => ({ v: { sign, exp: 0x7fff, mant: BIT63 }, flags, up: false });
const exact = (v: Ext, flags: number): Rounded => ({ v, flags, up: false });

/** a op b on any two values; `memFlags` carries DE of a denormal m32/m64 operand (already normalized). */
function binary(op: number, a: Ext, b: Ext, memFlags: number, fcw: number): Rounded {
  const ka = classify(a), kb = classify(b);
  if (ka === K_UNSUPPORTED || kb === K_UNSUPPORTED) return invalid();
  if (isNaNClass(ka) || isNaNClass(kb)) return exact(propagateNaN(a, ka, b, kb), signalling(ka) || signalling(kb) ? F_IE : 0);
  const de = (ka === K_DENORMAL || kb === K_DENORMAL ? F_DE : 0) | (memFlags & F_DE);
  const ia = ka === K_INF, ib = kb === K_INF, za = ka === K_ZERO, zb = kb === K_ZERO;
  let r: Rounded;
  switch (op) {
    case OP_ADD: case OP_SUB: {
      const sb = op === OP_SUB ? b.sign ^ 1 : b.sign;
      if (ia && ib && a.sign !== sb) return invalid();
      if (ia) return inf(a.sign, de);
      if (ib) return inf(sb, de);
      r = add(a, { sign: sb, exp: b.exp, mant: b.mant }, fcw);
      break;
    }
    case OP_MUL:
      if ((ia && zb) || (za && ib)) return invalid();
      if (ia || ib) return inf(a.sign ^ b.sign, de);
      r = mul(a, b, fcw);
      break;
    default:
      if ((ia && ib) || (za && zb)) return invalid();
      if (ia) return inf(a.sign ^ b.sign, de);
      if (ib) return exact({ sign: a.sign ^ b.sign, exp: 0, mant: 0n }, de);
      if (zb) return inf(a.sign ^ b.sign, F_ZE); // a denormal dividend is not reported (this host)
      r = div(a, b, fcw);
  }
  r.flags |= de;
  return r;
}

/**
 * Records `r`'s exceptions and, unless an unmasked invalid, denormal or zero-divide exception
 * stops it, writes the result to physical register `dest` and pops `pops` times.
 */
function commit(cpu: Cpu, dest: number, r: Rounded, pops: number): void {
  const pre = r.flags & PRE;
  if ((pre & ~cpu.fcw) !== 0) { signal(cpu, pre); cpu.fsw &= ~F_C1; return; }
  if (r.flags !== 0) signal(cpu, r.flags);
  cpu.fsw = r.up ? cpu.fsw | F_C1 : cpu.fsw & ~F_C1;
  writeReg(cpu, dest, r.v);
  cpu.ftw |= 1 << dest;
  for (let k = 0; k < pops; k++) pop(cpu);
}

/** Stack underflow of an instruction writing `dest`: IE + SF, C1 = 0; masked, the indefinite. */
function underflow(cpu: Cpu, dest: number, pops: number): void {
  cpu.fsw &= ~F_C1;
  if (signal(cpu, F_IE | F_SF)) return;
  writeReg(cpu, dest, INDEFINITE);
  cpu.ftw |= 1 << dest;
  for (let k = 0; k < pops; k++) pop(cpu);
}

/** ModRM reg 0–7 of D8/DC/DA/DE → operation and operand order (x: ST(0), y: the other). */
function arith(cpu: Cpu, r: number, y: Ext | null, yFlags: number, dest: number, pops: number): void {
  const p0 = physOf(cpu, 0);
  if (isEmpty(cpu, p0) || y === null) { underflow(cpu, dest, pops); return; }
  const x = readReg(cpu, p0);
  const op = r === 0 ? OP_ADD : r === 1 ? OP_MUL : r < 6 ? OP_SUB : OP_DIV;
  const swap = r === 5 || r === 7; // FSUBR, FDIVR: y op x
  commit(cpu, dest, binary(op, swap ? y : x, swap ? x : y, yFlags, cpu.fcw), pops);
}

/** FCOM-family condition codes: C3 C2 C0 = 000 (>), 001 (<), 100 (=), 111 (unordered); C1 = 0. */
function compare(cpu: Cpu, a: Ext | null, b: Ext | null, bFlags: number, unorderedOk: boolean, pops: number): void {
  let cc: number, unmasked = false;
  if (a === null || b === null) {
    unmasked = signal(cpu, F_IE | F_SF);
    cc = F_C3 | F_C2 | F_C0;
  } else {
    const ka = classify(a), kb = classify(b);
    if (isNaNClass(ka) || isNaNClass(kb)) {
      if (!unorderedOk || signalling(ka) || signalling(kb)) unmasked = signal(cpu, F_IE);
      cc = F_C3 | F_C2 | F_C0;
    } else {
      if (ka === K_DENORMAL || kb === K_DENORMAL || (bFlags & F_DE) !== 0) unmasked = signal(cpu, F_DE);
      const o = order(a, b);
      cc = o > 0 ? 0 : o < 0 ? F_C0 : F_C3;
    }
  }
  cpu.fsw = (cpu.fsw & ~F_CC) | cc;
  if (!unmasked) for (let k = 0; k < pops; k++) pop(cpu);
}

function st(cpu: Cpu, i: number): Ext | null {
  const p = physOf(cpu, i);
  return isEmpty(cpu, p) ? null : readReg(cpu, p);
}

/** The memory operand of D8 (m32), DC (m64), DA (m32int), DE (m16int); an SNaN stays signalling. */
function memOperand(cpu: Cpu, d: Insn): { v: Ext; flags: number } {
  const mmu = cpu.mmu, a = ea(cpu, d);
  switch (d.op) {
    case 0xd8: case 0xdc: {
      const raw = d.op === 0xd8 ? BigInt(mmu.read32(a)) : (() => { const lo = mmu.read64(a); return (BigInt(cpu.rh) << 32n) | BigInt(lo); })();
      const w = widen(raw, d.op === 0xd8 ? 32 : 64);
      if ((w.flags & F_IE) !== 0) w.v.mant &= ~(1n << 62n);
      return w;
    }
    case 0xda: return { v: fromInteger(BigInt(mmu.read32(a) | 0)), flags: 0 };
    default: return { v: fromInteger(BigInt((mmu.read16(a) << 16) >> 16)), flags: 0 };
  }
}

/** FXAM's classes in C3 C2 C0; C1 = the sign. */
function fxam(cpu: Cpu): void {
  const p = physOf(cpu, 0);
  const v = readReg(cpu, p);
  let cc: number;
  if (isEmpty(cpu, p)) cc = F_C3 | F_C0;
  else {
    switch (classify(v)) {
      case K_UNSUPPORTED: cc = 0; break;
      case K_QNAN: case K_SNAN: cc = F_C0; break;
      case K_NORMAL: cc = F_C2; break;
      case K_INF: cc = F_C2 | F_C0; break;
      case K_ZERO: cc = F_C3; break;
      default: cc = F_C3 | F_C2;
    }
  }
  cpu.fsw = (cpu.fsw & ~F_CC) | cc | (v.sign ? F_C1 : 0);
}

/** The constants' 64-bit significands rounded to nearest, and which way the exact value lies (+1 above, −1 below). */
const CONSTANTS: readonly (readonly [exp: number, mant: bigint, side: number])[] = [
  [0x3fff, BIT63, 0], // 1
  [0x4000, 0xd49a784bcd1b8afen, 1], // log2 10
  [0x3fff, 0xb8aa3b295c17f0bcn, -1], // log2 e
  [0x4000, 0xc90fdaa22168c235n, -1], // π
  [0x3ffd, 0x9a209a84fbcff799n, -1], // log10 2
  [0x3ffe, 0xb17217f7d1cf79acn, -1], // ln 2
  [0, 0n, 0], // +0
];

function constant(cpu: Cpu, i: number): Ext {
  const [exp, mant, side] = CONSTANTS[i]!;
  const rc = (cpu.fcw >>> 10) & 3;
  // Directed rounding takes the neighbour on the exact value's side when it is not toward nearest.
  const adj = side > 0 && rc === 2 ? 1n : side < 0 && (rc === 1 || rc === 3) ? -1n : 0n;
  return { sign: 0, exp, mant: mant + adj };
}

/** A one-operand instruction on ST(0): SNaN/unsupported → IE, NaN → quieted, else `f`. */
function unary(cpu: Cpu, f: (v: Ext, k: number) => Rounded): void {
  const p0 = physOf(cpu, 0);
  if (isEmpty(cpu, p0)) { underflow(cpu, p0, 0); return; }
  const v = readReg(cpu, p0), k = classify(v);
  let r: Rounded;
  if (k === K_UNSUPPORTED) r = invalid();
  else if (isNaNClass(k)) r = exact(quiet(v), k === K_SNAN ? F_IE : 0);
  else r = f(v, k);
  commit(cpu, p0, r, 0);
}

function fsqrt(cpu: Cpu): void {
  unary(cpu, (v, k) => {
    if (k === K_ZERO) return exact(v, 0);
    if (v.sign === 1) return invalid();
    if (k === K_INF) return exact(v, 0);
    const r = sqrt(v, cpu.fcw);
    if (k === K_DENORMAL) r.flags |= F_DE;
    return r;
  });
}

function frndint(cpu: Cpu): void {
  unary(cpu, (v, k) => {
    if (k === K_ZERO || k === K_INF) return exact(v, 0);
    const r = roundToInteger(v, cpu.fcw);
    if (k === K_DENORMAL) r.flags |= F_DE;
    return r;
  });
}

/** ST(0) × 2^trunc(ST(1)). */
function fscale(cpu: Cpu): void {
  const p0 = physOf(cpu, 0), a = st(cpu, 0), b = st(cpu, 1);
  if (a === null || b === null) { underflow(cpu, p0, 0); return; }
  const ka = classify(a), kb = classify(b);
  let r: Rounded;
  if (ka === K_UNSUPPORTED || kb === K_UNSUPPORTED) r = invalid();
  else if (isNaNClass(ka) || isNaNClass(kb)) r = exact(propagateNaN(a, ka, b, kb), signalling(ka) || signalling(kb) ? F_IE : 0);
  else {
    const de = ka === K_DENORMAL || kb === K_DENORMAL ? F_DE : 0;
    if (kb === K_INF) {
      if (b.sign === 0) r = ka === K_ZERO ? invalid() : inf(a.sign, de);
      else r = ka === K_INF ? invalid() : exact({ sign: a.sign, exp: 0, mant: 0n }, de);
    } else if (ka === K_INF || ka === K_ZERO) r = exact(a, de);
    else { r = scale(a, truncToClamped(b), cpu.fcw); r.flags |= de; }
  }
  commit(cpu, p0, r, 0);
}

/** ST(0) → exponent (in ST(1)) and significand (pushed). */
function fxtract(cpu: Cpu): void {
  const p0 = physOf(cpu, 0);
  if (isEmpty(cpu, p0)) {
    cpu.fsw &= ~F_C1;
    if (signal(cpu, F_IE | F_SF)) return;
    writeReg(cpu, p0, INDEFINITE);
    cpu.ftw |= 1 << p0;
    push(cpu, INDEFINITE, 0);
    cpu.fsw &= ~F_C1; // the underflow is what is reported, even if the push also overflowed
    return;
  }
  if (!isEmpty(cpu, physOf(cpu, 7))) { // stack overflow: masked, both halves are the indefinite
    if ((cpu.fcw & F_IE) !== 0) writeReg(cpu, p0, INDEFINITE);
    push(cpu, INDEFINITE, 0);
    return;
  }
  const v = readReg(cpu, p0), k = classify(v);
  let e: Ext, s: Ext, flags = 0;
  if (k === K_UNSUPPORTED) { e = s = INDEFINITE; flags = F_IE; }
  else if (isNaNClass(k)) { e = s = quiet(v); flags = k === K_SNAN ? F_IE : 0; }
  else if (k === K_ZERO) { e = { sign: 1, exp: 0x7fff, mant: BIT63 }; s = v; flags = F_ZE; }
  else if (k === K_INF) { e = { sign: 0, exp: 0x7fff, mant: BIT63 }; s = v; }
  else {
    const n = bitLength(v.mant);
    e = fromInteger(BigInt((v.exp === 0 ? 1 : v.exp) - 16383 - (64 - n)));
    s = { sign: v.sign, exp: 0x3fff, mant: v.mant << BigInt(64 - n) };
    if (k === K_DENORMAL) flags = F_DE;
  }
  if ((flags & ~cpu.fcw & PRE) !== 0) { signal(cpu, flags); return; }
  if (flags !== 0) signal(cpu, flags);
  writeReg(cpu, p0, e);
  push(cpu, s, 0);
}

/** FPREM (truncating) and FPREM1 (IEEE, nearest): C2 = incomplete, C0 C3 C1 = quotient bits 2, 1, 0. */
function fprem(cpu: Cpu, nearest: boolean): void {
  const p0 = physOf(cpu, 0), a = st(cpu, 0), b = st(cpu, 1);
  if (a === null || b === null) { cpu.fsw &= ~F_C2; underflow(cpu, p0, 0); return; }
  const ka = classify(a), kb = classify(b);
  let r: Rounded, cc = 0, touched = F_C2 | F_C1; // a NaN or invalid result leaves C0 and C3 as they were (this host)
  if (ka === K_UNSUPPORTED || kb === K_UNSUPPORTED) r = invalid();
  else if (isNaNClass(ka) || isNaNClass(kb)) r = exact(propagateNaN(a, ka, b, kb), signalling(ka) || signalling(kb) ? F_IE : 0);
  else if (ka === K_INF || kb === K_ZERO) r = invalid();
  else {
    const de = ka === K_DENORMAL || kb === K_DENORMAL ? F_DE : 0;
    touched = F_CC;
    if (kb === K_INF || ka === K_ZERO) r = exact(a, de);
    else {
      const m = remainder(a, b, nearest);
      r = exact(m.v, de);
      const q = Number(m.q & 7n);
      // An incomplete reduction reports C2 alone (C0, C3, C1 cleared, as this host does; the SDM leaves them undefined).
      cc = m.partial ? F_C2 : (q & 4 ? F_C0 : 0) | (q & 2 ? F_C3 : 0) | (q & 1 ? F_C1 : 0);
    }
  }
  const pre = r.flags & PRE;
  if ((pre & ~cpu.fcw) !== 0) { signal(cpu, pre); cpu.fsw &= ~touched; return; } // C2 cleared even then (this host)
  if (r.flags !== 0) signal(cpu, r.flags);
  cpu.fsw = (cpu.fsw & ~touched) | cc;
  writeReg(cpu, p0, r.v);
}

/** FCMOVcc ST(0), ST(i) (DA: B, E, BE, U; DB: NB, NE, NBE, NU). */
function fcmov(cpu: Cpu, d: Insn): void {
  const r = d.reg & 7;
  const cc = [2, 4, 6, 10][r]! + (d.op === 0xdb ? 1 : 0);
  const p0 = physOf(cpu, 0), pi = physOf(cpu, d.rm & 7);
  if (isEmpty(cpu, p0) || isEmpty(cpu, pi)) {
    cpu.fsw &= ~F_C1; // C1 changes only on a stack underflow
    // Masked: ST(0) becomes the indefinite whatever the condition (as this host does).
    if (signal(cpu, F_IE | F_SF)) return;
    writeReg(cpu, p0, INDEFINITE);
    cpu.ftw |= 1 << p0;
    return;
  }
  if (condition(cpu, cc)) {
    const R = cpu.fpr;
    for (let k = 0; k < 5; k++) R[p0 * 5 + k] = R[pi * 5 + k]!;
  }
}

/**
 * Executes the instructions above; false if `d` is none of them (the caller handles or rejects
 * it). CR0 checks are done.
 */
export function executeX87Arith(cpu: Cpu, d: Insn): boolean {
  const op = d.op, r = d.reg & 7, mem = d.mod !== 3, i = d.rm & 7;
  if (op === 0xd8 || op === 0xdc || op === 0xda || op === 0xde) {
    if (mem) {
      waitPending(cpu);
      const m = memOperand(cpu, d);
      if (r === 2 || r === 3) compare(cpu, st(cpu, 0), m.v, m.flags, false, r - 2);
      else arith(cpu, r, m.v, m.flags, physOf(cpu, 0), 0);
      lastInstruction(cpu, d, true);
      return true;
    }
    if (op === 0xda) {
      if (r <= 3) { waitPending(cpu); fcmov(cpu, d); }
      else if (r === 5 && i === 1) { waitPending(cpu); compare(cpu, st(cpu, 0), st(cpu, 1), 0, true, 2); } // FUCOMPP
      else return false;
      lastInstruction(cpu, d, false);
      return true;
    }
    if (r === 2 || r === 3) {
      if (op === 0xd8) { waitPending(cpu); compare(cpu, st(cpu, 0), st(cpu, i), 0, false, r - 2); } // FCOM(P) ST(i)
      else if (op === 0xde && r === 3 && i === 1) { waitPending(cpu); compare(cpu, st(cpu, 0), st(cpu, 1), 0, false, 2); } // FCOMPP
      else return false;
      lastInstruction(cpu, d, false);
      return true;
    }
    waitPending(cpu);
    // D8: ST(0) ← ST(0) op ST(i); DC: ST(i) ← ST(i) op ST(0) (reg 4–7 name the reverse forms); DE: DC and pop.
    arith(cpu, r, st(cpu, i), 0, op === 0xd8 ? physOf(cpu, 0) : physOf(cpu, i), op === 0xde ? 1 : 0);
    lastInstruction(cpu, d, false);
    return true;
  }
  if (mem) return false;
  if (op === 0xdb && r <= 3) { waitPending(cpu); fcmov(cpu, d); lastInstruction(cpu, d, false); return true; }
  if (op === 0xdd && (r === 4 || r === 5)) { // FUCOM(P) ST(i)
    waitPending(cpu);
    compare(cpu, st(cpu, 0), st(cpu, i), 0, true, r - 4);
    lastInstruction(cpu, d, false);
    return true;
  }
  if (op === 0xdf && r === 0) { // FFREEP ST(i)
    waitPending(cpu);
    cpu.ftw &= ~(1 << physOf(cpu, i));
    cpu.fsw &= ~F_C1; // as FFREE on this host
    pop(cpu);
    lastInstruction(cpu, d, false);
    return true;
  }
  if (op !== 0xd9) return false;
  const code = (r << 3) | i;
  switch (code) {
    case 0o44: waitPending(cpu); compare(cpu, st(cpu, 0), ZERO, 0, false, 0); break; // FTST
    case 0o45: waitPending(cpu); fxam(cpu); break; // FXAM
    case 0o50: case 0o51: case 0o52: case 0o53: case 0o54: case 0o55: case 0o56: // FLD1 … FLDZ
      waitPending(cpu);
      push(cpu, constant(cpu, i), 0);
      break;
    case 0o64: waitPending(cpu); fxtract(cpu); break;
    case 0o65: waitPending(cpu); fprem(cpu, true); break; // FPREM1
    case 0o66: case 0o67: // FDECSTP, FINCSTP
      waitPending(cpu);
      setTop(cpu, top(cpu) + (i === 6 ? -1 : 1));
      cpu.fsw &= ~F_C1;
      break;
    case 0o70: waitPending(cpu); fprem(cpu, false); break; // FPREM
    case 0o72: waitPending(cpu); fsqrt(cpu); break;
    case 0o74: waitPending(cpu); frndint(cpu); break;
    case 0o75: waitPending(cpu); fscale(cpu); break;
    default: return false;
  }
  lastInstruction(cpu, d, false);
  return true;
}
