/**
 * The x87 subset Linux and glibc's start-up use, and FXSAVE/FXRSTOR: FNINIT, FNCLEX, FWAIT, EMMS,
 * FLD/FST/FSTP (m32, m64, m80, ST(i)), FILD (m16, m32, m64), FNSTCW/FLDCW, FNSTSW (AX, m16), the
 * 287 no-ops FNENI/FNDISI/FNSETPM. The eight registers keep their exact 80-bit contents
 * (`cpu.fpr`), so FLD/FSTP m80 and FXSAVE/FXRSTOR move bits unchanged; m32/m64 loads widen
 * exactly and stores round in FCW's rounding mode with the x87 exceptions (invalid for SNaN and
 * unsupported encodings, denormal, overflow, underflow, precision; C1 = rounded up), stack
 * overflow and underflow (IE + SF) with the masked responses (QNaN indefinite). An unmasked
 * exception sets ES/B and leaves the destination alone; the next waiting x87 instruction raises
 * #MF. No x87 arithmetic yet (FADD… are counted #UD). Conversions use BigInt: off the hot path.
 *
 * CR0 rules: EM or TS → #NM for x87 instructions (FWAIT: TS with MP), FXSAVE/FXRSTOR #NM likewise
 * and #GP(0) unless 16-byte aligned.
 * @module
 */
import { CR0_EM, CR0_MP, CR0_TS, MXCSR_MASK, RAX, type Cpu } from '../cpu/cpu.js';
import type { Insn } from '../decoder/decoder.js';
import { AF, CF, OF, PF, SF, ZF, materialize } from '../cpu/flags.js';
import { ea } from './operands.js';

/** FSW bits. */
const F_IE = 1, F_DE = 2, F_OE = 8, F_UE = 16, F_PE = 32, F_SF = 0x40, F_ES = 0x80, F_C1 = 0x200, F_B = 0x8000;

function unimplemented(cpu: Cpu): never {
  cpu.unimplemented++;
  return cpu.raise(6);
}

/** #NM when CR0.EM or CR0.TS is set (x87 instructions, FXSAVE, FXRSTOR). */
function fpuAvailable(cpu: Cpu): void {
  if ((cpu.cr0 & (CR0_EM | CR0_TS)) !== 0) cpu.raise(7);
}

/** A waiting instruction first reports a pending unmasked exception (#MF). */
function waitPending(cpu: Cpu): void {
  if ((cpu.fsw & F_ES) !== 0) cpu.raise(16);
}

function top(cpu: Cpu): number {
  return (cpu.fsw >>> 11) & 7;
}

function setTop(cpu: Cpu, t: number): void {
  cpu.fsw = (cpu.fsw & ~0x3800) | ((t & 7) << 11);
}

/** Records exceptions `f`; unmasked ones set ES and B. Returns true if any of them is unmasked. */
function signal(cpu: Cpu, f: number): boolean {
  cpu.fsw |= f;
  const unmasked = (f & ~cpu.fcw & 0x3f) !== 0;
  if (unmasked) cpu.fsw |= F_ES | F_B;
  return unmasked;
}

// ------------------------------------------------------------------ 80-bit values

interface Ext { sign: number; exp: number; mant: bigint }

function readReg(cpu: Cpu, phys: number): Ext {
  const R = cpu.fpr, o = phys * 5;
  const mant = (BigInt(R[o + 3]!) << 48n) | (BigInt(R[o + 2]!) << 32n) | (BigInt(R[o + 1]!) << 16n) | BigInt(R[o]!);
  return { sign: R[o + 4]! >>> 15, exp: R[o + 4]! & 0x7fff, mant };
}

function writeReg(cpu: Cpu, phys: number, v: Ext): void {
  const R = cpu.fpr, o = phys * 5;
  R[o] = Number(v.mant & 0xffffn); R[o + 1] = Number((v.mant >> 16n) & 0xffffn);
  R[o + 2] = Number((v.mant >> 32n) & 0xffffn); R[o + 3] = Number((v.mant >> 48n) & 0xffffn);
  R[o + 4] = (v.sign << 15) | v.exp;
}

const INDEFINITE: Ext = { sign: 1, exp: 0x7fff, mant: 0xc000000000000000n };
const BIT63 = 1n << 63n;

