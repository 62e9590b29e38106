/**
 * The x86-64 decoder: legacy prefixes (lock, rep/repne, segment, operand and address size), REX,
 * the one-byte, 0F, 0F 38 and 0F 3A maps, ModRM and SIB with every displacement size,
 * RIP-relative addressing and immediates of every size. Whether an opcode has a ModRM byte and
 * which immediate follows come from the opcode table (isa/opcodes.ts). It fills a reusable
 * {@link Insn}; the executor decides what the opcode means.
 * @module
 */
import {
  HAS_MODRM, IMM_BY_EXT, IMM_KIND, I_B, I_ENTER, I_EXT, I_MOFFS, I_NONE, I_REL32, I_V, I_W, I_Z,
} from '../isa/derive.js';

/** Base register value meaning RIP-relative. */
export const BASE_RIP = 16;

/** One decoded instruction. */
export class Insn {
  /** Length in bytes. */
  len = 0;
  /** Opcode number (see isa/opcodes.ts): 0x000–0x0ff one-byte, 0x1xx 0F, 0x2xx 0F 38, 0x3xx 0F 3A. */
  op = 0;
  /** Operand size for `v` operands from REX.W and 0x66: 2, 4 or 8. */
  opsz = 4;
  /** Address size: 8 (default) or 4 (0x67). */
  adsz = 8;
  /** 0, 0xf3 (REP/REPE) or 0xf2 (REPNE). */
  rep = 0;
  lock = false;
  /** 0x66 seen. */
  p66 = false;
  /** Segment override (FS = 4, GS = 5; ES/CS/SS/DS are ignored in 64-bit mode), or -1. */
  seg = -1;
  /** The REX byte, or 0. */
  rex = 0;
  hasModrm = false;
  /** The ModRM byte as encoded (x87's last-opcode register records it). */
  modrm = 0;
  mod = 0;
  /** ModRM reg field with REX.R. */
  reg = 0;
  /** ModRM rm field with REX.B (register operand when mod = 3). */
  rm = 0;
  /** Memory operand: base register, BASE_RIP, or -1. */
  base = -1;
  /** Index register or -1. */
  index = -1;
  scale = 0;
  /** Signed displacement. */
  disp = 0;
  /** Immediate, sign-extended to 32 bits where the encoding says so (low half for 64-bit). */
  imm = 0;
  /** High half of a 64-bit immediate (MOV r64, imm64) or sign extension of a 32-bit one. */
  immHi = 0;
  /** Second immediate (ENTER's nesting level). */
  imm2 = 0;
  /** Set when the bytes do not form an instruction (too long): the executor raises #GP. */
  tooLong = false;
  // The instruction's bytes as little-endian 32-bit words (the last one masked to `len`), for the
  // decode cache to check that memory still holds this instruction. Set by `DecodeCache` only.
  c0 = 0; c1 = 0; c2 = 0; c3 = 0;
  /** Mask of the last word's valid bytes (as a signed 32-bit number). */
  cmask = 0;
  /** Specialised handler kind for hot forms (`execute/fast.ts`), 0 for the general executor. Set by the vCPU. */
  fast = 0;
  /** Register operands resolved for the specialised handler. */
  fa = 0; fb = 0;
  /** Its role in a basic block (`R_ALONE`, `R_LINE`, `R_END` in isa/derive.ts). Set with `fast`. */
  role = 0;
  /** The MMU's `codeStamp` when the decode cache last checked this entry against memory (-1: never). */
  stamp = -1;
}

/** Reads code bytes for the decoder. */
export interface CodeReader {
  /** Byte `i` of the instruction (may raise #PF). */
  byte(i: number): number;
}

/**
 * Decodes the instruction whose bytes `code` yields into `d`. Undefined opcodes decode too (with
 * their likely ModRM) and are rejected by the executor with #UD.
 */
