/**
 * The architectural state of one emulated x86-64 CPU: general registers as pairs of 32-bit
 * halves, RIP as a signed canonical address (exact in a double), lazy flags, segment caches,
 * control registers and the MSRs the emulator implements. Behaviour lives elsewhere
 * (`execute/`, `mmu/`, `cpu/interrupts.ts`); this class holds state and the small helpers every
 * instruction group uses.
 * @module
 */
import { L_NONE } from './flags.js';
import type { Mmu } from '../mmu/mmu.js';

/** Segment register indices in encoding order (ModRM reg field of MOV Sreg), then TR and LDTR. */
export const ES = 0, CS = 1, SS = 2, DS = 3, FS = 4, GS = 5, TR = 6, LDTR = 7;

/** General register numbers. */
export const RAX = 0, RCX = 1, RDX = 2, RBX = 3, RSP = 4, RBP = 5, RSI = 6, RDI = 7;

/** The hidden part of a segment register, with numbers instead of bigints. */
export class SegCache {
  selector = 0;
  /** Base as a signed canonical address. */
  base = 0;
  limit = 0xffff;
  type = 3;
  s = true;
  dpl = 0;
  present = true;
  db = false;
  l = false;
  g = false;
  avl = false;
  unusable = false;
}

/** Thrown (a preallocated object, never an Error) to abandon the current instruction. */
export const ABORT = { abort: true } as const;

/** Why the current instruction was abandoned (`cpu.abortKind`). */
export const A_EXCEPTION = 1, A_RESTART_EXIT = 2, A_INTERNAL = 3;

/** Control register and EFER bits the emulator checks. */
export const CR0_PE = 1, CR0_WP = 0x10000, CR0_PG = 0x80000000;
export const CR0_MP = 2, CR0_EM = 4, CR0_TS = 8, CR0_NE = 0x20;
export const CR4_PAE = 0x20, CR4_PGE = 0x80, CR4_OSFXSR = 0x200, CR4_OSXMMEXCPT = 0x400;

/** MXCSR after reset and FNINIT-independent: every exception masked, round to nearest. */
export const MXCSR_RESET = 0x1f80;
/**
 * The MXCSR bits this CPU implements (FXSAVE's MXCSR_MASK): all but DAZ (bit 6), which the
 * emulator does not offer; LDMXCSR/FXRSTOR with any other bit set raise #GP(0).
 */
export const MXCSR_MASK = 0xffbf;
/** XMM register numbers of the two scratch registers after XMM15: a memory source, a result. */
export const XMM_SRC = 16, XMM_RES = 17;
export const EFER_SCE = 1, EFER_LME = 0x100, EFER_LMA = 0x400, EFER_NXE = 0x800;

export class Cpu {
  /** Low and high 32 bits of RAX…R15. */
  readonly lo = new Uint32Array(16);
  readonly hi = new Uint32Array(16);
  /** Address of the current instruction (signed canonical). */
  rip = 0;
  /** Address of the next instruction; branches overwrite it. */
  nextRip = 0;
  /** RFLAGS; its arithmetic bits are valid only when `lop` is L_NONE. */
  flags = 2;
  // Lazy flags (see flags.ts).
  lop = L_NONE; lsz = 4; la = 0; laH = 0; lb = 0; lbH = 0; lr = 0; lrH = 0; lcf = 0; lof = 0;
  /** High half of the last 64-bit value a helper returned. */
  rh = 0;
  /** Linear address of the current instruction's memory operand (set by `operands.ts`). */
  eaddr = 0;
  /** The MMU (set once by the vCPU). */
  mmu!: Mmu;

  /**
   * XMM0–15 as 32-bit lanes (register r is lanes 4r…4r+3, little-endian), then two scratch
   * registers ({@link XMM_SRC}, {@link XMM_RES}); the views share the buffer. Values move through
   * the integer views only (a float view could quiet a signalling NaN).
   */
  readonly xmm = new Uint32Array(18 * 4);
  readonly xmmB = new Uint8Array(this.xmm.buffer);
  readonly xmmW = new Uint16Array(this.xmm.buffer);
  readonly xmmF32 = new Float32Array(this.xmm.buffer);
  readonly xmmF64 = new Float64Array(this.xmm.buffer);
  mxcsr = MXCSR_RESET;
  /** SIMD floating-point exceptions detected by the current instruction (MXCSR flag bits 0–5). */
  simdFlags = 0;
  // x87 state (execute/x87.ts): control, status (TOP in bits 13:11), abridged tag (bit i: physical
  // register i is in use), last opcode and instruction/data pointers.
  fcw = 0x37f; fsw = 0; ftw = 0; fop = 0; fip = 0; fdp = 0;
  /** The eight physical x87 registers, 80 bits each as five 16-bit words in memory order (m80). */
  readonly fpr = new Uint16Array(8 * 5);