function bitLength(m: bigint): number {
  return m === 0n ? 0 : m.toString(2).length;
}

/** An IEEE single (`bits` 32) or double (64) from its bit pattern to 80 bits, exactly; SNaN quieted with IE. */
function widen(raw: bigint, bits: 32 | 64): { v: Ext; flags: number } {
  const fracBits = bits === 32 ? 23 : 52, expBits = bits === 32 ? 8 : 11, bias = bits === 32 ? 127 : 1023;
  const sign = Number((raw >> BigInt(bits - 1)) & 1n);
  const e = Number((raw >> BigInt(fracBits)) & BigInt((1 << expBits) - 1));
  const frac = raw & ((1n << BigInt(fracBits)) - 1n);
  const emax = (1 << expBits) - 1;
  if (e === emax) {
    if (frac === 0n) return { v: { sign, exp: 0x7fff, mant: BIT63 }, flags: 0 };
    const quiet = (frac >> BigInt(fracBits - 1)) & 1n;
    return { v: { sign, exp: 0x7fff, mant: BIT63 | (1n << 62n) | (frac << BigInt(63 - fracBits)) }, flags: quiet ? 0 : F_IE };
  }
  if (e === 0) {
    if (frac === 0n) return { v: { sign, exp: 0, mant: 0n }, flags: 0 };
    const n = bitLength(frac); // value = frac × 2^(1 − bias − fracBits)
    return { v: { sign, exp: 16383 + (1 - bias - fracBits) + n - 1, mant: frac << BigInt(64 - n) }, flags: F_DE };
  }
  return { v: { sign, exp: e - bias + 16383, mant: BIT63 | (frac << BigInt(63 - fracBits)) }, flags: 0 };
}

/** A signed integer to 80 bits (exact). */
function fromInteger(x: bigint): Ext {
  if (x === 0n) return { sign: 0, exp: 0, mant: 0n };
  const sign = x < 0n ? 1 : 0;
  const m = x < 0n ? -x : x;
  const n = bitLength(m);
  return { sign, exp: 16383 + n - 1, mant: m << BigInt(64 - n) };
}

/**
 * 80 bits to an IEEE single or double bit pattern, rounded in FCW.RC; the x87 flags it raises
 * and whether it rounded up (C1).
 */
function narrow(v: Ext, bits: 32 | 64, rc: number): { raw: bigint; flags: number; up: boolean } {
  const fracBits = bits === 32 ? 23 : 52, expBits = bits === 32 ? 8 : 11, bias = bits === 32 ? 127 : 1023;
  const p = fracBits + 1, emin = 1 - bias, emax = bias;
  const signBit = BigInt(v.sign) << BigInt(bits - 1);
  const expAll = BigInt((1 << expBits) - 1) << BigInt(fracBits);
  const indefinite = (1n << BigInt(bits - 1)) | expAll | (1n << BigInt(fracBits - 1));
  const int = (v.mant & BIT63) !== 0n;
  if (v.exp === 0x7fff) {
    if (!int) return { raw: indefinite, flags: F_IE, up: false }; // pseudo-infinity / pseudo-NaN
    const frac = v.mant & (BIT63 - 1n);
    if (frac === 0n) return { raw: signBit | expAll, flags: 0, up: false };
    const quiet = (v.mant >> 62n) & 1n;
    const payload = (frac >> BigInt(63 - fracBits)) | (1n << BigInt(fracBits - 1));
    return { raw: signBit | expAll | payload, flags: quiet ? 0 : F_IE, up: false };
  }
  if (v.exp !== 0 && !int) return { raw: indefinite, flags: F_IE, up: false }; // unnormal
  if (v.mant === 0n) return { raw: signBit, flags: 0, up: false };
  let flags = 0; // FST raises no denormal-operand exception (SDM: #IS, #IA, #U, #O, #P only)
  const n = bitLength(v.mant);
  const e = (v.exp === 0 ? 1 : v.exp) - 16383 - 63 + n - 1; // exponent of the leading bit
  const keep = e >= emin ? p : p - (emin - e);
  const shift = n - keep;
  let q: bigint, inexact = false, up = false;
  if (shift <= 0) q = v.mant << BigInt(-shift);
  else {
    q = shift > n ? 0n : v.mant >> BigInt(shift);
    const rem = v.mant - (q << BigInt(shift));
    if (rem !== 0n) {
      inexact = true;
      const half = 1n << BigInt(shift - 1);
      const neg = v.sign === 1;
      if (rc === 0) up = rem > half || (rem === half && (q & 1n) === 1n);
      else if (rc === 1) up = neg;
      else if (rc === 2) up = !neg;
      if (up) q += 1n;
    }
  }
  // q × 2^(e − keep + 1); renormalise a carry out of the top.
  let lsb = e - keep + 1;
  if (bitLength(q) > p) { q >>= 1n; lsb += 1; }
  const top = lsb + bitLength(q) - 1;
  if (top > emax) {
    flags |= F_OE | F_PE;
    const toInf = rc === 0 || (rc === 1 && v.sign === 1) || (rc === 2 && v.sign === 0);
    const raw = toInf ? signBit | expAll : signBit | (expAll - (1n << BigInt(fracBits))) | ((1n << BigInt(fracBits)) - 1n);
    return { raw, flags, up: toInf };
  }
  if (inexact) flags |= F_PE;
  if (e < emin && inexact) flags |= F_UE;
  let raw: bigint;
  if (q === 0n) raw = signBit;
  else if (bitLength(q) === p && top >= emin) raw = signBit | (BigInt(top + bias) << BigInt(fracBits)) | (q & ((1n << BigInt(fracBits)) - 1n));
  else raw = signBit | (q << BigInt(lsb - (emin - fracBits))); // subnormal: q × 2^lsb with lsb ≥ emin − fracBits
  return { raw, flags, up };
}