export function decode(code: CodeReader, d: Insn): void {
  let p = 0;
  let b = 0;
  d.rep = 0; d.lock = false; d.p66 = false; d.seg = -1; d.rex = 0; d.adsz = 8; d.tooLong = false;
  d.imm = 0; d.immHi = 0; d.imm2 = 0;
  // Legacy prefixes in any order; a REX counts only right before the opcode (the last one wins).
  for (;;) {
    if (p >= 14) { d.tooLong = true; d.len = 15; return; }
    b = code.byte(p++);
    switch (b) {
      case 0xf0: d.lock = true; d.rex = 0; continue;
      case 0xf2: case 0xf3: d.rep = b; d.rex = 0; continue;
      case 0x66: d.p66 = true; d.rex = 0; continue;
      case 0x67: d.adsz = 4; d.rex = 0; continue;
      case 0x26: case 0x2e: case 0x36: case 0x3e: d.rex = 0; continue;
      case 0x64: d.seg = 4; d.rex = 0; continue;
      case 0x65: d.seg = 5; d.rex = 0; continue;
    }
    if ((b & 0xf0) === 0x40) { d.rex = b; continue; }
    break;
  }
  let op = b;
  if (b === 0x0f) {
    const b2 = code.byte(p++);
    if (b2 === 0x38) op = 0x200 | code.byte(p++);
    else if (b2 === 0x3a) op = 0x300 | code.byte(p++);
    else op = 0x100 | b2;
  }
  d.op = op;
  const rex = d.rex;
  d.opsz = rex & 8 ? 8 : d.p66 ? 2 : 4;
  d.hasModrm = HAS_MODRM[op] === 1;
  d.base = -1; d.index = -1; d.scale = 0; d.disp = 0; d.mod = 3; d.reg = 0; d.rm = 0;
  if (d.hasModrm) {
    const m = code.byte(p++);
    d.modrm = m;
    const mod = m >> 6;
    d.mod = mod;
    d.reg = ((m >> 3) & 7) | ((rex & 4) << 1);
    const rm = m & 7;
    if (mod === 3) {
      d.rm = rm | ((rex & 1) << 3);
    } else {
      if (rm === 4) {
        const sib = code.byte(p++);
        d.scale = sib >> 6;
        const idx = ((sib >> 3) & 7) | ((rex & 2) << 2);
        d.index = idx === 4 ? -1 : idx;
        const base = sib & 7;
        if (base === 5 && mod === 0) {
          d.base = -1;
          d.disp = disp32(code, p); p += 4;
        } else {
          d.base = base | ((rex & 1) << 3);
        }
      } else if (rm === 5 && mod === 0) {
        d.base = BASE_RIP;
        d.disp = disp32(code, p); p += 4;
      } else {
        d.base = rm | ((rex & 1) << 3);
      }
      if (mod === 1) { d.disp = (code.byte(p++) << 24) >> 24; }
      else if (mod === 2) { d.disp = disp32(code, p); p += 4; }
    }
  }
  let kind = IMM_KIND[op]!;
  if (kind === I_EXT) kind = IMM_BY_EXT[(op << 3) | (d.reg & 7)]!;
  switch (kind) {
    case I_NONE: break;
    case I_B: d.imm = (code.byte(p++) << 24) >> 24; break;
    case I_W: d.imm = code.byte(p) | (code.byte(p + 1) << 8); p += 2; break;
    case I_Z:
      if (d.opsz === 2) { d.imm = ((code.byte(p) | (code.byte(p + 1) << 8)) << 16) >> 16; p += 2; }
      else { d.imm = disp32(code, p); p += 4; }
      d.immHi = d.imm < 0 ? 0xffffffff : 0;
      break;
    case I_REL32: d.imm = disp32(code, p); p += 4; break;
    case I_V:
      if (d.opsz === 8) {
        d.imm = disp32(code, p) >>> 0; d.immHi = disp32(code, p + 4) >>> 0; p += 8;
      } else if (d.opsz === 2) {
        d.imm = code.byte(p) | (code.byte(p + 1) << 8); p += 2;
      } else {
        d.imm = disp32(code, p) >>> 0; p += 4;
      }
      break;
    case I_ENTER:
      d.imm = code.byte(p) | (code.byte(p + 1) << 8); d.imm2 = code.byte(p + 2); p += 3;
      break;
    case I_MOFFS:
      if (d.adsz === 8) { d.imm = disp32(code, p) >>> 0; d.immHi = disp32(code, p + 4) >>> 0; p += 8; }
      else { d.imm = disp32(code, p) >>> 0; p += 4; }
      break;
  }
  if (p > 15) d.tooLong = true;
  d.len = p;
}

function disp32(code: CodeReader, p: number): number {
  return code.byte(p) | (code.byte(p + 1) << 8) | (code.byte(p + 2) << 16) | (code.byte(p + 3) << 24);
}
