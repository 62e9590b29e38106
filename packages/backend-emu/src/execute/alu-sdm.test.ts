/**
 * The ALU, shifts, rotates and the lazy flags against the Intel SDM vol. 2 pseudo-code, written
 * again here in BigInt (no code shared with the emulator): every operation at every operand size,
 * over boundary operands (0, 1, sign bit ± 1, all ones, nibble edges, values crossing the 32-bit
 * halves) and counts (0, 1, width − 1, width, width + 1, 31, 32, 63, 64, …), with CF in and out,
 * and every flag the SDM defines for the case compared (undefined flags are left out, nothing
 * else). After each ALU result the 16 conditions (Jcc/SETcc/CMOVcc) are checked too.
 * The functions are called directly on a Cpu: thousands of cases in milliseconds.
 */
import test from 'ava';
import { Cpu } from '../cpu/cpu.js';
import { condition, getFlags, materialize, setFlagBit } from '../cpu/flags.js';
import { alu, incdec, neg, not, shift, shiftDouble } from './alu.js';

// RFLAGS bits (SDM vol. 1 §3.4.3).
const CF = 0x1, PF = 0x4, AF = 0x10, ZF = 0x40, SF = 0x80, OF = 0x800;
const ALL = CF | PF | AF | ZF | SF | OF;
/** Two complementary flag patterns to start from: CF in set and clear, every "unaffected" flag both ways. */
const STARTS = [CF | ZF | AF, PF | SF | OF];

const SIZES = [1, 2, 4, 8] as const;
const mask = (w: number) => (1n << BigInt(w)) - 1n;

/** Boundary operands at width `w` bits. */
function operands(w: number): bigint[] {
  const m = mask(w), sign = 1n << BigInt(w - 1);
  const v = [0n, 1n, 2n, 0xfn, 0x10n, sign - 1n, sign, sign + 1n, m - 1n, m, 0x55n, 0xaan];
  if (w >= 16) v.push(0x5555n & m, 0xaaaan & m, 0x8001n, 0x7ffen, 0x1234n);
  if (w >= 32) v.push(0xffffn, 0x10000n, 0x12345678n, 0x89abcdefn);
  if (w === 64) v.push(0xffffffffn, 0x1_0000_0000n, 0x7fffffffn, 0x80000000n, 0xffff_ffff_0000_0000n, 0x0123_4567_89ab_cdefn, 0xfedc_ba98_7654_3210n);
  return [...new Set(v.map((x) => x & m))];
}

/** Counts as an instruction gives them (before masking). */
function counts(w: number): number[] {
  return [...new Set([0, 1, 2, 3, 4, 7, 8, 9, 15, 16, 17, w - 1, w, w + 1, 31, 32, 33, 63, 64, 65, 255])];
}

const pf = (r: bigint) => {
  let b = Number(r & 0xffn), ones = 0;
  while (b) { ones += b & 1; b >>= 1; }
  return ones % 2 === 0 ? PF : 0;
};
const msb = (x: bigint, w: number) => Number((x >> BigInt(w - 1)) & 1n);
/** ZF, SF and PF of a result. */
const zsp = (r: bigint, w: number) => (r === 0n ? ZF : 0) | (msb(r, w) ? SF : 0) | pf(r);

interface Outcome { r: bigint; flags: number; cpu: Cpu }
interface Expected { r?: bigint; flags: number; /** The flags the SDM defines for this case. */ defined: number }

function split(x: bigint): [number, number] {
  return [Number(x & 0xffffffffn), Number(x >> 32n)];
}

/** Runs `fn` on a fresh Cpu whose RFLAGS are `start`; the result as a BigInt and the six flags. */
function run(size: number, start: number, fn: (cpu: Cpu) => number): Outcome {
  const cpu = new Cpu();
  cpu.lop = 0;
  cpu.flags = 2 | start;
  const lo = fn(cpu);
  const hi = size === 8 ? cpu.rh : 0;
  return { r: (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0), flags: getFlags(cpu) & ALL, cpu };
}

/** Compares; returns a message for the first difference, or undefined. */
function differs(what: string, got: Outcome, want: Expected): string | undefined {
  if (want.r !== undefined && got.r !== want.r) return `${what}: result 0x${got.r.toString(16)}, SDM 0x${want.r.toString(16)}`;
  if ((got.flags & want.defined) !== (want.flags & want.defined)) {
    return `${what}: flags 0x${(got.flags & want.defined).toString(16)}, SDM 0x${(want.flags & want.defined).toString(16)} (compared 0x${want.defined.toString(16)})`;
  }
  return undefined;
}

