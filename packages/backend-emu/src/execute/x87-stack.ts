/**
 * The x87 register stack (not part of the package's API): TOP, tags, the eight 80-bit registers
 * in `cpu.fpr`, pushes and pops with the stack-fault responses, exception signalling into the
 * status word, and the checks every x87 instruction starts with (#NM, pending #MF).
 * @module
 */
import { CR0_EM, CR0_TS, type Cpu } from '../cpu/cpu.js';
import type { Insn } from '../decoder/decoder.js';
import { F_IE, INDEFINITE, type Ext } from './x87-float.js';

/** FSW bits. */
export const F_SF = 0x40, F_ES = 0x80, F_C0 = 0x100, F_C1 = 0x200, F_C2 = 0x400, F_C3 = 0x4000, F_B = 0x8000;
/** The four condition-code bits. */
export const F_CC = F_C0 | F_C1 | F_C2 | F_C3;

export function unimplemented(cpu: Cpu): never {
  cpu.unimplemented++;
  return cpu.raise(6);
}

/** #NM when CR0.EM or CR0.TS is set (x87 instructions, FXSAVE, FXRSTOR). */
export function fpuAvailable(cpu: Cpu): void {
  if ((cpu.cr0 & (CR0_EM | CR0_TS)) !== 0) cpu.raise(7);
}

/** A waiting instruction first reports a pending unmasked exception (#MF). */
export function waitPending(cpu: Cpu): void {
  if ((cpu.fsw & F_ES) !== 0) cpu.raise(16);
}

export function top(cpu: Cpu): number {
  return (cpu.fsw >>> 11) & 7;
}

export function setTop(cpu: Cpu, t: number): void {
  cpu.fsw = (cpu.fsw & ~0x3800) | ((t & 7) << 11);
}

/** Records exceptions `f`; unmasked ones set ES and B. Returns true if any of them is unmasked. */
export function signal(cpu: Cpu, f: number): boolean {
  cpu.fsw |= f;
  const unmasked = (f & ~cpu.fcw & 0x3f) !== 0;
  if (unmasked) cpu.fsw |= F_ES | F_B;
  return unmasked;
}

// ------------------------------------------------------------------ 80-bit registers

export function readReg(cpu: Cpu, phys: number): Ext {
  const R = cpu.fpr, o = phys * 5;
  const mant = (BigInt(R[o + 3]!) << 48n) | (BigInt(R[o + 2]!) << 32n) | (BigInt(R[o + 1]!) << 16n) | BigInt(R[o]!);
  return { sign: R[o + 4]! >>> 15, exp: R[o + 4]! & 0x7fff, mant };
}

export function writeReg(cpu: Cpu, phys: number, v: Ext): void {
  const R = cpu.fpr, o = phys * 5;
  R[o] = Number(v.mant & 0xffffn); R[o + 1] = Number((v.mant >> 16n) & 0xffffn);
  R[o + 2] = Number((v.mant >> 32n) & 0xffffn); R[o + 3] = Number((v.mant >> 48n) & 0xffffn);
  R[o + 4] = (v.sign << 15) | v.exp;
}

// ------------------------------------------------------------------ stack

export function physOf(cpu: Cpu, i: number): number {
  return (top(cpu) + i) & 7;
}

export function isEmpty(cpu: Cpu, phys: number): boolean {
  return (cpu.ftw & (1 << phys)) === 0;
}

/** Pushes `v` (stack overflow: IE + SF + C1, masked → the indefinite). */
export function push(cpu: Cpu, v: Ext, flags: number): void {
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

export function pop(cpu: Cpu): void {
  const t = top(cpu);
  cpu.ftw &= ~(1 << t);
  setTop(cpu, t + 1);
}

/** Records FIP/FOP (and FDP for a memory operand) for a non-control instruction. */
export function lastInstruction(cpu: Cpu, d: Insn, memory: boolean): void {
  cpu.fip = cpu.rip;
  cpu.fop = ((d.op & 7) << 8) | d.modrm;
  if (memory) cpu.fdp = cpu.eaddr;
}

