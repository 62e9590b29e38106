/**
 * The executor: one decoded instruction → its effect on the CPU. A single switch over the opcode
 * number routes to the instruction groups (alu.ts, muldiv.ts, string.ts, io.ts, system.ts,
 * cpu/interrupts.ts). Instructions read every operand before they write anything, so a fault
 * or an MMIO/port read that needs an exit leaves the CPU as it was before the instruction.
 * Opcodes the emulator does not implement raise #UD in the guest and are counted.
 * @module
 */
import { CS, FS, GS, RAX, RCX, RDX, RBP, SS, type Cpu } from '../cpu/cpu.js';
import {
  AF, CF, DF, IF, PF, SF, ZF, condition, getFlags, materialize, setFlagBit,
} from '../cpu/flags.js';
import { loadCodeSegment, loadDataSegment } from '../cpu/descriptors.js';
import { iretq, setFlagsFrom, syscall, sysret } from '../cpu/interrupts.js';
import type { Insn } from '../decoder/decoder.js';
import { INVALID_64, LOCKABLE } from '../isa/derive.js';
import { ADD, CMP, alu, incdec, neg, not, shift, shiftDouble } from './alu.js';
import { divAcc, imulTrunc, mulAcc } from './muldiv.js';
import { ins, outs, portIn, portOut, type IoPort } from './io.js';
import { CMPS, LODS, MOVS, SCAS, STOS, stringOp } from './string.js';
import { group6, group7, movFromCr, movToCr, msrAccess, privileged, rdtsc } from './system.js';
import { executeSse, mxcsrAccess } from './sse.js';
import { emms, executeX87, fwait, fxrstor, fxsave } from './x87.js';
import { canonical, ea, getReg, immOperand, leaValue, pop, push, readRM, setReg, storeRM, writeRM } from './operands.js';

/** What the executor needs from the vCPU besides the CPU: port I/O, CPUID, HLT. */
export interface Platform extends IoPort {
  /** CPUID for leaf EAX, subleaf ECX: writes EAX–EDX. */
  cpuid(cpu: Cpu): void;
  /** HLT retired: the vCPU reports a halt exit. */
  halt(): void;
}

const TWO32 = 0x1_0000_0000;

/** Raises #UD for an instruction the emulator does not implement (counted). */
function unimplemented(cpu: Cpu): never {
  cpu.unimplemented++;
  return cpu.raise(6);
}

/** Stack operand size of PUSH/POP/CALL/RET in 64-bit mode: 8, or 2 with 0x66. */
function stackSize(d: Insn): number {
  return d.p66 ? 2 : 8;
}

/** Jumps to `nextRip + rel` (a signed displacement). */
function jumpRel(cpu: Cpu, rel: number): void {
  cpu.nextRip = canonical(cpu, cpu.nextRip + rel);
}

/** LOCK is allowed only on the read-modify-write memory forms the opcode table marks `lock`. */
function lockable(d: Insn): boolean {
  return d.mod !== 3 && LOCKABLE[(d.op << 3) | (d.reg & 7)] === 1;
}

