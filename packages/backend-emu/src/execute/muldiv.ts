/**
 * MUL, IMUL (one-, two- and three-operand), DIV and IDIV on every size. 64×64 → 128-bit products
 * are built from 16-bit limbs in doubles (exact), so the hot path has no BigInt; only 128-bit
 * dividends that do not fit in 53 bits fall back to BigInt.
 * @module
 */
import { RAX, RDX, type Cpu } from '../cpu/cpu.js';
import { L_RES, setLazy } from '../cpu/flags.js';

const TWO32 = 0x1_0000_0000;

/** Unsigned 32×32 → 64: low half returned, high half in `cpu.rh`. */
export function umul32(cpu: Cpu, a: number, b: number): number {
  const al = a & 0xffff, ah = a >>> 16, bl = b & 0xffff, bh = b >>> 16;
  const t = al * bl;
  const m1 = ah * bl, m2 = al * bh;
  const mid = (t >>> 16) + (m1 & 0xffff) + (m2 & 0xffff);
  cpu.rh = (ah * bh + Math.floor(m1 / 65536) + Math.floor(m2 / 65536) + Math.floor(mid / 65536)) >>> 0;
  return (Math.imul(a, b)) >>> 0;
}

/** Result words of the last 128-bit multiply (w0 lowest). */
const W = new Float64Array(4);

/** Unsigned 64×64 → 128 into W. */
function umul64(cpu: Cpu, a: number, aH: number, b: number, bH: number): void {
  const p0l = umul32(cpu, a, b), p0h = cpu.rh;
  const p1l = umul32(cpu, a, bH), p1h = cpu.rh;
  const p2l = umul32(cpu, aH, b), p2h = cpu.rh;
  const p3l = umul32(cpu, aH, bH), p3h = cpu.rh;
  const s1 = p0h + p1l + p2l;
  const s2 = p1h + p2h + p3l + Math.floor(s1 / TWO32);
  const s3 = p3h + Math.floor(s2 / TWO32);
  W[0] = p0l; W[1] = s1 >>> 0; W[2] = s2 >>> 0; W[3] = s3 >>> 0;
}

/** Signed 64×64 → 128 into W (from the unsigned product). */
function smul64(cpu: Cpu, a: number, aH: number, b: number, bH: number): void {
  umul64(cpu, a, aH, b, bH);
  let lo = W[2]!, hi = W[3]!;
  if (aH >>> 31) { const s = lo - b; lo = s >>> 0; hi = (hi - bH - (s < 0 ? 1 : 0)) >>> 0; }
  if (bH >>> 31) { const s = lo - a; lo = s >>> 0; hi = (hi - aH - (s < 0 ? 1 : 0)) >>> 0; }
  W[2] = lo; W[3] = hi;
}

function mulFlags(cpu: Cpu, size: number, overflow: boolean, r: number, rH: number): void {
  const f = overflow ? 1 : 0;
  cpu.lcf = f; cpu.lof = f;
  setLazy(cpu, L_RES, size, 0, 0, 0, 0, r, rH);
}

/** One-operand MUL (`signed` false) or IMUL: RDX:RAX (or AX, DX:AX, EDX:EAX) = rAX × src. */
export function mulAcc(cpu: Cpu, size: number, signed: boolean, src: number, srcH: number): void {
  const L = cpu.lo, H = cpu.hi;
  if (size === 1) {
    const a = L[RAX]! & 0xff;
    const p = signed ? ((a << 24) >> 24) * ((src << 24) >> 24) : a * src;
    const v = p & 0xffff;
    L[RAX] = (L[RAX]! & 0xffff0000) | v;
    const over = signed ? ((v << 24) >> 24) !== ((v << 16) >> 16) : (v >>> 8) !== 0;
    mulFlags(cpu, 1, over, v & 0xff, 0);
  } else if (size === 2) {
    const a = L[RAX]! & 0xffff;
    const p = signed ? ((a << 16) >> 16) * ((src << 16) >> 16) : a * src;
    const lo = p & 0xffff, hi = (p >>> 16) & 0xffff;
    L[RAX] = (L[RAX]! & 0xffff0000) | lo;
    L[RDX] = (L[RDX]! & 0xffff0000) | hi;
    const over = signed ? p !== ((lo << 16) >> 16) : hi !== 0;
    mulFlags(cpu, 2, over, lo, 0);
  } else if (size === 4) {
    const a = L[RAX]!;
    let lo: number, hi: number;
    if (signed) {
      smul64(cpu, a, (a | 0) < 0 ? 0xffffffff : 0, src, (src | 0) < 0 ? 0xffffffff : 0);
      lo = W[0]!; hi = W[1]!;
    } else {
      lo = umul32(cpu, a, src); hi = cpu.rh;
    }
    L[RAX] = lo; H[RAX] = 0; L[RDX] = hi; H[RDX] = 0;
    const over = signed ? hi !== ((lo | 0) < 0 ? 0xffffffff : 0) : hi !== 0;
    mulFlags(cpu, 4, over, lo, 0);
  } else {
    const a = L[RAX]!, aH = H[RAX]!;
    if (signed) smul64(cpu, a, aH, src, srcH);
    else umul64(cpu, a, aH, src, srcH);
    L[RAX] = W[0]!; H[RAX] = W[1]!; L[RDX] = W[2]!; H[RDX] = W[3]!;
    const ext = (W[1]! >>> 31) ? 0xffffffff : 0;
    const over = signed ? W[2] !== ext || W[3] !== ext : W[2] !== 0 || W[3] !== 0;
    mulFlags(cpu, 8, over, W[0]!, W[1]!);
  }
}