/** The 16 condition codes (SDM vol. 2, appendix B "Condition codes") from flags. */
function conditionOf(cc: number, f: number): boolean {
  const c = (f & CF) !== 0, z = (f & ZF) !== 0, s = (f & SF) !== 0, o = (f & OF) !== 0, p = (f & PF) !== 0;
  const r = [o, c, z, c || z, s, p, s !== o, z || s !== o][cc >> 1]!;
  return (cc & 1) === 0 ? r : !r;
}

// ---- the SDM's operations, in BigInt -------------------------------------------------------

/** ADD, OR, ADC, SBB, AND, SUB, XOR, CMP: the /digit of 80-83 (SDM vol. 2, "ADD" … "CMP"). */
function refAlu(op: number, w: number, a: bigint, b: bigint, start: number): Expected {
  const m = mask(w), cin = BigInt(start & CF);
  let r: bigint, f: number, defined = ALL;
  if (op === 0 || op === 2) {
    const c = op === 2 ? cin : 0n;
    const sum = a + b + c;
    r = sum & m;
    f = (sum > m ? CF : 0) | (msb(a, w) === msb(b, w) && msb(r, w) !== msb(a, w) ? OF : 0);
    f |= Number(((a ^ b ^ r) >> 4n) & 1n) ? AF : 0;
  } else if (op === 3 || op === 5 || op === 7) {
    const c = op === 3 ? cin : 0n;
    r = (a - b - c) & m;
    f = (a < b + c ? CF : 0) | (msb(a, w) !== msb(b, w) && msb(r, w) !== msb(a, w) ? OF : 0);
    f |= Number(((a ^ b ^ r) >> 4n) & 1n) ? AF : 0;
  } else {
    r = op === 1 ? a | b : op === 4 ? a & b : a ^ b;
    f = 0; // CF and OF cleared; AF undefined
    defined = ALL & ~AF;
  }
  return { r: op === 7 ? a : r, flags: f | zsp(r, w), defined };
}

/** SAL/SHL, SHR, SAR (SDM vol. 2, "SAL/SAR/SHL/SHR"). */
function refShift(kind: number, w: number, a: bigint, count: number, start: number): Expected {
  const n = count & (w === 64 ? 63 : 31);
  if (n === 0) return { r: a, flags: start, defined: ALL };
  const m = mask(w), N = BigInt(n);
  let r: bigint, cf: number, of = 0;
  if (kind === 4 || kind === 6) {
    r = (a << N) & m;
    cf = n <= w ? Number((a >> BigInt(w - n)) & 1n) : 0;
    of = msb(r, w) ^ cf;
  } else if (kind === 5) {
    r = a >> N;
    cf = Number((a >> (N - 1n)) & 1n);
    of = msb(a, w);
  } else {
    const s = msb(a, w) ? a - (1n << BigInt(w)) : a; // signed
    r = (s >> N) & m;
    cf = Number((s >> (N - 1n)) & 1n);
    of = 0;
  }
  // CF is undefined for SHL and SHR when the count is ≥ the operand size (not for SAR); OF is
  // defined for 1-bit shifts only; AF is undefined for any non-zero count.
  let defined = PF | ZF | SF | CF;
  if (kind !== 7 && n >= w) defined &= ~CF;
  if (n === 1) defined |= OF;
  return { r, flags: zsp(r, w) | (cf ? CF : 0) | (of ? OF : 0), defined };
}

/** ROL, ROR, RCL, RCR (SDM vol. 2, "RCL/RCR/ROL/ROR"). */
function refRotate(kind: number, w: number, a: bigint, count: number, start: number): Expected {
  const masked = count & (w === 64 ? 63 : 31);
  const m = mask(w);
  let dest = a, cf = start & CF ? 1 : 0, of = 0;
  if (kind === 0 || kind === 1) {
    const t = masked % w;
    if (t !== 0) {
      const T = BigInt(t);
      dest = kind === 0 ? ((a << T) | (a >> BigInt(w - t))) & m : ((a >> T) | (a << BigInt(w - t))) & m;
    }
    if (masked !== 0) cf = kind === 0 ? Number(dest & 1n) : msb(dest, w);
    if (masked === 1) of = kind === 0 ? msb(dest, w) ^ cf : msb(dest, w) ^ Number((dest >> BigInt(w - 2)) & 1n);
  } else {
    let t = w === 8 ? masked % 9 : w === 16 ? masked % 17 : masked;
    if (kind === 3 && masked === 1) of = msb(dest, w) ^ cf; // RCR: before the rotation
    while (t-- > 0) {
      if (kind === 2) {
        const out = msb(dest, w);
        dest = ((dest << 1n) | BigInt(cf)) & m;
        cf = out;
      } else {
        const out = Number(dest & 1n);
        dest = (dest >> 1n) | (BigInt(cf) << BigInt(w - 1));
        cf = out;
      }
    }
    if (kind === 2 && masked === 1) of = msb(dest, w) ^ cf;
  }
  // A masked count of 0 affects no flag; otherwise CF is defined, OF only for 1-bit rotates, and
  // SF, ZF, AF, PF are not affected.
  const defined = masked === 0 ? ALL : masked === 1 ? ALL : ALL & ~OF;
  const flags = (start & ~(CF | OF)) | (masked === 0 ? start & (CF | OF) : (cf ? CF : 0) | (of ? OF : 0));
  return { r: dest, flags, defined };
}

