/**
 * 80-bit extended-precision values and exact arithmetic on them, as the x87 does it: add,
 * subtract, multiply, divide, square root, round to integer, scale and partial remainder, each
 * computed exactly on BigInt significands and rounded once in the control word's rounding mode
 * (RC) and precision (PC: 24, 53 or 64 bits, exponent range kept), with the exceptions the
 * rounding raises: precision (PE, C1 = rounded up), underflow (masked: denormalized result, UE
 * only if also inexact; unmasked: the result scaled by 2^24576, UE even if exact) and overflow
 * (masked: ∞ or the largest finite value by RC; unmasked: scaled by 2^−24576). Tininess is
 * detected before rounding, as the x87 does. Conversions to and from IEEE singles, doubles and
 * integers live here too. Pure functions of values: the stack, tags and status word are
 * execute/x87.ts's business. BigInt allocates: x87 code is rare, so this is off the hot path.
 * @module
 */

/** An 80-bit value: sign bit, 15-bit biased exponent, 64-bit significand (explicit integer bit). */
export interface Ext { sign: number; exp: number; mant: bigint }

/** Exception flag bits (FSW and FCW mask bits alike). */
export const F_IE = 1, F_DE = 2, F_ZE = 4, F_OE = 8, F_UE = 16, F_PE = 32;

export const BIT63 = 1n << 63n;
const QUIET = 1n << 62n;
/** The QNaN floating-point indefinite. */
export const INDEFINITE: Ext = { sign: 1, exp: 0x7fff, mant: 0xc000000000000000n };
export const ZERO: Ext = { sign: 0, exp: 0, mant: 0n };
export const ONE: Ext = { sign: 0, exp: 0x3fff, mant: BIT63 };

/** Classes of an 80-bit encoding. */
export const K_ZERO = 0, K_DENORMAL = 1, K_NORMAL = 2, K_INF = 3, K_QNAN = 4, K_SNAN = 5, K_UNSUPPORTED = 6;

/** The class of `v`; pseudo-denormals are denormals, pseudo-NaN/∞ and unnormals unsupported. */
export function classify(v: Ext): number {
  if (v.exp === 0x7fff) {
    if ((v.mant & BIT63) === 0n) return K_UNSUPPORTED;
    if ((v.mant & (BIT63 - 1n)) === 0n) return K_INF;
    return (v.mant & QUIET) !== 0n ? K_QNAN : K_SNAN;
  }
  if (v.exp === 0) return v.mant === 0n ? K_ZERO : K_DENORMAL;
  return (v.mant & BIT63) !== 0n ? K_NORMAL : K_UNSUPPORTED;
}

export function isNaNClass(k: number): boolean {
  return k === K_QNAN || k === K_SNAN || k === K_UNSUPPORTED;
}

/** An operand that raises the invalid-operation exception whatever the instruction: SNaN or unsupported. */
export function signalling(k: number): boolean {
  return k === K_SNAN || k === K_UNSUPPORTED;
}

export function bitLength(m: bigint): number {
  return m === 0n ? 0 : m.toString(2).length;
}

export function quiet(v: Ext): Ext {
  return { sign: v.sign, exp: v.exp, mant: v.mant | QUIET };
}

/**
 * The NaN result of an operation on `a` and `b` (at least one a NaN; unsupported encodings are
 * handled before), SDM vol. 1 table 4-7: one NaN → it, quieted; an SNaN and a QNaN → the QNaN;
 * two of a kind → the one with the larger significand, quieted (equal significands: the positive
 * one, as this host does).
 */
export function propagateNaN(a: Ext, ka: number, b: Ext, kb: number): Ext {
  const an = ka === K_QNAN || ka === K_SNAN, bn = kb === K_QNAN || kb === K_SNAN;
  if (an && bn) {
    if (ka !== kb) return quiet(ka === K_QNAN ? a : b);
    if (a.mant !== b.mant) return quiet(b.mant > a.mant ? b : a);
    return quiet(a.sign === 0 ? a : b);
  }
  return quiet(an ? a : b);
}

/** value = m × 2^e with m the significand as an integer (denormals: exponent 1). */
function scaled(v: Ext): number {
  return (v.exp === 0 ? 1 : v.exp) - 16383 - 63;
}

// ------------------------------------------------------------------ rounding

/** A rounded result. */
export interface Rounded { v: Ext; flags: number; up: boolean }

/** Significand bits kept for the control word's precision control (reserved 01 = 64, as the hardware does). */
export function precisionOf(fcw: number): number {
  const pc = (fcw >>> 8) & 3;
  return pc === 0 ? 24 : pc === 2 ? 53 : 64;
}