// ------------------------------------------------------------------ stack

function physOf(cpu: Cpu, i: number): number {
  return (top(cpu) + i) & 7;
}

function isEmpty(cpu: Cpu, phys: number): boolean {
  return (cpu.ftw & (1 << phys)) === 0;
}

/** Pushes `v` (stack overflow: IE + SF + C1, masked → the indefinite). */
function push(cpu: Cpu, v: Ext, flags: number): void {
  const t = (top(cpu) - 1) & 7;
  if (!isEmpty(cpu, t)) {
    cpu.fsw |= F_C1;
    if (signal(cpu, F_IE | F_SF)) return;
    v = INDEFINITE;
  } else {
    cpu.fsw &= ~F_C1;
    // An unmasked invalid operation (SNaN) loads nothing; a denormal operand is loaded anyway (as the CPU does).
    if (flags !== 0 && signal(cpu, flags) && (flags & F_IE & ~cpu.fcw) !== 0) return;
  }
  setTop(cpu, t);
  cpu.ftw |= 1 << t;
  writeReg(cpu, t, v);
}

function pop(cpu: Cpu): void {
  const t = top(cpu);
  cpu.ftw &= ~(1 << t);
  setTop(cpu, t + 1);
}

/** Records FIP/FOP (and FDP for a memory operand) for a non-control instruction. */
function lastInstruction(cpu: Cpu, d: Insn, memory: boolean): void {
  cpu.fip = cpu.rip;
  cpu.fop = ((d.op & 7) << 8) | d.modrm;
  if (memory) cpu.fdp = cpu.eaddr;
}

// ------------------------------------------------------------------ the executor

/** FWAIT (9B). */
export function fwait(cpu: Cpu): void {
  if ((cpu.cr0 & (CR0_TS | CR0_MP)) === (CR0_TS | CR0_MP)) cpu.raise(7);
  waitPending(cpu);
}

/** EMMS (0F 77): every register empty and TOP 0 (SDM vol. 1, table 9-2). */
export function emms(cpu: Cpu): void {
  if ((cpu.cr0 & CR0_EM) !== 0) cpu.raise(6);
  if ((cpu.cr0 & CR0_TS) !== 0) cpu.raise(7);
  waitPending(cpu);
  cpu.ftw = 0;
  setTop(cpu, 0);
}

/** FNINIT's state (also the reset state of the x87 part). */
export function fpuInit(cpu: Cpu): void {
  cpu.fcw = 0x37f; cpu.fsw = 0; cpu.ftw = 0; cpu.fop = 0; cpu.fip = 0; cpu.fdp = 0;
}

