/**
 * IEEE 754 arithmetic as SSE does it, on JavaScript doubles: results correctly rounded in every
 * MXCSR rounding mode, and the exception flags (invalid, denormal, divide-by-zero, overflow,
 * underflow, precision) exact. JavaScript rounds to nearest-even; the sign of the rounding error
 * (exact − rounded) comes from error-free transformations (TwoSum, Dekker's product) and, outside
 * the exponent range where those are exact, from an exact BigInt comparison (rare operands: huge,
 * tiny or denormal). Directed modes then move the result by one unit in the last place.
 * Single precision is computed in double and rounded once more with the error sign carried over
 * (innocuous for +, −, ×, ÷ and √: a double has more than 2 × 24 + 2 bits).
 *
 * Limits: tininess is taken from the rounded result (|r| below the smallest normal), which
 * differs from the hardware's after-rounding rule only for exact values within half a subnormal
 * ulp below the smallest normal; DAZ is not offered (MXCSR_MASK has bit 6 clear).
 * NaN operands are the callers' business (they have the bits); these functions see no NaN.
 * @module
 */
import type { Cpu } from '../cpu/cpu.js';

/** MXCSR / x87 exception flag bits. */
export const IE = 1, DE = 2, ZE = 4, OE = 8, UE = 16, PE = 32;
/** Operations. */
export const OP_ADD = 0, OP_SUB = 1, OP_MUL = 2, OP_DIV = 3, OP_SQRT = 4;

const MIN_NORMAL_D = 2.2250738585072014e-308;
const MIN_NORMAL_F = 1.1754943508222875e-38;
const MAX_D = Number.MAX_VALUE;
const MAX_F = 3.4028234663852886e38;
const SPLIT = 134217729; // 2^27 + 1
const SAFE_HI = 2 ** 900, SAFE_LO = 2 ** -900;

const scratch = new Float64Array(1);
const scratchU = new Uint32Array(scratch.buffer);
const scratchF = new Float32Array(1);
const scratchFU = new Uint32Array(scratchF.buffer);

/** True for a non-zero double below the smallest normal. */
export function denormalD(x: number): boolean {
  return x !== 0 && x > -MIN_NORMAL_D && x < MIN_NORMAL_D;
}

export function denormalF(x: number): boolean {
  return x !== 0 && x > -MIN_NORMAL_F && x < MIN_NORMAL_F;
}

/** The next double above (`up`) or below `x` (finite or infinite, not NaN). */
export function nextD(x: number, up: boolean): number {
  if (x === 0) return up ? 5e-324 : -5e-324;
  scratch[0] = x;
  let lo = scratchU[0]!, hi = scratchU[1]!;
  if ((x > 0) === up) { lo = (lo + 1) >>> 0; if (lo === 0) hi = (hi + 1) >>> 0; }
  else { if (lo === 0) hi = (hi - 1) >>> 0; lo = (lo - 1) >>> 0; }
  scratchU[0] = lo; scratchU[1] = hi;
  return scratch[0]!;
}

/** The next single above or below `x` (a single's value). */
export function nextF(x: number, up: boolean): number {
  if (x === 0) return up ? 1.401298464324817e-45 : -1.401298464324817e-45;
  scratchF[0] = x;
  scratchFU[0] = (x > 0) === up ? scratchFU[0]! + 1 : scratchFU[0]! - 1;
  return scratchF[0]!;
}

// ------------------------------------------------------------------ exact error signs

/** Exact value of a finite double as m × 2^e (m an integer). */
function big(x: number): [bigint, number] {
  scratch[0] = x;
  const lo = scratchU[0]!, hi = scratchU[1]!;
  const exp = (hi >>> 20) & 0x7ff;
  let m = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  if (exp !== 0) m |= 1n << 52n;
  const e = (exp === 0 ? 1 : exp) - 1075;
  return [(hi & 0x80000000) !== 0 ? -m : m, e];
}

/** sign(Σ mᵢ·2^eᵢ) for terms given as [m, e]. */
function signOfSum(terms: [bigint, number][]): number {
  let emin = Infinity;
  for (const [, e] of terms) emin = Math.min(emin, e);
  let s = 0n;
  for (const [m, e] of terms) s += m << BigInt(e - emin);
  return s > 0n ? 1 : s < 0n ? -1 : 0;
}

function mulBig(a: [bigint, number], b: [bigint, number]): [bigint, number] {
  return [a[0] * b[0], a[1] + b[1]];
}

function neg(a: [bigint, number]): [bigint, number] {
  return [-a[0], a[1]];
}

/** sign(a × b − r) for finite a, b, r. */
function mulErrSign(a: number, b: number, r: number): number {
  const aa = Math.abs(a), ab = Math.abs(b), ar = Math.abs(r);
  if (aa < SAFE_HI && ab < SAFE_HI && ar < SAFE_HI && ar > SAFE_LO) {
    let t = SPLIT * a; const ah = t - (t - a), al = a - ah;
    t = SPLIT * b; const bh = t - (t - b), bl = b - bh;
    const e = ((ah * bh - r) + ah * bl + al * bh) + al * bl;
    return e > 0 ? 1 : e < 0 ? -1 : 0;
  }
  if (a === 0 || b === 0) return r === 0 ? 0 : -Math.sign(r);
  return signOfSum([mulBig(big(a), big(b)), neg(big(r))]);
}

