/**
 * Differential testing support (not part of the package's API): runs a snippet of ring-3 code on
 * any {@link Backend} (the emulator, KVM) from the same initial state and returns what it left:
 * general registers, RIP, RFLAGS and the user data page. The snippet ends with an instruction
 * that traps to ring 0 (`int3` through a DPL-3 gate, or any exception); the ring-0 stub pushes the
 * vector and halts, so the result is read from the exception frame (RIP, RFLAGS, RSP as ring 3
 * left them) and the untouched general registers. Ring 3 because kvm_pvm runs ring-3 code
 * natively (its ring 0 is emulated): what KVM says there is what the CPU says.
 *
 * Layout (4 MiB of RAM, all identity-mapped by user-accessible 2 MiB pages): GDT 0x1000 (null,
 * kernel code 0x08, kernel data 0x10, user data 0x1b, user code 0x23, TSS 0x28), TSS 0x2000
 * (RSP0 = 0x9000), IDT 0x3000 (every vector → a `push vector; hlt` stub at 0x5000 + 8 × vector,
 * interrupt gates, DPL 3), page tables 0x10000, user code 0x100000, user data 0x300000 (one page, or as many as
 * {@link Ring3Input.data} fills), user stack below 0x380000.
 * @module
 */
import {
  ExitKind, longModeSpecialRegisters, type Backend, type Registers, type Segment, type SpecialRegisters,
} from '@hyvisor/core';

export const GDT = 0x1000, TSS = 0x2000, IDT = 0x3000, STUBS = 0x5000, KSTACK_TOP = 0x9000, PML4 = 0x10000;
export const USER_CODE = 0x100000, USER_DATA = 0x300000, USER_STACK_TOP = 0x380000;
export const KCODE = 0x08, KDATA = 0x10, UDATA = 0x1b, UCODE = 0x23, TSS_SEL = 0x28;
const RAM = 4 << 20;
/** Vectors that push an error code. */
const ERROR_VECTORS = new Set([8, 10, 11, 12, 13, 14, 17, 21]);

/** The general registers compared (RSP comes from the exception frame). */
export const GPRS = ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'] as const;
export type Gpr = (typeof GPRS)[number];

/** The state a snippet starts from. */
export interface Ring3Input {
  /** Machine code, run at {@link USER_CODE} in ring 3; it must end by trapping (e.g. `int3`). */
  readonly code: Uint8Array;
  /** Initial general registers (RSP defaults to {@link USER_STACK_TOP}). */
  readonly regs?: Partial<Record<Gpr, bigint>>;
  /** Initial RFLAGS (bits other than the arithmetic ones and DF are forced: IF=1, bit 1 set). */
  readonly rflags?: number;
  /**
   * Initial contents of the user data area at {@link USER_DATA}: one page, or as many whole pages as
   * this array covers (at most {@link USER_DATA_MAX} bytes); the rest of the last page is zero.
   */
  readonly data?: Uint8Array;
}

/** What a snippet left. */
export interface Ring3Output {
  readonly vector: number;
  /** Error code of the exception, or -1. */
  readonly error: number;
  readonly rip: bigint;
  readonly rflags: number;
  readonly regs: Record<Gpr, bigint>;
  /** The user data area afterwards (as many pages as the input's). */
  readonly data: Uint8Array;
}

/** Largest user data area: up to the user stack. */
export const USER_DATA_MAX = USER_STACK_TOP - USER_DATA;

function desc(base: number, limit: number, access: number, flags: number): bigint {
  return (BigInt(base >>> 24) << 56n) | (BigInt(flags & 0xf) << 52n) | (BigInt((limit >>> 16) & 0xf) << 48n) |
    (BigInt(access) << 40n) | (BigInt(base & 0xffffff) << 16n) | BigInt(limit & 0xffff);
}

function seg(selector: number, type: number, dpl: number, code: boolean): Segment {
  return {
    base: 0n, limit: 0xffffffff, selector, type, present: true, dpl, db: !code, s: true, l: code, g: true,
    avl: false, unusable: false,
  };
}

