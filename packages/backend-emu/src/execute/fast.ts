/**
 * Specialised handlers for the hottest instruction forms (register and simple memory forms of
 * MOV, the ALU row, ALU with an immediate, shifts by an immediate, Jcc/JMP, MOVZX, LEA, PUSH/POP,
 * CALL/RET, NOP) at 32- and 64-bit operand size. `classify` picks a handler once, when an
 * instruction is decoded, from the opcode table (isa/opcodes.ts); `executeFast` then does exactly what `execute` does for that form,
 * without the lock/length checks (forms with LOCK or too long are never classified), the big
 * opcode switch and the size switches of the generic operand helpers.
 * @module
 */
import type { Cpu } from '../cpu/cpu.js';
import { condition } from '../cpu/flags.js';
import type { Insn } from '../decoder/decoder.js';
import { CMP, alu, shift } from './alu.js';
import { canonical, ea, leaValue, pop, push } from './operands.js';
import {
  BLOCK_ROLE, FAST_BRANCH, FAST_MEM, R_ALONE, R_END, R_LINE, FAST_MEMORY, FAST_OPERANDS, FAST_REG, FAST_SIZE, FO_OPCODE, FO_REG_RM, FO_RM_REG, SZ_D64,
  SZ_NO_REX_B, SZ_V,
} from '../isa/derive.js';
import {
  F_ALU_MI, F_ALU_MR, F_ALU_RI, F_ALU_RM, F_ALU_RR, F_CALL, F_JCC, F_JMP, F_LEA, F_MOVZX8_M, F_MOVZX8_R, F_MOV_LOAD,
  F_MOV_RI, F_MOV_RR, F_MOV_STORE, F_MOVSXD_M, F_MOVSXD_R, F_MOVZX16_M, F_MOVZX16_R, F_NONE, F_POP, F_PUSH, F_RET,
  F_SHIFT_RI, F_TEST_RR,
} from '../isa/fast-kinds.js';

export * from '../isa/fast-kinds.js';

const TWO32 = 0x1_0000_0000;

/** Handlers that may transfer control (they end a basic block): from the opcode table's `control` column. */
export function isBranch(k: number): boolean {
  return FAST_BRANCH[k] === 1;
}

/**
 * Handlers that access memory (a store may hit code or MMIO; any access may walk the page tables
 * and set A/D bits): memory forms of E/M operands and stack operations in the opcode table.
 */
export function accessesMemory(k: number): boolean {
  return FAST_MEMORY[k] === 1;
}

/**
 * The specialised handler for `d`, or F_NONE (then `execute` runs it), and its role in a basic
 * block in `d.role`, as the opcode table's `fast` column says for its
 * register or memory form and operand size. Sets `d.fa`/`d.fb` (register operands) where used.
 */
export function classify(d: Insn): number {
  const k = fastKind(d);
  d.role = k !== F_NONE ? (FAST_BRANCH[k] === 1 ? R_END : R_LINE)
    : d.tooLong ? R_ALONE : BLOCK_ROLE[(d.op << 4) | ((d.reg & 7) << 1) | (d.hasModrm && d.mod !== 3 ? 1 : 0)]!;
  return k;
}

function fastKind(d: Insn): number {
  if (d.lock || d.tooLong) return F_NONE;
  const op = d.op;
  const k = d.mod === 3 ? FAST_REG[op]! : FAST_MEM[op]!;
  if (k === F_NONE) return F_NONE;
  switch (FAST_SIZE[op]) {
    case SZ_V: if (d.opsz === 2) return F_NONE; break;
    case SZ_D64: if (d.p66) return F_NONE; break;
    case SZ_NO_REX_B: if ((d.rex & 1) !== 0) return F_NONE; break;
  }
  switch (FAST_OPERANDS[op]) {
    case FO_RM_REG: if (d.mod === 3) { d.fa = d.rm; d.fb = d.reg; } break;
    case FO_REG_RM: if (d.mod === 3) { d.fa = d.reg; d.fb = d.rm; } break;
    case FO_OPCODE: d.fa = (op & 7) | ((d.rex & 1) << 3); break;
  }
  return k;
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
    case F_MOVZX16_R:
      L[d.reg] = L[d.rm]! & 0xffff; H[d.reg] = 0;
      return;
    case F_MOVZX16_M: {
      const v = cpu.mmu.read16(ea(cpu, d));
      L[d.reg] = v; H[d.reg] = 0;
      return;
    }
    case F_MOVSXD_R: {
      const v = L[d.rm]!;
      L[d.reg] = v; H[d.reg] = d.opsz === 8 && (v | 0) < 0 ? 0xffffffff : 0;
      return;
    }
    case F_MOVSXD_M: {
      const v = cpu.mmu.read32(ea(cpu, d));
      L[d.reg] = v; H[d.reg] = d.opsz === 8 && (v | 0) < 0 ? 0xffffffff : 0;
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