/** Two- and three-operand IMUL: returns the truncated product (high half in `cpu.rh`). */
export function imulTrunc(cpu: Cpu, size: number, a: number, aH: number, b: number, bH: number): number {
  if (size === 8) {
    smul64(cpu, a, aH, b, bH);
    const lo = W[0]!, hi = W[1]!;
    const ext = (hi >>> 31) ? 0xffffffff : 0;
    mulFlags(cpu, 8, W[2] !== ext || W[3] !== ext, lo, hi);
    cpu.rh = hi;
    return lo;
  }
  if (size === 4) {
    smul64(cpu, a, (a | 0) < 0 ? 0xffffffff : 0, b, (b | 0) < 0 ? 0xffffffff : 0);
    const lo = W[0]!, hi = W[1]!;
    mulFlags(cpu, 4, hi !== ((lo | 0) < 0 ? 0xffffffff : 0), lo, 0);
    cpu.rh = 0;
    return lo;
  }
  const p = ((a << 16) >> 16) * ((b << 16) >> 16);
  const lo = p & 0xffff;
  mulFlags(cpu, 2, p !== ((lo << 16) >> 16), lo, 0);
  cpu.rh = 0;
  return lo;
}

/** DIV (`signed` false) or IDIV by `src`; #DE on a zero divisor or a quotient that does not fit. */
export function divAcc(cpu: Cpu, size: number, signed: boolean, src: number, srcH: number): void {
  const L = cpu.lo, H = cpu.hi;
  if (size === 8 ? (src | srcH) === 0 : src === 0) cpu.raise(0);
  if (size === 1) {
    const n = L[RAX]! & 0xffff;
    const dividend = signed ? (n << 16) >> 16 : n;
    const divisor = signed ? (src << 24) >> 24 : src;
    const q = Math.trunc(dividend / divisor), r = dividend - q * divisor;
    if (signed ? q > 127 || q < -128 : q > 255) cpu.raise(0);
    L[RAX] = (L[RAX]! & 0xffff0000) | ((r & 0xff) << 8) | (q & 0xff);
    return;
  }
  if (size === 2) {
    const n = ((L[RDX]! & 0xffff) << 16 | (L[RAX]! & 0xffff)) >>> 0;
    const dividend = signed ? n | 0 : n;
    const divisor = signed ? (src << 16) >> 16 : src;
    const q = Math.trunc(dividend / divisor), r = dividend - q * divisor;
    if (signed ? q > 32767 || q < -32768 : q > 65535) cpu.raise(0);
    L[RAX] = (L[RAX]! & 0xffff0000) | (q & 0xffff);
    L[RDX] = (L[RDX]! & 0xffff0000) | (r & 0xffff);
    return;
  }
  if (size === 4) {
    const lo = L[RAX]!, hi = L[RDX]!;
    let q: number, r: number;
    if (!signed) {
      if (hi === 0) { q = Math.floor(lo / src); r = lo - q * src; }
      else if (hi < 0x200000) { const n = hi * TWO32 + lo; q = Math.floor(n / src); r = n - q * src; }
      else { const n = (BigInt(hi) << 32n) | BigInt(lo); q = Number(n / BigInt(src)); r = Number(n % BigInt(src)); }
      if (q > 0xffffffff) cpu.raise(0);
    } else {
      const n = BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo));
      const d = BigInt(src | 0);
      const qq = n / d;
      if (qq > 0x7fffffffn || qq < -0x80000000n) cpu.raise(0);
      q = Number(qq); r = Number(n % d);
    }
    L[RAX] = q >>> 0; H[RAX] = 0; L[RDX] = r >>> 0; H[RDX] = 0;
    return;
  }
  const aL = L[RAX]!, aH = H[RAX]!, dL = L[RDX]!, dH = H[RDX]!;
  if (!signed && (dL | dH) === 0 && aH < 0x200000 && srcH < 0x200000) {
    const n = aH * TWO32 + aL, d = srcH * TWO32 + src;
    const q = Math.floor(n / d), r = n - q * d;
    L[RAX] = q >>> 0; H[RAX] = Math.floor(q / TWO32) >>> 0;
    L[RDX] = r >>> 0; H[RDX] = Math.floor(r / TWO32) >>> 0;
    return;
  }
  const big = (l: number, h: number): bigint => (BigInt(h >>> 0) << 32n) | BigInt(l >>> 0);
  let n = (big(dL, dH) << 64n) | big(aL, aH);
  let d = big(src, srcH);
  if (signed) { n = BigInt.asIntN(128, n); d = BigInt.asIntN(64, d); }
  const q = n / d, r = n % d;
  if (signed ? q > 0x7fffffffffffffffn || q < -0x8000000000000000n : q > 0xffffffffffffffffn) cpu.raise(0);
  const qu = BigInt.asUintN(64, q), ru = BigInt.asUintN(64, r);
  L[RAX] = Number(qu & 0xffffffffn); H[RAX] = Number(qu >> 32n);
  L[RDX] = Number(ru & 0xffffffffn); H[RDX] = Number(ru >> 32n);
}