/** Runs `input` on `backend` in a fresh VM and returns the state at the trap. Throws on any other exit. */
export function runRing3(backend: Backend, input: Ring3Input): Ring3Output {
  const vm = backend.createVm({ name: 'ring3-diff' });
  try {
    vm.addRegion('ram', 0, RAM);
    const m = vm.memory;
    // GDT and TSS.
    m.setU64(GDT, 0n);
    m.setU64(GDT + 0x08, desc(0, 0xfffff, 0x9b, 0xa));
    m.setU64(GDT + 0x10, desc(0, 0xfffff, 0x93, 0xc));
    m.setU64(GDT + 0x18, desc(0, 0xfffff, 0xf3, 0xc));
    m.setU64(GDT + 0x20, desc(0, 0xfffff, 0xfb, 0xa));
    m.setU64(GDT + 0x28, desc(TSS, 0x67, 0x8b, 0));
    m.setU64(GDT + 0x30, 0n);
    m.setU64(TSS + 4, BigInt(KSTACK_TOP));
    m.setU16(TSS + 0x66, 0x68); // I/O map base beyond the limit: no port is allowed from ring 3
    // IDT: vector v → stub `push v; hlt` (interrupt gates, DPL 3 so int3 from ring 3 gets through).
    for (let v = 0; v < 256; v++) {
      const stub = STUBS + v * 8;
      m.write(stub, Uint8Array.from([0x68, v, 0, 0, 0, 0xf4])); // push imm32 v; hlt
      const g = IDT + v * 16;
      m.setU32(g, (stub & 0xffff) | (KCODE << 16));
      m.setU32(g + 4, ((stub & 0xffff0000) | 0x8000 | (3 << 13) | (0xe << 8)) >>> 0);
      m.setU32(g + 8, 0);
      m.setU32(g + 12, 0);
    }
    // Page tables: [0, 4 MiB) identity-mapped, user-accessible, writable 2 MiB pages.
    m.fill(PML4, 0x3000);
    m.setU64(PML4, BigInt(PML4 + 0x1000) | 7n);
    m.setU64(PML4 + 0x1000, BigInt(PML4 + 0x2000) | 7n);
    m.setU64(PML4 + 0x2000, 0x87n);
    m.setU64(PML4 + 0x2008, 0x200000n | 0x87n);
    m.write(USER_CODE, input.code);
    const dataSize = Math.min(USER_DATA_MAX, Math.max(4096, Math.ceil((input.data?.length ?? 0) / 4096) * 4096));
    if (input.data) m.write(USER_DATA, input.data.subarray(0, dataSize));

    const vcpu = vm.createVcpu(0);
    const base = longModeSpecialRegisters(vcpu.getSpecialRegisters());
    const sregs: SpecialRegisters = {
      ...base,
      cs: seg(UCODE, 0xb, 3, true),
      ss: seg(UDATA, 0x3, 3, false), ds: seg(UDATA, 0x3, 3, false), es: seg(UDATA, 0x3, 3, false),
      fs: seg(UDATA, 0x3, 3, false), gs: seg(UDATA, 0x3, 3, false),
      tr: { ...base.tr, selector: TSS_SEL, base: BigInt(TSS), limit: 0x67, type: 0xb, present: true, s: false, dpl: 0, g: false, l: false, db: false, unusable: false },
      gdt: { base: BigInt(GDT), limit: 7 * 8 - 1 },
      idt: { base: BigInt(IDT), limit: 256 * 16 - 1 },
      cr3: BigInt(PML4),
      cr4: base.cr4 | 0x600n, // OSFXSR, OSXMMEXCPT: SSE on as an OS enables it (KVM's ring 3 has the host's CR4 anyway)
    };
    vcpu.setSpecialRegisters(sregs);
    const regs = {} as Registers;
    for (const r of GPRS) regs[r] = BigInt.asUintN(64, input.regs?.[r] ?? 0n);
    if (input.regs?.rsp === undefined) regs.rsp = BigInt(USER_STACK_TOP);
    regs.rip = BigInt(USER_CODE);
    regs.rflags = BigInt(((input.rflags ?? 0) & 0xcd5) | 0x202);
    vcpu.setRegisters(regs);

    vcpu.setDeadline(5000);
    const exit = vcpu.run();
    if (exit.kind !== ExitKind.Hlt) {
      throw new Error(`${backend.info.name}: expected the trap stub's HLT, got exit ${exit.kind} ${exit.reason ?? ''} at rip 0x${vcpu.getRegisters().rip.toString(16)}`);
    }
    const after = vcpu.getRegisters();
    const ksp = Number(after.rsp);
    const vector = Number(m.u64(ksp)!);
    let at = ksp + 8, error = -1;
    if (ERROR_VECTORS.has(vector)) { error = Number(m.u64(at)!); at += 8; }
    const out = {} as Record<Gpr, bigint>;
    for (const r of GPRS) out[r] = after[r];
    out.rsp = m.u64(at + 24)!;
    return {
      vector, error, rip: m.u64(at)!, rflags: Number(m.u64(at + 16)! & 0xffffffffn), regs: out,
      data: Uint8Array.from(m.read(USER_DATA, dataSize)!),
    };
  } finally {
    vm.dispose();
  }
}