/** Executes `d` (decoded at `cpu.rip`; `cpu.nextRip` is the following instruction). */
export function execute(cpu: Cpu, d: Insn, pf: Platform): void {
  if (d.tooLong) cpu.raise(13, 0);
  if (d.lock && !lockable(d)) cpu.raise(6);
  const op = d.op;
  if (op < 0x40 && (op & 7) < 6) { aluForm(cpu, d, op >> 3, op & 7); return; }
  const L = cpu.lo, H = cpu.hi;
  const mmu = cpu.mmu;
  switch (op) {
    // ------------------------------------------------------------ stack
    case 0x50: case 0x51: case 0x52: case 0x53: case 0x54: case 0x55: case 0x56: case 0x57: {
      const r = (op & 7) | ((d.rex & 1) << 3);
      push(cpu, L[r]!, H[r]!, stackSize(d));
      return;
    }
    case 0x58: case 0x59: case 0x5a: case 0x5b: case 0x5c: case 0x5d: case 0x5e: case 0x5f: {
      const r = (op & 7) | ((d.rex & 1) << 3);
      const s = stackSize(d);
      const v = pop(cpu, s), vh = cpu.rh;
      setReg(cpu, d, r, s, v, vh);
      return;
    }
    case 0x63: { // MOVSXD
      const v = readRM(cpu, d, 4);
      if (d.opsz === 8) setReg(cpu, d, d.reg, 8, v, (v | 0) < 0 ? 0xffffffff : 0);
      else setReg(cpu, d, d.reg, d.opsz, v, 0);
      return;
    }
    case 0x68: case 0x6a: {
      const s = stackSize(d);
      push(cpu, d.imm >>> 0, d.imm < 0 ? 0xffffffff : 0, s);
      return;
    }
    case 0x69: case 0x6b: {
      const s = d.opsz;
      const a = readRM(cpu, d, s), ah = cpu.rh;
      const b = immOperand(cpu, d, s), bh = cpu.rh;
      const r = imulTrunc(cpu, s, a, ah, b, bh), rh = cpu.rh;
      setReg(cpu, d, d.reg, s, r, rh);
      return;
    }
    case 0x6c: ins(cpu, pf, d, 1); return;
    case 0x6d: ins(cpu, pf, d, d.opsz === 2 ? 2 : 4); return;
    case 0x6e: outs(cpu, pf, d, 1); return;
    case 0x6f: outs(cpu, pf, d, d.opsz === 2 ? 2 : 4); return;
    case 0x70: case 0x71: case 0x72: case 0x73: case 0x74: case 0x75: case 0x76: case 0x77:
    case 0x78: case 0x79: case 0x7a: case 0x7b: case 0x7c: case 0x7d: case 0x7e: case 0x7f:
      if (condition(cpu, op & 15)) jumpRel(cpu, d.imm);
      return;
    case 0x80: case 0x81: case 0x83: {
      const s = op === 0x80 ? 1 : d.opsz;
      const a = readRM(cpu, d, s), ah = cpu.rh;
      const b = immOperand(cpu, d, s), bh = cpu.rh;
      const o = d.reg & 7;
      const r = alu(cpu, o, s, a, ah, b, bh), rh = cpu.rh;
      if (o !== CMP) writeRM(cpu, d, s, r, rh);
      return;
    }
    case 0x84: case 0x85: {
      const s = op === 0x84 ? 1 : d.opsz;
      const a = readRM(cpu, d, s), ah = cpu.rh;
      const b = getReg(cpu, d, d.reg, s), bh = cpu.rh;
      alu(cpu, 4, s, a, ah, b, bh);
      return;
    }
    case 0x86: case 0x87: {
      const s = op === 0x86 ? 1 : d.opsz;
      const a = readRM(cpu, d, s), ah = cpu.rh;
      const b = getReg(cpu, d, d.reg, s), bh = cpu.rh;
      writeRM(cpu, d, s, b, bh);
      setReg(cpu, d, d.reg, s, a, ah);
      return;
    }
    case 0x88: case 0x89: {
      const s = op === 0x88 ? 1 : d.opsz;
      const v = getReg(cpu, d, d.reg, s), vh = cpu.rh;
      storeRM(cpu, d, s, v, vh);
      return;
    }
    case 0x8a: case 0x8b: {
      const s = op === 0x8a ? 1 : d.opsz;
      const v = readRM(cpu, d, s), vh = cpu.rh;
      setReg(cpu, d, d.reg, s, v, vh);
      return;
    }
    case 0x8c: {
      const sr = d.reg & 7;
      if (sr > 5) cpu.raise(6);
      const sel = cpu.seg[sr]!.selector;
      if (d.mod === 3) setReg(cpu, d, d.rm, d.opsz, sel, 0);
      else mmu.write16(ea(cpu, d), sel);
      return;
    }
    case 0x8d: {
      if (d.mod === 3) cpu.raise(6);
      const a = leaValue(cpu, d);
      setReg(cpu, d, d.reg, d.opsz, a, d.opsz === 8 ? cpu.rh : 0);
      return;
    }
    case 0x8e: {
      const sr = d.reg & 7;
      if (sr === CS || sr > 5) cpu.raise(6);
      const sel = readRM(cpu, d, 2);
      loadDataSegment(cpu, sr, sel);
      if (sr === SS) cpu.shadow = 2;
      return;
    }
    case 0x8f: {
      if ((d.reg & 7) !== 0) unimplemented(cpu);
      const s = stackSize(d);
      const sp = cpu.rsp;
      const v = pop(cpu, s), vh = cpu.rh;
      try {
        storeRM(cpu, d, s, v, vh);
      } catch (err) {
        cpu.rsp = sp;
        throw err;
      }
      return;
    }
    case 0x90:
      if ((d.rex & 1) !== 0) { xchgAcc(cpu, d, 8); return; }
      return; // NOP, PAUSE
    case 0x91: case 0x92: case 0x93: case 0x94: case 0x95: case 0x96: case 0x97:
      xchgAcc(cpu, d, (op & 7) | ((d.rex & 1) << 3));
      return;
    case 0x98: // CBW / CWDE / CDQE
      if (d.opsz === 8) H[RAX] = (L[RAX]! | 0) < 0 ? 0xffffffff : 0;
      else if (d.opsz === 4) { L[RAX] = ((L[RAX]! << 16) >> 16) >>> 0; H[RAX] = 0; }
      else L[RAX] = (L[RAX]! & 0xffff0000) | ((((L[RAX]! << 24) >> 24)) & 0xffff);
      return;
    case 0x99: // CWD / CDQ / CQO
      if (d.opsz === 8) { const s = (H[RAX]! | 0) < 0 ? 0xffffffff : 0; L[RDX] = s; H[RDX] = s; }
      else if (d.opsz === 4) { L[RDX] = (L[RAX]! | 0) < 0 ? 0xffffffff : 0; H[RDX] = 0; }
      else L[RDX] = (L[RDX]! & 0xffff0000) | ((L[RAX]! & 0x8000) !== 0 ? 0xffff : 0);
      return;
    case 0x9b: fwait(cpu); return;
    case 0x9c: { // PUSHF
      const f = getFlags(cpu) & 0xfcffff; // VM and RF read as 0
      push(cpu, f >>> 0, 0, stackSize(d));
      return;
    }
    case 0x9d: { // POPF
      const s = stackSize(d);
      const v = pop(cpu, s);
      const iopl = (cpu.flags >>> 12) & 3;
      setFlagsFrom(cpu, s === 2 ? (getFlags(cpu) & 0xffff0000) | v : v, cpu.cpl, iopl, false);
      return;
    }
    case 0x9e: { // SAHF
      materialize(cpu);
      const ah = (L[RAX]! >>> 8) & 0xff;
      cpu.flags = (cpu.flags & ~(SF | ZF | AF | PF | CF)) | (ah & (SF | ZF | AF | PF | CF));
      return;
    }
    case 0x9f: { // LAHF
      const f = getFlags(cpu) & 0xff;
      L[RAX] = (L[RAX]! & 0xffff00ff) | (f << 8);
      return;
    }
    case 0xa0: case 0xa1: case 0xa2: case 0xa3: { // MOV moffs
      const s = (op & 1) === 0 ? 1 : d.opsz;
      let a = (d.immHi | 0) * TWO32 + d.imm;
      if (d.seg >= FS) a += cpu.seg[d.seg]!.base;
      canonical(cpu, a);
      if (op < 0xa2) {
        const v = mmu.read(a, s), vh = cpu.rh;
        setReg(cpu, d, RAX, s, v, vh);
      } else {
        const v = getReg(cpu, d, RAX, s), vh = cpu.rh;
        mmu.write(a, s, v, vh);
      }
      return;
    }
    case 0xa4: stringOp(cpu, d, MOVS, 1); return;
    case 0xa5: stringOp(cpu, d, MOVS, d.opsz); return;
    case 0xa6: stringOp(cpu, d, CMPS, 1); return;
    case 0xa7: stringOp(cpu, d, CMPS, d.opsz); return;
    case 0xa8: case 0xa9: {
      const s = op === 0xa8 ? 1 : d.opsz;
      const a = getReg(cpu, d, RAX, s), ah = cpu.rh;
      const b = immOperand(cpu, d, s), bh = cpu.rh;
      alu(cpu, 4, s, a, ah, b, bh);
      return;
    }
    case 0xaa: stringOp(cpu, d, STOS, 1); return;
    case 0xab: stringOp(cpu, d, STOS, d.opsz); return;
    case 0xac: stringOp(cpu, d, LODS, 1); return;
    case 0xad: stringOp(cpu, d, LODS, d.opsz); return;
    case 0xae: stringOp(cpu, d, SCAS, 1); return;
    case 0xaf: stringOp(cpu, d, SCAS, d.opsz); return;
    case 0xb0: case 0xb1: case 0xb2: case 0xb3: case 0xb4: case 0xb5: case 0xb6: case 0xb7:
      setReg(cpu, d, (op & 7) | ((d.rex & 1) << 3), 1, d.imm & 0xff, 0);
      return;
    case 0xb8: case 0xb9: case 0xba: case 0xbb: case 0xbc: case 0xbd: case 0xbe: case 0xbf:
      setReg(cpu, d, (op & 7) | ((d.rex & 1) << 3), d.opsz, d.imm, d.immHi);
      return;
    case 0xc0: case 0xc1: case 0xd0: case 0xd1: case 0xd2: case 0xd3: {
      const s = (op & 1) === 0 ? 1 : d.opsz;
      const count = op <= 0xc1 ? d.imm & 0xff : op <= 0xd1 ? 1 : L[RCX]! & 0xff;
      const a = readRM(cpu, d, s), ah = cpu.rh;
      const r = shift(cpu, d.reg & 7, s, a, ah, count), rh = cpu.rh;
      writeRM(cpu, d, s, r, rh);
      return;
    }
    case 0xc2: case 0xc3: { // RET (imm16)
      const s = stackSize(d);
      const sp = cpu.rsp;
      const v = pop(cpu, s), vh = cpu.rh;
      const target = s === 8 ? (vh | 0) * TWO32 + v : v;
      if (target >= 0x8000_0000_0000 || target < -0x8000_0000_0000) { cpu.rsp = sp; cpu.raise(13, 0); }
      cpu.nextRip = target;
      if (op === 0xc2) cpu.rsp = cpu.rsp + d.imm;
      return;
    }
    case 0xc6: case 0xc7: {
      if ((d.reg & 7) !== 0) unimplemented(cpu);
      const s = op === 0xc6 ? 1 : d.opsz;
      if (d.mod !== 3) ea(cpu, d);
      const v = immOperand(cpu, d, s), vh = cpu.rh;
      writeRM(cpu, d, s, v, vh);
      return;
    }
    case 0xc8: enter(cpu, d); return;
    case 0xc9: { // LEAVE
      const s = stackSize(d);
      const bp = cpu.signed(RBP);
      const v = s === 8 ? mmu.read64(bp) : mmu.read16(bp), vh = s === 8 ? cpu.rh : 0;
      cpu.rsp = bp + s;
      setReg(cpu, d, RBP, s, v, vh);
      return;
    }
    case 0xca: case 0xcb: { // far RET
      const s = d.opsz === 8 ? 8 : d.opsz === 2 ? 2 : 4;
      const sp = cpu.rsp;
      const v = mmu.read(sp, s), vh = s === 8 ? cpu.rh : 0;
      const sel = mmu.read(sp + s, s) & 0xffff;
      if ((sel & 3) !== cpu.cpl) cpu.internal('far return to another privilege level is not supported by the emulator');
      loadCodeSegment(cpu, sel);
      cpu.rsp = sp + 2 * s + (op === 0xca ? d.imm : 0);
      cpu.nextRip = s === 8 ? (vh | 0) * TWO32 + v : v;
      return;
    }
    case 0xcc: cpu.softwareInterrupt(3); return;
    case 0xcd: cpu.softwareInterrupt(d.imm & 0xff); return;
    case 0xcf: {
      if (d.opsz !== 8) cpu.internal('32-bit IRET in 64-bit mode is not supported by the emulator');
      iretq(cpu);
      return;
    }
    case 0xd8: case 0xd9: case 0xda: case 0xdb: case 0xdc: case 0xdd: case 0xde: case 0xdf:
      executeX87(cpu, d);
      return;
    case 0xe0: case 0xe1: case 0xe2: { // LOOPNE, LOOPE, LOOP
      let zero: boolean;
      if (d.adsz === 4) { L[RCX] = (L[RCX]! - 1) >>> 0; H[RCX] = 0; zero = L[RCX] === 0; }
      else {
        // Exact 64-bit decrement on the halves: RCX above 2^53 is not a safe Number (found by the differential test).
        if (L[RCX] === 0) H[RCX] = (H[RCX]! - 1) >>> 0;
        L[RCX] = (L[RCX]! - 1) >>> 0;
        zero = (L[RCX]! | H[RCX]!) === 0;
      }
      let take = !zero;
      if (op === 0xe0) take = take && !condition(cpu, 4);
      else if (op === 0xe1) take = take && condition(cpu, 4);
      if (take) jumpRel(cpu, d.imm);
      return;
    }
    case 0xe3: {
      const zero = d.adsz === 4 ? L[RCX] === 0 : (L[RCX]! | H[RCX]!) === 0;
      if (zero) jumpRel(cpu, d.imm);
      return;
    }
    case 0xe4: case 0xe5: {
      const s = op === 0xe4 ? 1 : d.opsz === 2 ? 2 : 4;
      setReg(cpu, d, RAX, s, portIn(cpu, pf, d.imm & 0xff, s), 0);
      return;
    }
    case 0xe6: case 0xe7: {
      const s = op === 0xe6 ? 1 : d.opsz === 2 ? 2 : 4;
      portOut(cpu, pf, d.imm & 0xff, s, getReg(cpu, d, RAX, s));
      return;
    }
    case 0xec: case 0xed: {
      const s = op === 0xec ? 1 : d.opsz === 2 ? 2 : 4;
      setReg(cpu, d, RAX, s, portIn(cpu, pf, L[RDX]! & 0xffff, s), 0);
      return;
    }
    case 0xee: case 0xef: {
      const s = op === 0xee ? 1 : d.opsz === 2 ? 2 : 4;
      portOut(cpu, pf, L[RDX]! & 0xffff, s, getReg(cpu, d, RAX, s));
      return;
    }
    case 0xe8: { // CALL rel32
      const target = canonical(cpu, cpu.nextRip + d.imm);
      const r = cpu.nextRip;
      push(cpu, r >>> 0, Math.floor(r / TWO32) >>> 0);
      cpu.nextRip = target;
      return;
    }
    case 0xe9: case 0xeb: jumpRel(cpu, d.imm); return;
    case 0xf4: privileged(cpu); pf.halt(); return;
    case 0xf5: materialize(cpu); cpu.flags ^= CF; return;
    case 0xf6: case 0xf7: group3(cpu, d, op === 0xf6 ? 1 : d.opsz); return;
    case 0xf8: setFlagBit(cpu, CF, false); return;
    case 0xf9: setFlagBit(cpu, CF, true); return;
    case 0xfa: case 0xfb: {
      if (cpu.cpl > ((cpu.flags >>> 12) & 3)) cpu.raise(13, 0);
      if (op === 0xfa) cpu.flags &= ~IF;
      else {
        if ((cpu.flags & IF) === 0) cpu.shadow = 2;
        cpu.flags |= IF;
      }
      return;
    }
    case 0xfc: cpu.flags &= ~DF; return;
    case 0xfd: cpu.flags |= DF; return;
    case 0xfe: {
      const r = d.reg & 7;
      if (r > 1) unimplemented(cpu);
      const a = readRM(cpu, d, 1);
      writeRM(cpu, d, 1, incdec(cpu, 1, a, 0, r === 1), 0);
      return;
    }
    case 0xff: group5(cpu, d); return;
    default:
      if (op >= 0x100) { execute0F(cpu, d, pf); return; }
      if (INVALID_64[op] === 1) cpu.raise(6);
      unimplemented(cpu);
  }
}

