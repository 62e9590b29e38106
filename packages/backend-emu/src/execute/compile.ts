/**
 * Compiles a hot basic block (see `Block` in cpu/decode-cache.ts) to a JavaScript function with
 * `new Function`: each instruction's specialised handler (execute/fast.ts) is emitted inline with
 * its operands, sizes, ALU operation, immediates and effective-address arithmetic resolved at
 * compile time. The generated code does exactly what `executeFast` does, instruction by
 * instruction, except:
 *
 * - a lazy-flag record is not written when the next instruction in the block that touches flags
 *   overwrites the whole record, with no instruction in between (or that one) able to fault or
 *   read flags: no one can observe it (an exception mid-block sees the exact flags);
 * - Jcc after an inline CMP/SUB or logic operation in the same block tests the operands directly
 *   (the same comparisons `condition` makes from the record).
 *
 * Forms not emitted inline (ADC/SBB, rotates, PUSH/POP, CALL/RET) call
 * `executeFast` with the instruction; instructions without a specialised handler call `execute`
 * (with RIP set to theirs). The function returns the instructions retired and leaves
 * RIP after the last; after each memory access it stops early, as the interpreted block does,
 * when `codeStamp` moved or an exit was scheduled. An exception propagates with the index of
 * the abandoned instruction in `cpu.blockIndex`.
 * @module
 */
import type { Cpu } from '../cpu/cpu.js';
import { condition } from '../cpu/flags.js';
import { BASE_RIP, type Insn } from '../decoder/decoder.js';
import { alu, shift } from './alu.js';
import {
  F_ALU_MI, F_ALU_MR, F_ALU_RI, F_ALU_RM, F_ALU_RR, F_JCC, F_JMP, F_LEA, F_MOVZX8_M, F_MOVZX8_R, F_MOV_LOAD, F_MOV_RI,
  F_MOV_RR, F_MOV_STORE, F_MOVSXD_M, F_MOVSXD_R, F_MOVZX16_M, F_MOVZX16_R, F_NONE, F_NOP, F_SHIFT_RI, F_TEST_RR,
  accessesMemory, executeFast, isBranch,
} from './fast.js';
import { execute, type Platform } from './execute.js';
import { canonical } from './operands.js';
import { COUNT_FLAGS, FLAGS_READ, FLAGS_WRITTEN, R_END, writesAllFlags } from '../isa/derive.js';
import { M_MEMORY } from '../cpu/decode-cache.js';

/**
 * What a compiled block needs from the vCPU besides the CPU: the general executor's platform and
 * whether an exit is scheduled (run/exits.ts).
 */
export interface BlockContext extends Platform {
  /** An exit was scheduled by the instruction that just retired. */
  readonly exitPending: boolean;
}

/**
 * A compiled block: runs it from `rip` (its first instruction's address); returns the
 * instructions retired. A block that jumps back to its own start runs again inside the function
 * while a whole turn more stays within `budget` instructions (at least the block's length).
 */
export type BlockFn = (cpu: Cpu, rip: number, ctx: BlockContext, budget: number) => number;

const HELPERS = { alu, shift, condition, executeFast, execute, canonical };

/** ALU operation numbers (as alu.ts). */
const ADD = 0, OR = 1, ADC = 2, SBB = 3, AND = 4, SUB = 5, XOR = 6, CMP = 7;
/** Lazy-flag kinds (as flags.ts). */
const L_ADD = 1, L_SUB = 3, L_LOGIC = 5, L_RES = 8;

/** Flag effect of one instruction in the block. */
interface FlagUse {
  /** Reads the flags (or the lazy record), or is not analysed. */
  reads: boolean;
  /** Overwrites the whole lazy record (every flag). */
  writes: boolean;
  /** May raise an exception (or end the block early) before writing flags. */
  faults: boolean;
}

function aluOp(d: Insn, k: number): number {
  return k === F_ALU_RI || k === F_ALU_MI ? d.reg & 7 : k === F_TEST_RR ? AND : d.op >> 3;
}

function shiftInline(d: Insn): boolean {
  return (d.reg & 7) >= 4; // SHL, SHR, SAL, SAR (rotates go through `shift`)
}

const NO_FLAGS: FlagUse = { reads: false, writes: false, faults: false };
/** An instruction run by the general executor: not analysed (it may read flags, fault or end the block). */
const GENERAL: FlagUse = { reads: true, writes: false, faults: true };

