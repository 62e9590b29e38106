/**
 * Lazy RFLAGS: arithmetic instructions record their operands and result; CF, ZF, SF, OF, PF and
 * AF are computed only when something reads them (Jcc, SETcc, PUSHF, an interrupt frame). 64-bit
 * operands are kept as pairs of 32-bit halves, so no BigInt is involved.
 * @module
 */
import type { Cpu } from './cpu.js';

/** The arithmetic flags RFLAGS keeps: CF PF AF ZF SF OF. */
export const ARITH_MASK = 0x8d5;
export const CF = 0x1, PF = 0x4, AF = 0x10, ZF = 0x40, SF = 0x80, TF = 0x100, IF = 0x200, DF = 0x400, OF = 0x800;
export const IOPL = 0x3000, NT = 0x4000, RF = 0x10000, AC = 0x40000, ID = 0x200000;

/** Kinds of lazy flag record (`cpu.lop`). */
export const L_NONE = 0, L_ADD = 1, L_ADC = 2, L_SUB = 3, L_SBB = 4, L_LOGIC = 5, L_INC = 6, L_DEC = 7;
/** CF and OF explicit (`lcf`, `lof`); ZF, SF, PF from the result; AF clear. Shifts, multiplies. */
export const L_RES = 8;

/** Even parity of each byte value. */
const PARITY = new Uint8Array(256);
for (let i = 0; i < 256; i++) {
  let b = i, p = 1;
  while (b) { p ^= b & 1; b >>= 1; }
  PARITY[i] = p;
}

/** Value mask of an operand size of 1, 2 or 4 bytes. */
export function sizeMask(size: number): number {
  return size === 1 ? 0xff : size === 2 ? 0xffff : 0xffffffff;
}

/** Sign bit of `lo`/`hi` at `size`. */
function signOf(size: number, lo: number, hi: number): number {
  if (size === 8) return hi >>> 31;
  return (lo >>> (size * 8 - 1)) & 1;
}

/** Records an arithmetic result: the lazy flag state after `op`. Values are already masked to size. */
export function setLazy(cpu: Cpu, op: number, size: number, a: number, aH: number, b: number, bH: number, r: number, rH: number): void {
  cpu.lop = op; cpu.lsz = size;
  cpu.la = a; cpu.laH = aH; cpu.lb = b; cpu.lbH = bH; cpu.lr = r; cpu.lrH = rH;
}

/** Unsigned `a < b` over (lo, hi) pairs. */
function below(a: number, aH: number, b: number, bH: number): boolean {
  return aH < bH || (aH === bH && a < b);
}

export function getCF(cpu: Cpu): number {
  switch (cpu.lop) {
    case L_NONE: return cpu.flags & 1;
    case L_ADD: return below(cpu.lr, cpu.lrH, cpu.la, cpu.laH) ? 1 : 0;
    case L_ADC: return (cpu.lcf ? !below(cpu.la, cpu.laH, cpu.lr, cpu.lrH) : below(cpu.lr, cpu.lrH, cpu.la, cpu.laH)) ? 1 : 0;
    case L_SUB: return below(cpu.la, cpu.laH, cpu.lb, cpu.lbH) ? 1 : 0;
    case L_SBB: return (cpu.lcf ? !below(cpu.lb, cpu.lbH, cpu.la, cpu.laH) : below(cpu.la, cpu.laH, cpu.lb, cpu.lbH)) ? 1 : 0;
    case L_LOGIC: return 0;
    default: return cpu.lcf;
  }
}

export function getZF(cpu: Cpu): number {
  if (cpu.lop === L_NONE) return (cpu.flags >> 6) & 1;
  return (cpu.lr | cpu.lrH) === 0 ? 1 : 0;
}

export function getSF(cpu: Cpu): number {
  if (cpu.lop === L_NONE) return (cpu.flags >> 7) & 1;
  return signOf(cpu.lsz, cpu.lr, cpu.lrH);
}

export function getPF(cpu: Cpu): number {
  if (cpu.lop === L_NONE) return (cpu.flags >> 2) & 1;
  return PARITY[cpu.lr & 0xff]!;
}