/** The row forms of ADD…CMP (opcodes 00–3D). */
function aluForm(cpu: Cpu, d: Insn, o: number, form: number): void {
  switch (form) {
    case 0: case 1: {
      const s = form === 0 ? 1 : d.opsz;
      const a = readRM(cpu, d, s), ah = cpu.rh;
      const b = getReg(cpu, d, d.reg, s), bh = cpu.rh;
      const r = alu(cpu, o, s, a, ah, b, bh), rh = cpu.rh;
      if (o !== CMP) writeRM(cpu, d, s, r, rh);
      return;
    }
    case 2: case 3: {
      const s = form === 2 ? 1 : d.opsz;
      const b = readRM(cpu, d, s), bh = cpu.rh;
      const a = getReg(cpu, d, d.reg, s), ah = cpu.rh;
      const r = alu(cpu, o, s, a, ah, b, bh), rh = cpu.rh;
      if (o !== CMP) setReg(cpu, d, d.reg, s, r, rh);
      return;
    }
    default: {
      const s = form === 4 ? 1 : d.opsz;
      const a = getReg(cpu, d, RAX, s), ah = cpu.rh;
      const b = immOperand(cpu, d, s), bh = cpu.rh;
      const r = alu(cpu, o, s, a, ah, b, bh), rh = cpu.rh;
      if (o !== CMP) setReg(cpu, d, RAX, s, r, rh);
    }
  }
}