/** Stores ST(0) to memory as m32/m64 (FST/FSTP); false if an unmasked exception kept the store from happening. */
function storeReal(cpu: Cpu, d: Insn, bits: 32 | 64): boolean {
  const a = ea(cpu, d);
  const st0 = physOf(cpu, 0);
  let raw: bigint;
  if (isEmpty(cpu, st0)) {
    cpu.fsw &= ~F_C1;
    if (signal(cpu, F_IE | F_SF)) return false;
    raw = bits === 32 ? 0xffc00000n : 0xfff8000000000000n;
  } else {
    const r = narrow(readReg(cpu, st0), bits, (cpu.fcw >>> 10) & 3);
    const unmaskedPre = (r.flags & (F_IE | F_DE) & ~cpu.fcw) !== 0;
    const unmaskedPost = (r.flags & (F_OE | F_UE) & ~cpu.fcw) !== 0;
    if (unmaskedPre || unmaskedPost) { signal(cpu, r.flags & ~F_PE); return false; }
    cpu.fsw = r.up ? cpu.fsw | F_C1 : cpu.fsw & ~F_C1;
    raw = r.raw;
    if (bits === 32) cpu.mmu.write32(a, Number(raw));
    else cpu.mmu.write64(a, Number(raw & 0xffffffffn), Number(raw >> 32n));
    if (r.flags !== 0) signal(cpu, r.flags);
    return true;
  }
  if (bits === 32) cpu.mmu.write32(a, Number(raw));
  else cpu.mmu.write64(a, Number(raw & 0xffffffffn), Number(raw >> 32n));
  return true;
}

function store80(cpu: Cpu, d: Insn): boolean {
  const a = ea(cpu, d);
  const st0 = physOf(cpu, 0);
  let w: number[];
  if (isEmpty(cpu, st0)) {
    cpu.fsw &= ~F_C1;
    if (signal(cpu, F_IE | F_SF)) return false;
    w = [0, 0, 0, 0xc000, 0xffff];
  } else {
    const R = cpu.fpr, o = st0 * 5;
    w = [R[o]!, R[o + 1]!, R[o + 2]!, R[o + 3]!, R[o + 4]!];
    cpu.fsw &= ~F_C1; // no rounding, so never rounded up
  }
  cpu.mmu.probeWrite(a, 10);
  for (let i = 0; i < 5; i++) cpu.mmu.write16(a + 2 * i, w[i]!);
  return true;
}

/** ST(0) rounded (FCW.RC) to a signed integer of `bits`; the indefinite integer with IE when NaN, ∞ or out of range. */
function toInteger(v: Ext, bits: number, rc: number): { value: bigint; flags: number; up: boolean } {
  const indefinite = 1n << BigInt(bits - 1);
  if (v.exp === 0x7fff || (v.exp !== 0 && (v.mant & BIT63) === 0n)) return { value: indefinite, flags: F_IE, up: false };
  const shift = (v.exp === 0 ? 1 : v.exp) - 16383 - 63; // value = mant × 2^shift
  let q: bigint, rem = 0n, half = 0n;
  if (shift >= 0) q = shift > 64 ? indefinite << 1n : v.mant << BigInt(shift);
  else {
    q = -shift >= 64 ? 0n : v.mant >> BigInt(-shift);
    rem = v.mant - (q << BigInt(-shift));
    half = 1n << BigInt(-shift - 1);
  }
  let up = false;
  if (rem !== 0n) {
    const neg = v.sign === 1;
    if (rc === 0) up = rem > half || (rem === half && (q & 1n) === 1n);
    else if (rc === 1) up = neg;
    else if (rc === 2) up = !neg;
    if (up) q += 1n;
  }
  const signed = v.sign === 1 ? -q : q;
  if (signed >= indefinite || signed < -indefinite) return { value: indefinite, flags: F_IE, up: false };
  return { value: BigInt.asUintN(bits, signed), flags: rem !== 0n ? F_PE : 0, up };
}

