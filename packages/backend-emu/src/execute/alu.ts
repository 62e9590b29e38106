/**
 * Integer arithmetic and logic: the eight ALU operations, INC/DEC/NEG/NOT, shifts and rotates
 * (including double-precision SHLD/SHRD), each on 1, 2, 4 or 8 bytes with exact flags. 64-bit
 * values are (lo, hi) pairs of unsigned 32-bit numbers; results return the low half and leave the
 * high half in `cpu.rh`.
 * @module
 */
import type { Cpu } from '../cpu/cpu.js';
import {
  CF, L_ADC, L_ADD, L_DEC, L_INC, L_LOGIC, L_RES, L_SBB, L_SUB, OF, getCF, materialize, setLazy, sizeMask,
} from '../cpu/flags.js';

const TWO32 = 0x1_0000_0000;

/** ALU operation numbers (the /digit of opcodes 80–83 and the row of 00–3F). */
export const ADD = 0, OR = 1, ADC = 2, SBB = 3, AND = 4, SUB = 5, XOR = 6, CMP = 7;

/** `a op b` at `size`; sets the lazy flags; returns the low half (high half in `cpu.rh`). CMP returns a − b. */
export function alu(cpu: Cpu, op: number, size: number, a: number, aH: number, b: number, bH: number): number {
  if (size !== 8) { aH = 0; bH = 0; }
  let r: number, rH = 0;
  switch (op) {
    case ADD: case ADC: {
      const cin = op === ADC ? getCF(cpu) : 0;
      if (size === 8) {
        const s = a + b + cin;
        r = s >>> 0;
        rH = (aH + bH + (s >= TWO32 ? 1 : 0)) >>> 0;
      } else {
        r = (a + b + cin) % (sizeMask(size) + 1);
      }
      cpu.lcf = cin;
      setLazy(cpu, op === ADC ? L_ADC : L_ADD, size, a, aH, b, bH, r, rH);
      break;
    }
    case SUB: case SBB: case CMP: {
      const cin = op === SBB ? getCF(cpu) : 0;
      if (size === 8) {
        const s = a - b - cin;
        r = s >>> 0;
        rH = (aH - bH - (s < 0 ? 1 : 0)) >>> 0;
      } else {
        r = (a - b - cin) & sizeMask(size);
        if (size === 4) r >>>= 0;
      }
      cpu.lcf = cin;
      setLazy(cpu, op === SBB ? L_SBB : L_SUB, size, a, aH, b, bH, r, rH);
      break;
    }
    case OR: r = (a | b) >>> 0; rH = (aH | bH) >>> 0; setLazy(cpu, L_LOGIC, size, a, aH, b, bH, r, rH); break;
    case AND: r = (a & b) >>> 0; rH = (aH & bH) >>> 0; setLazy(cpu, L_LOGIC, size, a, aH, b, bH, r, rH); break;
    default: r = (a ^ b) >>> 0; rH = (aH ^ bH) >>> 0; setLazy(cpu, L_LOGIC, size, a, aH, b, bH, r, rH); break;
  }
  cpu.rh = rH;
  return r;
}

/** INC (`dec` false) or DEC: CF is kept. */
export function incdec(cpu: Cpu, size: number, a: number, aH: number, dec: boolean): number {
  const cf = getCF(cpu);
  if (size !== 8) aH = 0;
  let r: number, rH = aH;
  if (size === 8) {
    const s = dec ? a - 1 : a + 1;
    r = s >>> 0;
    if (dec && s < 0) rH = (aH - 1) >>> 0;
    else if (!dec && s >= TWO32) rH = (aH + 1) >>> 0;
  } else {
    r = (dec ? a - 1 : a + 1) & sizeMask(size);
    if (size === 4) r >>>= 0;
  }
  cpu.lcf = cf;
  setLazy(cpu, dec ? L_DEC : L_INC, size, a, aH, 1, 0, r, rH);
  cpu.rh = rH;
  return r;
}

/** NEG: 0 − a, CF = (a ≠ 0). */
export function neg(cpu: Cpu, size: number, a: number, aH: number): number {
  return alu(cpu, SUB, size, 0, 0, a, aH);
}

/** NOT (no flags). */
export function not(cpu: Cpu, size: number, a: number, aH: number): number {
  cpu.rh = (~aH) >>> 0;
  return (~a & sizeMask(size)) >>> 0;
}

// ------------------------------------------------------------------ 64-bit shift helpers

function shl64(cpu: Cpu, lo: number, hi: number, n: number): number {
  if (n === 0) { cpu.rh = hi; return lo; }
  if (n >= 32) { cpu.rh = (lo << (n - 32)) >>> 0; return 0; }
  cpu.rh = ((hi << n) | (lo >>> (32 - n))) >>> 0;
  return (lo << n) >>> 0;
}