/** Rounds m to a multiple of 2^shift in mode rc for sign; returns the quotient and how it rounded. */
function roundShift(m: bigint, shift: number, rc: number, sign: number): { q: bigint; inexact: boolean; up: boolean } {
  if (shift <= 0) return { q: m << BigInt(-shift), inexact: false, up: false };
  const s = BigInt(shift);
  let q = m >> s;
  const rem = m - (q << s);
  if (rem === 0n) return { q, inexact: false, up: false };
  let up: boolean;
  if (rc === 0) {
    const half = 1n << (s - 1n);
    up = rem > half || (rem === half && (q & 1n) === 1n);
  } else up = rc === 1 ? sign === 1 : rc === 2 ? sign === 0 : false;
  if (up) q += 1n;
  return { q, inexact: true, up };
}

/** Packs q × 2^lsb (q > 0, at most 64 bits, exponent in range) into an Ext. */
function pack(sign: number, q: bigint, lsb: number): Ext {
  const n = bitLength(q);
  const top = lsb + n - 1;
  if (top >= -16382) return { sign, exp: top + 16383, mant: q << BigInt(64 - n) };
  return { sign, exp: 0, mant: q << BigInt(lsb + 16445) };
}

/**
 * Rounds the exact value (−1)^sign × m × 2^e (m ≥ 0; callers that cannot be exact append a
 * sticky bit at least two places below the 64th significant bit) to `p` significant bits in mode
 * `rc`, with the x87's underflow and overflow responses by the FCW masks.
 */
export function roundTo(sign: number, m: bigint, e: number, fcw: number, p: number): Rounded {
  if (m === 0n) return { v: { sign, exp: 0, mant: 0n }, flags: 0, up: false };
  const rc = (fcw >>> 10) & 3;
  const n = bitLength(m);
  const E = e + n - 1; // exponent of the leading bit
  const tiny = E < -16382;
  let flags = 0;
  if (tiny && (fcw & F_UE) !== 0) {
    // Masked underflow: denormalize, the last kept bit at 2^(−16381 − p).
    const lsb = -16381 - p;
    const r = roundShift(m, lsb - e, rc, sign);
    if (r.inexact) flags |= F_PE | F_UE;
    if (r.q === 0n) return { v: { sign, exp: 0, mant: 0n }, flags, up: r.up };
    return { v: pack(sign, r.q, lsb), flags, up: r.up };
  }
  if (tiny && E + 24576 < -16382) {
    // Unmasked underflow too deep for the bias (FSCALE): denormalized after the bias, UE and PE.
    const d = roundTo(sign, m, e + 24576, fcw | F_UE, p);
    return { v: d.v, flags: d.flags | F_UE, up: d.up };
  }
  if (E - 24576 > 16383 && (fcw & F_OE) === 0) {
    // Unmasked overflow too large for the bias (FSCALE): ∞ whatever the rounding mode, C1 = 1 (this host).
    return { v: { sign, exp: 0x7fff, mant: BIT63 }, flags: F_OE | F_PE, up: true };
  }
  let lsb = E - p + 1;
  const r = roundShift(m, lsb - e, rc, sign);
  let q = r.q;
  if (bitLength(q) > p) { q >>= 1n; lsb += 1; }
  if (r.inexact) flags |= F_PE;
  const top = lsb + bitLength(q) - 1;
  if (tiny) { // unmasked underflow: UE even if exact, the result brought into range by 2^24576
    return { v: pack(sign, q, lsb + 24576), flags: flags | F_UE, up: r.up };
  }
  if (top > 16383) {
    if ((fcw & F_OE) === 0) return { v: pack(sign, q, lsb - 24576), flags: flags | F_OE, up: r.up };
    const toInf = rc === 0 || (rc === 1 && sign === 1) || (rc === 2 && sign === 0);
    const v = toInf ? { sign, exp: 0x7fff, mant: BIT63 } : { sign, exp: 0x7ffe, mant: ((1n << BigInt(p)) - 1n) << BigInt(64 - p) };
    return { v, flags: flags | F_OE | F_PE, up: toInf };
  }
  return { v: pack(sign, q, lsb), flags, up: r.up };
}

// ------------------------------------------------------------------ arithmetic on finite values

