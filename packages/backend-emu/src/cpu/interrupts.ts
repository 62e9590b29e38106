/**
 * Events: exception and interrupt delivery through 64-bit IDT gates (privilege change with RSP0
 * from the TSS, IST stacks, the 16-byte-aligned frame), double and triple faults, IRETQ, and the
 * SYSCALL/SYSRET fast system calls.
 * @module
 */
import { CS, RCX, SS, TR, type Cpu } from './cpu.js';
import { IF, NT, RF, TF, getFlags, materialize, IOPL, AC, ID, DF, ARITH_MASK } from './flags.js';
import { fillCache, loadCodeSegment, nullSegment, readDescriptor } from './descriptors.js';

/** How an event was raised: it decides the DPL check, the pushed RIP and the double-fault rules. */
export const EV_EXCEPTION = 0, EV_SOFTWARE = 1, EV_EXTERNAL = 2;

const TWO32 = 0x1_0000_0000;

/** True for the contributory exceptions (#DE, #TS, #NP, #SS, #GP). */
function contributory(v: number): boolean {
  return v === 0 || (v >= 10 && v <= 13);
}

/**
 * Delivers `vector` through the IDT with `error` (-1 for none), returning to `returnRip`.
 * Faults during delivery escalate to #DF; a fault while delivering #DF is a triple fault:
 * returns false, and the vCPU shuts down.
 */
export function deliverEvent(cpu: Cpu, vector: number, error: number, kind: number, returnRip: number): boolean {
  let v = vector, e = error, k = kind;
  for (let attempt = 0; attempt < 3; attempt++) {
    const savedCpl = cpu.cpl;
    try {
      deliverOnce(cpu, v, e, k, returnRip);
      return true;
    } catch (err) {
      cpu.cpl = savedCpl;
      if (typeof err !== 'object' || err === null || !('abort' in err) || cpu.abortKind !== 1) throw err;
      const second = cpu.excVector;
      if (v === 8) return false;
      if ((contributory(v) && contributory(second)) || (v === 14 && (second === 14 || contributory(second)))) {
        v = 8; e = 0;
      } else {
        v = second; e = cpu.excError;
      }
      k = EV_EXCEPTION;
      returnRip = cpu.rip;
    }
  }
  return false;
}

