/**
 * Specialised handlers for the hottest instruction forms (register and simple memory forms of
 * MOV, the ALU row, ALU with an immediate, shifts by an immediate, Jcc/JMP, MOVZX, LEA, PUSH/POP,
 * CALL/RET, NOP) at 32- and 64-bit operand size. `classify` picks a handler once, when an
 * instruction is decoded; `executeFast` then does exactly what `execute` does for that form,
 * without the lock/length checks (forms with LOCK or too long are never classified), the big
 * opcode switch and the size switches of the generic operand helpers.
 * @module
 */
import type { Cpu } from '../cpu/cpu.js';
import { condition } from '../cpu/flags.js';
import type { Insn } from '../decoder/decoder.js';
import { CMP, alu, shift } from './alu.js';
import { canonical, ea, leaValue, pop, push } from './operands.js';

const TWO32 = 0x1_0000_0000;

export const F_NONE = 0;
export const F_MOV_RR = 1, F_MOV_LOAD = 2, F_MOV_STORE = 3, F_ALU_RR = 4, F_ALU_RM = 5, F_ALU_MR = 6, F_ALU_RI = 7, F_ALU_MI = 8,
  F_SHIFT_RI = 9, F_JCC = 10, F_JMP = 11, F_MOVZX8_R = 12, F_MOVZX8_M = 13, F_LEA = 14, F_MOV_RI = 15, F_PUSH = 16,
  F_POP = 17, F_CALL = 18, F_RET = 19, F_NOP = 20, F_TEST_RR = 21;

/** Handlers that may transfer control (they end a basic block). */
export function isBranch(k: number): boolean {
  return k === F_JCC || k === F_JMP || k === F_CALL || k === F_RET;
}

/** Handlers that access memory (a store may hit code or MMIO; any access may walk the page tables and set A/D bits). */
export function accessesMemory(k: number): boolean {
  return k === F_MOV_LOAD || k === F_MOV_STORE || k === F_ALU_RM || k === F_ALU_MR || k === F_ALU_MI ||
    k === F_MOVZX8_M || k === F_PUSH || k === F_POP || k === F_CALL || k === F_RET;
}

/** The specialised handler for `d`, or F_NONE. Sets `d.fa`/`d.fb` (register operands) where used. */
export function classify(d: Insn): number {
  if (d.lock || d.tooLong) return F_NONE;
  const op = d.op, s = d.opsz, reg3 = s === 4 || s === 8, m3 = d.mod === 3;
  if (op < 0x40 && ((op & 7) === 1 || (op & 7) === 3) && reg3) {
    if (m3) {
      if ((op & 7) === 1) { d.fa = d.rm; d.fb = d.reg; } else { d.fa = d.reg; d.fb = d.rm; }
      return F_ALU_RR;
    }
    return (op & 7) === 3 ? F_ALU_RM : F_ALU_MR;
  }
  switch (op) {
    case 0x89: if (!reg3) return F_NONE; if (m3) { d.fa = d.rm; d.fb = d.reg; return F_MOV_RR; } return F_MOV_STORE;
    case 0x8b: if (!reg3) return F_NONE; if (m3) { d.fa = d.reg; d.fb = d.rm; return F_MOV_RR; } return F_MOV_LOAD;
    case 0x81: case 0x83: return reg3 ? (m3 ? F_ALU_RI : F_ALU_MI) : F_NONE;
    case 0x85: return reg3 && m3 ? F_TEST_RR : F_NONE;
    case 0xc1: return reg3 && m3 ? F_SHIFT_RI : F_NONE;
    case 0x70: case 0x71: case 0x72: case 0x73: case 0x74: case 0x75: case 0x76: case 0x77:
    case 0x78: case 0x79: case 0x7a: case 0x7b: case 0x7c: case 0x7d: case 0x7e: case 0x7f:
    case 0x180: case 0x181: case 0x182: case 0x183: case 0x184: case 0x185: case 0x186: case 0x187:
    case 0x188: case 0x189: case 0x18a: case 0x18b: case 0x18c: case 0x18d: case 0x18e: case 0x18f:
      return F_JCC;
    case 0xe9: case 0xeb: return F_JMP;
    case 0x1b6: return reg3 ? (m3 ? F_MOVZX8_R : F_MOVZX8_M) : F_NONE;
    case 0x8d: return reg3 && !m3 ? F_LEA : F_NONE;
    case 0xb8: case 0xb9: case 0xba: case 0xbb: case 0xbc: case 0xbd: case 0xbe: case 0xbf:
      if (!reg3) return F_NONE;
      d.fa = (op & 7) | ((d.rex & 1) << 3);
      return F_MOV_RI;
    case 0x50: case 0x51: case 0x52: case 0x53: case 0x54: case 0x55: case 0x56: case 0x57:
      if (d.p66) return F_NONE;
      d.fa = (op & 7) | ((d.rex & 1) << 3);
      return F_PUSH;
    case 0x58: case 0x59: case 0x5a: case 0x5b: case 0x5c: case 0x5d: case 0x5e: case 0x5f:
      if (d.p66) return F_NONE;
      d.fa = (op & 7) | ((d.rex & 1) << 3);
      return F_POP;
    case 0xe8: return F_CALL;
    case 0xc3: return d.p66 ? F_NONE : F_RET;
    case 0x90: return (d.rex & 1) === 0 ? F_NOP : F_NONE;
    case 0x10d: case 0x118: case 0x119: case 0x11a: case 0x11b: case 0x11c: case 0x11d: case 0x11e: case 0x11f:
      return F_NOP;
    default: return F_NONE;
  }
}