function xchgAcc(cpu: Cpu, d: Insn, r: number): void {
  const s = d.opsz;
  const a = getReg(cpu, d, RAX, s), ah = cpu.rh;
  const b = getReg(cpu, d, r, s), bh = cpu.rh;
  setReg(cpu, d, RAX, s, b, bh);
  setReg(cpu, d, r, s, a, ah);
}

/** F6/F7: TEST, NOT, NEG, MUL, IMUL, DIV, IDIV. */
function group3(cpu: Cpu, d: Insn, s: number): void {
  const a = readRM(cpu, d, s), ah = cpu.rh;
  switch (d.reg & 7) {
    case 0: case 1: {
      const b = immOperand(cpu, d, s), bh = cpu.rh;
      alu(cpu, 4, s, a, ah, b, bh);
      return;
    }
    case 2: { const r = not(cpu, s, a, ah); writeRM(cpu, d, s, r, cpu.rh); return; }
    case 3: { const r = neg(cpu, s, a, ah); writeRM(cpu, d, s, r, cpu.rh); return; }
    case 4: mulAcc(cpu, s, false, a, ah); return;
    case 5: mulAcc(cpu, s, true, a, ah); return;
    case 6: divAcc(cpu, s, false, a, ah); return;
    default: divAcc(cpu, s, true, a, ah);
  }
}

