/**
 * Random x87 arithmetic programs for differential tests (not part of the package's API): the
 * operand area gets 80-bit special encodings (signed zeros, infinities, quiet and signalling NaNs,
 * the indefinite, denormals, pseudo-denormals, unnormals, pseudo-NaN/∞, the extremes of the
 * exponent range, values a few ulps apart that cancel) beside IEEE singles, doubles and small
 * integers; a program loads a few of them and runs arithmetic (every form of FADD…FDIVR),
 * compares, FTST/FXAM, FSQRT, FRNDINT, FSCALE, FXTRACT, FPREM(1), FCMOVcc, constants, stack
 * moves and the environment instructions, under a random rounding and precision control (and
 * now and then an unmasked exception). Assembled with simd-gen.ts's `assembleSimd`: the whole
 * x87 state is saved after every instruction.
 * @module
 */
import {
  DATA_BYTES, FCW_AT, MXCSR_AT, OPERANDS, OPERAND_COUNT, Rng, assembleSimd, genFcw, genX87, operand, type SimdInsn,
} from './simd-gen.js';
import { USER_DATA, type Ring3Input } from './ring3.js';

/** Where FNSTENV/FNSAVE write and FLDENV/FRSTOR read (offset from RBX; 108 bytes). */
export const ENV_AT = 0x400;

/** An 80-bit special encoding into `out` at `at` (10 bytes). */
export function ext80(r: Rng, out: DataView, at: number, near?: { exp: number; hi: number }): void {
  const sign = r.bool() ? 0x8000 : 0;
  let exp: number, hi: number, lo = r.u32();
  switch (near ? 99 : r.pick(18)) {
    case 0: exp = 0; hi = 0; lo = 0; break; // ±0
    case 1: exp = 0x7fff; hi = 0x80000000; lo = 0; break; // ±∞
    case 2: exp = 0x7fff; hi = (0xc0000000 | r.pick(0x40000000)) >>> 0; break; // QNaN
    case 3: exp = 0x7fff; hi = (0x80000000 | r.pick(0x40000000)) >>> 0; if (hi === 0x80000000 && lo === 0) lo = 1; break; // SNaN
    case 4: exp = 0x7fff; hi = 0xc0000000; lo = 0; break; // indefinite (either sign)
    case 5: exp = 0; hi = r.pick(0x80000000); break; // denormal
    case 6: exp = 0; hi = (0x80000000 | r.u32()) >>> 0; break; // pseudo-denormal
    case 7: exp = 1 + r.pick(0x7ffe); hi = r.pick(0x80000000); break; // unnormal
    case 8: exp = 0x7fff; hi = r.pick(0x80000000); break; // pseudo-NaN / pseudo-∞
    case 9: exp = 1 + r.pick(70); hi = (0x80000000 | r.u32()) >>> 0; break; // near underflow
    case 10: exp = 0x7ffe - r.pick(70); hi = (0x80000000 | r.u32()) >>> 0; break; // near overflow
    case 11: exp = 0x3fff; hi = 0x80000000; lo = 0; break; // ±1
    case 12: exp = 0x7ffe; hi = 0xffffffff; lo = 0xffffffff; break; // largest
    case 13: exp = 1; hi = 0x80000000; lo = 0; break; // smallest normal
    case 14: exp = 0x3fff + r.pick(80) - 16; hi = (0x80000000 | r.u32()) >>> 0; lo &= r.bool() ? 0xfffff800 : 0xffffffff; break; // integers and halves
    case 99: exp = near!.exp + r.pick(3) - 1; hi = (near!.hi + r.pick(3) - 1) >>> 0 | 0x80000000; lo = r.pick(4) === 0 ? 0 : lo; break;
    default: exp = 0x3fff + r.pick(200) - 100; hi = (0x80000000 | r.u32()) >>> 0; // ordinary
  }
  out.setUint32(at, lo, true);
  out.setUint32(at + 4, hi >>> 0, true);
  out.setUint16(at + 8, sign | exp, true);
}

/** Fills half the operand slots with 80-bit specials (the rest keep simd-gen's singles, doubles and integers). */
export function fillExt80(r: Rng, out: DataView): void {
  for (let i = 0; i < OPERAND_COUNT; i += 2) {
    const at = OPERANDS + 16 * i;
    if (i > 0 && r.pick(4) === 0) {
      const prev = at - 32;
      ext80(r, out, at, { exp: out.getUint16(prev + 8, true) & 0x7fff, hi: out.getUint32(prev + 4, true) });
    } else ext80(r, out, at);
  }
}

const no = { gpr: -1, flags: false };

function memBytes(r: Rng, op: number, ext: number): number[] {
  const disp = OPERANDS + 16 * r.pick(OPERAND_COUNT) + (r.pick(3) === 0 ? 8 * r.pick(2) : 0);
  return [op, 0x80 | (ext << 3) | 3, disp & 0xff, (disp >> 8) & 0xff, 0, 0];
}

/** A load that feeds the arithmetic: mostly 80-bit specials. */
export function genX87Load(r: Rng): SimdInsn {
  switch (r.pick(8)) {
    case 0: return { bytes: memBytes(r, 0xdd, 0), text: 'fld m64', ...no };
    case 1: return { bytes: memBytes(r, 0xd9, 0), text: 'fld m32', ...no };
    case 2: return { bytes: [0xd9, 0xe8 + r.pick(7)], text: 'fld constant', ...no };
    case 3: return { bytes: memBytes(r, [0xdf, 0xdb][r.pick(2)]!, 0), text: 'fild', ...no };
    default: {
      const slot = 2 * r.pick(OPERAND_COUNT / 2), disp = OPERANDS + 16 * slot;
      return { bytes: [0xdb, 0xab, disp & 0xff, (disp >> 8) & 0xff, 0, 0], text: 'fld m80', ...no };
    }
  }
}

