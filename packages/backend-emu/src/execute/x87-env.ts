/**
 * The x87 environment and state images (not part of the package's API): FNSTENV/FLDENV (D9 /6,
 * D9 /4) and FNSAVE/FRSTOR (DD /6, DD /4) in the protected-mode layouts (SDM vol. 1 figures 8-9
 * and 8-10): 28 bytes with a 32-bit operand size (the default in 64-bit mode, REX.W changes
 * nothing), 14 with 0x66; FNSAVE/FRSTOR add ST(0)–ST(7) as 10 bytes each. The stored tag word is
 * the full 2-bit one computed from the registers (valid, zero, special, empty); loading keeps
 * only empty/non-empty. FIP/FDP are stored as their low 32 (16) bits with FCS/FDS 0. FNSTENV then
 * masks every exception (clearing ES and B); FNSAVE then initialises as FNINIT.
 * @module
 */
import type { Cpu } from '../cpu/cpu.js';
import type { Insn } from '../decoder/decoder.js';
import { ea } from './operands.js';
import { K_NORMAL, K_ZERO, classify } from './x87-float.js';
import { F_B, F_ES, isEmpty, readReg, top, waitPending } from './x87-stack.js';

/** The full tag word: 00 valid, 01 zero, 10 special (NaN, ∞, denormal, unsupported), 11 empty; by physical register. */
export function fullTags(cpu: Cpu): number {
  let tw = 0;
  for (let p = 0; p < 8; p++) {
    let t = 3;
    if (!isEmpty(cpu, p)) {
      const k = classify(readReg(cpu, p));
      t = k === K_NORMAL ? 0 : k === K_ZERO ? 1 : 2;
    }
    tw |= t << (2 * p);
  }
  return tw;
}

/** Writes the environment at `a`; returns its size. */
function storeEnv(cpu: Cpu, a: number, small: boolean, extra: number): number {
  const mmu = cpu.mmu, size = small ? 14 : 28;
  mmu.probeWrite(a, size + extra);
  const words = [cpu.fcw, cpu.fsw, fullTags(cpu)];
  if (small) {
    words.forEach((w, i) => mmu.write16(a + 2 * i, w));
    mmu.write16(a + 6, cpu.fip & 0xffff);
    mmu.write16(a + 8, 0); // FOP is not in the 16-bit protected-mode image; FCS 0
    mmu.write16(a + 10, cpu.fdp & 0xffff);
    mmu.write16(a + 12, 0);
  } else {
    // Reserved upper halves are written as ones, as Intel and AMD CPUs do.
    words.forEach((w, i) => mmu.write32(a + 4 * i, (0xffff0000 | w) >>> 0));
    mmu.write32(a + 12, cpu.fip >>> 0);
    mmu.write32(a + 16, ((cpu.fop & 0x7ff) << 16) >>> 0);
    mmu.write32(a + 20, cpu.fdp >>> 0);
    mmu.write32(a + 24, 0xffff0000);
  }
  return size;
}

/** Reads the environment at `a` (before anything changes: a fault leaves the state alone); returns a commit function and the size. */
function loadEnv(cpu: Cpu, a: number, small: boolean): { size: number; apply: () => void } {
  const mmu = cpu.mmu;
  const rd = (i: number): number => (small ? mmu.read16(a + 2 * i) : mmu.read32(a + 4 * i));
  const fcw = rd(0) & 0xffff, fsw = rd(1) & 0xffff, tw = rd(2) & 0xffff, fip = rd(3), fopSel = rd(4), fdp = rd(5);
  return {
    size: small ? 14 : 28,
    apply: () => {
      cpu.fcw = fcw | 0x40;
      cpu.fsw = fsw;
      // ES/B follow the loaded flags and masks, as after FLDCW.
      if ((fsw & ~fcw & 0x3f) !== 0) cpu.fsw |= F_ES | F_B; else cpu.fsw &= ~(F_ES | F_B);
      let ftw = 0;
      for (let p = 0; p < 8; p++) if (((tw >>> (2 * p)) & 3) !== 3) ftw |= 1 << p;
      cpu.ftw = ftw;
      cpu.fip = small ? fip & 0xffff : fip >>> 0;
      cpu.fop = small ? cpu.fop : (fopSel >>> 16) & 0x7ff;
      cpu.fdp = small ? fdp & 0xffff : fdp >>> 0;
    },
  };
}

/** FNSTENV (`save` false) or FNSAVE: non-waiting. */
export function fnstenv(cpu: Cpu, d: Insn, save: boolean): void {
  const a = ea(cpu, d), small = d.opsz === 2;
  const size = storeEnv(cpu, a, small, save ? 80 : 0);
  if (save) {
    const mmu = cpu.mmu, R = cpu.fpr, t = top(cpu);
    for (let i = 0; i < 8; i++) {
      const o = ((t + i) & 7) * 5;
      for (let k = 0; k < 5; k++) mmu.write16(a + size + 10 * i + 2 * k, R[o + k]!);
    }
    cpu.fcw = 0x37f; cpu.fsw = 0; cpu.ftw = 0; cpu.fop = 0; cpu.fip = 0; cpu.fdp = 0;
  } else {
    cpu.fcw |= 0x3f;
    cpu.fsw &= ~(F_ES | F_B); // nothing is unmasked any more: no exception pending
  }
}

/** FLDENV (`restore` false) or FRSTOR: waiting. */
export function fldenv(cpu: Cpu, d: Insn, restore: boolean): void {
  waitPending(cpu);
  const a = ea(cpu, d), small = d.opsz === 2;
  const env = loadEnv(cpu, a, small);
  const regs = new Uint16Array(40);
  if (restore) for (let i = 0; i < 40; i++) regs[i] = cpu.mmu.read16(a + env.size + 2 * i);
  env.apply();
  if (restore) {
    const t = top(cpu);
    for (let i = 0; i < 8; i++) {
      const o = ((t + i) & 7) * 5;
      for (let k = 0; k < 5; k++) cpu.fpr[o + k] = regs[i * 5 + k]!;
    }
  }
}
