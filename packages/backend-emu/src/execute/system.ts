/**
 * System instructions: control registers, descriptor tables, the task register, MSRs, CPUID,
 * TLB control, SWAPGS, and the privilege checks that guard them.
 * @module
 */
import {
  CR0_PG, CR0_PE, CR4_PAE, GS, LDTR, RAX, RCX, RDX, type Cpu,
} from '../cpu/cpu.js';
import { loadTaskRegister, nullSegment } from '../cpu/descriptors.js';
import { readMsr, tscNow, writeMsr } from '../cpu/msr.js';
import type { Insn } from '../decoder/decoder.js';
import { ea, setReg } from './operands.js';

/** #GP(0) unless at CPL 0. */
export function privileged(cpu: Cpu): void {
  if (cpu.cpl !== 0) cpu.raise(13, 0);
}

/** CR4 bits the emulator accepts (VME PVI TSD DE PSE PAE MCE PGE PCE OSFXSR OSXMMEXCPT FSGSBASE? no). */
const CR4_ALLOWED = 0x1 | 0x2 | 0x4 | 0x8 | 0x10 | 0x20 | 0x40 | 0x80 | 0x100 | 0x200 | 0x400;

/** MOV CRn, r64 (0F 22). */
export function movToCr(cpu: Cpu, d: Insn): void {
  privileged(cpu);
  const lo = cpu.lo[d.rm]!, hi = cpu.hi[d.rm]!;
  switch (d.reg) {
    case 0: {
      if (hi !== 0) cpu.raise(13, 0);
      if ((lo & CR0_PG) !== 0 && (lo & CR0_PE) === 0) cpu.raise(13, 0);
      if ((lo & CR0_PG) === 0 && cpu.longMode) {
        cpu.internal('leaving long mode (clearing CR0.PG) is not supported by the emulator');
      }
      cpu.cr0 = (lo | 0x10) >>> 0;
      cpu.mmu.flush();
      return;
    }
    case 2: cpu.cr2 = (hi | 0) * 0x1_0000_0000 + lo; return;
    case 3: {
      // Bits 51:12 are the PML4 address; PCID/PWT/PCD bits are ignored.
      const cr3 = (hi & 0xfffff) * 0x1_0000_0000 + ((lo & 0xfffff000) >>> 0);
      // The VMM's policy (vm.cr3Policy): a refused load is #GP(0), CR3 and the TLB untouched.
      if (cpu.cr3Policy !== undefined && !cpu.cr3Policy(cr3)) cpu.raise(13, 0);
      cpu.cr3 = cr3;
      cpu.mmu.flush();
      return;
    }
    case 4: {
      if (hi !== 0 || (lo & ~CR4_ALLOWED) !== 0) cpu.raise(13, 0);
      if (cpu.longMode && (lo & CR4_PAE) === 0) cpu.raise(13, 0);
      cpu.cr4 = lo >>> 0;
      cpu.mmu.flush();
      return;
    }
    case 8: cpu.cr8 = lo & 0xf; return;
    default: cpu.raise(6);
  }
}

/** MOV r64, CRn (0F 20). */
export function movFromCr(cpu: Cpu, d: Insn): void {
  privileged(cpu);
  let v: number;
  switch (d.reg) {
    case 0: v = cpu.cr0; break;
    case 2: v = cpu.cr2; break;
    case 3: v = cpu.cr3; break;
    case 4: v = cpu.cr4; break;
    case 8: v = cpu.cr8; break;
    default: return cpu.raise(6);
  }
  cpu.setNumber(d.rm, v);
}