/** FF: INC, DEC, CALL, CALL far, JMP, JMP far, PUSH. */
function group5(cpu: Cpu, d: Insn): void {
  const r = d.reg & 7;
  switch (r) {
    case 0: case 1: {
      const s = d.opsz;
      const a = readRM(cpu, d, s), ah = cpu.rh;
      const v = incdec(cpu, s, a, ah, r === 1), vh = cpu.rh;
      writeRM(cpu, d, s, v, vh);
      return;
    }
    case 2: case 4: {
      const s = d.p66 ? 2 : 8;
      const v = readRM(cpu, d, s), vh = s === 8 ? cpu.rh : 0;
      const target = canonical(cpu, (vh | 0) * TWO32 + v);
      if (r === 2) {
        const ret = cpu.nextRip;
        push(cpu, ret >>> 0, Math.floor(ret / TWO32) >>> 0);
      }
      cpu.nextRip = target;
      return;
    }
    case 6: {
      const s = stackSize(d);
      const v = readRM(cpu, d, s), vh = cpu.rh;
      push(cpu, v, vh, s);
      return;
    }
    default:
      unimplemented(cpu);
  }
}

/** ENTER imm16, imm8. */
function enter(cpu: Cpu, d: Insn): void {
  const s = stackSize(d);
  const level = d.imm2 & 31;
  const mmu = cpu.mmu;
  let sp = cpu.rsp;
  const bp = cpu.signed(RBP);
  sp -= s;
  mmu.write(sp, s, cpu.lo[RBP]!, cpu.hi[RBP]!);
  const frame = sp;
  let tmpBp = bp;
  for (let i = 1; i < level; i++) {
    tmpBp -= s;
    const v = mmu.read(tmpBp, s), vh = cpu.rh;
    sp -= s;
    mmu.write(sp, s, v, vh);
  }
  if (level > 0) { sp -= s; mmu.write(sp, s, frame >>> 0, Math.floor(frame / TWO32) >>> 0); }
  sp -= d.imm;
  if (s === 8) cpu.setNumber(RBP, frame);
  else cpu.lo[RBP] = (cpu.lo[RBP]! & 0xffff0000) | (frame & 0xffff);
  cpu.rsp = sp;
}