/** FIST/FISTP m16/m32/m64: false if an unmasked exception kept the store from happening. */
function storeInteger(cpu: Cpu, d: Insn, bits: number): boolean {
  const a = ea(cpu, d);
  const st0 = physOf(cpu, 0);
  let value: bigint;
  cpu.fsw &= ~F_C1;
  if (isEmpty(cpu, st0)) {
    if (signal(cpu, F_IE | F_SF)) return false;
    value = 1n << BigInt(bits - 1);
  } else {
    const r = toInteger(readReg(cpu, st0), bits, (cpu.fcw >>> 10) & 3);
    if ((r.flags & F_IE & ~cpu.fcw) !== 0) { signal(cpu, F_IE); return false; }
    if (r.up) cpu.fsw |= F_C1;
    value = r.value;
    if (r.flags !== 0) signal(cpu, r.flags);
  }
  if (bits === 16) cpu.mmu.write16(a, Number(value));
  else if (bits === 32) cpu.mmu.write32(a, Number(value));
  else cpu.mmu.write64(a, Number(value & 0xffffffffn), Number(value >> 32n));
  return true;
}

/** ST(0)'s value for FCHS/FABS/FXCH: the indefinite (IE + SF) if empty; null if that exception is unmasked. */
function operandOrIndefinite(cpu: Cpu, phys: number): Ext | null {
  if (!isEmpty(cpu, phys)) return readReg(cpu, phys);
  return signal(cpu, F_IE | F_SF) ? null : INDEFINITE;
}

/** NaN, or an encoding the x87 does not support (pseudo-NaN/∞, unnormal). */
function unordered(v: Ext): { nan: boolean; signalling: boolean } {
  if (v.exp === 0x7fff) {
    if ((v.mant & BIT63) === 0n) return { nan: true, signalling: true };
    if ((v.mant & (BIT63 - 1n)) === 0n) return { nan: false, signalling: false };
    return { nan: true, signalling: (v.mant & (1n << 62n)) === 0n };
  }
  if (v.exp !== 0 && (v.mant & BIT63) === 0n) return { nan: true, signalling: true };
  return { nan: false, signalling: false };
}