/** SHLD, SHRD (SDM vol. 2, "SHLD", "SHRD"); undefined (no comparison) when the count exceeds the size. */
function refDouble(left: boolean, w: number, a: bigint, b: bigint, count: number, start: number): Expected | undefined {
  const n = count & (w === 64 ? 63 : 31);
  if (n === 0) return { r: a, flags: start, defined: ALL };
  if (n > w) return undefined;
  const m = mask(w), N = BigInt(n), W = BigInt(w);
  let r: bigint, cf: number;
  if (left) {
    r = ((a << N) | (b >> (W - N))) & m;
    cf = Number((a >> (W - N)) & 1n);
  } else {
    r = ((a >> N) | (b << (W - N))) & m;
    cf = Number((a >> (N - 1n)) & 1n);
  }
  const of = msb(a, w) ^ msb(r, w);
  const defined = (PF | ZF | SF | CF) | (n === 1 ? OF : 0);
  return { r, flags: zsp(r, w) | (cf ? CF : 0) | (of ? OF : 0), defined };
}

// ---- the tests -----------------------------------------------------------------------------

const ALU_NAMES = ['add', 'or', 'adc', 'sbb', 'and', 'sub', 'xor', 'cmp'];

test('ADD OR ADC SBB AND SUB XOR CMP at 8/16/32/64 bits: result, flags and the 16 conditions as the SDM gives them', (t) => {
  let cases = 0;
  for (const size of SIZES) {
    const w = size * 8;
    const ops = operands(w);
    for (let op = 0; op < 8; op++) {
      // A carry in matters to ADC and SBB; the others must ignore it.
      for (const start of op === 2 || op === 3 ? [0, CF] : [CF]) {
        for (const a of ops) {
          for (const b of ops) {
            const [al, ah] = split(a), [bl, bh] = split(b);
            const got = run(size, start, (cpu) => alu(cpu, op, size, al, ah, bl, bh));
            const want = refAlu(op, w, a, b, start);
            // CMP returns a − b (the flags' result); the instruction writes nothing.
            if (op === 7) want.r = (a - b) & mask(w);
            const what = `${ALU_NAMES[op]} ${w}-bit 0x${a.toString(16)}, 0x${b.toString(16)}, CF in ${start & CF}`;
            const d = differs(what, got, want);
            if (d) return t.fail(d);
            const defined = want.flags;
            for (let cc = 0; cc < 16; cc++) {
              if (condition(got.cpu, cc) !== conditionOf(cc, defined)) return t.fail(`${what}: condition ${cc} is ${condition(got.cpu, cc)}`);
            }
            cases++;
          }
        }
      }
    }
  }
  t.log(`${cases} cases`);
  t.pass();
});