function shr64(cpu: Cpu, lo: number, hi: number, n: number): number {
  if (n === 0) { cpu.rh = hi; return lo; }
  if (n >= 32) { cpu.rh = 0; return hi >>> (n - 32); }
  cpu.rh = hi >>> n;
  return ((lo >>> n) | (hi << (32 - n))) >>> 0;
}

function sar64(cpu: Cpu, lo: number, hi: number, n: number): number {
  if (n === 0) { cpu.rh = hi; return lo; }
  if (n >= 32) { cpu.rh = (hi | 0) < 0 ? 0xffffffff : 0; return ((hi | 0) >> (n - 32)) >>> 0; }
  cpu.rh = ((hi | 0) >> n) >>> 0;
  return ((lo >>> n) | (hi << (32 - n))) >>> 0;
}

/** Bit `n` (0–63) of a pair. */
function bit64(lo: number, hi: number, n: number): number {
  return n < 32 ? (lo >>> n) & 1 : (hi >>> (n - 32)) & 1;
}

/** Shift/rotate kinds: the /digit of C0, C1, D0–D3. */
export const ROL = 0, ROR = 1, RCL = 2, RCR = 3, SHL = 4, SHR = 5, SAL = 6, SAR = 7;

/**
 * Shift or rotate `a` (at `size`) by `count` (already read from CL or the immediate, not yet
 * masked). A masked count of 0 changes nothing, flags included.
 */
export function shift(cpu: Cpu, kind: number, size: number, a: number, aH: number, count: number): number {
  const bits = size * 8;
  const n = count & (size === 8 ? 63 : 31);
  if (size !== 8) aH = 0;
  if (n === 0) { cpu.rh = aH; return a; }
  let r = 0, rH = 0, cf = 0, of = 0;
  const mask = size === 8 ? 0xffffffff : sizeMask(size);
  switch (kind) {
    case SHL: case SAL:
      if (size === 8) {
        r = shl64(cpu, a, aH, n); rH = cpu.rh;
        cf = bit64(a, aH, 64 - n);
        of = (rH >>> 31) ^ cf;
      } else {
        r = n >= 32 ? 0 : ((a << n) & mask) >>> 0;
        cf = n <= bits ? (a >>> (bits - n)) & 1 : 0;
        of = ((r >>> (bits - 1)) & 1) ^ cf;
      }
      return shiftDone(cpu, size, r, rH, cf, of);
    case SHR:
      if (size === 8) {
        r = shr64(cpu, a, aH, n); rH = cpu.rh;
        cf = bit64(a, aH, n - 1);
        of = aH >>> 31;
      } else {
        r = n >= 32 ? 0 : a >>> n;
        cf = n <= bits ? (a >>> (n - 1)) & 1 : 0;
        of = (a >>> (bits - 1)) & 1;
      }
      return shiftDone(cpu, size, r, rH, cf, of);
    case SAR: {
      if (size === 8) {
        r = sar64(cpu, a, aH, n); rH = cpu.rh;
        cf = bit64(a, aH, n - 1);
      } else {
        const s = size === 4 ? a | 0 : size === 2 ? (a << 16) >> 16 : (a << 24) >> 24;
        const k = Math.min(n, 31);
        r = ((s >> k) & mask) >>> 0;
        cf = (s >> Math.min(n - 1, 31)) & 1;
      }
      return shiftDone(cpu, size, r, rH, cf, 0);
    }
    case ROL: case ROR: {
      const k = n % bits;
      if (size === 8) {
        if (kind === ROL) {
          const l1 = shl64(cpu, a, aH, k), h1 = cpu.rh;
          const l2 = shr64(cpu, a, aH, (64 - k) % 64), h2 = cpu.rh;
          r = k === 0 ? a : (l1 | l2) >>> 0; rH = k === 0 ? aH : (h1 | h2) >>> 0;
        } else {
          const l1 = shr64(cpu, a, aH, k), h1 = cpu.rh;
          const l2 = shl64(cpu, a, aH, (64 - k) % 64), h2 = cpu.rh;
          r = k === 0 ? a : (l1 | l2) >>> 0; rH = k === 0 ? aH : (h1 | h2) >>> 0;
        }
      } else if (k === 0) {
        r = a;
      } else if (kind === ROL) {
        r = (((a << k) | (a >>> (bits - k))) & mask) >>> 0;
      } else {
        r = (((a >>> k) | (a << (bits - k))) & mask) >>> 0;
      }
      const msb = size === 8 ? rH >>> 31 : (r >>> (bits - 1)) & 1;
      const msb1 = size === 8 ? (rH >>> 30) & 1 : (r >>> (bits - 2)) & 1;
      if (kind === ROL) { cf = r & 1; of = msb ^ cf; } else { cf = msb; of = msb ^ msb1; }
      return rotateDone(cpu, r, rH, cf, of);
    }
    default: {
      // RCL/RCR through CF, one bit at a time (counts are small).
      const k = size === 8 ? n : n % (bits + 1);
      let c = getCF(cpu);
      let lo = a, hi = aH;
      for (let i = 0; i < k; i++) {
        if (kind === RCL) {
          const out = size === 8 ? hi >>> 31 : (lo >>> (bits - 1)) & 1;
          if (size === 8) { hi = ((hi << 1) | (lo >>> 31)) >>> 0; lo = ((lo << 1) | c) >>> 0; }
          else lo = (((lo << 1) | c) & mask) >>> 0;
          c = out;
        } else {
          const out = lo & 1;
          if (size === 8) { lo = ((lo >>> 1) | (hi << 31)) >>> 0; hi = ((hi >>> 1) | (c << 31)) >>> 0; }
          else lo = ((lo >>> 1) | (c << (bits - 1))) >>> 0;
          c = out;
        }
      }
      r = lo; rH = hi;
      const msb = size === 8 ? rH >>> 31 : (r >>> (bits - 1)) & 1;
      const msb1 = size === 8 ? (rH >>> 30) & 1 : (r >>> (bits - 2)) & 1;
      of = kind === RCL ? msb ^ c : msb ^ msb1;
      return rotateDone(cpu, r, rH, c, of);
    }
  }
}