export function getOF(cpu: Cpu): number {
  const s = cpu.lsz;
  switch (cpu.lop) {
    case L_NONE: return (cpu.flags >> 11) & 1;
    case L_ADD: case L_ADC:
      return signOf(s, (cpu.la ^ cpu.lr) & (cpu.lb ^ cpu.lr), (cpu.laH ^ cpu.lrH) & (cpu.lbH ^ cpu.lrH));
    case L_SUB: case L_SBB:
      return signOf(s, (cpu.la ^ cpu.lb) & (cpu.la ^ cpu.lr), (cpu.laH ^ cpu.lbH) & (cpu.laH ^ cpu.lrH));
    case L_LOGIC: return 0;
    case L_INC: return isMinSigned(s, cpu.lr, cpu.lrH) ? 1 : 0;
    case L_DEC: return isMinSigned(s, cpu.la, cpu.laH) ? 1 : 0;
    default: return cpu.lof;
  }
}

function isMinSigned(size: number, lo: number, hi: number): boolean {
  if (size === 8) return hi === 0x80000000 && lo === 0;
  return lo === 1 << (size * 8 - 1) >>> 0;
}

export function getAF(cpu: Cpu): number {
  switch (cpu.lop) {
    case L_NONE: return (cpu.flags >> 4) & 1;
    case L_ADD: case L_ADC: case L_SUB: case L_SBB: return ((cpu.la ^ cpu.lb ^ cpu.lr) >>> 4) & 1;
    case L_INC: return (cpu.lr & 0xf) === 0 ? 1 : 0;
    case L_DEC: return (cpu.lr & 0xf) === 0xf ? 1 : 0;
    default: return 0;
  }
}

/** RFLAGS with every arithmetic flag computed. */
export function getFlags(cpu: Cpu): number {
  if (cpu.lop === L_NONE) return cpu.flags;
  return (cpu.flags & ~ARITH_MASK) | getCF(cpu) | (getPF(cpu) << 2) | (getAF(cpu) << 4) | (getZF(cpu) << 6) |
    (getSF(cpu) << 7) | (getOF(cpu) << 11);
}

/** Folds the lazy state into `cpu.flags` (before changing single flags). */
export function materialize(cpu: Cpu): void {
  if (cpu.lop !== L_NONE) {
    cpu.flags = getFlags(cpu);
    cpu.lop = L_NONE;
  }
}

/** Sets or clears flag bits after materializing the lazy state. */
export function setFlagBit(cpu: Cpu, bit: number, on: boolean | number): void {
  materialize(cpu);
  cpu.flags = on ? cpu.flags | bit : cpu.flags & ~bit;
}

/** Evaluates condition code `cc` (0 O … 15 G) as Jcc/SETcc/CMOVcc do. */
export function condition(cpu: Cpu, cc: number): boolean {
  // Fast paths for the common CMP/SUB and TEST/logic results.
  const lop = cpu.lop;
  if (lop === L_SUB && cpu.lsz !== 8) {
    const a = cpu.la, b = cpu.lb;
    switch (cc) {
      case 2: return a < b;
      case 3: return a >= b;
      case 4: return a === b;
      case 5: return a !== b;
      case 6: return a <= b;
      case 7: return a > b;
    }
  } else if (lop === L_LOGIC) {
    switch (cc) {
      case 4: return (cpu.lr | cpu.lrH) === 0;
      case 5: return (cpu.lr | cpu.lrH) !== 0;
    }
  }
  let r: boolean;
  switch (cc >> 1) {
    case 0: r = getOF(cpu) === 1; break;
    case 1: r = getCF(cpu) === 1; break;
    case 2: r = getZF(cpu) === 1; break;
    case 3: r = (getCF(cpu) | getZF(cpu)) === 1; break;
    case 4: r = getSF(cpu) === 1; break;
    case 5: r = getPF(cpu) === 1; break;
    case 6: r = getSF(cpu) !== getOF(cpu); break;
    default: r = getZF(cpu) === 1 || getSF(cpu) !== getOF(cpu); break;
  }
  return (cc & 1) === 0 ? r : !r;
}
