/**
 * Shared by this package's tests (not exported from the package): tiny 64-bit guests booted
 * from core's long-mode state; the `[kvm]` gate comes from `@hyvisor/backend-kvm/testing`.
 * @module
 */
import type { ExecutionContext } from 'ava';
import { bootRegisters, longModeSpecialRegisters, writeBootTables, type Capability, type GuestMemory } from '@hyvisor/core';
import { KvmBackend } from './kvm-backend.js';
import type { KvmVcpu } from './kvm-vcpu.js';
import type { KvmVm } from './kvm-vm.js';

// The KVM gate lives in the package's testing subpath; these tests use it like everyone else.
export { kvmTest, kvmSerialTest } from './testing/index.js';

/**
 * Returns false after logging `skipped: <why>` (the test then passes) unless the backend has
 * `capability`; use at the start of a {@link kvmTest} that needs more than /dev/kvm.
 */
export function needsCapability(t: ExecutionContext, capability: Capability, detail?: string): boolean {
  const info = backend().info;
  if (!info.capabilities.has(capability)) {
    t.log(`skipped: this KVM (${info.flavour}) lacks capability ${capability}`);
    t.pass();
    return false;
  }
  if (detail !== undefined && info.details[detail] !== true) {
    t.log(`skipped: this KVM (${info.flavour}) has ${capability} but not ${detail}`);
    t.pass();
    return false;
  }
  return true;
}

let shared: KvmBackend | undefined;
/** One backend per test file (opening /dev/kvm once). */
export function backend(): KvmBackend {
  shared ??= new KvmBackend();
  return shared;
}

/** Guest code is loaded here (core's `BootLayout.KERNEL_MIN`). */
export const CODE = 0x100000;
/** RAM: [0, 2 MiB) covers the boot tables and the code page. */
export const RAM_SIZE = 2 << 20;

/** A VM with RAM, boot tables, `code` at {@link CODE} and vCPU 0 in 64-bit long mode at it. */
export interface Guest {
  vm: KvmVm;
  cpu: KvmVcpu;
}

/**
 * Boots `code` (raw x86-64 machine code, ring 0) in a fresh VM; the VM is disposed when the
 * test ends.
 */
export function bootGuest(t: ExecutionContext, code: readonly number[], setup?: (vm: KvmVm) => void): Guest {
  // `setup` runs before the vCPU exists (so it may call vm.irqchip.create).
  const vm = backend().createVm({ name: t.title });
  t.teardown(() => vm.dispose());
  vm.addRegion('ram', 0, RAM_SIZE);
  writeBootTables(vm.memory);
  vm.memory.write(CODE, Uint8Array.from(code));
  setup?.(vm);
  const cpu = vm.createVcpu(0);
  cpu.setSpecialRegisters(longModeSpecialRegisters(cpu.getSpecialRegisters()));
  cpu.setRegisters(bootRegisters(BigInt(CODE)));
  return { vm, cpu };
}

/** Little-endian bytes of a 32-bit immediate. */
export function imm32(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
}

/** Hand-assembled instructions used by the tests (64-bit mode). */
export const asm = {
  hlt: [0xf4],
  /** `jmp $`: spins forever. */
  spin: [0xeb, 0xfe],
  movEax: (v: number) => [0xb8, ...imm32(v)],
  movEcx: (v: number) => [0xb9, ...imm32(v)],
  movEsi: (v: number) => [0xbe, ...imm32(v)],
  movDx: (v: number) => [0x66, 0xba, v & 0xff, (v >>> 8) & 0xff],
  outAl: (port: number) => [0xe6, port],
  outEax: (port: number) => [0xe7, port],
  inEax: (port: number) => [0xe5, port],
  outDxAl: [0xee],
  repOutsb: [0xf3, 0x6e],
  /** `mov rbx, imm64` (`v` below 2^53). */
  movRbx: (v: number) => [0x48, 0xbb, ...imm32(v % 0x1_0000_0000), ...imm32(Math.floor(v / 0x1_0000_0000))],
  /** `mov [rbx], eax`. */
  storeEaxAtRbx: [0x89, 0x03],
  /** `mov eax, [rbx]`. */
  loadEaxAtRbx: [0x8b, 0x03],
  /** `mov [abs32], eax` (SIB form: not RIP-relative; disp32 is sign-extended, so keep it below 2 GiB). */
  storeEax: (addr: number) => [0x89, 0x04, 0x25, ...imm32(addr)],
  /** `mov eax, [abs32]`. */
  loadEax: (addr: number) => [0x8b, 0x04, 0x25, ...imm32(addr)],
  /** `mov dword [abs32], imm32`. */
  storeImm: (addr: number, v: number) => [0xc7, 0x04, 0x25, ...imm32(addr), ...imm32(v)],
  /** `lidt [abs32]`. */
  lidt: (addr: number) => [0x0f, 0x01, 0x1c, 0x25, ...imm32(addr)],
  sti: [0xfb],
  nop: [0x90],
  iretq: [0x48, 0xcf],
  cpuid: [0x0f, 0xa2],
  decEcx: [0xff, 0xc9],
  /** `jnz rel8`. */
  jnz: (rel: number) => [0x75, rel & 0xff],
  cli: [0xfa],
  movAl: (v: number) => [0xb0, v & 0xff],
  inAl: (port: number) => [0xe4, port],
  pushRax: [0x50],
  popRax: [0x58],
  /** `inc dword [abs32]`. */
  incMem: (addr: number) => [0xff, 0x04, 0x25, ...imm32(addr)],
  /** `cmp eax, imm32`. */
  cmpEax: (v: number) => [0x3d, ...imm32(v)],
  /** `mov dword [rbx + disp32], imm32` (MMIO registers such as the local APIC's). */
  storeImmAtRbx: (disp: number, v: number) => [0xc7, 0x83, ...imm32(disp), ...imm32(v)],
} as const;