function shiftDone(cpu: Cpu, size: number, r: number, rH: number, cf: number, of: number): number {
  cpu.lcf = cf; cpu.lof = of;
  setLazy(cpu, L_RES, size, 0, 0, 0, 0, r, rH);
  cpu.rh = rH;
  return r;
}

function rotateDone(cpu: Cpu, r: number, rH: number, cf: number, of: number): number {
  materialize(cpu);
  cpu.flags = (cpu.flags & ~(CF | OF)) | cf | (of << 11);
  cpu.rh = rH;
  return r;
}

/**
 * SHLD (`left`) / SHRD: shifts `a` by `count`, filling from `b`. Sizes 2, 4, 8.
 */
export function shiftDouble(cpu: Cpu, left: boolean, size: number, a: number, aH: number, b: number, bH: number, count: number): number {
  const n = count & (size === 8 ? 63 : 31);
  if (size !== 8) { aH = 0; bH = 0; }
  if (n === 0) { cpu.rh = aH; return a; }
  const bits = size * 8;
  let r: number, rH = 0, cf: number;
  if (size === 8) {
    if (left) {
      const l1 = shl64(cpu, a, aH, n), h1 = cpu.rh;
      const l2 = shr64(cpu, b, bH, 64 - n), h2 = cpu.rh;
      r = (l1 | l2) >>> 0; rH = (h1 | h2) >>> 0;
      cf = bit64(a, aH, 64 - n);
    } else {
      const l1 = shr64(cpu, a, aH, n), h1 = cpu.rh;
      const l2 = shl64(cpu, b, bH, 64 - n), h2 = cpu.rh;
      r = (l1 | l2) >>> 0; rH = (h1 | h2) >>> 0;
      cf = bit64(a, aH, n - 1);
    }
  } else {
    // Work on a 64-bit window: for 32 bits a:b fits in a pair.
    const k = n % (bits === 16 ? 32 : 64);
    if (left) {
      if (bits === 32) {
        const l = shl64(cpu, b, a, k); r = cpu.rh >>> 0; void l;
        cf = k <= 32 ? (a >>> (32 - k)) & 1 : 0;
      } else {
        const w = ((a << 16) | b) >>> 0;
        const v = k >= 32 ? 0 : (w << k) >>> 0;
        // k = 16 moves the source in whole (defined: only counts above the size are not).
        r = (k <= 16 ? v >>> 16 : ((b << (k - 16)) & 0xffff0000) >>> 16) & 0xffff;
        cf = k <= 16 ? (a >>> (16 - k)) & 1 : (b >>> (32 - k)) & 1;
      }
    } else if (bits === 32) {
      r = shr64(cpu, a, b, k) >>> 0;
      cf = (a >>> (k - 1)) & 1;
    } else {
      const w = ((b << 16) | a) >>> 0;
      r = (w >>> k) & 0xffff;
      cf = (w >>> (k - 1)) & 1;
    }
  }
  const msbA = size === 8 ? aH >>> 31 : (a >>> (bits - 1)) & 1;
  const msbR = size === 8 ? rH >>> 31 : (r >>> (bits - 1)) & 1;
  return shiftDone(cpu, size, r, rH, cf, msbA ^ msbR);
}