function deliverOnce(cpu: Cpu, vector: number, error: number, kind: number, returnRip: number): void {
  const mmu = cpu.mmu;
  const ext = kind === EV_EXTERNAL ? 1 : 0;
  const gateErr = vector * 8 + 2 + ext;
  if (vector * 16 + 15 > cpu.idtLimit) cpu.raise(13, gateErr);
  const g = cpu.idtBase + vector * 16;
  const w0 = mmu.sysRead32(g), w1 = mmu.sysRead32(g + 4), w2 = mmu.sysRead32(g + 8);
  const type = (w1 >>> 8) & 0xf;
  if (type !== 0xe && type !== 0xf) cpu.raise(13, gateErr);
  const dpl = (w1 >>> 13) & 3;
  if (kind === EV_SOFTWARE && dpl < cpu.cpl) cpu.raise(13, gateErr);
  if (((w1 >>> 15) & 1) === 0) cpu.raise(11, gateErr);
  const selector = w0 >>> 16;
  const target = (w2 | 0) * TWO32 + (((w1 & 0xffff0000) | (w0 & 0xffff)) >>> 0);
  const ist = w1 & 7;
  if ((selector & 0xfffc) === 0) cpu.raise(13, ext);
  const dlo = readDescriptor(cpu, selector), dhi = cpu.rh;
  if (((dhi >>> 11) & 1) === 0 || ((dhi >>> 12) & 1) === 0) cpu.raise(13, (selector & 0xfffc) + ext);
  if (((dhi >>> 15) & 1) === 0) cpu.raise(11, (selector & 0xfffc) + ext);
  if (((dhi >>> 21) & 1) === 0) cpu.internal(`interrupt gate ${vector} targets a non-64-bit code segment`);
  const conforming = ((dhi >>> 10) & 1) === 1;
  const newCpl = conforming ? cpu.cpl : (dhi >>> 13) & 3;
  if (newCpl > cpu.cpl) cpu.raise(13, (selector & 0xfffc) + ext);

  const oldCpl = cpu.cpl;
  const oldSs = cpu.seg[SS]!.selector;
  const oldRsp = cpu.rsp;
  // Fault-class exceptions push RF=1 (so an instruction breakpoint does not fire again on return).
  const flags = kind === EV_EXCEPTION && FAULT_VECTORS[vector] === 1 ? getFlags(cpu) | RF : getFlags(cpu);
  const oldCs = cpu.seg[CS]!.selector;
  let rsp = oldRsp;
  const tss = cpu.seg[TR]!.base;
  if (ist !== 0) rsp = readTss64(cpu, tss + 0x24 + 8 * (ist - 1));
  else if (newCpl < oldCpl) rsp = readTss64(cpu, tss + 4 + 8 * newCpl);
  rsp = rsp - (((rsp % 16) + 16) % 16);
  cpu.cpl = newCpl;
  const hasErr = error >= 0;
  const frame = rsp - (hasErr ? 48 : 40);
  if (frame < -0x8000_0000_0000) cpu.raise(12, 0);
  mmu.probeWrite(frame, hasErr ? 48 : 40);
  let p = rsp;
  p -= 8; mmu.write64(p, oldSs, 0);
  p -= 8; mmu.write64(p, oldRsp >>> 0, Math.floor(oldRsp / TWO32) >>> 0);
  p -= 8; mmu.write64(p, flags >>> 0, 0);
  p -= 8; mmu.write64(p, oldCs, 0);
  p -= 8; mmu.write64(p, returnRip >>> 0, Math.floor(returnRip / TWO32) >>> 0);
  if (hasErr) { p -= 8; mmu.write64(p, error >>> 0, 0); }
  // Committed: new CS, SS (null with RPL = new CPL on a privilege change), RSP, RFLAGS, RIP.
  fillCache(cpu.seg[CS]!, (selector & 0xfffc) | newCpl, dlo, dhi);
  if (newCpl !== oldCpl) nullSegment(cpu.seg[SS]!, newCpl);
  cpu.rsp = p;
  materialize(cpu);
  cpu.flags &= ~(TF | NT | RF);
  if (type === 0xe) cpu.flags &= ~IF;
  cpu.rip = target;
  cpu.nextRip = target;
  cpu.shadow = 0;
}

/** Vectors whose exceptions are faults (#DE, #BR, #UD, #NM, #TS, #NP, #SS, #GP, #PF, #MF, #AC, #XM, #VE, #CP). */
const FAULT_VECTORS = new Uint8Array(256);
for (const v of [0, 5, 6, 7, 10, 11, 12, 13, 14, 16, 17, 19, 20, 21]) FAULT_VECTORS[v] = 1;

function readTss64(cpu: Cpu, at: number): number {
  const lo = cpu.mmu.sysRead64(at), hi = cpu.rh;
  return (hi | 0) * TWO32 + lo;
}

