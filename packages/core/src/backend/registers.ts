/**
 * x86-64 register state as backends exchange it with the VMM. Values are bigint here because
 * this is the set-up and debugging path, not the exit path.
 * @module
 */

/** General-purpose registers, RIP and RFLAGS. */
export interface Registers {
  rax: bigint; rbx: bigint; rcx: bigint; rdx: bigint;
  rsi: bigint; rdi: bigint; rsp: bigint; rbp: bigint;
  r8: bigint; r9: bigint; r10: bigint; r11: bigint;
  r12: bigint; r13: bigint; r14: bigint; r15: bigint;
  rip: bigint; rflags: bigint;
}

/** Names of {@link Registers} in the order backends lay them out (KVM's `struct kvm_regs`). */
export const REGISTER_NAMES = [
  'rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rsp', 'rbp',
  'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15', 'rip', 'rflags',
] as const;

/** Index of a general register in {@link REGISTER_NAMES}, for the allocation-free accessors. */
export type RegisterName = (typeof REGISTER_NAMES)[number];

/** A segment register in its hidden (descriptor-cache) form. */
export interface Segment {
  base: bigint;
  limit: number;
  selector: number;
  /** Descriptor type field (4 bits). */
  type: number;
  present: boolean;
  dpl: number;
  /** Default operand size (D/B). */
  db: boolean;
  /** Code/data (true) versus system descriptor. */
  s: boolean;
  /** 64-bit code segment. */
  l: boolean;
  /** Granularity: limit in 4 KiB units. */
  g: boolean;
  avl: boolean;
  unusable: boolean;
}

/** A descriptor table register (GDTR, IDTR). */
export interface DescriptorTable {
  base: bigint;
  limit: number;
}

/** Segment, control and descriptor-table registers. */
export interface SpecialRegisters {
  cs: Segment; ds: Segment; es: Segment; fs: Segment; gs: Segment; ss: Segment;
  tr: Segment; ldt: Segment;
  gdt: DescriptorTable; idt: DescriptorTable;
  cr0: bigint; cr2: bigint; cr3: bigint; cr4: bigint; cr8: bigint;
  efer: bigint; apicBase: bigint;
}

/** One CPUID leaf as the guest will see it. */
export interface CpuidEntry {
  function: number;
  index: number;
  /** Backend-specific flags (KVM: `KVM_CPUID_FLAG_SIGNIFCANT_INDEX`, …). */
  flags: number;
  eax: number; ebx: number; ecx: number; edx: number;
}