/** a + b for finite (zero, denormal, normal) a and b, rounded by `fcw` (precision control applies). */
export function add(a: Ext, b: Ext, fcw: number): Rounded {
  const ea = scaled(a), eb = scaled(b), e = Math.min(ea, eb);
  const A = a.mant << BigInt(ea - e), B = b.mant << BigInt(eb - e);
  const s = (a.sign ? -A : A) + (b.sign ? -B : B);
  if (s === 0n) {
    // Exact zero: the common sign, else +0 (−0 when rounding down).
    const sign = a.sign === b.sign ? a.sign : ((fcw >>> 10) & 3) === 1 ? 1 : 0;
    return { v: { sign, exp: 0, mant: 0n }, flags: 0, up: false };
  }
  return roundTo(s < 0n ? 1 : 0, s < 0n ? -s : s, e, fcw, precisionOf(fcw));
}

/** a × b for finite a and b. */
export function mul(a: Ext, b: Ext, fcw: number): Rounded {
  return roundTo(a.sign ^ b.sign, a.mant * b.mant, scaled(a) + scaled(b), fcw, precisionOf(fcw));
}

/** a ÷ b for finite a and finite non-zero b. */
export function div(a: Ext, b: Ext, fcw: number): Rounded {
  const sign = a.sign ^ b.sign;
  if (a.mant === 0n) return { v: { sign, exp: 0, mant: 0n }, flags: 0, up: false };
  const k = Math.max(0, 67 + bitLength(b.mant) - bitLength(a.mant));
  const num = a.mant << BigInt(k);
  const q = num / b.mant;
  const sticky = num - q * b.mant !== 0n ? 1n : 0n;
  return roundTo(sign, (q << 1n) | sticky, scaled(a) - scaled(b) - k - 1, fcw, precisionOf(fcw));
}

/** ⌊√n⌋ for n ≥ 0 (Newton's method). */
export function isqrt(n: bigint): bigint {
  if (n < 2n) return n;
  let x = 1n << BigInt((bitLength(n) >> 1) + 1);
  for (;;) {
    const y = (x + n / x) >> 1n;
    if (y >= x) return x;
    x = y;
  }
}

/** √a for finite a ≥ 0 (a zero keeps its sign). */
export function sqrt(a: Ext, fcw: number): Rounded {
  if (a.mant === 0n) return { v: { ...a }, flags: 0, up: false };
  let m = a.mant, e = scaled(a);
  let s = Math.max(0, 140 - bitLength(m));
  if (((e - s) & 1) !== 0) s += 1;
  m <<= BigInt(s); e -= s;
  const r = isqrt(m);
  const sticky = r * r !== m ? 1n : 0n;
  return roundTo(0, (r << 1n) | sticky, e / 2 - 1, fcw, precisionOf(fcw));
}

/** Rounds finite `a` to an integer in FCW.RC (FRNDINT): the value, PE if inexact, C1 = rounded up. */
export function roundToInteger(a: Ext, fcw: number): Rounded {
  const e = scaled(a);
  if (e >= 0 || a.mant === 0n) return { v: { ...a }, flags: 0, up: false };
  const r = roundShift(a.mant, -e, (fcw >>> 10) & 3, a.sign);
  if (r.q === 0n) return { v: { sign: a.sign, exp: 0, mant: 0n }, flags: r.inexact ? F_PE : 0, up: r.up };
  return { v: pack(a.sign, r.q, 0), flags: r.inexact ? F_PE : 0, up: r.up };
}

/** a × 2^n for finite a (FSCALE; n already truncated and clamped), rounded to 64 bits only where it leaves the range. */
export function scale(a: Ext, n: number, fcw: number): Rounded {
  if (a.mant === 0n) return { v: { ...a }, flags: 0, up: false };
  return roundTo(a.sign, a.mant, scaled(a) + n, fcw, 64);
}

/**
 * The partial remainder of finite a by finite non-zero b (FPREM: quotient truncated; FPREM1:
 * rounded to nearest even): exact. When the exponents differ by 64 or more only a partial
 * reduction is made (by a multiple of b × 2^(d − 32…63), as the hardware does) and `partial` is set.
 */
export function remainder(a: Ext, b: Ext, nearest: boolean): { v: Ext; q: bigint; partial: boolean } {
  if (a.mant === 0n) return { v: { ...a }, q: 0n, partial: false };
  const ea = scaled(a), eb = scaled(b);
  const la = ea + bitLength(a.mant), lb = eb + bitLength(b.mant);
  const d = la - lb;
  if (d >= 64) {
    // Reduce by (b × 2^(d − n)) with a truncated quotient; n = 32 … 63 on Intel (d − n ≥ 1).
    const n = 32 + ((d - 32) % 32);
    const shift = d - n;
    const e = Math.min(ea, eb + shift);
    const A = a.mant << BigInt(ea - e), B = b.mant << BigInt(eb + shift - e);
    const q = A / B;
    const r = A - q * B;
    return { v: r === 0n ? { sign: a.sign, exp: 0, mant: 0n } : pack(a.sign, r, e), q, partial: true };
  }
  const e = Math.min(ea, eb);
  const A = a.mant << BigInt(ea - e), B = b.mant << BigInt(eb - e);
  let q = A / B;
  let r = A - q * B;
  let sign = a.sign;
  if (nearest && (2n * r > B || (2n * r === B && (q & 1n) === 1n))) {
    q += 1n;
    r = B - r;
    sign ^= 1;
  }
  if (r === 0n) return { v: { sign: a.sign, exp: 0, mant: 0n }, q, partial: false };
  return { v: packExact(sign, r, e), q, partial: false };
}