/** Branch opcodes for {@link Program.branch} (rel8 forms). */
export const JMP = 0xeb, JNZ = 0x75, JB = 0x72;

/**
 * A tiny assembler for hand-written guests: raw instruction bytes plus labels and rel8 branches,
 * so no displacement is counted by hand.
 */
export class Program {
  private readonly out: number[] = [];
  private readonly labels = new Map<string, number>();
  private readonly fixups: { at: number; label: string }[] = [];

  /** `origin` is the guest-physical (= virtual) address of the first byte. */
  constructor(readonly origin: number) {}

  /** Address of the next byte. */
  get here(): number {
    return this.origin + this.out.length;
  }

  /** Appends instruction bytes. */
  emit(...chunks: readonly (readonly number[])[]): this {
    for (const c of chunks) this.out.push(...c);
    return this;
  }

  /** Names the next byte's address. */
  label(name: string): this {
    this.labels.set(name, this.here);
    return this;
  }

  /** A two-byte branch (`opcode` + rel8) to `label`, which may come later. */
  branch(opcode: number, label: string): this {
    this.out.push(opcode, 0);
    this.fixups.push({ at: this.out.length - 1, label });
    return this;
  }

  /** Address of `label`. */
  addressOf(label: string): number {
    const a = this.labels.get(label);
    if (a === undefined) throw new Error(`Program: no label ${label}`);
    return a;
  }

  /** The machine code with every branch resolved. */
  bytes(): number[] {
    const code = [...this.out];
    for (const f of this.fixups) {
      const rel = this.addressOf(f.label) - (this.origin + f.at + 1);
      if (rel < -128 || rel > 127) throw new Error(`Program: branch to ${f.label} is out of rel8 range (${rel})`);
      code[f.at] = rel & 0xff;
    }
    return code;
  }
}

/** Where the interrupt tests put their IDT (256 gates) and its IDTR pseudo-descriptor. */
export const IDT = 0x2000, IDTR = 0x3000;

/**
 * Writes a 256-entry 64-bit IDT at {@link IDT} (and its IDTR at {@link IDTR}) with an interrupt
 * gate (selector 0x08, DPL 0, type 0xE) for each `vector → handler address`; load it with
 * `asm.lidt(IDTR)`.
 */
export function writeIdt(memory: GuestMemory, gates: Readonly<Record<number, number>>): void {
  memory.fill(IDT, 256 * 16);
  memory.setU16(IDTR, 256 * 16 - 1);
  memory.setU64(IDTR + 2, BigInt(IDT));
  for (const [v, handler] of Object.entries(gates)) {
    const gate = IDT + Number(v) * 16;
    memory.setU16(gate, handler & 0xffff);
    memory.setU16(gate + 2, 0x08);
    memory.setU16(gate + 4, 0x8e00);
    memory.setU16(gate + 6, (handler >>> 16) & 0xffff);
    memory.setU32(gate + 8, 0);
  }
}

/**
 * Guest code that initialises the 8259 pair the way a PC BIOS/OS does (ICW1-ICW4: edge
 * triggered, cascade on IRQ2, 8086 mode), with vectors `base`..`base+7` (master) and
 * `base+8`..`base+15` (slave), then masks every input except those in `unmasked` (master IRQs 0-7).
 */
export function picInit(base: number, unmasked: readonly number[]): number[] {
  const mask = 0xff & ~unmasked.reduce((m, irq) => m | (1 << irq), 0);
  const out = (port: number, v: number): number[] => [...asm.movAl(v), ...asm.outAl(port)];
  return [
    ...out(0x20, 0x11), ...out(0x21, base), ...out(0x21, 0x04), ...out(0x21, 0x01),
    ...out(0xa0, 0x11), ...out(0xa1, base + 8), ...out(0xa1, 0x02), ...out(0xa1, 0x01),
    ...out(0x21, mask), ...out(0xa1, 0xff),
  ];
}

/** Guest code that sets PIT channel 0 to mode 2 (rate generator) with `divisor` (1.193182 MHz / divisor). */
export function pitInit(divisor: number): number[] {
  return [...asm.movAl(0x34), ...asm.outAl(0x43), ...asm.movAl(divisor & 0xff), ...asm.outAl(0x40), ...asm.movAl(divisor >>> 8), ...asm.outAl(0x40)];
}