  readonly seg: SegCache[] = [0, 1, 2, 3, 4, 5, 6, 7].map(() => new SegCache());
  cpl = 0;
  cr0 = 0x60000010;
  /** CR2 as a signed canonical address. */
  cr2 = 0;
  cr3 = 0;
  /**
   * The VM's CR3 policy (`vm.cr3Policy`): MOV to CR3 raises #GP(0) when it returns false for
   * the new PML4 address. Undefined (the default): no check.
   */
  cr3Policy: ((cr3: number) => boolean) | undefined = undefined;
  cr4 = 0;
  cr8 = 0;
  efer = 0;
  gdtBase = 0; gdtLimit = 0xffff;
  idtBase = 0; idtLimit = 0xffff;

  // MSRs used on hot paths, as numbers.
  starLo = 0; starHi = 0;
  lstar = 0; cstar = 0; fmask = 0;
  kernelGsBase = 0;
  apicBase = 0xfee00900;
  /** Added to the virtual TSC (WRMSR to IA32_TSC sets it). */
  tscOffset = 0;
  /** Other MSRs a guest may read and write (PAT, MISC_ENABLE, TSC_AUX, …). */
  readonly msrs = new Map<number, bigint>();

  /** 1 for the instruction after STI or MOV SS: no interrupt is taken before it completes. */
  shadow = 0;
  /** Instructions completed (the virtual TSC counts these). */
  retired = 0;
  /** Guest time in ns skipped while halted (the VMM's `vm.virtualClock.advanceTo`): virtual time = retired × ns per instruction + this. */
  skippedNs = 0;
  /** Instructions that raised #UD because the emulator does not implement them. */
  unimplemented = 0;

  // The pending exception of an abandoned instruction.
  abortKind = 0;
  excVector = 0;
  /** Error code, or -1 for none. */
  excError = -1;
  /** The exception is a software interrupt (INT3, INT n): a trap with a DPL check. */
  excSoft = false;
  /** Message of an internal error. */
  internalReason = '';
  /** Set when an exception leaves a compiled block (execute/compile.ts): index of the abandoned instruction in the block. */
  blockIndex = 0;
  /** With `blockIndex`: instructions the compiled block retired in earlier turns of its loop. */
  blockDone = 0;

  /** Raises exception `vector` (with `error`, -1 for none): abandons the instruction. */
  raise(vector: number, error = -1): never {
    this.abortKind = A_EXCEPTION;
    this.excVector = vector;
    this.excError = error;
    this.excSoft = false;
    throw ABORT;
  }

  /** INT3 / INT n: delivered after the instruction, with the gate's DPL checked against CPL. */
  softwareInterrupt(vector: number): never {
    this.abortKind = A_EXCEPTION;
    this.excVector = vector;
    this.excError = -1;
    this.excSoft = true;
    throw ABORT;
  }

  /** Stops with an internal error exit (the VMM reports it; the guest cannot continue). */
  internal(reason: string): never {
    this.abortKind = A_INTERNAL;
    this.internalReason = reason;
    throw ABORT;
  }

  /** RSP as a signed number (exact for canonical stack addresses). */
  get rsp(): number {
    return (this.hi[RSP]! | 0) * 0x1_0000_0000 + this.lo[RSP]!;
  }

  set rsp(v: number) {
    this.lo[RSP] = v >>> 0;
    this.hi[RSP] = Math.floor(v / 0x1_0000_0000) >>> 0;
  }

  /** Register `r` as a signed 64-bit number (exact below 2^53 in magnitude). */
  signed(r: number): number {
    return (this.hi[r]! | 0) * 0x1_0000_0000 + this.lo[r]!;
  }

  /** Sets register `r` from a (possibly negative) integer number. */
  setNumber(r: number, v: number): void {
    this.lo[r] = v >>> 0;
    this.hi[r] = Math.floor(v / 0x1_0000_0000) >>> 0;
  }

  get longMode(): boolean {
    return (this.efer & EFER_LMA) !== 0;
  }
}

/** Splits a signed or unsigned integer number into its low 32 bits (returned) and high 32 bits (`out.rh`). */
export function split(cpu: Cpu, v: number): number {
  cpu.rh = Math.floor(v / 0x1_0000_0000) >>> 0;
  return v >>> 0;
}

/** The signed number of a (lo, hi) pair (exact for canonical addresses). */
export function pairToNumber(lo: number, hi: number): number {
  return (hi | 0) * 0x1_0000_0000 + lo;
}

/** A (lo, hi) pair as an unsigned bigint (set-up path only). */
export function pairToBig(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

/** A canonical signed address from a bigint (set-up path only). */
export function bigToAddress(v: bigint): number {
  return Number(BigInt.asIntN(64, v));
}

/** An address or number as an unsigned 64-bit bigint. */
export function numberToBig(v: number): bigint {
  return BigInt.asUintN(64, BigInt(v));
}