/**
 * The flag effect of a block instruction, from the opcode table (isa/derive.ts): it reads the
 * record if it reads a flag or writes only some (the rest are merged from the record, e.g.
 * rotates, INC/DEC, BT); it overwrites the record if it writes all six status flags; it may fault
 * (or end the block) if it accesses memory or transfers control. A shift or rotate whose
 * immediate count masks to 0 touches no flag.
 */
function flagUse(d: Insn): FlagUse {
  const k = d.fast, i = (d.op << 3) | (d.reg & 7);
  if (k === F_NONE) return GENERAL;
  if (k === F_SHIFT_RI && COUNT_FLAGS[i] === 1 && (d.imm & (d.opsz === 8 ? 63 : 31)) === 0) return NO_FLAGS;
  const r = FLAGS_READ[i]!, w = FLAGS_WRITTEN[i]!;
  const partial = w !== 0 && !writesAllFlags(w);
  return { reads: r !== 0 || partial, writes: writesAllFlags(w), faults: accessesMemory(k) || isBranch(k) };
}

/** An integer constant as a literal in generated code. */
function num(v: number): string {
  return String(v);
}

/**
 * The JavaScript source of `insns` (a block starting at offset 0; `ends[k]` the offset after
 * instruction k). Exported for tests.
 */