/** Exact order of two ordered values: −1, 0 or 1. */
function order(a: Ext, b: Ext): number {
  const mag = (v: Ext): bigint => (v.exp === 0x7fff ? 1n << 40000n : v.mant << BigInt(Math.max(v.exp, 1) - 1));
  const x = a.sign ? -mag(a) : mag(a), y = b.sign ? -mag(b) : mag(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * FCOMI/FUCOMI(P) ST(0), ST(i): ZF, PF, CF (unordered: all three), OF/SF/AF cleared. As this
 * host's CPU does (the reference of the differential tests): the flags are set even when the
 * invalid-operation exception is unmasked (the P forms then do not pop); C1 is cleared on a stack underflow and
 * otherwise left as it was (the SDM says cleared; this CPU keeps it).
 */
function compareToFlags(cpu: Cpu, i: number, signalQuiet: boolean, popAfter: boolean): void {
  const p0 = physOf(cpu, 0), pi = physOf(cpu, i);
  let f: number, unmasked = false;
  if (isEmpty(cpu, p0) || isEmpty(cpu, pi)) {
    unmasked = signal(cpu, F_IE | F_SF);
    cpu.fsw &= ~F_C1;
    f = ZF | PF | CF;
  } else {
    const a = readReg(cpu, p0), b = readReg(cpu, pi);
    const ua = unordered(a), ub = unordered(b);
    if (ua.nan || ub.nan) {
      if (ua.signalling || ub.signalling || signalQuiet) unmasked = signal(cpu, F_IE);
      f = ZF | PF | CF;
    } else {
      if ((a.exp === 0 && a.mant !== 0n) || (b.exp === 0 && b.mant !== 0n)) signal(cpu, F_DE);
      const o = order(a, b);
      f = o > 0 ? 0 : o < 0 ? CF : ZF;
    }
  }
  materialize(cpu);
  cpu.flags = (cpu.flags & ~(OF | SF | ZF | AF | PF | CF)) | f;
  if (popAfter && !unmasked) pop(cpu);
}

function load80(cpu: Cpu, a: number): Ext {
  const w = [0, 0, 0, 0, 0].map((_, i) => cpu.mmu.read16(a + 2 * i));
  return {
    sign: w[4]! >>> 15, exp: w[4]! & 0x7fff,
    mant: (BigInt(w[3]!) << 48n) | (BigInt(w[2]!) << 32n) | (BigInt(w[1]!) << 16n) | BigInt(w[0]!),
  };
}

/** D8–DF. */
export function executeX87(cpu: Cpu, d: Insn): void {
  const op = d.op, r = d.reg & 7, mem = d.mod !== 3;
  fpuAvailable(cpu);
  const mmu = cpu.mmu;
  if (op === 0xd9 && mem && r === 7) { mmu.write16(ea(cpu, d), cpu.fcw); return; } // FNSTCW
  if (op === 0xdd && mem && r === 7) { mmu.write16(ea(cpu, d), cpu.fsw); return; } // FNSTSW m16
  if (op === 0xdf && !mem && r === 4 && (d.rm & 7) === 0) { cpu.lo[RAX] = (cpu.lo[RAX]! & 0xffff0000) | cpu.fsw; return; } // FNSTSW AX
  if (op === 0xdb && !mem && r === 4) {
    switch (d.rm & 7) {
      case 0: case 1: case 4: return; // FNENI, FNDISI, FNSETPM: no-ops since the 287
      case 2: cpu.fsw &= ~(0xff | F_B); return; // FNCLEX
      case 3: fpuInit(cpu); return; // FNINIT
      default: unimplemented(cpu);
    }
  }
  if (op === 0xd9 && mem && r === 5) { // FLDCW (waiting)
    waitPending(cpu);
    cpu.fcw = mmu.read16(ea(cpu, d)) | 0x40; // bit 6 reads as 1
    if ((cpu.fsw & ~cpu.fcw & 0x3f) !== 0) cpu.fsw |= F_ES | F_B; else cpu.fsw &= ~(F_ES | F_B);
    return;
  }
  // Data-moving instructions: waiting, and they record FIP/FOP/FDP.
  if (mem) {
    let v: Ext | undefined, flags = 0;
    switch ((op << 3) | r) {
      case (0xd9 << 3) | 0: { // FLD m32
        waitPending(cpu);
        const w = widen(BigInt(mmu.read32(ea(cpu, d))), 32); v = w.v; flags = w.flags; break;
      }
      case (0xdd << 3) | 0: { // FLD m64
        waitPending(cpu);
        const lo = mmu.read64(ea(cpu, d)), hi = cpu.rh;
        const w = widen((BigInt(hi) << 32n) | BigInt(lo), 64); v = w.v; flags = w.flags; break;
      }
      case (0xdb << 3) | 5: waitPending(cpu); v = load80(cpu, ea(cpu, d)); break; // FLD m80
      case (0xdf << 3) | 0: waitPending(cpu); v = fromInteger(BigInt((mmu.read16(ea(cpu, d)) << 16) >> 16)); break; // FILD m16
      case (0xdb << 3) | 0: waitPending(cpu); v = fromInteger(BigInt(mmu.read32(ea(cpu, d)) | 0)); break; // FILD m32
      case (0xdf << 3) | 5: { // FILD m64
        waitPending(cpu);
        const lo = mmu.read64(ea(cpu, d)), hi = cpu.rh;
        v = fromInteger(BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo))); break;
      }
      case (0xd9 << 3) | 2: case (0xd9 << 3) | 3: // FST/FSTP m32
        waitPending(cpu);
        if (storeReal(cpu, d, 32) && r === 3) pop(cpu);
        lastInstruction(cpu, d, true);
        return;
      case (0xdd << 3) | 2: case (0xdd << 3) | 3: // FST/FSTP m64
        waitPending(cpu);
        if (storeReal(cpu, d, 64) && r === 3) pop(cpu);
        lastInstruction(cpu, d, true);
        return;
      case (0xdf << 3) | 2: case (0xdf << 3) | 3: case (0xdb << 3) | 2: case (0xdb << 3) | 3: case (0xdf << 3) | 7: // FIST(P) m16/m32, FISTP m64
        waitPending(cpu);
        if (storeInteger(cpu, d, op === 0xdb ? 32 : r === 7 ? 64 : 16) && (r & 1) === 1) pop(cpu);
        lastInstruction(cpu, d, true);
        return;
      case (0xdb << 3) | 7: // FSTP m80
        waitPending(cpu);
        if (store80(cpu, d)) pop(cpu);
        lastInstruction(cpu, d, true);
        return;
      default: unimplemented(cpu);
    }
    push(cpu, v, flags);
    lastInstruction(cpu, d, true);
    return;
  }
  const i = d.rm & 7;
  if (op === 0xd9 && r === 0) { // FLD ST(i)
    waitPending(cpu);
    const src = physOf(cpu, i);
    if (isEmpty(cpu, src)) {
      if (!signal(cpu, F_IE | F_SF)) push(cpu, INDEFINITE, 0);
      cpu.fsw &= ~F_C1; // underflow (C1 = 0) is what is reported, even if the push also overflowed
    } else push(cpu, readReg(cpu, src), 0);
    lastInstruction(cpu, d, false);
    return;
  }
  if (op === 0xdd && (r === 2 || r === 3)) { // FST/FSTP ST(i)
    waitPending(cpu);
    const st0 = physOf(cpu, 0), to = physOf(cpu, i);
    cpu.fsw &= ~F_C1;
    if (isEmpty(cpu, st0)) {
      if (signal(cpu, F_IE | F_SF)) { lastInstruction(cpu, d, false); return; }
      writeReg(cpu, to, INDEFINITE);
    } else {
      const R = cpu.fpr;
      for (let k = 0; k < 5; k++) R[to * 5 + k] = R[st0 * 5 + k]!;
    }
    cpu.ftw |= 1 << to;
    if (r === 3) pop(cpu);
    lastInstruction(cpu, d, false);
    return;
  }
  if (op === 0xd9 && r === 1) { // FXCH ST(i)
    waitPending(cpu);
    cpu.fsw &= ~F_C1;
    const a = physOf(cpu, 0), b = physOf(cpu, i);
    const va = operandOrIndefinite(cpu, a);
    if (va === null) { lastInstruction(cpu, d, false); return; }
    const vb = operandOrIndefinite(cpu, b);
    if (vb === null) { lastInstruction(cpu, d, false); return; }
    writeReg(cpu, a, vb); writeReg(cpu, b, va);
    cpu.ftw |= (1 << a) | (1 << b);
    lastInstruction(cpu, d, false);
    return;
  }
  if (op === 0xd9 && r === 4 && (i === 0 || i === 1)) { // FCHS, FABS
    waitPending(cpu);
    cpu.fsw &= ~F_C1;
    const p = physOf(cpu, 0);
    const empty = isEmpty(cpu, p);
    const v = operandOrIndefinite(cpu, p);
    // An empty ST(0) becomes the indefinite itself (masked stack underflow), not its negation or absolute value.
    if (v !== null) { writeReg(cpu, p, empty ? v : { ...v, sign: i === 0 ? v.sign ^ 1 : 0 }); cpu.ftw |= 1 << p; }
    lastInstruction(cpu, d, false);
    return;
  }
  if (op === 0xd9 && r === 5 && (i === 0 || i === 6)) { // FLD1, FLDZ
    waitPending(cpu);
    push(cpu, i === 0 ? { sign: 0, exp: 0x3fff, mant: BIT63 } : { sign: 0, exp: 0, mant: 0n }, 0);
    lastInstruction(cpu, d, false);
    return;
  }
  if (op === 0xd9 && r === 2 && i === 0) { waitPending(cpu); lastInstruction(cpu, d, false); return; } // FNOP
  if ((op === 0xdb || op === 0xdf) && (r === 5 || r === 6)) { // FUCOMI, FCOMI, FUCOMIP, FCOMIP
    waitPending(cpu);
    compareToFlags(cpu, i, r === 6, op === 0xdf);
    lastInstruction(cpu, d, false);
    return;
  }
  if (op === 0xdd && r === 0) { // FFREE ST(i)
    waitPending(cpu);
    cpu.ftw &= ~(1 << physOf(cpu, i));
    cpu.fsw &= ~F_C1; // C0–C3 are undefined after FFREE (SDM); C1 cleared, as this host's CPU does
    lastInstruction(cpu, d, false);
    return;
  }
  unimplemented(cpu);
}