/** Two-byte (0F) opcodes. */
function execute0F(cpu: Cpu, d: Insn, pf: Platform): void {
  const op = d.op & 0xff;
  const L = cpu.lo, H = cpu.hi;
  if (d.op >= 0x200) unimplemented(cpu);
  switch (op) {
    case 0x00: group6(cpu, d); return;
    case 0x01: if (!group7(cpu, d)) unimplemented(cpu); return;
    case 0x05: if ((cpu.efer & 1) === 0) cpu.raise(6); syscall(cpu); return;
    case 0x06: privileged(cpu); cpu.cr0 &= ~8; return; // CLTS
    case 0x07: privileged(cpu); if ((cpu.efer & 1) === 0) cpu.raise(6); sysret(cpu, (d.rex & 8) !== 0); return;
    case 0x08: case 0x09: privileged(cpu); return; // INVD, WBINVD: no caches to flush
    case 0x0b: cpu.raise(6); return; // UD2 (deliberate; not counted)
    case 0x0d: case 0x18: case 0x19: case 0x1a: case 0x1b: case 0x1c: case 0x1d: case 0x1e: case 0x1f:
      return; // PREFETCH, hint NOPs, ENDBR64
    case 0x20: movFromCr(cpu, d); return;
    case 0x22: movToCr(cpu, d); return;
    case 0x21: privileged(cpu); L[d.rm] = (d.reg & 7) === 6 ? 0xffff0ff0 : (d.reg & 7) === 7 ? 0x400 : 0; H[d.rm] = 0; return;
    case 0x23: privileged(cpu); return; // debug registers: accepted, no breakpoints
    case 0x30: msrAccess(cpu, true); return;
    case 0x31: rdtsc(cpu); return;
    case 0x32: msrAccess(cpu, false); return;
    case 0x40: case 0x41: case 0x42: case 0x43: case 0x44: case 0x45: case 0x46: case 0x47:
    case 0x48: case 0x49: case 0x4a: case 0x4b: case 0x4c: case 0x4d: case 0x4e: case 0x4f: {
      const s = d.opsz;
      const v = readRM(cpu, d, s), vh = cpu.rh;
      if (condition(cpu, op & 15)) setReg(cpu, d, d.reg, s, v, vh);
      else if (s === 4) H[d.reg] = 0; // a 32-bit CMOV always zero-extends
      return;
    }
    case 0x80: case 0x81: case 0x82: case 0x83: case 0x84: case 0x85: case 0x86: case 0x87:
    case 0x88: case 0x89: case 0x8a: case 0x8b: case 0x8c: case 0x8d: case 0x8e: case 0x8f:
      if (condition(cpu, op & 15)) jumpRel(cpu, d.imm);
      return;
    case 0x90: case 0x91: case 0x92: case 0x93: case 0x94: case 0x95: case 0x96: case 0x97:
    case 0x98: case 0x99: case 0x9a: case 0x9b: case 0x9c: case 0x9d: case 0x9e: case 0x9f:
      storeRM(cpu, d, 1, condition(cpu, op & 15) ? 1 : 0, 0);
      return;
    case 0xa0: push(cpu, cpu.seg[FS]!.selector, 0, d.p66 ? 2 : 8); return;
    case 0xa8: push(cpu, cpu.seg[GS]!.selector, 0, d.p66 ? 2 : 8); return;
    case 0xa1: case 0xa9: {
      const s = d.p66 ? 2 : 8;
      const sp = cpu.rsp;
      const v = pop(cpu, s) & 0xffff;
      try { loadDataSegment(cpu, op === 0xa1 ? FS : GS, v); } catch (e) { cpu.rsp = sp; throw e; }
      return;
    }
    case 0xa2: pf.cpuid(cpu); return;
    case 0xa3: case 0xab: case 0xb3: case 0xbb: bitTest(cpu, d, op === 0xa3 ? 0 : op === 0xab ? 1 : op === 0xb3 ? 2 : 3, -1); return;
    case 0xba: {
      const k = d.reg & 7;
      if (k < 4) unimplemented(cpu);
      bitTest(cpu, d, k - 4, d.imm & 0xff);
      return;
    }
    case 0xa4: case 0xa5: case 0xac: case 0xad: {
      const s = d.opsz;
      const count = (op & 1) === 0 ? d.imm & 0xff : L[RCX]! & 0xff;
      const a = readRM(cpu, d, s), ah = cpu.rh;
      const b = getReg(cpu, d, d.reg, s), bh = cpu.rh;
      const r = shiftDouble(cpu, op < 0xa8, s, a, ah, b, bh, count), rh = cpu.rh;
      writeRM(cpu, d, s, r, rh);
      return;
    }
    case 0xae: {
      if (d.mod === 3 && (d.reg & 7) >= 5) return; // LFENCE, MFENCE, SFENCE
      if (d.mod !== 3) {
        switch (d.reg & 7) {
          case 0: fxsave(cpu, d, (d.rex & 8) !== 0); return;
          case 1: fxrstor(cpu, d, (d.rex & 8) !== 0); return;
          case 2: mxcsrAccess(cpu, d, true); return;
          case 3: mxcsrAccess(cpu, d, false); return;
          case 7: ea(cpu, d); cpu.mmu.read8(cpu.eaddr); return; // CLFLUSH
        }
      }
      unimplemented(cpu);
      return;
    }
    case 0xaf: {
      const s = d.opsz;
      const b = readRM(cpu, d, s), bh = cpu.rh;
      const a = getReg(cpu, d, d.reg, s), ah = cpu.rh;
      const r = imulTrunc(cpu, s, a, ah, b, bh), rh = cpu.rh;
      setReg(cpu, d, d.reg, s, r, rh);
      return;
    }
    case 0xb0: case 0xb1: { // CMPXCHG
      const s = op === 0xb0 ? 1 : d.opsz;
      const dst = readRM(cpu, d, s), dh = cpu.rh;
      const acc = getReg(cpu, d, RAX, s), acch = cpu.rh;
      alu(cpu, CMP, s, acc, acch, dst, dh);
      if (condition(cpu, 4)) {
        const v = getReg(cpu, d, d.reg, s), vh = cpu.rh;
        writeRM(cpu, d, s, v, vh);
      } else {
        if (d.mod !== 3) writeRM(cpu, d, s, dst, dh); // the locked cycle writes back
        setReg(cpu, d, RAX, s, dst, dh);
      }
      return;
    }
    case 0xb6: case 0xb7: { // MOVZX
      const v = readRM(cpu, d, op === 0xb6 ? 1 : 2);
      setReg(cpu, d, d.reg, d.opsz, v, 0);
      return;
    }
    case 0xbe: case 0xbf: { // MOVSX
      const sz = op === 0xbe ? 1 : 2;
      const v = readRM(cpu, d, sz);
      const x = sz === 1 ? (v << 24) >> 24 : (v << 16) >> 16;
      setReg(cpu, d, d.reg, d.opsz, x >>> 0, x < 0 ? 0xffffffff : 0);
      return;
    }
    case 0xbc: case 0xbd: bitScan(cpu, d, op === 0xbd); return;
    case 0xc0: case 0xc1: { // XADD
      const s = op === 0xc0 ? 1 : d.opsz;
      const a = readRM(cpu, d, s), ah = cpu.rh;
      const b = getReg(cpu, d, d.reg, s), bh = cpu.rh;
      const r = alu(cpu, ADD, s, a, ah, b, bh), rh = cpu.rh;
      if (d.mod === 3) {
        // The destination is written last: with both operands the same register it gets the sum.
        setReg(cpu, d, d.reg, s, a, ah);
        writeRM(cpu, d, s, r, rh);
      } else {
        writeRM(cpu, d, s, r, rh);
        setReg(cpu, d, d.reg, s, a, ah);
      }
      return;
    }
    case 0xc7: {
      if ((d.reg & 7) !== 1 || d.mod === 3 || (d.rex & 8) !== 0) unimplemented(cpu);
      const a = ea(cpu, d);
      const lo = cpu.mmu.read64(a), hi = cpu.rh;
      if (lo === L[RAX] && hi === L[RDX]) {
        cpu.mmu.write64(a, L[RBX_]!, L[RCX]!);
        setFlagBit(cpu, ZF, true);
      } else {
        cpu.mmu.write64(a, lo, hi);
        L[RAX] = lo; H[RAX] = 0; L[RDX] = hi; H[RDX] = 0;
        setFlagBit(cpu, ZF, false);
      }
      return;
    }
    case 0xc3: { // MOVNTI
      if (d.mod === 3 || d.p66 || d.rep !== 0) unimplemented(cpu);
      const s = d.opsz === 8 ? 8 : 4;
      const v = getReg(cpu, d, d.reg, s), vh = cpu.rh;
      storeRM(cpu, d, s, v, vh);
      return;
    }
    case 0x77: if (d.p66 || d.rep !== 0) unimplemented(cpu); emms(cpu); return;
    case 0xc8: case 0xc9: case 0xca: case 0xcb: case 0xcc: case 0xcd: case 0xce: case 0xcf: {
      const r = (op & 7) | ((d.rex & 1) << 3);
      if (d.opsz === 8) {
        const lo = bswap32(L[r]!), hi = bswap32(H[r]!);
        L[r] = hi; H[r] = lo;
      } else {
        L[r] = bswap32(L[r]!); H[r] = 0;
      }
      return;
    }
    default:
      if (SSE_OPCODES[op] === 1) { executeSse(cpu, d, op); return; }
      unimplemented(cpu);
  }
}