test('INC, DEC and NEG at 8/16/32/64 bits: CF kept by INC/DEC, NEG sets CF unless 0; conditions follow', (t) => {
  for (const size of SIZES) {
    const w = size * 8, m = mask(w);
    for (const start of STARTS) {
      for (const a of operands(w)) {
        const [al, ah] = split(a);
        for (const dec of [false, true]) {
          const r = (dec ? a - 1n : a + 1n) & m;
          const of = dec ? a === 1n << BigInt(w - 1) : r === 1n << BigInt(w - 1);
          const af = Number(((a ^ 1n ^ r) >> 4n) & 1n);
          const want: Expected = { r, flags: (start & CF) | zsp(r, w) | (of ? OF : 0) | (af ? AF : 0), defined: ALL };
          const got = run(size, start, (cpu) => incdec(cpu, size, al, ah, dec));
          const what = `${dec ? 'dec' : 'inc'} ${w}-bit 0x${a.toString(16)} CF ${start & CF}`;
          const d = differs(what, got, want);
          if (d) return t.fail(d);
          for (let cc = 0; cc < 16; cc++) {
            if (condition(got.cpu, cc) !== conditionOf(cc, want.flags)) return t.fail(`${what}: condition ${cc}`);
          }
        }
        const n = refAlu(5, w, 0n, a, 0);
        n.flags = (n.flags & ~CF) | (a !== 0n ? CF : 0);
        const d = differs(`neg ${w}-bit 0x${a.toString(16)}`, run(size, start, (cpu) => neg(cpu, size, al, ah)), n);
        if (d) return t.fail(d);
        const notGot = run(size, start, (cpu) => not(cpu, size, al, ah));
        const nd = differs(`not ${w}-bit 0x${a.toString(16)}`, notGot, { r: ~a & m, flags: start, defined: ALL });
        if (nd) return t.fail(nd);
      }
    }
  }
  t.pass();
});

const SHIFT_NAMES = ['rol', 'ror', 'rcl', 'rcr', 'shl', 'shr', 'sal', 'sar'];

test('SHL SAL SHR SAR ROL ROR RCL RCR at 8/16/32/64 bits, every boundary count: result and the flags the SDM defines', (t) => {
  let cases = 0;
  for (const size of SIZES) {
    const w = size * 8;
    for (let kind = 0; kind < 8; kind++) {
      for (const start of STARTS) {
        for (const a of operands(w)) {
          for (const count of counts(w)) {
            const [al, ah] = split(a);
            const want = kind < 4 ? refRotate(kind, w, a, count, start) : refShift(kind, w, a, count, start);
            const got = run(size, start, (cpu) => shift(cpu, kind, size, al, ah, count));
            const d = differs(`${SHIFT_NAMES[kind]} ${w}-bit 0x${a.toString(16)}, ${count} (CF in ${start & CF})`, got, want);
            if (d) return t.fail(d);
            cases++;
          }
        }
      }
    }
  }
  t.log(`${cases} cases`);
  t.pass();
});

test('SHLD and SHRD at 16/32/64 bits, every boundary count: result and the flags the SDM defines', (t) => {
  let cases = 0;
  for (const size of [2, 4, 8]) {
    const w = size * 8;
    const ops = operands(w), m = mask(w);
    // The filler operand: patterns that show which of its bits move in.
    const fillers = [0n, m, 0x5555_5555_5555_5555n & m, 1n << BigInt(w - 1), 1n, 0x0123_4567_89ab_cdefn & m];
    for (const left of [true, false]) {
      for (const start of STARTS) {
        for (const a of ops) {
          for (const b of fillers) {
            for (const count of counts(w)) {
              const want = refDouble(left, w, a, b, count, start);
              if (!want) continue;
              const [al, ah] = split(a), [bl, bh] = split(b);
              const got = run(size, start, (cpu) => shiftDouble(cpu, left, size, al, ah, bl, bh, count));
              const d = differs(`${left ? 'shld' : 'shrd'} ${w}-bit 0x${a.toString(16)}, 0x${b.toString(16)}, ${count}`, got, want);
              if (d) return t.fail(d);
              cases++;
            }
          }
        }
      }
    }
  }
  t.log(`${cases} cases`);
  t.pass();
});

test('materialized flags are what the lazy record said; STC/CLC-style single-bit changes keep the others', (t) => {
  for (const size of SIZES) {
    const w = size * 8;
    for (const a of operands(w)) {
      for (const b of [0n, 1n, mask(w)]) {
        const [al, ah] = split(a), [bl, bh] = split(b);
        const cpu = new Cpu();
        cpu.lop = 0;
        cpu.flags = 2;
        alu(cpu, 5, size, al, ah, bl, bh);
        const lazy = getFlags(cpu) & ALL;
        t.is(lazy, refAlu(5, w, a, b, 0).flags, `sub ${w}-bit 0x${a.toString(16)} - 0x${b.toString(16)}`);
        materialize(cpu);
        t.is(cpu.flags & ALL, lazy);
        for (let cc = 0; cc < 16; cc++) t.is(condition(cpu, cc), conditionOf(cc, lazy), `materialized, cc ${cc}`);
        setFlagBit(cpu, CF, (lazy & CF) === 0); // CMC
        t.is(getFlags(cpu) & ALL, lazy ^ CF);
        setFlagBit(cpu, OF, 1);
        t.is(getFlags(cpu) & ALL, (lazy ^ CF) | OF);
      }
    }
  }
});