/** Packs an exact value r × 2^e that fits 64 bits once normalized (a remainder). */
function packExact(sign: number, r: bigint, e: number): Ext {
  const n = bitLength(r);
  if (n > 64) { const s = n - 64; return pack(sign, r >> BigInt(s), e + s); }
  return pack(sign, r, e);
}

/** Exact order of two ordered values (zeros, denormals, normals, infinities): −1, 0 or 1. */
export function order(a: Ext, b: Ext): number {
  const ka = classify(a), kb = classify(b);
  const val = (v: Ext, k: number): number => (k === K_INF ? 2 : k === K_ZERO ? 0 : 1) * (v.sign ? -1 : 1);
  const ca = val(a, ka), cb = val(b, kb);
  if (ca !== cb || Math.abs(ca) !== 1) return ca < cb ? -1 : ca > cb ? 1 : 0;
  const ea = scaled(a), eb = scaled(b), e = Math.min(ea, eb);
  const A = a.mant << BigInt(ea - e), B = b.mant << BigInt(eb - e);
  const x = a.sign ? -A : A, y = b.sign ? -B : B;
  return x < y ? -1 : x > y ? 1 : 0;
}

/** The integer part of a finite value, truncated (FSCALE's scale), clamped to ±2^20. */
export function truncToClamped(v: Ext): number {
  const e = scaled(v);
  let m: bigint;
  if (e >= 0) m = e > 30 ? 1n << 21n : v.mant << BigInt(e);
  else m = -e >= 64 ? 0n : v.mant >> BigInt(-e);
  const n = m > 1n << 20n ? 1 << 20 : Number(m);
  return v.sign ? -n : n;
}

// ------------------------------------------------------------------ conversions

/** An IEEE single (`bits` 32) or double (64) from its bit pattern to 80 bits, exactly; SNaN quieted with IE. */
export function widen(raw: bigint, bits: 32 | 64): { v: Ext; flags: number } {
  const fracBits = bits === 32 ? 23 : 52, expBits = bits === 32 ? 8 : 11, bias = bits === 32 ? 127 : 1023;
  const sign = Number((raw >> BigInt(bits - 1)) & 1n);
  const e = Number((raw >> BigInt(fracBits)) & BigInt((1 << expBits) - 1));
  const frac = raw & ((1n << BigInt(fracBits)) - 1n);
  const emax = (1 << expBits) - 1;
  if (e === emax) {
    if (frac === 0n) return { v: { sign, exp: 0x7fff, mant: BIT63 }, flags: 0 };
    const q = (frac >> BigInt(fracBits - 1)) & 1n;
    return { v: { sign, exp: 0x7fff, mant: BIT63 | QUIET | (frac << BigInt(63 - fracBits)) }, flags: q ? 0 : F_IE };
  }
  if (e === 0) {
    if (frac === 0n) return { v: { sign, exp: 0, mant: 0n }, flags: 0 };
    const n = bitLength(frac); // value = frac × 2^(1 − bias − fracBits)
    return { v: { sign, exp: 16383 + (1 - bias - fracBits) + n - 1, mant: frac << BigInt(64 - n) }, flags: F_DE };
  }
  return { v: { sign, exp: e - bias + 16383, mant: BIT63 | (frac << BigInt(63 - fracBits)) }, flags: 0 };
}

/** A signed integer to 80 bits (exact). */
export function fromInteger(x: bigint): Ext {
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
export function narrow(v: Ext, bits: 32 | 64, rc: number): { raw: bigint; flags: number; up: boolean } {
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
    const q = (v.mant >> 62n) & 1n;
    const payload = (frac >> BigInt(63 - fracBits)) | (1n << BigInt(fracBits - 1));
    return { raw: signBit | expAll | payload, flags: q ? 0 : F_IE, up: false };
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

/** ST(0) rounded (FCW.RC) to a signed integer of `bits`; the indefinite integer with IE when NaN, ∞ or out of range. */
export function toInteger(v: Ext, bits: number, rc: number): { value: bigint; flags: number; up: boolean } {
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