/** sign(a / b − r) for finite a, non-zero finite b, finite r. */
function divErrSign(a: number, b: number, r: number): number {
  // a/b − r has the sign of (a − r·b)·sign(b).
  const sb = b > 0 ? 1 : -1;
  const aa = Math.abs(a), ab = Math.abs(b), ar = Math.abs(r);
  if (aa < SAFE_HI && aa > SAFE_LO && ab < SAFE_HI && ab > SAFE_LO && ar < SAFE_HI && ar > SAFE_LO) {
    const p = r * b;
    let t = SPLIT * r; const rh = t - (t - r), rl = r - rh;
    t = SPLIT * b; const bh = t - (t - b), bl = b - bh;
    const e = ((rh * bh - p) + rh * bl + rl * bh) + rl * bl;
    const rem = (a - p) - e;
    return rem > 0 ? sb : rem < 0 ? -sb : 0;
  }
  if (a === 0) return 0;
  return sb * signOfSum([big(a), neg(mulBig(big(r), big(b)))]);
}

/** sign(√a − r) for finite a ≥ 0 and r ≥ 0. */
function sqrtErrSign(a: number, r: number): number {
  if (a > SAFE_LO && a < SAFE_HI) {
    const p = r * r;
    const t = SPLIT * r; const rh = t - (t - r), rl = r - rh;
    const e = ((rh * rh - p) + 2 * rh * rl) + rl * rl;
    const rem = (a - p) - e;
    return rem > 0 ? 1 : rem < 0 ? -1 : 0;
  }
  if (a === 0) return 0;
  const br = big(r);
  return signOfSum([big(a), neg(mulBig(br, br))]);
}

/** sign((a + b) − r) (TwoSum: exact whenever r is finite). */
function addErrSign(a: number, b: number, r: number): number {
  const bb = r - a;
  const e = (a - (r - bb)) + (b - bb);
  return e > 0 ? 1 : e < 0 ? -1 : 0;
}

// ------------------------------------------------------------------ rounding and flags

/**
 * Rounds `r` (round-to-nearest of the exact value, `s` = sign(exact − r)) to the MXCSR mode
 * `rc`, in double (`single` false) or single precision, setting PE/OE/UE in `cpu.simdFlags`;
 * `ftz` flushes tiny results to zero when underflow is masked.
 */
export function roundResult(cpu: Cpu, r: number, s: number, single: boolean, rc: number, ftz: boolean, umasked: boolean): number {
  if (single) {
    const f = Math.fround(r);
    if (f !== r) s = r > f ? 1 : -1;
    else if (!Number.isFinite(r)) s = 0;
    r = f;
  }
  if (s !== 0 && rc !== 0 && Number.isFinite(r)) {
    const next = single ? nextF : nextD;
    if (rc === 1) { if (s < 0) r = next(r, false); } // toward −∞
    else if (rc === 2) { if (s > 0) r = next(r, true); } // toward +∞
    else if ((s > 0) !== (r > 0) && r !== 0) r = next(r, s > 0); // toward zero
  }
  const max = single ? MAX_F : MAX_D, minN = single ? MIN_NORMAL_F : MIN_NORMAL_D;
  if (s !== 0) {
    cpu.simdFlags |= PE;
    if (r === Infinity || r === -Infinity) {
      cpu.simdFlags |= OE;
      // Directed modes give the largest finite value instead of ∞ on the side they round away from.
      if (rc === 3 || (rc === 1 && r > 0) || (rc === 2 && r < 0)) r = r > 0 ? max : -max;
      return r;
    }
  }
  // Tiny: a non-zero exact result whose rounded value is below the smallest normal.
  if ((r !== 0 || s !== 0) && r > -minN && r < minN) {
    if (!umasked) cpu.simdFlags |= UE; // unmasked: signalled even when exact
    else if (ftz) { cpu.simdFlags |= UE | PE; r = r < 0 || (r === 0 && s < 0) || Object.is(r, -0) ? -0 : 0; }
    else if (s !== 0) cpu.simdFlags |= UE;
  }
  return r;
}

/**
 * `op` on two non-NaN values (b unused for √): the correctly rounded result in the MXCSR's mode
 * and precision, flags in `cpu.simdFlags`. Returns NaN for an invalid operation (the caller
 * stores the default NaN).
 */
export function arith(cpu: Cpu, op: number, a: number, b: number, single: boolean): number {
  const den = single ? denormalF : denormalD;
  // DE ranks below IE and ZE: an operation that is invalid or divides by zero reports only that.
  const before = cpu.simdFlags;
  cpu.simdFlags = den(a) || (op !== OP_SQRT && den(b)) ? DE : 0;
  const r0 = arithRounded(cpu, op, a, b, single);
  let f = cpu.simdFlags;
  if ((f & (IE | ZE)) !== 0) f &= ~DE;
  cpu.simdFlags = before | f;
  return r0;
}