export function blockSource(insns: readonly Insn[], ends: readonly number[], mem: readonly number[]): string {
  const count = insns.length;
  const uses = insns.map(flagUse);
  // A record is needed unless a later instruction overwrites it before anyone can see it.
  const needed = uses.map((_, k) => {
    // The block may end right after a memory access (code write, MMIO exit): flags must be exact there.
    if (mem[k] !== 0) return true;
    for (let j = k + 1; j < count; j++) {
      const u = uses[j]!;
      if (u.reads || u.faults) return true;
      if (u.writes) return false;
    }
    return true;
  });
  const out: string[] = [];
  out.push('const L = cpu.lo, H = cpu.hi, mmu = cpu.mmu, stamp = mmu.codeStamp;');
  out.push('let i = 0, done = 0;');
  out.push('try {');
  // A jump back to the block's start loops inside the function (bounded by `budget`).
  const loops = insns.some((d, k) => (d.fast === F_JCC || d.fast === F_JMP) && ends[k]! + d.imm === 0);
  if (loops) out.push('for (;;) {');
  // The last inline flag writer: its kind and the names of its operands and result.
  let last: { lop: number; size: number; a: string; b: string; r: string; rH: string } | null = null;
  let ended = false;
  for (let k = 0; k < count; k++) {
    const d = insns[k]!, kind = d.fast, s = d.opsz, end = ends[k]!;
    const s8 = s === 8;
    const u = uses[k]!;
    if (u.faults) out.push(`i = ${k};`);
    const ea = (name: string, segment: boolean, check: boolean): void => emitEa(out, d, k, end, name, segment, check);
    /** Emits `op` on (a, aH) and (b, bH) expressions; result in r{k}/rh{k}; records flags if needed. */
    const emitAlu = (o: number, a: string, aH: string, b: string, bH: string): { r: string; rH: string } => {
      const A = `a${k}`, AH = `ah${k}`, B = `b${k}`, BH = `bh${k}`, R = `r${k}`, RH = `rh${k}`;
      out.push(`const ${A} = ${a}, ${B} = ${b};`);
      if (s8) out.push(`const ${AH} = ${aH}, ${BH} = ${bH};`);
      if (o === ADC || o === SBB) {
        out.push(`const ${R} = h.alu(cpu, ${o}, ${s}, ${A}, ${s8 ? AH : '0'}, ${B}, ${s8 ? BH : '0'});`);
        out.push(`const ${RH} = ${s8 ? 'cpu.rh' : '0'};`);
        last = null;
        return { r: R, rH: RH };
      }
      let lop: number;
      if (o === ADD || o === SUB || o === CMP) {
        const add = o === ADD;
        lop = add ? L_ADD : L_SUB;
        if (s8) {
          out.push(`const s${k} = ${A} ${add ? '+' : '-'} ${B};`);
          out.push(`const ${R} = s${k} >>> 0;`);
          out.push(add
            ? `const ${RH} = (${AH} + ${BH} + (s${k} >= 4294967296 ? 1 : 0)) >>> 0;`
            : `const ${RH} = (${AH} - ${BH} - (s${k} < 0 ? 1 : 0)) >>> 0;`);
        } else {
          out.push(`const ${R} = (${A} ${add ? '+' : '-'} ${B}) >>> 0;`);
          out.push(`const ${RH} = 0;`);
        }
      } else {
        lop = L_LOGIC;
        const sym = o === OR ? '|' : o === AND ? '&' : '^';
        out.push(`const ${R} = (${A} ${sym} ${B}) >>> 0;`);
        out.push(`const ${RH} = ${s8 ? `(${AH} ${sym} ${BH}) >>> 0` : '0'};`);
      }
      if (needed[k]) {
        if (lop !== L_LOGIC) out.push('cpu.lcf = 0;');
        out.push(`cpu.lop = ${lop}; cpu.lsz = ${s}; cpu.la = ${A}; cpu.laH = ${s8 ? AH : '0'}; cpu.lb = ${B}; cpu.lbH = ${s8 ? BH : '0'}; cpu.lr = ${R}; cpu.lrH = ${RH};`);
      }
      last = { lop, size: s, a: A, b: B, r: R, rH: RH };
      return { r: R, rH: RH };
    };
    const put = (reg: number, r: string, rH: string): void => {
      out.push(`L[${reg}] = ${r}; H[${reg}] = ${s8 ? rH : '0'};`);
    };
    const stampCheck = (): void => {
      if (mem[k] === M_MEMORY && k < count - 1) {
        out.push(`if (mmu.codeStamp !== stamp || ctx.exitPending) { cpu.rip = cpu.nextRip = rip + ${end}; return done + ${k + 1}; }`);
      }
    };
    switch (kind) {
      case F_MOV_RR:
        out.push(`L[${d.fa}] = L[${d.fb}]; H[${d.fa}] = ${s8 ? `H[${d.fb}]` : '0'};`);
        break;
      case F_MOV_LOAD:
        ea(`A${k}`, true, true);
        if (s8) out.push(`{ const v = mmu.read64(A${k}); L[${d.reg}] = v; H[${d.reg}] = cpu.rh; }`);
        else out.push(`L[${d.reg}] = mmu.read32(A${k}); H[${d.reg}] = 0;`);
        break;
      case F_MOV_STORE:
        out.push(`const v${k} = L[${d.reg}], vh${k} = H[${d.reg}];`);
        ea(`A${k}`, true, true);
        out.push(s8 ? `mmu.write64(A${k}, v${k}, vh${k});` : `mmu.write32(A${k}, v${k});`);
        break;
      case F_ALU_RR: case F_TEST_RR: case F_ALU_RI: {
        const o = aluOp(d, kind);
        const x = kind === F_ALU_RR ? d.fa : d.rm;
        let b: string, bH: string;
        if (kind === F_ALU_RI) { b = num(d.imm >>> 0); bH = s8 && d.imm < 0 ? '4294967295' : '0'; }
        else { const y = kind === F_ALU_RR ? d.fb : d.reg; b = `L[${y}]`; bH = `H[${y}]`; }
        const { r, rH } = emitAlu(o, `L[${x}]`, `H[${x}]`, b, bH);
        if (o !== CMP && kind !== F_TEST_RR) put(x, r, rH);
        break;
      }
      case F_ALU_RM: {
        const o = aluOp(d, kind);
        ea(`A${k}`, true, true);
        if (s8) out.push(`const m${k} = mmu.read64(A${k}), mh${k} = cpu.rh;`);
        else out.push(`const m${k} = mmu.read32(A${k});`);
        const { r, rH } = emitAlu(o, `L[${d.reg}]`, `H[${d.reg}]`, `m${k}`, s8 ? `mh${k}` : '0');
        if (o !== CMP) put(d.reg, r, rH);
        break;
      }
      case F_ALU_MR: case F_ALU_MI: {
        const o = aluOp(d, kind);
        ea(`A${k}`, true, true);
        if (s8) out.push(`const m${k} = mmu.read64(A${k}), mh${k} = cpu.rh;`);
        else out.push(`const m${k} = mmu.read32(A${k});`);
        let b: string, bH: string;
        if (kind === F_ALU_MI) { b = num(d.imm >>> 0); bH = s8 && d.imm < 0 ? '4294967295' : '0'; }
        else { b = `L[${d.reg}]`; bH = `H[${d.reg}]`; }
        const { r, rH } = emitAlu(o, `m${k}`, s8 ? `mh${k}` : '0', b, bH);
        if (o !== CMP) out.push(s8 ? `mmu.write64(A${k}, ${r}, ${rH});` : `mmu.write32(A${k}, ${r});`);
        break;
      }
      case F_SHIFT_RI: {
        const x = d.rm, sk = d.reg & 7, n = d.imm & (s8 ? 63 : 31);
        if (n === 0) {
          if (!s8) out.push(`H[${x}] = 0;`);
          break;
        }
        if (!shiftInline(d)) {
          out.push(`{ const r = h.shift(cpu, ${sk}, ${s}, L[${x}], H[${x}], ${d.imm & 0xff}); L[${x}] = r; H[${x}] = ${s8 ? 'cpu.rh' : '0'}; }`);
          last = null;
          break;
        }
        const A = `a${k}`, AH = `ah${k}`, R = `r${k}`, RH = `rh${k}`;
        out.push(`const ${A} = L[${x}];`);
        if (s8) out.push(`const ${AH} = H[${x}];`);
        /** Bit `b` (0-63) of the operand. */
        const bit = (b: number): string => s8 && b >= 32 ? `((${AH} >>> ${b - 32}) & 1)` : `((${A} >>> ${b}) & 1)`;
        let cf: string, of: string;
        if (!s8) {
          if (sk === 4 || sk === 6) {
            out.push(`const ${R} = (${A} << ${n}) >>> 0;`);
            cf = bit(32 - n);
            of = `((${R} >>> 31) & 1) ^ ${cf}`;
          } else if (sk === 5) {
            out.push(`const ${R} = ${A} >>> ${n};`);
            cf = bit(n - 1);
            of = `(${A} >>> 31) & 1`;
          } else {
            out.push(`const ${R} = ((${A} | 0) >> ${n}) >>> 0;`);
            cf = `((${A} | 0) >> ${n - 1}) & 1`;
            of = '0';
          }
          out.push(`const ${RH} = 0;`);
        } else if (sk === 4 || sk === 6) {
          if (n >= 32) out.push(`const ${R} = 0, ${RH} = (${A} << ${n - 32}) >>> 0;`);
          else out.push(`const ${R} = (${A} << ${n}) >>> 0, ${RH} = ((${AH} << ${n}) | (${A} >>> ${32 - n})) >>> 0;`);
          cf = bit(64 - n);
          of = `(${RH} >>> 31) ^ ${cf}`;
        } else if (sk === 5) {
          if (n >= 32) out.push(`const ${R} = ${AH} >>> ${n - 32}, ${RH} = 0;`);
          else out.push(`const ${R} = ((${A} >>> ${n}) | (${AH} << ${32 - n})) >>> 0, ${RH} = ${AH} >>> ${n};`);
          cf = bit(n - 1);
          of = `${AH} >>> 31`;
        } else {
          if (n >= 32) out.push(`const ${R} = ((${AH} | 0) >> ${n - 32}) >>> 0, ${RH} = (${AH} | 0) < 0 ? 4294967295 : 0;`);
          else out.push(`const ${R} = ((${A} >>> ${n}) | (${AH} << ${32 - n})) >>> 0, ${RH} = ((${AH} | 0) >> ${n}) >>> 0;`);
          cf = bit(n - 1);
          of = '0';
        }
        if (needed[k]) {
          out.push(`cpu.lcf = ${cf}; cpu.lof = ${of}; cpu.lop = ${L_RES}; cpu.lsz = ${s}; cpu.la = 0; cpu.laH = 0; cpu.lb = 0; cpu.lbH = 0; cpu.lr = ${R}; cpu.lrH = ${RH};`);
        }
        out.push(`L[${x}] = ${R}; H[${x}] = ${RH};`);
        last = null;
        break;
      }
      case F_JCC: case F_JMP: {
        let cond = 'true';
        if (kind === F_JCC) {
          const cc = d.op & 15;
          cond = `h.condition(cpu, ${cc})`;
          const w = last as { lop: number; size: number; a: string; b: string; r: string; rH: string } | null;
          if (w !== null) cond = inlineCondition(w, cc) ?? cond;
        }
        const target = end + d.imm;
        if (target === 0 && loops) {
          // Back to the block's start: another turn if a whole one still fits in the budget.
          out.push(`if (${cond}) { done += ${k + 1}; if (done + ${count} > budget) { cpu.rip = cpu.nextRip = rip; return done; } continue; }`);
        } else {
          out.push(`if (${cond}) { cpu.rip = cpu.nextRip = h.canonical(cpu, rip + ${target}); return done + ${k + 1}; }`);
        }
        if (k === count - 1) {
          out.push(`cpu.rip = cpu.nextRip = rip + ${end}; return done + ${count};`);
          ended = true;
        }
        break;
      }
      case F_MOVZX8_R: {
        const r = d.rm;
        const src = r >= 4 && r < 8 && d.rex === 0 ? `(L[${r - 4}] >>> 8) & 255` : `L[${r}] & 255`;
        out.push(`L[${d.reg}] = ${src}; H[${d.reg}] = 0;`);
        break;
      }
      case F_MOVZX8_M:
        ea(`A${k}`, true, true);
        out.push(`L[${d.reg}] = mmu.read8(A${k}); H[${d.reg}] = 0;`);
        break;
      case F_MOVZX16_R:
        out.push(`L[${d.reg}] = L[${d.rm}] & 65535; H[${d.reg}] = 0;`);
        break;
      case F_MOVZX16_M:
        ea(`A${k}`, true, true);
        out.push(`L[${d.reg}] = mmu.read16(A${k}); H[${d.reg}] = 0;`);
        break;
      case F_MOVSXD_R: case F_MOVSXD_M:
        if (kind === F_MOVSXD_M) {
          ea(`A${k}`, true, true);
          out.push(`const x${k} = mmu.read32(A${k});`);
        } else {
          out.push(`const x${k} = L[${d.rm}];`);
        }
        out.push(`L[${d.reg}] = x${k}; H[${d.reg}] = ${s8 ? `(x${k} | 0) < 0 ? 4294967295 : 0` : '0'};`);
        break;
      case F_LEA:
        emitEa(out, d, k, end, `A${k}`, false, false);
        out.push(`L[${d.reg}] = el${k}; H[${d.reg}] = ${s8 ? `eh${k}` : '0'};`);
        break;
      case F_MOV_RI:
        out.push(`L[${d.fa}] = ${num(d.imm >>> 0)}; H[${d.fa}] = ${s8 ? num(d.immHi >>> 0) : '0'};`);
        break;
      case F_NOP:
        break;
      case F_NONE:
        // The general executor (RIP too: x87 records it), with the instruction object.
        out.push(`cpu.rip = rip + ${k === 0 ? 0 : ends[k - 1]!}; cpu.nextRip = rip + ${end};`);
        out.push(`h.execute(cpu, D[${k}], ctx);`);
        last = null;
        if (d.role === R_END) {
          out.push(`cpu.rip = cpu.nextRip; return done + ${count};`);
          ended = true;
        }
        break;
      default:
        // The handler itself, with the instruction object.
        out.push(`cpu.nextRip = rip + ${end};`);
        out.push(`h.executeFast(cpu, D[${k}], ${kind});`);
        last = null;
        if (isBranch(kind)) {
          out.push(`cpu.rip = cpu.nextRip; return done + ${count};`);
          ended = true;
        }
    }
    if (!ended) stampCheck();
  }
  if (!ended) out.push(`cpu.rip = cpu.nextRip = rip + ${ends[count - 1]!}; return done + ${count};`);
  if (loops) out.push('}');
  out.push('} catch (e) { cpu.blockIndex = i; cpu.blockDone = done; throw e; }');
  return out.join('\n');
}