/** A random x87 arithmetic, compare, control or data-move instruction. */
export function genX87Arith(r: Rng): SimdInsn {
  const i = r.pick(8);
  const arith = [0, 1, 4, 5, 6, 7][r.pick(6)]!;
  const envDisp = [ENV_AT & 0xff, ENV_AT >> 8, 0, 0];
  switch (r.pick(30)) {
    case 0: case 1: case 2: case 3: return { bytes: [0xd8, 0xc0 | (arith << 3) | i], text: 'farith st, st(i)', ...no };
    case 4: case 5: return { bytes: [0xdc, 0xc0 | (arith << 3) | i], text: 'farith st(i), st', ...no };
    case 6: case 7: return { bytes: [0xde, 0xc0 | (arith << 3) | i], text: 'farithp st(i), st', ...no };
    case 8: case 9: return { bytes: memBytes(r, 0xd8, r.pick(8)), text: 'farith m32', ...no };
    case 10: case 11: return { bytes: memBytes(r, 0xdc, r.pick(8)), text: 'farith m64', ...no };
    case 12: return { bytes: memBytes(r, [0xda, 0xde][r.pick(2)]!, r.pick(8)), text: 'fiarith m32/m16', ...no };
    case 13: {
      const k = r.pick(6);
      const b = [[0xd8, 0xd0 | i], [0xd8, 0xd8 | i], [0xde, 0xd9], [0xdd, 0xe0 | i], [0xdd, 0xe8 | i], [0xda, 0xe9]][k]!;
      return { bytes: b, text: ['fcom', 'fcomp', 'fcompp', 'fucom', 'fucomp', 'fucompp'][k]!, ...no };
    }
    case 14: return { bytes: [0xd9, r.bool() ? 0xe4 : 0xe5], text: 'ftst/fxam', ...no };
    case 15: return { bytes: [0xd9, 0xfa], text: 'fsqrt', ...no };
    case 16: return { bytes: [0xd9, 0xfc], text: 'frndint', ...no };
    case 17: return { bytes: [0xd9, 0xfd], text: 'fscale', ...no };
    case 18: return { bytes: [0xd9, 0xf4], text: 'fxtract', ...no };
    case 19: return { bytes: [0xd9, r.bool() ? 0xf8 : 0xf5], text: 'fprem/fprem1', ...no };
    case 20: return { bytes: [0xd9, r.bool() ? 0xf6 : 0xf7], text: 'fdecstp/fincstp', ...no };
    case 21: return { bytes: [r.bool() ? 0xda : 0xdb, 0xc0 | (r.pick(4) << 3) | i], text: 'fcmovcc', ...no };
    case 22: return { bytes: [r.bool() ? 0xdb : 0xdf, (r.bool() ? 0xe8 : 0xf0) | i], text: 'f(u)comi(p)', gpr: -1, flags: true };
    case 23: return { bytes: [0xdf, 0xc0 | i], text: 'ffreep', ...no };
    case 24: {
      const k = r.pick(4);
      return { bytes: [[0xd9, 0xb3], [0xd9, 0xa3], [0xdd, 0xb3], [0xdd, 0xa3]][k]!.concat(envDisp), text: ['fnstenv', 'fldenv', 'fnsave', 'frstor'][k]!, ...no };
    }
    case 25: return { bytes: memBytes(r, 0xdd, 7), text: 'fnstsw m16', ...no };
    case 26: return { bytes: [0xdf, 0xe0], text: 'fnstsw ax', gpr: 0, flags: false };
    case 27: return r.bool() ? genX87(r) : { bytes: r.bool() ? memBytes(r, 0xdf, 6) : [0xdf, 0xa3, ENV_AT + 0x70 & 0xff, (ENV_AT + 0x70) >> 8, 0, 0], text: 'fbstp/fbld', ...no };
    default: return genX87Load(r);
  }
}

/** The program of `seed`: a few loads, then 4–19 random instructions. */
export function x87Program(seed: number): { input: Ring3Input; insns: SimdInsn[] } {
  const r = new Rng(seed);
  const data = new Uint8Array(DATA_BYTES);
  const dv = new DataView(data.buffer);
  for (let i = 0; i < OPERAND_COUNT; i++) operand(r, dv, OPERANDS + 16 * i);
  fillExt80(r, dv);
  // An environment image for FLDENV/FRSTOR before any FNSTENV: random TOP, tags and registers.
  dv.setUint16(ENV_AT, genFcw(r), true);
  dv.setUint16(ENV_AT + 4, (r.pick(8) << 11) | (r.pick(4) === 0 ? r.pick(0x80) : 0) | (r.pick(16) << 8 & 0x4700), true);
  dv.setUint16(ENV_AT + 8, r.u32() & 0xffff, true);
  for (let i = 0; i < 8; i++) ext80(r, dv, ENV_AT + 28 + 10 * i);
  for (let i = 0; i < 9; i++) dv.setUint8(ENV_AT + 0x70 + i, r.pick(10) << 4 | r.pick(10)); // a packed BCD for FBLD
  dv.setUint8(ENV_AT + 0x70 + 9, r.bool() ? 0x80 : 0);
  dv.setUint32(MXCSR_AT, 0x1f80, true);
  dv.setUint16(FCW_AT, genFcw(r), true);
  const insns: SimdInsn[] = [];
  const loads = 1 + r.pick(4);
  for (let i = 0; i < loads; i++) insns.push(genX87Load(r));
  const n = 4 + r.pick(16);
  for (let i = 0; i < n; i++) insns.push(genX87Arith(r));
  return { input: { code: assembleSimd(insns), data, regs: { rbx: BigInt(USER_DATA) } }, insns };
}