function arithRounded(cpu: Cpu, op: number, a: number, b: number, single: boolean): number {
  let r: number, s = 0;
  switch (op) {
    case OP_ADD: case OP_SUB: {
      const bb = op === OP_ADD ? b : -b;
      r = a + bb;
      if (Number.isNaN(r)) { cpu.simdFlags |= IE; return NaN; }
      // An exact zero sum of operands of opposite signs is −0 when rounding toward −∞ (JavaScript gives +0).
      if (r === 0 && ((cpu.mxcsr >>> 13) & 3) === 1 && !(Object.is(a, 0) && Object.is(bb, 0))) r = -0;
      if (Number.isFinite(r)) s = addErrSign(a, bb, r);
      else if (Number.isFinite(a) && Number.isFinite(bb)) s = r > 0 ? 1 : -1;
      break;
    }
    case OP_MUL:
      r = a * b;
      if (Number.isNaN(r)) { cpu.simdFlags |= IE; return NaN; }
      if (Number.isFinite(r)) s = mulErrSign(a, b, r);
      else if (Number.isFinite(a) && Number.isFinite(b)) s = r > 0 ? 1 : -1;
      break;
    case OP_DIV:
      if (b === 0) {
        if (a === 0 || !Number.isFinite(a)) {
          if (a === 0) { cpu.simdFlags |= IE; return NaN; }
        } else cpu.simdFlags |= ZE;
      }
      r = a / b;
      if (Number.isNaN(r)) { cpu.simdFlags |= IE; return NaN; }
      if (Number.isFinite(r)) { if (b !== 0 && Number.isFinite(b) && Number.isFinite(a)) s = divErrSign(a, b, r); }
      else if (Number.isFinite(a) && b !== 0) s = r > 0 ? 1 : -1;
      break;
    default:
      if (a < 0) { cpu.simdFlags |= IE; return NaN; }
      r = Math.sqrt(a);
      if (Number.isFinite(r)) s = sqrtErrSign(a, r);
  }
  const mx = cpu.mxcsr;
  return roundResult(cpu, r, s, single, (mx >>> 13) & 3, (mx & 0x8000) !== 0, (mx & 0x800) !== 0);
}

/** Converts a finite double to a single in the MXCSR's mode (CVTSD2SS, CVTPD2PS). */
export function toSingle(cpu: Cpu, x: number): number {
  if (denormalD(x)) cpu.simdFlags |= DE;
  const mx = cpu.mxcsr;
  return roundResult(cpu, x, 0, true, (mx >>> 13) & 3, (mx & 0x8000) !== 0, (mx & 0x800) !== 0);
}

/** Rounds a finite value to an integer in mode `rc` (0 nearest-even, 1 down, 2 up, 3 toward zero). */
export function roundInt(x: number, rc: number): number {
  switch (rc) {
    case 1: return Math.floor(x);
    case 2: return Math.ceil(x);
    case 3: return Math.trunc(x);
    default: {
      if (Math.abs(x) >= 4503599627370496) return x;
      const r = Math.round(x);
      // Math.round rounds halves up: nearest-even takes the even neighbour.
      return r - x === 0.5 && (r % 2) !== 0 ? r - 1 : r;
    }
  }
}

/**
 * A signed 64-bit integer (halves) to double or single in the MXCSR's mode (CVTSI2SD/SS),
 * PE when inexact.
 */
export function fromInt64(cpu: Cpu, lo: number, hi: number, single: boolean): number {
  const v = (hi | 0) * 4294967296 + lo; // rounded to nearest once
  let s = 0;
  if (Math.abs(v) >= 9007199254740992) {
    const exact = (BigInt(hi | 0) << 32n) | BigInt(lo >>> 0);
    const [m, e] = big(v);
    const d = exact - (e >= 0 ? m << BigInt(e) : m >> BigInt(-e));
    s = d > 0n ? 1 : d < 0n ? -1 : 0;
  }
  const mx = cpu.mxcsr;
  return roundResult(cpu, v, s, single, (mx >>> 13) & 3, false, true);
}

/** Sets up the flags of one instruction. */
export function beginSimd(cpu: Cpu): void {
  cpu.simdFlags = 0;
}

/**
 * Ends a SIMD floating-point instruction: records its exception flags in MXCSR and raises #XM
 * (#UD without CR4.OSXMMEXCPT) if any is unmasked; the caller has not written its destination.
 */
export function endSimd(cpu: Cpu): void {
  const f = cpu.simdFlags;
  if (f === 0) return;
  // A pre-computation exception (IE, DE, ZE) that is unmasked suppresses the post-computation ones.
  const masked = (cpu.mxcsr >>> 7) & 0x3f;
  const pre = f & (IE | DE | ZE);
  if ((pre & ~masked) !== 0) {
    cpu.mxcsr |= pre;
    cpu.raise((cpu.cr4 & 0x400) !== 0 ? 19 : 6);
  }
  cpu.mxcsr |= f;
  if ((f & ~masked) !== 0) cpu.raise((cpu.cr4 & 0x400) !== 0 ? 19 : 6);
}
