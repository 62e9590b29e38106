/**
 * String instructions MOVS, STOS, LODS, CMPS, SCAS with REP/REPE/REPNE, honouring DF, the
 * address-size override and FS/GS overrides on the source. REP runs in chunks (at most
 * {@link REP_CHUNK} elements per step, then the instruction restarts), so a huge RCX cannot stall
 * the VMM and faults leave RCX/RSI/RDI at the element that faulted. STOS and MOVS on RAM copy a
 * page at a time.
 * @module
 */
import { RAX, RCX, RDI, RSI, type Cpu } from '../cpu/cpu.js';
import { DF, getZF } from '../cpu/flags.js';
import { ACC_READ, ACC_WRITE } from '../mmu/mmu.js';
import type { Insn } from '../decoder/decoder.js';
import { CMP, alu } from './alu.js';

/** Elements one step of a REP string instruction handles at most. */
export const REP_CHUNK = 65536;

export const MOVS = 0, STOS = 1, LODS = 2, CMPS = 3, SCAS = 4;

function regAddr(cpu: Cpu, d: Insn, reg: number): number {
  return d.adsz === 4 ? cpu.lo[reg]! : cpu.signed(reg);
}

function srcAddr(cpu: Cpu, d: Insn): number {
  const a = regAddr(cpu, d, RSI);
  return d.seg >= 4 ? a + cpu.seg[d.seg]!.base : a;
}

function setAddr(cpu: Cpu, d: Insn, reg: number, v: number): void {
  if (d.adsz === 4) { cpu.lo[reg] = v >>> 0; cpu.hi[reg] = 0; }
  else cpu.setNumber(reg, v);
}

/** Executes one string instruction (`kind`) with element `size`. */
export function stringOp(cpu: Cpu, d: Insn, kind: number, size: number): void {
  const mmu = cpu.mmu;
  const step = (cpu.flags & DF) !== 0 ? -size : size;
  let count = 1;
  if (d.rep !== 0) {
    const c = d.adsz === 4 ? cpu.lo[RCX]! : cpu.hi[RCX]! !== 0 ? REP_CHUNK : cpu.lo[RCX]!;
    if (c === 0) return;
    count = Math.min(c, REP_CHUNK);
    if (step > 0 && (kind === STOS || kind === MOVS)) count = fastPath(cpu, d, kind, size, count);
  }
  const valLo = cpu.lo[RAX]!, valHi = cpu.hi[RAX]!;
  let stopped = false;
  let done = 0;
  for (; done < count && !stopped;) {
    switch (kind) {
      case MOVS: {
        const s = srcAddr(cpu, d), t = regAddr(cpu, d, RDI);
        const v = mmu.read(s, size), vh = cpu.rh;
        mmu.write(t, size, v, vh);
        setAddr(cpu, d, RSI, regAddr(cpu, d, RSI) + step);
        setAddr(cpu, d, RDI, t + step);
        break;
      }
      case STOS: {
        const t = regAddr(cpu, d, RDI);
        mmu.write(t, size, valLo, valHi);
        setAddr(cpu, d, RDI, t + step);
        break;
      }
      case LODS: {
        const v = mmu.read(srcAddr(cpu, d), size), vh = cpu.rh;
        setAcc(cpu, size, v, vh);
        setAddr(cpu, d, RSI, regAddr(cpu, d, RSI) + step);
        break;
      }
      case CMPS: {
        const a = mmu.read(srcAddr(cpu, d), size), ah = cpu.rh;
        const b = mmu.read(regAddr(cpu, d, RDI), size), bh = cpu.rh;
        alu(cpu, CMP, size, a, ah, b, bh);
        setAddr(cpu, d, RSI, regAddr(cpu, d, RSI) + step);
        setAddr(cpu, d, RDI, regAddr(cpu, d, RDI) + step);
        if (d.rep !== 0) stopped = (getZF(cpu) === 1) !== (d.rep === 0xf3);
        break;
      }
      default: {
        const b = mmu.read(regAddr(cpu, d, RDI), size), bh = cpu.rh;
        const m = size === 1 ? 0xff : size === 2 ? 0xffff : 0xffffffff;
        alu(cpu, CMP, size, valLo & m, valHi, b, bh);
        setAddr(cpu, d, RDI, regAddr(cpu, d, RDI) + step);
        if (d.rep !== 0) stopped = (getZF(cpu) === 1) !== (d.rep === 0xf3);
      }
    }
    done++;
    if (d.rep !== 0) decRcx(cpu, d, 1);
  }
  if (d.rep !== 0 && !stopped && rcxNonZero(cpu, d)) cpu.nextRip = cpu.rip;
}

