/**
 * Random SSE/SSE2 and x87 programs for differential tests (not part of the package's API). A
 * program starts by loading XMM0–15 from the data area (`movdqu`), MXCSR (random rounding mode,
 * FTZ, usually every exception masked) and, sometimes, an x87 control word; then runs random
 * instructions of every form execute/sse.ts and execute/x87.ts implement, with register and
 * memory operands (`[rbx + disp32]`, RBX = the data area), and after each one saves the whole
 * state it can change: `fxsave64` (x87, MXCSR, XMM0–15) into its own 512-byte slot, RFLAGS
 * (`pushfq; pop`) and the general register it wrote. Operands are filled with IEEE special
 * values: signed zeros, infinities, quiet and signalling NaNs with payloads, denormals (smallest,
 * largest, random), the smallest and largest normals, ±1, values near the overflow and underflow
 * thresholds and random bit patterns, as singles or doubles per lane.
 * @module
 */

/** Seeded random numbers (mulberry32). */
export class Rng {
  private s: number;
  constructor(seed: number) { this.s = seed >>> 0; }
  u32(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** 0 … n − 1. */
  pick(n: number): number { return this.u32() % n; }
  bool(): boolean { return (this.u32() & 1) === 1; }
}

/** Data area layout (offsets from RBX). */
export const OPERANDS = 0, OPERAND_COUNT = 32, MXCSR_AT = 0x300, FCW_AT = 0x308, FLAGS_AT = 0x800, GPR_AT = 0xa00,
  SLOTS_AT = 0x1000, DATA_BYTES = 0x1000 + 0x200 * 32;

function f32Special(r: Rng): number {
  const sign = r.bool() ? 0x80000000 : 0;
  switch (r.pick(14)) {
    case 0: return sign; // ±0
    case 1: return (sign | 0x7f800000) >>> 0; // ±∞
    case 2: return (sign | 0x7fc00000 | r.pick(0x400000)) >>> 0; // QNaN
    case 3: return (sign | 0x7f800000 | (1 + r.pick(0x3fffff))) >>> 0; // SNaN
    case 4: return (sign | 1) >>> 0; // smallest denormal
    case 5: return (sign | 0x7fffff) >>> 0; // largest denormal
    case 6: return (sign | (1 + r.pick(0x7fffff))) >>> 0; // denormal
    case 7: return (sign | 0x00800000) >>> 0; // smallest normal
    case 8: return (sign | 0x7f7fffff) >>> 0; // largest
    case 9: return (sign | 0x3f800000) >>> 0; // ±1
    case 10: return (sign | ((0x7e + r.pick(2)) << 23) | r.pick(0x800000)) >>> 0; // near overflow
    case 11: return (sign | ((1 + r.pick(3)) << 23) | r.pick(0x800000)) >>> 0; // near underflow
    case 12: return (sign | ((100 + r.pick(56)) << 23) | r.pick(0x800000)) >>> 0; // ordinary
    default: return r.u32();
  }
}

function f64Special(r: Rng): [number, number] {
  const sign = r.bool() ? 0x80000000 : 0;
  const lo = r.u32();
  switch (r.pick(14)) {
    case 0: return [0, sign];
    case 1: return [0, (sign | 0x7ff00000) >>> 0];
    case 2: return [lo, (sign | 0x7ff80000 | r.pick(0x80000)) >>> 0];
    case 3: return [lo | 1, (sign | 0x7ff00000 | r.pick(0x80000)) >>> 0];
    case 4: return [1, sign];
    case 5: return [0xffffffff, (sign | 0xfffff) >>> 0];
    case 6: return [lo, (sign | r.pick(0x100000)) >>> 0];
    case 7: return [0, (sign | 0x00100000) >>> 0];
    case 8: return [0xffffffff, (sign | 0x7fefffff) >>> 0];
    case 9: return [0, (sign | 0x3ff00000) >>> 0];
    case 10: return [lo, (sign | ((0x7fe - r.pick(2)) << 20) | r.pick(0x100000)) >>> 0];
    case 11: return [lo, (sign | ((1 + r.pick(3)) << 20) | r.pick(0x100000)) >>> 0];
    case 12: return [r.pick(8) === 0 ? 0 : lo, (sign | ((0x3c0 + r.pick(0x80)) << 20) | r.pick(0x100000)) >>> 0];
    default: return [lo, r.u32()];
  }
}

/** 16 bytes of operand: four singles, two doubles, small integers or random bits. */
export function operand(r: Rng, out: DataView, at: number): void {
  const kind = r.pick(4);
  for (let i = 0; i < 4; i++) {
    if (kind === 0) out.setUint32(at + 4 * i, f32Special(r), true);
    else if (kind === 3) out.setUint32(at + 4 * i, r.pick(3) === 0 ? r.pick(256) - 128 : r.u32(), true);
  }
  if (kind === 1 || kind === 2) {
    for (let i = 0; i < 2; i++) {
      const [lo, hi] = kind === 1 ? f64Special(r) : [r.u32(), r.u32()];
      out.setUint32(at + 8 * i, lo, true); out.setUint32(at + 8 * i + 4, hi, true);
    }
  }
}

/** One generated instruction. */
export interface SimdInsn {
  readonly bytes: number[];
  readonly text: string;
  /** General register it writes (compared after it), or -1. */
  readonly gpr: number;
  /** The flags it sets are compared (COMISS…). */
  readonly flags: boolean;
}

const GPRS = [0, 1, 2, 6, 7, 8, 9, 10, 11]; // never RBX (the data pointer) or RSP

function modrmReg(reg: number, rm: number): { rex: number; bytes: number[] } {
  return { rex: ((reg & 8) >> 1) | ((rm & 8) >> 3), bytes: [0xc0 | ((reg & 7) << 3) | (rm & 7)] };
}

function modrmMem(reg: number, disp: number): { rex: number; bytes: number[] } {
  return { rex: (reg & 8) >> 1, bytes: [0x80 | ((reg & 7) << 3) | 3, disp & 0xff, (disp >> 8) & 0xff, 0, 0] };
}

function build(prefix: number[], opcode: number[], m: { rex: number; bytes: number[] }, w: boolean, imm: number[] = []): number[] {
  const rex = m.rex | (w ? 8 : 0);
  return [...prefix, ...(rex !== 0 ? [0x40 | rex] : []), ...opcode, ...m.bytes, ...imm];
}

type Form = readonly [prefix: number | null, op: number, name: string];
/** xmm, xmm/m128 forms (aligned memory unless noted). */
const PACKED: readonly Form[] = [
  ...[0x10, 0x28, 0x14, 0x15, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5c, 0x5d, 0x5e, 0x5f, 0x51, 0x5a, 0x5b].flatMap((o) =>
    [[null, o, `ps 0f${o.toString(16)}`], [0x66, o, `pd 0f${o.toString(16)}`]] as Form[]),
  [0xf3, 0x5b, 'cvttps2dq'], [0xf3, 0x6f, 'movdqu'], [0x66, 0x6f, 'movdqa'],
  [0x66, 0xe6, 'cvttpd2dq'], [0xf2, 0xe6, 'cvtpd2dq'],
  ...[0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x74, 0x75, 0x76,
    0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xe0, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5,
    0xe8, 0xe9, 0xea, 0xeb, 0xec, 0xed, 0xee, 0xef, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc,
    0xfd, 0xfe].map((o) => [0x66, o, `p 66 0f${o.toString(16)}`] as Form),
];
/** Scalar forms: xmm, xmm/m32 (F3) or m64 (F2). */
const SCALAR: readonly Form[] = [0x10, 0x51, 0x58, 0x59, 0x5a, 0x5c, 0x5d, 0x5e, 0x5f].flatMap((o) =>
  [[0xf3, o, `ss 0f${o.toString(16)}`], [0xf2, o, `sd 0f${o.toString(16)}`]] as Form[]);

/** A random SSE instruction (register or memory operand). */
export function genSse(r: Rng): SimdInsn {
  const reg = r.pick(16), rm = r.pick(16);
  const mem = r.pick(3) === 0;
  const disp = OPERANDS + 16 * r.pick(OPERAND_COUNT);
  const m = mem ? modrmMem(reg, disp) : modrmReg(reg, rm);
  const pre = (p: number | null): number[] => (p === null ? [] : [p]);
  const no = { gpr: -1, flags: false };
  switch (r.pick(12)) {
    case 0: case 1: case 2: case 3: {
      const [p, o, name] = PACKED[r.pick(PACKED.length)]!;
      return { bytes: build(pre(p), [0x0f, o], m, false), text: name, ...no };
    }
    case 4: case 5: {
      const [p, o, name] = SCALAR[r.pick(SCALAR.length)]!;
      return { bytes: build(pre(p), [0x0f, o], m, false), text: name, ...no };
    }
    case 6: { // compares with a predicate
      const p = [null, 0x66, 0xf3, 0xf2][r.pick(4)]!;
      return { bytes: build(pre(p), [0x0f, 0xc2], m, false, [r.pick(8) | (r.pick(4) === 0 ? 0x08 : 0)]), text: `cmp ${p ?? 'np'}`, ...no };
    }
    case 7: { // COMIS/UCOMIS: flags
      const p = r.bool() ? 0x66 : null, o = r.bool() ? 0x2e : 0x2f;
      return { bytes: build(pre(p), [0x0f, o], m, false), text: `comis ${o.toString(16)} ${p ?? 'np'}`, gpr: -1, flags: true };
    }
    case 8: { // conversions to a general register, and CVTSI2SS/SD
      const g = GPRS[r.pick(GPRS.length)]!;
      const w = r.bool();
      const p = r.bool() ? 0xf3 : 0xf2;
      if (r.bool()) {
        const o = r.bool() ? 0x2c : 0x2d;
        const mm = mem ? modrmMem(g, disp) : modrmReg(g, rm);
        return { bytes: build([p], [0x0f, o], mm, w), text: `cvt${o === 0x2c ? 't' : ''}s2si ${p.toString(16)} w${+w}`, gpr: g, flags: false };
      }
      const mm = mem ? modrmMem(reg, GPR_AT - 0x100 + 8 * r.pick(16)) : modrmReg(reg, g);
      return { bytes: build([p], [0x0f, 0x2a], mm, w), text: `cvtsi2s ${p.toString(16)} w${+w}`, ...no };
    }
    case 9: { // shuffles and immediates
      const which = r.pick(5);
      if (which === 0) return { bytes: build([0x66], [0x0f, 0x70], m, false, [r.pick(256)]), text: 'pshufd', ...no };
      if (which === 1) return { bytes: build([r.bool() ? 0xf3 : 0xf2], [0x0f, 0x70], m, false, [r.pick(256)]), text: 'pshufhw/lw', ...no };
      if (which === 2) return { bytes: build(r.bool() ? [0x66] : [], [0x0f, 0xc6], m, false, [r.pick(256)]), text: 'shufps/pd', ...no };
      if (which === 3) return { bytes: build([0x66], [0x0f, 0xc4], mem ? modrmMem(reg, disp) : modrmReg(reg, GPRS[r.pick(GPRS.length)]!), false, [r.pick(256)]), text: 'pinsrw', ...no };
      const ext = [[0x71, 2], [0x71, 4], [0x71, 6], [0x72, 2], [0x72, 4], [0x72, 6], [0x73, 2], [0x73, 3], [0x73, 6], [0x73, 7]][r.pick(10)]!;
      const counts = [0, 1, 7, 8, 15, 16, 31, 32, 63, 64, 200];
      return { bytes: build([0x66], [0x0f, ext[0]!], modrmReg(ext[1]!, rm), false, [counts[r.pick(counts.length)]!]), text: `shift ${ext[0]!.toString(16)}/${ext[1]}`, ...no };
    }
    case 10: { // moves to general registers and masks
      const g = GPRS[r.pick(GPRS.length)]!;
      const which = r.pick(5);
      if (which === 0) return { bytes: build([0x66], [0x0f, 0xd7], modrmReg(g, rm), false), text: 'pmovmskb', gpr: g, flags: false };
      if (which === 1) return { bytes: build(r.bool() ? [0x66] : [], [0x0f, 0x50], modrmReg(g, rm), false), text: 'movmskps/pd', gpr: g, flags: false };
      if (which === 2) return { bytes: build([0x66], [0x0f, 0x7e], modrmReg(rm, g), r.bool()), text: 'movd/q r, xmm', gpr: g, flags: false };
      if (which === 3) return { bytes: build([0x66], [0x0f, 0xc5], modrmReg(g, rm), false, [r.pick(256)]), text: 'pextrw', gpr: g, flags: false };
      return { bytes: build([0x66], [0x0f, 0x6e], mem ? modrmMem(reg, disp) : modrmReg(reg, g), r.bool()), text: 'movd/q xmm, r', ...no };
    }
    default: { // the other moves
      const which = r.pick(6);
      if (which === 0) return { bytes: build([0xf3], [0x0f, 0x7e], m, false), text: 'movq xmm, xmm/m64', ...no };
      if (which === 1) return { bytes: build([0x66], [0x0f, 0xd6], modrmReg(reg, rm), false), text: 'movq xmm/m64, xmm', ...no };
      if (which === 2) {
        const p66 = r.bool(); // MOVLPD/MOVHPD have no register form
        return { bytes: build(p66 ? [0x66] : [], [0x0f, [0x12, 0x16, 0x13, 0x17][r.pick(4)]!], mem || p66 ? modrmMem(reg, disp) : modrmReg(reg, rm), false), text: 'movlp/hp/hlps/lhps', ...no };
      }
      if (which === 3) return { bytes: build([0xf3], [0x0f, 0x5a], m, false), text: 'cvtss2sd', ...no };
      if (which === 4) return { bytes: build([0xf3], [0x0f, 0xe6], m, false), text: 'cvtdq2pd', ...no };
      return { bytes: build([0xf2], [0x0f, 0x5a], m, false), text: 'cvtsd2ss', ...no };
    }
  }
}

/** A random x87 data move or control instruction. */
export function genX87(r: Rng): SimdInsn {
  const disp = OPERANDS + 16 * r.pick(OPERAND_COUNT) + (r.bool() ? 0 : 8 * r.pick(2));
  const mem = (op: number, ext: number): number[] => [op, 0x80 | (ext << 3) | 3, disp & 0xff, (disp >> 8) & 0xff, 0, 0];
  const no = { gpr: -1, flags: false };
  const i = r.pick(8);
  switch (r.pick(22)) {
    case 20: case 21: return { bytes: [r.bool() ? 0xdb : 0xdf, (r.bool() ? 0xe8 : 0xf0) | i], text: 'f(u)comi(p)', gpr: -1, flags: true };
    case 14: { const k = r.pick(5); return { bytes: mem([0xdf, 0xdf, 0xdb, 0xdb, 0xdf][k]!, [2, 3, 2, 3, 7][k]!), text: 'fist(p)', ...no }; }
    case 15: return { bytes: [0xd9, 0xc8 | i], text: 'fxch', ...no };
    case 16: return { bytes: [0xd9, 0xe0 | r.pick(2)], text: 'fchs/fabs', ...no };
    case 17: return { bytes: [0xd9, r.bool() ? 0xe8 : 0xee], text: 'fld1/fldz', ...no };
    case 18: return { bytes: [0xdd, 0xc0 | i], text: 'ffree', ...no };
    case 19: return { bytes: [0xd9, 0xd0], text: 'fnop', ...no };
    case 0: return { bytes: mem(0xd9, 0), text: 'fld m32', ...no };
    case 1: return { bytes: mem(0xdd, 0), text: 'fld m64', ...no };
    case 2: return { bytes: mem(0xdb, 5), text: 'fld m80', ...no };
    case 3: { const k = r.pick(3); return { bytes: mem([0xdf, 0xdb, 0xdf][k]!, [0, 0, 5][k]!), text: 'fild', ...no }; }
    case 4: return { bytes: mem(0xd9, 2 + r.pick(2)), text: 'fst(p) m32', ...no };
    case 5: return { bytes: mem(0xdd, 2 + r.pick(2)), text: 'fst(p) m64', ...no };
    case 6: return { bytes: mem(0xdb, 7), text: 'fstp m80', ...no };
    case 7: return { bytes: [0xd9, 0xc0 | i], text: 'fld st(i)', ...no };
    case 8: return { bytes: [0xdd, (r.bool() ? 0xd0 : 0xd8) | i], text: 'fst(p) st(i)', ...no };
    case 9: return { bytes: [0xdf, 0xe0], text: 'fnstsw ax', gpr: 0, flags: false };
    case 10: return { bytes: [0xdb, 0xe2], text: 'fnclex', ...no };
    case 11: return { bytes: r.pick(4) === 0 ? [0xdb, 0xe3] : [0x9b], text: 'fninit/fwait', ...no };
    case 12: return { bytes: [0x0f, 0x77], text: 'emms', ...no };
    default: return { bytes: mem(0xdd, 7), text: 'fnstsw m16', ...no };
  }
}

/** MXCSR for a program: random rounding mode and FTZ; every exception masked but now and then one. */
export function genMxcsr(r: Rng): number {
  let masks = 0x3f;
  if (r.pick(8) === 0) masks &= ~(1 << r.pick(6));
  return (masks << 7) | (r.pick(4) << 13) | (r.pick(4) === 0 ? 0x8000 : 0) | (r.pick(6) === 0 ? r.pick(64) : 0);
}

/** FCW for a program: rounding and precision control random, masks set (now and then one clear). */
export function genFcw(r: Rng): number {
  let masks = 0x3f;
  if (r.pick(10) === 0) masks &= ~(1 << r.pick(6));
  return 0x40 | masks | (r.pick(4) << 8) | (r.pick(4) << 10);
}

/**
 * The program: load XMM0–15 from operands 0–15 (`movdqu`), MXCSR and FCW, then each instruction
 * followed by `fxsave64 [rbx + slot]`, `pushfq; pop [rbx + FLAGS_AT + 8i]` and a store of the
 * general register it wrote; `int3` at the end.
 */
export function assembleSimd(insns: readonly SimdInsn[]): Uint8Array {
  const out: number[] = [];
  const disp32 = (v: number): number[] => [v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, (v >>> 24) & 0xff];
  for (let x = 0; x < 16; x++) out.push(0xf3, ...(x >= 8 ? [0x44] : []), 0x0f, 0x6f, 0x83 | ((x & 7) << 3), ...disp32(OPERANDS + 16 * x));
  out.push(0x0f, 0xae, 0x93, ...disp32(MXCSR_AT)); // ldmxcsr [rbx + MXCSR_AT]
  out.push(0xd9, 0xab, ...disp32(FCW_AT)); // fldcw [rbx + FCW_AT]
  insns.forEach((insn, i) => {
    out.push(...insn.bytes);
    out.push(0x48, 0x0f, 0xae, 0x83, ...disp32(SLOTS_AT + 0x200 * i)); // fxsave64
    out.push(0x9c, 0x8f, 0x83, ...disp32(FLAGS_AT + 8 * i)); // pushfq; pop qword [rbx + …]
    if (insn.gpr >= 0) out.push(0x48 | ((insn.gpr & 8) >> 1), 0x89, 0x83 | ((insn.gpr & 7) << 3), ...disp32(GPR_AT + 8 * i));
  });
  out.push(0xcc);
  return Uint8Array.from(out);
}