/** Writes a 32-bit (high half cleared) or 64-bit register. */
function put(cpu: Cpu, r: number, s: number, lo: number, hi: number): void {
  cpu.lo[r] = lo;
  cpu.hi[r] = s === 8 ? hi : 0;
}

/** Executes `d` with handler `k` (from {@link classify}); same effect and faults as `execute`. */
export function executeFast(cpu: Cpu, d: Insn, k: number): void {
  const L = cpu.lo, H = cpu.hi;
  switch (k) {
    case F_MOV_RR: {
      const a = d.fa, b = d.fb;
      L[a] = L[b]!;
      H[a] = d.opsz === 8 ? H[b]! : 0;
      return;
    }
    case F_MOV_LOAD: {
      const s = d.opsz;
      const a = ea(cpu, d);
      if (s === 8) { const v = cpu.mmu.read64(a); put(cpu, d.reg, 8, v, cpu.rh); }
      else put(cpu, d.reg, 4, cpu.mmu.read32(a), 0);
      return;
    }
    case F_MOV_STORE: {
      const r = d.reg;
      const lo = L[r]!, hi = H[r]!;
      const a = ea(cpu, d);
      if (d.opsz === 8) cpu.mmu.write64(a, lo, hi);
      else cpu.mmu.write32(a, lo);
      return;
    }
    case F_ALU_RR: {
      const s = d.opsz, o = d.op >> 3, x = d.fa, y = d.fb;
      const r = alu(cpu, o, s, L[x]!, H[x]!, L[y]!, H[y]!);
      if (o !== CMP) put(cpu, x, s, r, cpu.rh);
      return;
    }
    case F_ALU_RM: {
      const s = d.opsz, o = d.op >> 3;
      const a = ea(cpu, d);
      const b = s === 8 ? cpu.mmu.read64(a) : cpu.mmu.read32(a), bh = s === 8 ? cpu.rh : 0;
      const x = d.reg;
      const r = alu(cpu, o, s, L[x]!, H[x]!, b, bh);
      if (o !== CMP) put(cpu, x, s, r, cpu.rh);
      return;
    }
    case F_ALU_MR: {
      const s = d.opsz, o = d.op >> 3;
      const ad = ea(cpu, d);
      const a = s === 8 ? cpu.mmu.read64(ad) : cpu.mmu.read32(ad), ah = s === 8 ? cpu.rh : 0;
      const y = d.reg;
      const r = alu(cpu, o, s, a, ah, L[y]!, H[y]!);
      if (o !== CMP) {
        if (s === 8) cpu.mmu.write64(ad, r, cpu.rh);
        else cpu.mmu.write32(ad, r);
      }
      return;
    }
    case F_ALU_RI: {
      const s = d.opsz, o = d.reg & 7, x = d.rm, v = d.imm;
      const r = alu(cpu, o, s, L[x]!, H[x]!, v >>> 0, s === 8 && v < 0 ? 0xffffffff : 0);
      if (o !== CMP) put(cpu, x, s, r, cpu.rh);
      return;
    }
    case F_ALU_MI: {
      const s = d.opsz, o = d.reg & 7, v = d.imm;
      const ad = ea(cpu, d);
      const a = s === 8 ? cpu.mmu.read64(ad) : cpu.mmu.read32(ad), ah = s === 8 ? cpu.rh : 0;
      const r = alu(cpu, o, s, a, ah, v >>> 0, s === 8 && v < 0 ? 0xffffffff : 0);
      if (o !== CMP) {
        if (s === 8) cpu.mmu.write64(ad, r, cpu.rh);
        else cpu.mmu.write32(ad, r);
      }
      return;
    }
    case F_TEST_RR: {
      const x = d.rm, y = d.reg;
      alu(cpu, 4, d.opsz, L[x]!, H[x]!, L[y]!, H[y]!);
      return;
    }
    case F_SHIFT_RI: {
      const s = d.opsz, x = d.rm;
      const r = shift(cpu, d.reg & 7, s, L[x]!, H[x]!, d.imm & 0xff);
      put(cpu, x, s, r, cpu.rh);
      return;
    }
    case F_JCC:
      if (condition(cpu, d.op & 15)) cpu.nextRip = canonical(cpu, cpu.nextRip + d.imm);
      return;
    case F_JMP:
      cpu.nextRip = canonical(cpu, cpu.nextRip + d.imm);
      return;
    case F_MOVZX8_R: {
      const r = d.rm;
      const v = r >= 4 && r < 8 && d.rex === 0 ? (L[r - 4]! >>> 8) & 0xff : L[r]! & 0xff;
      L[d.reg] = v; H[d.reg] = 0;
      return;
    }
    case F_MOVZX8_M: {
      const v = cpu.mmu.read8(ea(cpu, d));
      L[d.reg] = v; H[d.reg] = 0;
      return;
    }
    case F_LEA: {
      const a = leaValue(cpu, d);
      put(cpu, d.reg, d.opsz, a, cpu.rh);
      return;
    }
    case F_MOV_RI:
      put(cpu, d.fa, d.opsz, d.imm, d.immHi);
      return;
    case F_PUSH:
      push(cpu, L[d.fa]!, H[d.fa]!, 8);
      return;
    case F_POP: {
      const v = pop(cpu, 8), vh = cpu.rh;
      L[d.fa] = v; H[d.fa] = vh;
      return;
    }
    case F_CALL: {
      const target = canonical(cpu, cpu.nextRip + d.imm);
      const r = cpu.nextRip;
      push(cpu, r >>> 0, Math.floor(r / TWO32) >>> 0);
      cpu.nextRip = target;
      return;
    }
    case F_RET: {
      const sp = cpu.rsp;
      const v = pop(cpu, 8), vh = cpu.rh;
      const target = (vh | 0) * TWO32 + v;
      if (target >= 0x8000_0000_0000 || target < -0x8000_0000_0000) { cpu.rsp = sp; cpu.raise(13, 0); }
      cpu.nextRip = target;
      return;
    }
    default: // F_NOP
  }
}