// ------------------------------------------------------------------ FXSAVE / FXRSTOR

/** FXSAVE (`w64`: the REX.W layout with 64-bit FIP/FDP): bytes 0–415 of the 512-byte area (416–511 untouched). */
export function fxsave(cpu: Cpu, d: Insn, w64: boolean): void {
  fpuAvailable(cpu);
  const a = ea(cpu, d);
  if ((a & 15) !== 0) cpu.raise(13, 0);
  const mmu = cpu.mmu;
  mmu.probeWrite(a, 416);
  mmu.write32(a, cpu.fcw | (cpu.fsw << 16));
  mmu.write32(a + 4, cpu.ftw | ((cpu.fop & 0x7ff) << 16));
  if (w64) {
    mmu.write64(a + 8, cpu.fip >>> 0, Math.floor(cpu.fip / 4294967296) >>> 0);
    mmu.write64(a + 16, cpu.fdp >>> 0, Math.floor(cpu.fdp / 4294967296) >>> 0);
  } else {
    mmu.write64(a + 8, cpu.fip >>> 0, 0); // FCS (deprecated) stored as 0
    mmu.write64(a + 16, cpu.fdp >>> 0, 0); // FDS as 0
  }
  mmu.write32(a + 24, cpu.mxcsr);
  mmu.write32(a + 28, MXCSR_MASK);
  const R = cpu.fpr, t = top(cpu);
  for (let i = 0; i < 8; i++) {
    const o = ((t + i) & 7) * 5, at = a + 32 + 16 * i;
    mmu.write64(at, R[o]! | (R[o + 1]! << 16), R[o + 2]! | (R[o + 3]! << 16));
    mmu.write64(at + 8, R[o + 4]!, 0);
  }
  const X = cpu.xmm;
  for (let i = 0; i < 16; i++) {
    mmu.write64(a + 160 + 16 * i, X[4 * i]!, X[4 * i + 1]!);
    mmu.write64(a + 168 + 16 * i, X[4 * i + 2]!, X[4 * i + 3]!);
  }
}