/** 0F 00: SLDT, STR, LLDT, LTR. */
export function group6(cpu: Cpu, d: Insn): void {
  const mmu = cpu.mmu;
  switch (d.reg & 7) {
    case 0: case 1: {
      const sel = cpu.seg[(d.reg & 7) === 0 ? LDTR : 6]!.selector;
      if (d.mod === 3) setReg(cpu, d, d.rm, d.opsz, sel, 0);
      else mmu.write16(ea(cpu, d), sel);
      return;
    }
    case 2: {
      privileged(cpu);
      const sel = d.mod === 3 ? cpu.lo[d.rm]! & 0xffff : mmu.read16(ea(cpu, d));
      if ((sel & 0xfffc) !== 0) cpu.internal('LLDT with a non-null selector: the emulator does not support an LDT');
      nullSegment(cpu.seg[LDTR]!, sel);
      return;
    }
    case 3: {
      privileged(cpu);
      const sel = d.mod === 3 ? cpu.lo[d.rm]! & 0xffff : mmu.read16(ea(cpu, d));
      loadTaskRegister(cpu, sel);
      return;
    }
    default: cpu.raise(6);
  }
}

/** 0F 01: SGDT, SIDT, LGDT, LIDT, SMSW, LMSW, INVLPG, SWAPGS (other forms are #UD). */
export function group7(cpu: Cpu, d: Insn): boolean {
  const mmu = cpu.mmu;
  const r = d.reg & 7;
  if (d.mod === 3) {
    if (r === 7 && (d.rm & 7) === 0) { // SWAPGS
      privileged(cpu);
      const g = cpu.seg[GS]!;
      const t = g.base; g.base = cpu.kernelGsBase; cpu.kernelGsBase = t;
      return true;
    }
    if (r === 4) { setReg(cpu, d, d.rm, d.opsz, cpu.cr0 & 0xffff, 0); return true; }
    return false;
  }
  switch (r) {
    case 0: case 1: {
      const a = ea(cpu, d);
      const base = r === 0 ? cpu.gdtBase : cpu.idtBase, limit = r === 0 ? cpu.gdtLimit : cpu.idtLimit;
      mmu.probeWrite(a, 10);
      mmu.write16(a, limit);
      mmu.write64(a + 2, base >>> 0, Math.floor(base / 0x1_0000_0000) >>> 0);
      return true;
    }
    case 2: case 3: {
      privileged(cpu);
      const a = ea(cpu, d);
      const limit = mmu.read16(a);
      const lo = mmu.read64(a + 2), hi = cpu.rh;
      const base = (hi | 0) * 0x1_0000_0000 + lo;
      if (r === 2) { cpu.gdtBase = base; cpu.gdtLimit = limit; } else { cpu.idtBase = base; cpu.idtLimit = limit; }
      return true;
    }
    case 4: mmu.write16(ea(cpu, d), cpu.cr0 & 0xffff); return true;
    case 6: {
      privileged(cpu);
      const v = mmu.read16(ea(cpu, d));
      cpu.cr0 = ((cpu.cr0 & ~0xe) | (v & 0xf) | (cpu.cr0 & 1)) >>> 0;
      return true;
    }
    case 7: privileged(cpu); cpu.mmu.invalidate(ea(cpu, d)); return true;
    default: return false;
  }
}

/** RDMSR / WRMSR. */
export function msrAccess(cpu: Cpu, write: boolean): void {
  privileged(cpu);
  const index = cpu.lo[RCX]!;
  if (write) {
    if (!writeMsr(cpu, index, cpu.lo[RAX]!, cpu.lo[RDX]!)) cpu.raise(13, 0);
    return;
  }
  const lo = readMsr(cpu, index);
  if (lo === undefined) return cpu.raise(13, 0);
  cpu.lo[RAX] = lo; cpu.hi[RAX] = 0;
  cpu.lo[RDX] = cpu.rh; cpu.hi[RDX] = 0;
}

/** RDTSC: EDX:EAX = the virtual TSC (instructions retired × a fixed ratio). */
export function rdtsc(cpu: Cpu): void {
  if ((cpu.cr4 & 4) !== 0 && cpu.cpl !== 0) cpu.raise(13, 0); // CR4.TSD
  const t = tscNow(cpu);
  cpu.lo[RAX] = t >>> 0; cpu.hi[RAX] = 0;
  cpu.lo[RDX] = Math.floor(t / 0x1_0000_0000) >>> 0; cpu.hi[RDX] = 0;
}