/** IRETQ (64-bit operand size): pops RIP, CS, RFLAGS, RSP, SS. */
export function iretq(cpu: Cpu): void {
  const mmu = cpu.mmu;
  const sp = cpu.rsp;
  const ripLo = mmu.read64(sp), ripHi = cpu.rh;
  const cs = mmu.read64(sp + 8) & 0xffff;
  const fl = mmu.read64(sp + 16);
  const rspLo = mmu.read64(sp + 24), rspHi = cpu.rh;
  const ss = mmu.read64(sp + 32) & 0xffff;
  const rpl = cs & 3;
  if (rpl < cpu.cpl) cpu.raise(13, cs & 0xfffc);
  const oldCpl = cpu.cpl;
  const iopl = (cpu.flags >>> 12) & 3;
  const saved = cpu.seg[CS]!;
  const savedCopy = { ...saved };
  loadCodeSegment(cpu, cs); // sets cpl = rpl
  try {
    if ((ss & 0xfffc) === 0) {
      if (rpl === 3) cpu.raise(13, 0);
      nullSegment(cpu.seg[SS]!, ss);
    } else {
      const lo = readDescriptor(cpu, ss), hi = cpu.rh;
      if ((ss & 3) !== rpl || ((hi >>> 13) & 3) !== rpl) cpu.raise(13, ss & 0xfffc);
      fillCache(cpu.seg[SS]!, ss, lo, hi);
    }
  } catch (err) {
    Object.assign(saved, savedCopy);
    cpu.cpl = oldCpl;
    throw err;
  }
  setFlagsFrom(cpu, fl, oldCpl, iopl, true);
  cpu.nextRip = (ripHi | 0) * TWO32 + ripLo;
  cpu.rsp = (rspHi | 0) * TWO32 + rspLo;
  if (cpu.nextRip >= 0x8000_0000_0000 || cpu.nextRip < -0x8000_0000_0000) cpu.raise(13, 0);
}

/** Loads RFLAGS as POPF/IRET do at privilege `cpl` (IOPL only at CPL 0, IF only at CPL ≤ IOPL). */
export function setFlagsFrom(cpu: Cpu, value: number, cpl: number, iopl: number, iret: boolean): void {
  materialize(cpu);
  let mask = ARITH_MASK | TF | DF | NT | AC | ID;
  if (iret) mask |= RF;
  if (cpl === 0) mask |= IOPL | IF;
  else if (cpl <= iopl) mask |= IF;
  cpu.flags = ((cpu.flags & ~mask) | (value & mask) | 2) >>> 0;
}

/** SYSCALL: RCX ← RIP, R11 ← RFLAGS, CS/SS from STAR, RFLAGS &= ~FMASK, RIP ← LSTAR, CPL 0. */
export function syscall(cpu: Cpu): void {
  const sel = cpu.starHi & 0xffff;
  const rip = cpu.nextRip;
  cpu.setNumber(RCX, rip);
  const fl = getFlags(cpu) & ~RF;
  cpu.lo[11] = fl >>> 0; cpu.hi[11] = 0;
  const cs = cpu.seg[CS]!, ss = cpu.seg[SS]!;
  flatSegment(cs, sel & 0xfffc, 0xb, 0, true);
  flatSegment(ss, (sel + 8) & 0xfffc, 0x3, 0, false);
  cpu.cpl = 0;
  materialize(cpu);
  cpu.flags = ((cpu.flags & ~cpu.fmask) | 2) >>> 0;
  cpu.nextRip = cpu.lstar;
}

/** SYSRETQ: RIP ← RCX, RFLAGS ← R11, CS/SS from STAR[63:48], CPL 3. */
export function sysret(cpu: Cpu, rexW: boolean): void {
  if (!rexW) cpu.internal('SYSRET to 32-bit code (compatibility mode) is not supported by the emulator');
  const rcx = cpu.signed(RCX);
  if (rcx >= 0x8000_0000_0000 || rcx < -0x8000_0000_0000) cpu.raise(13, 0);
  const base = cpu.starHi >>> 16;
  flatSegment(cpu.seg[CS]!, ((base + 16) & 0xfffc) | 3, 0xb, 3, true);
  flatSegment(cpu.seg[SS]!, ((base + 8) & 0xfffc) | 3, 0x3, 3, false);
  cpu.cpl = 3;
  materialize(cpu);
  cpu.flags = ((cpu.lo[11]! & 0x3c7fd7) | 2) >>> 0;
  cpu.nextRip = rcx;
}

function flatSegment(s: Cpu['seg'][number], selector: number, type: number, dpl: number, code: boolean): void {
  s.selector = selector; s.base = 0; s.limit = 0xffffffff; s.type = type; s.s = true; s.dpl = dpl;
  s.present = true; s.l = code; s.db = !code; s.g = true; s.avl = false; s.unusable = false;
}
