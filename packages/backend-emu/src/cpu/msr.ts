/**
 * Model-specific registers the emulator implements: EFER, the SYSCALL MSRs, FS/GS bases, the
 * virtual TSC, APIC base, and a small set of registers a kernel commonly touches (PAT,
 * MISC_ENABLE, SYSENTER, MTRRs, TSC_AUX) kept as plain storage. Anything else is #GP, as on
 * hardware.
 * @module
 */
import { CR0_PG, EFER_LMA, EFER_LME, EFER_NXE, EFER_SCE, FS, GS, type Cpu } from './cpu.js';

export const MSR_TSC = 0x10, MSR_APIC_BASE = 0x1b, MSR_EFER = 0xc0000080, MSR_STAR = 0xc0000081,
  MSR_LSTAR = 0xc0000082, MSR_CSTAR = 0xc0000083, MSR_FMASK = 0xc0000084, MSR_FS_BASE = 0xc0000100,
  MSR_GS_BASE = 0xc0000101, MSR_KERNEL_GS_BASE = 0xc0000102;

/** Guest time per retired instruction, in ns: the virtual clock (`vm.virtualClock`) runs at one instruction per ns. */
export const NS_PER_INSTRUCTION = 1;
/** The virtual TSC rate reported to the VMM and, through CPUID 0x40000002, to the guest. */
export const TSC_KHZ = 1_000_000;
/** Virtual TSC ticks per retired instruction. With {@link TSC_KHZ} one instruction is 1 ns of guest time. */
export const TSC_PER_INSTRUCTION = (NS_PER_INSTRUCTION * TSC_KHZ) / 1e6;
/** Virtual TSC ticks per ns of skipped (halted) time. */
const TSC_PER_NS = TSC_KHZ / 1e6;

/** MSRs kept as storage only, with their reset values. */
const STORED: ReadonlyMap<number, bigint> = new Map<number, bigint>([
  [0x174, 0n], [0x175, 0n], [0x176, 0n], // SYSENTER_CS/ESP/EIP
  [0x1a0, 1n], // MISC_ENABLE: fast strings
  [0x277, 0x0007040600070406n], // PAT
  [0x2ff, 0n], // MTRR default type
  [0xc0000103, 0n], // TSC_AUX
  [0x3a, 1n], // FEATURE_CONTROL: locked
  [0x8b, 0n], // microcode revision
  [0xc0010055, 0n], // AMD interrupt pending message: Linux reads it (no C1E) on a family-15 CPU with erratum 400
]);
const READ_ONLY = new Set([0xfe, 0x3a]);

const TWO32 = 0x1_0000_0000;

function canonical(v: number): boolean {
  return v < 0x8000_0000_0000 && v >= -0x8000_0000_0000;
}

/** The virtual TSC now. */
export function tscNow(cpu: Cpu): number {
  return cpu.retired * TSC_PER_INSTRUCTION + cpu.skippedNs * TSC_PER_NS + cpu.tscOffset;
}

/** Reads MSR `index`: low half returned, high half in `cpu.rh`; false-y `ok` raises #GP in the caller. */
export function readMsr(cpu: Cpu, index: number): number | undefined {
  const pair = (v: number): number => { cpu.rh = Math.floor(v / TWO32) >>> 0; return v >>> 0; };
  switch (index) {
    case MSR_TSC: return pair(tscNow(cpu));
    case MSR_APIC_BASE: return pair(cpu.apicBase);
    case MSR_EFER: cpu.rh = 0; return cpu.efer;
    case MSR_STAR: cpu.rh = cpu.starHi; return cpu.starLo;
    case MSR_LSTAR: return pair(cpu.lstar);
    case MSR_CSTAR: return pair(cpu.cstar);
    case MSR_FMASK: cpu.rh = 0; return cpu.fmask;
    case MSR_FS_BASE: return pair(cpu.seg[FS]!.base);
    case MSR_GS_BASE: return pair(cpu.seg[GS]!.base);
    case MSR_KERNEL_GS_BASE: return pair(cpu.kernelGsBase);
    case 0xfe: cpu.rh = 0; return 0; // MTRRcap: no variable ranges
  }
  const v = cpu.msrs.get(index) ?? STORED.get(index);
  if (v === undefined) return undefined;
  cpu.rh = Number((v >> 32n) & 0xffffffffn);
  return Number(v & 0xffffffffn);
}

/** Writes MSR `index`; returns false for #GP (unknown MSR, reserved bits, non-canonical address). */
export function writeMsr(cpu: Cpu, index: number, lo: number, hi: number): boolean {
  const num = (hi | 0) * TWO32 + lo;
  switch (index) {
    case MSR_TSC: cpu.tscOffset = hi * TWO32 + lo - (tscNow(cpu) - cpu.tscOffset); return true;
    case MSR_APIC_BASE: cpu.apicBase = hi * TWO32 + lo; return true;
    case MSR_EFER: {
      if (hi !== 0 || (lo & ~(EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE)) !== 0) return false;
      const lma = (cpu.cr0 & CR0_PG) !== 0 && (lo & EFER_LME) !== 0 ? EFER_LMA : 0;
      if ((cpu.cr0 & CR0_PG) !== 0 && ((lo ^ cpu.efer) & EFER_LME) !== 0) return false;
      const old = cpu.efer;
      cpu.efer = ((lo & ~EFER_LMA) | lma) >>> 0;
      if (((old ^ cpu.efer) & EFER_NXE) !== 0) cpu.mmu.flush();
      return true;
    }
    case MSR_STAR: cpu.starLo = lo >>> 0; cpu.starHi = hi >>> 0; return true;
    case MSR_LSTAR: if (!canonical(num)) return false; cpu.lstar = num; return true;
    case MSR_CSTAR: if (!canonical(num)) return false; cpu.cstar = num; return true;
    case MSR_FMASK: if (hi !== 0) return false; cpu.fmask = lo >>> 0; return true;
    case MSR_FS_BASE: if (!canonical(num)) return false; cpu.seg[FS]!.base = num; return true;
    case MSR_GS_BASE: if (!canonical(num)) return false; cpu.seg[GS]!.base = num; return true;
    case MSR_KERNEL_GS_BASE: if (!canonical(num)) return false; cpu.kernelGsBase = num; return true;
  }
  if (READ_ONLY.has(index)) return false;
  if (!cpu.msrs.has(index) && !STORED.has(index)) return false;
  cpu.msrs.set(index, (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0));
  return true;
}