function setAcc(cpu: Cpu, size: number, v: number, vh: number): void {
  const L = cpu.lo;
  if (size === 1) L[RAX] = (L[RAX]! & 0xffffff00) | v;
  else if (size === 2) L[RAX] = (L[RAX]! & 0xffff0000) | v;
  else if (size === 4) { L[RAX] = v; cpu.hi[RAX] = 0; }
  else { L[RAX] = v; cpu.hi[RAX] = vh; }
}

function decRcx(cpu: Cpu, d: Insn, n: number): void {
  if (d.adsz === 4) { cpu.lo[RCX] = (cpu.lo[RCX]! - n) >>> 0; cpu.hi[RCX] = 0; }
  else {
    const lo = cpu.lo[RCX]! - n;
    cpu.lo[RCX] = lo >>> 0;
    if (lo < 0) cpu.hi[RCX] = (cpu.hi[RCX]! - 1) >>> 0;
  }
}

function rcxNonZero(cpu: Cpu, d: Insn): boolean {
  return d.adsz === 4 ? cpu.lo[RCX] !== 0 : (cpu.lo[RCX]! | cpu.hi[RCX]!) !== 0;
}

/**
 * Forward REP STOS/MOVS on RAM: whole runs inside one page of source and destination move with
 * typed-array operations. Returns how many elements the slow loop still has to do this step.
 */
function fastPath(cpu: Cpu, d: Insn, kind: number, size: number, count: number): number {
  const mmu = cpu.mmu;
  const user = cpu.cpl === 3;
  const ph = mmu.phys;
  let left = count;
  while (left > 0) {
    const t = regAddr(cpu, d, RDI);
    let n = Math.min(left, Math.floor((4096 - (t & 0xfff)) / size));
    if (n === 0) break;
    const s = kind === MOVS ? srcAddr(cpu, d) : 0;
    if (kind === MOVS) n = Math.min(n, Math.floor((4096 - (s & 0xfff)) / size));
    if (n === 0) break;
    const bytes = n * size;
    const ts = kind === MOVS ? mmu.translate(s, ACC_READ, user) : 0;
    const tp = mmu.translate(t, ACC_WRITE, user);
    if (tp + bytes > ph.fastEnd || (kind === MOVS && ts + bytes > ph.fastEnd)) break;
    const u8 = ph.bytes;
    mmu.codeStamp++; // may overwrite cached code (see Mmu.codeStamp)
    if (kind === STOS) {
      const lo = cpu.lo[RAX]!, hi = cpu.hi[RAX]!;
      if (size === 1) u8.fill(lo & 0xff, tp, tp + bytes);
      else if (size === 8 && lo === 0 && hi === 0) u8.fill(0, tp, tp + bytes);
      else {
        const v = ph.view;
        for (let i = 0; i < n; i++) {
          const o = tp + i * size;
          if (size === 2) v.setUint16(o, lo, true);
          else if (size === 4) v.setUint32(o, lo, true);
          else { v.setUint32(o, lo, true); v.setUint32(o + 4, hi, true); }
        }
      }
    } else {
      if (tp > ts && tp < ts + bytes) break; // overlapping forward copy: element by element
      u8.copyWithin(tp, ts, ts + bytes);
      setAddr(cpu, d, RSI, regAddr(cpu, d, RSI) + bytes);
    }
    setAddr(cpu, d, RDI, t + bytes);
    decRcx(cpu, d, n);
    left -= n;
  }
  return left;
}