/**
 * Condition `cc` after the inline flag writer `w` (operands `a`/`b`, result `r`, halves `…h`), as
 * an expression, where it has a simple form; else undefined (`condition` reads the record).
 * Mirrors flags.ts: after CMP/SUB, CF is unsigned a < b and SF≠OF is signed a < b; after a logic
 * operation CF = OF = 0.
 */
function inlineCondition(w: { lop: number; size: number; a: string; b: string; r: string; rH: string }, cc: number): string | undefined {
  const s8 = w.size === 8;
  const ah = w.a.replace(/^a/, 'ah'), bh = w.b.replace(/^b/, 'bh');
  const zf = s8 ? `(${w.r} | ${w.rH}) === 0` : `${w.r} === 0`;
  const sf = s8 ? `(${w.rH} >>> 31) === 1` : `(${w.r} >>> 31) === 1`;
  if (w.lop === L_SUB) {
    if (!s8) {
      const a = w.a, b = w.b;
      switch (cc) {
        case 2: return `${a} < ${b}`;
        case 3: return `${a} >= ${b}`;
        case 4: return `${a} === ${b}`;
        case 5: return `${a} !== ${b}`;
        case 6: return `${a} <= ${b}`;
        case 7: return `${a} > ${b}`;
        case 8: return sf;
        case 9: return `!(${sf})`;
        case 12: return `(${a} | 0) < (${b} | 0)`;
        case 13: return `(${a} | 0) >= (${b} | 0)`;
        case 14: return `(${a} | 0) <= (${b} | 0)`;
        case 15: return `(${a} | 0) > (${b} | 0)`;
      }
      return undefined;
    }
    const below = `(${ah} < ${bh} || (${ah} === ${bh} && ${w.a} < ${w.b}))`;
    switch (cc) {
      case 2: return below;
      case 3: return `!${below}`;
      case 4: return zf;
      case 5: return `!(${zf})`;
      case 6: return `(${below} || ${zf})`;
      case 7: return `!(${below} || ${zf})`;
      case 8: return sf;
      case 9: return `!(${sf})`;
    }
    return undefined;
  }
  if (w.lop === L_LOGIC) {
    switch (cc) {
      case 0: case 2: return 'false';
      case 1: case 3: return 'true';
      case 4: case 6: return zf;
      case 5: case 7: return `!(${zf})`;
      case 8: case 12: return sf;
      case 9: case 13: return `!(${sf})`;
      case 14: return `(${zf} || ${sf})`;
      case 15: return `!(${zf} || ${sf})`;
    }
  }
  return undefined;
}

