/**
 * The x87 data moves and control, and FXSAVE/FXRSTOR: FNINIT, FNCLEX, FWAIT, EMMS, FLD/FST/FSTP
 * (m32, m64, m80, ST(i)), FILD (m16, m32, m64), FIST/FISTP, FXCH, FCHS/FABS, FCOMI family,
 * FFREE, FBLD/FBSTP, FNSTCW/FLDCW, FNSTSW (AX, m16), the 287 no-ops FNENI/FNDISI/FNSETPM; the arithmetic is
 * in x87-arith.ts, the environment images in x87-env.ts, exact 80-bit values in x87-float.ts.
 * The eight registers keep their exact 80-bit contents (`cpu.fpr`), so FLD/FSTP m80 and
 * FXSAVE/FXRSTOR move bits unchanged; m32/m64 loads widen exactly and stores round in FCW's
 * rounding mode with the x87 exceptions (invalid for SNaN and unsupported encodings, denormal,
 * overflow, underflow, precision; C1 = rounded up), stack overflow and underflow (IE + SF) with
 * the masked responses (QNaN indefinite). An unmasked exception sets ES/B and leaves the
 * destination alone; the next waiting x87 instruction raises #MF. CR0.NE is not consulted: #MF
 * is raised with NE clear too (no FERR#/IRQ 13 path; every 64-bit OS sets NE). Conversions use
 * BigInt: off the hot path.
 *
 * CR0 rules: EM or TS → #NM for x87 instructions (FWAIT: TS with MP), FXSAVE/FXRSTOR #NM likewise
 * and #GP(0) unless 16-byte aligned.
 * @module
 */
import { CR0_EM, CR0_MP, CR0_TS, MXCSR_MASK, RAX, type Cpu } from '../cpu/cpu.js';
import type { Insn } from '../decoder/decoder.js';
import { AF, CF, OF, PF, SF, ZF, materialize } from '../cpu/flags.js';
import { ea } from './operands.js';
import {
  BIT63, F_DE, F_IE, F_OE, F_PE, F_UE, INDEFINITE, K_DENORMAL, classify, fromInteger, isNaNClass, narrow, order, signalling, toInteger,
  widen, type Ext,
} from './x87-float.js';
import { executeX87Arith } from './x87-arith.js';
import { fldenv, fnstenv } from './x87-env.js';
import {
  F_B, F_C1, F_ES, F_SF, fpuAvailable, isEmpty, lastInstruction, physOf, pop, push, readReg, setTop, signal, top,
  unimplemented, waitPending, writeReg,
} from './x87-stack.js';

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
    const ka = classify(a), kb = classify(b);
    if (isNaNClass(ka) || isNaNClass(kb)) {
      if (signalling(ka) || signalling(kb) || signalQuiet) unmasked = signal(cpu, F_IE);
      f = ZF | PF | CF;
    } else {
      if (ka === K_DENORMAL || kb === K_DENORMAL) signal(cpu, F_DE);
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

/** FBLD: 18 packed BCD digits (bytes 0–8, low digit first) and the sign (byte 9 bit 7), exactly. */
function loadBcd(cpu: Cpu, a: number): Ext {
  let x = 0n;
  for (let i = 8; i >= 0; i--) {
    const b = cpu.mmu.read8(a + i);
    x = x * 100n + BigInt((b >>> 4) * 10 + (b & 15));
  }
  const neg = (cpu.mmu.read8(a + 9) & 0x80) !== 0;
  const v = fromInteger(x);
  return neg ? { ...v, sign: 1 } : v;
}

/** FBSTP: ST(0) rounded by FCW.RC to 18 BCD digits; the BCD indefinite with IE when NaN, ∞ or too large. */
function storeBcd(cpu: Cpu, d: Insn): boolean {
  const a = ea(cpu, d), st0 = physOf(cpu, 0);
  cpu.fsw &= ~F_C1;
  let bytes: number[];
  const indefinite = [0, 0, 0, 0, 0, 0, 0, 0xc0, 0xff, 0xff];
  if (isEmpty(cpu, st0)) {
    if (signal(cpu, F_IE | F_SF)) return false;
    bytes = indefinite;
  } else {
    const v = readReg(cpu, st0);
    const r = toInteger(v, 64, (cpu.fcw >>> 10) & 3);
    let x = (r.flags & F_IE) !== 0 ? -1n : BigInt.asIntN(64, r.value);
    if (x < 0n) x = -x;
    if ((r.flags & F_IE) !== 0 || x > 999999999999999999n) {
      if (signal(cpu, F_IE)) return false;
      bytes = indefinite;
    } else {
      if (r.up) cpu.fsw |= F_C1;
      if (r.flags !== 0) signal(cpu, r.flags);
      bytes = [];
      for (let i = 0; i < 9; i++) { const two = Number(x % 100n); x /= 100n; bytes.push(((two / 10) | 0) << 4 | (two % 10)); }
      bytes.push(v.sign ? 0x80 : 0);
    }
  }
  cpu.mmu.probeWrite(a, 10);
  bytes.forEach((b, i) => cpu.mmu.write8(a + i, b));
  return true;
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
  if (mem && (op === 0xd9 || op === 0xdd) && (r === 4 || r === 6)) { // FLDENV, FNSTENV, FRSTOR, FNSAVE
    if (r === 6) fnstenv(cpu, d, op === 0xdd); else fldenv(cpu, d, op === 0xdd);
    return;
  }
  if (executeX87Arith(cpu, d)) return;
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
      case (0xdf << 3) | 4: waitPending(cpu); v = loadBcd(cpu, ea(cpu, d)); break; // FBLD
      case (0xdf << 3) | 6: // FBSTP
        waitPending(cpu);
        if (storeBcd(cpu, d)) pop(cpu);
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