/** 0F opcodes (low byte) of SSE/SSE2 instructions that execute/sse.ts implements. */
const SSE_OPCODES = (() => {
  const t = new Uint8Array(256);
  for (const [a, b] of [[0x10, 0x17], [0x28, 0x2f], [0x50, 0x76], [0x7e, 0x7f], [0xc2, 0xc2], [0xc4, 0xc6], [0xd1, 0xfe]]) {
    for (let o = a!; o <= b!; o++) t[o] = 1;
  }
  t[0xf0] = 0; // LDDQU: SSE3
  return t;
})();

const RBX_ = 3;

function bswap32(v: number): number {
  return (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24)) >>> 0;
}

/** BT, BTS, BTR, BTC (`kind` 0–3) with a register (`imm` -1) or immediate bit offset. */
function bitTest(cpu: Cpu, d: Insn, kind: number, imm: number): void {
  const s = d.opsz;
  const bits = s * 8;
  let offLo: number, offHi = 0;
  if (imm >= 0) offLo = imm & (bits - 1);
  else { offLo = getReg(cpu, d, d.reg, s); offHi = s === 8 ? cpu.rh : 0; }
  let lo: number, hi = 0, bit: number;
  if (d.mod === 3 || imm >= 0) {
    bit = offLo & (bits - 1);
    lo = readRM(cpu, d, s); hi = s === 8 ? cpu.rh : 0;
  } else {
    // Register bit offsets address memory beyond the operand (signed, in operand-size units).
    const signed = s === 8 ? (offHi | 0) * TWO32 + offLo : s === 4 ? offLo | 0 : (offLo << 16) >> 16;
    const unit = Math.floor(signed / bits);
    bit = signed - unit * bits;
    const base = ea(cpu, d);
    const a = canonical(cpu, base + unit * s);
    cpu.eaddr = a;
    lo = cpu.mmu.read(a, s); hi = s === 8 ? cpu.rh : 0;
  }
  const word = bit < 32 ? lo : hi;
  const mask = 1 << (bit & 31);
  const cf = (word >>> (bit & 31)) & 1;
  setFlagBit(cpu, CF, cf);
  if (kind === 0) return;
  let nw: number;
  if (kind === 1) nw = word | mask;
  else if (kind === 2) nw = word & ~mask;
  else nw = word ^ mask;
  nw >>>= 0;
  if (bit < 32) lo = nw; else hi = nw;
  writeRM(cpu, d, s, lo, hi);
}

/** BSF / BSR (also TZCNT/LZCNT encodings, which CPUs without BMI run as BSF/BSR). */
function bitScan(cpu: Cpu, d: Insn, reverse: boolean): void {
  const s = d.opsz;
  const lo = readRM(cpu, d, s), hi = s === 8 ? cpu.rh : 0;
  materialize(cpu);
  if ((lo | hi) === 0) { cpu.flags |= ZF; return; }
  cpu.flags &= ~ZF;
  let idx: number;
  if (reverse) idx = hi !== 0 ? 63 - Math.clz32(hi) : 31 - Math.clz32(lo);
  else idx = lo !== 0 ? 31 - Math.clz32(lo & -lo) : 32 + 31 - Math.clz32(hi & -hi);
  setReg(cpu, d, d.reg, s, idx, 0);
}