/**
 * Emits the effective address of `d` (instruction `k`, ending `end` bytes after the block start)
 * as `el{k}`/`eh{k}` (low/high halves), then, with `check`, the canonical check and the signed
 * address in `name`: the same arithmetic as `ea`/`leaValue` in operands.ts.
 */
function emitEa(out: string[], d: Insn, k: number, end: number, name: string, segment: boolean, check: boolean): void {
  const EL = `el${k}`, EH = `eh${k}`;
  out.push(`let ${EL} = ${d.disp >>> 0}, ${EH} = ${d.disp < 0 ? 4294967295 : 0};`);
  const add = (lo: string, hi: string): void => {
    out.push(`{ const s = ${EL} + ${lo}; ${EL} = s >>> 0; ${EH} = (${EH} + ${hi} + (s >= 4294967296 ? 1 : 0)) >>> 0; }`);
  };
  if (d.base >= 0) {
    if (d.base === BASE_RIP) {
      out.push(`const nr${k} = rip + ${end};`);
      add(`(nr${k} >>> 0)`, `(Math.floor(nr${k} / 4294967296) >>> 0)`);
    } else {
      add(`L[${d.base}]`, `H[${d.base}]`);
    }
  }
  if (d.index >= 0) {
    const sc = d.scale, x = d.index;
    if (sc !== 0) add(`((L[${x}] << ${sc}) >>> 0)`, `(((H[${x}] << ${sc}) | (L[${x}] >>> ${32 - sc})) >>> 0)`);
    else add(`L[${x}]`, `H[${x}]`);
  }
  if (d.adsz === 4) out.push(`${EH} = 0;`);
  if (segment && d.seg >= 4) {
    out.push(`const sb${k} = cpu.seg[${d.seg}].base;`);
    add(`(sb${k} >>> 0)`, `(Math.floor(sb${k} / 4294967296) >>> 0)`);
  }
  if (check) {
    out.push(`{ const t = (${EH} | 0) >> 15; if (t !== 0 && t !== -1) cpu.raise(13, 0); }`);
    out.push(`const ${name} = (${EH} | 0) * 4294967296 + ${EL};`);
  }
}

/** Compiles a block; undefined when code generation is unavailable (e.g. disallowed strings). */
export function compileBlock(insns: readonly Insn[], ends: readonly number[], mem: readonly number[]): BlockFn | undefined {
  const src = blockSource(insns, ends, mem);
  try {
    const factory = new Function('h', 'D', `return function block(cpu, rip, ctx, budget) {\n${src}\n};`) as
      (h: typeof HELPERS, D: readonly Insn[]) => BlockFn;
    return factory(HELPERS, insns.slice());
  } catch {
    return undefined;
  }
}