/** FXRSTOR: #GP(0) if the image's MXCSR has a reserved bit set (nothing loaded then). */
export function fxrstor(cpu: Cpu, d: Insn, w64: boolean): void {
  fpuAvailable(cpu);
  const a = ea(cpu, d);
  if ((a & 15) !== 0) cpu.raise(13, 0);
  const mmu = cpu.mmu;
  const mx = mmu.read32(a + 24);
  if ((mx & ~MXCSR_MASK) !== 0) cpu.raise(13, 0);
  // Read everything before changing anything (a fault leaves the state as it was).
  const w0 = mmu.read32(a), w1 = mmu.read32(a + 4);
  const fipLo = mmu.read64(a + 8), fipHi = cpu.rh;
  const fdpLo = mmu.read64(a + 16), fdpHi = cpu.rh;
  const regs = new Uint16Array(40);
  for (let i = 0; i < 8; i++) {
    const at = a + 32 + 16 * i;
    const lo = mmu.read64(at), hi = cpu.rh;
    regs[i * 5] = lo & 0xffff; regs[i * 5 + 1] = lo >>> 16; regs[i * 5 + 2] = hi & 0xffff; regs[i * 5 + 3] = hi >>> 16;
    regs[i * 5 + 4] = mmu.read16(at + 8);
  }
  const xmm = new Uint32Array(64);
  for (let i = 0; i < 64; i += 2) { xmm[i] = mmu.read64(a + 160 + 4 * i); xmm[i + 1] = cpu.rh; }
  cpu.fcw = w0 & 0xffff; cpu.fsw = w0 >>> 16; cpu.ftw = w1 & 0xff; cpu.fop = (w1 >>> 16) & 0x7ff;
  cpu.fip = w64 ? (fipHi | 0) * 4294967296 + fipLo : fipLo;
  cpu.fdp = w64 ? (fdpHi | 0) * 4294967296 + fdpLo : fdpLo;
  cpu.mxcsr = mx;
  const t = top(cpu);
  for (let i = 0; i < 8; i++) {
    const o = ((t + i) & 7) * 5;
    for (let k = 0; k < 5; k++) cpu.fpr[o + k] = regs[i * 5 + k]!;
  }
  cpu.xmm.set(xmm, 0);
}
