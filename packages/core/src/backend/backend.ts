/**
 * The backend contract, after Cloud Hypervisor's `hypervisor` crate: one set of interfaces
 * (`Backend` → `Vm` → `Vcpu`), several implementations (KVM today, the emulator later). Strategies
 * and the VMM talk to these interfaces and ask for {@link Capability | capabilities}; they never
 * test for a concrete class.
 * @module
 */
import type { Disposable } from '../lifecycle/disposable.js';
import type { GuestMemory, MemoryRegion } from '../memory/guest-memory.js';
import type { VmExit } from '../exits/vm-exit.js';
import type { CpuidEntry, RegisterName, Registers, SpecialRegisters } from './registers.js';

/**
 * What a backend can do. A facet lists the capabilities it needs; composing a VM on a backend
 * that lacks one fails at start-up with a message naming both.
 */
export type Capability =
  /** Guest RAM as host memory shared without copies. */
  | 'guest-memory'
  /** Regions the guest can read but whose writes exit as MMIO. */
  | 'readonly-memory'
  /** Run with a deadline so a guest that never exits cannot hang the VMM. */
  | 'run-deadline'
  /** Inject an external interrupt vector, with interrupt-window exits. */
  | 'interrupt-injection'
  /** Set the CPUID leaves the guest sees, including Hyvisor's hypervisor leaves. */
  | 'cpuid'
  /** Read and write model-specific registers. */
  | 'msr'
  /** Count a port or MMIO write without a userspace exit (KVM ioeventfd). */
  | 'ioeventfd'
  /** An interrupt controller emulated inside the backend (KVM in-kernel irqchip). */
  | 'in-kernel-irqchip'
  /** Registers travel with the exit, no extra call per exit (KVM_CAP_SYNC_REGS). */
  | 'sync-regs';

/** Every capability name, for validation and listings. */
export const CAPABILITIES: readonly Capability[] = [
  'guest-memory', 'readonly-memory', 'run-deadline', 'interrupt-injection', 'cpuid', 'msr',
  'ioeventfd', 'in-kernel-irqchip', 'sync-regs',
];

/** What a backend found on this host. */
export interface BackendInfo {
  /** Backend name as used in config (`kvm`, `emu`). */
  readonly name: string;
  /**
   * The flavour of the host, e.g. `kvm_pvm` (software nested virtualization),
   * `kvm-vmx`, `kvm-svm`. Guests get a hint derived from it.
   */
  readonly flavour: string;
  /** One line for `hyvisor info`. */
  readonly description: string;
  readonly capabilities: ReadonlySet<Capability>;
  /** Extra facts for `hyvisor info` (API version, TSC rate, vCPU limit, …). */
  readonly details: Readonly<Record<string, string | number | boolean>>;
}

/** Options for a new VM. */
export interface VmOptions {
  /** Name for messages. */
  readonly name?: string;
}

/** Options for a guest memory region that the backend allocates. */
export interface RegionOptions {
  /** The guest can read but not write it; writes exit as MMIO. Needs `readonly-memory`. */
  readonly readonly?: boolean;
}

/** A backend: creates VMs on one host. */
export interface Backend extends Disposable {
  readonly info: BackendInfo;
  /** Creates an empty VM (no memory, no vCPU). */
  createVm(options?: VmOptions): Vm;
}

/** Selects the accesses an {@link IoEventFd} counts. */
export interface IoEventSpec {
  /** `pio` for a port, `mmio` for a guest-physical address. */
  readonly space: 'pio' | 'mmio';
  readonly address: number;
  /** Access size in bytes (1, 2, 4 or 8). */
  readonly size: number;
  /** Count only writes of this value (otherwise any value). */
  readonly match?: number;
}

/** Counts guest writes that completed without a userspace exit. */
export interface IoEventFd extends Disposable {
  readonly spec: IoEventSpec;
  /** Returns the writes counted since the last call and resets the count (never blocks). */
  take(): number;
}

/** A virtual machine: guest memory, vCPUs, and VM-wide event sources. */
export interface Vm extends Disposable {
  readonly name: string;
  /** Guest-physical memory; regions are added through {@link addRegion}. */
  readonly memory: GuestMemory;
  /** The backend this VM runs on. */
  readonly info: BackendInfo;
  /** Allocates host memory for `[gpa, gpa+size)`, maps it into the guest and adds it to {@link memory}. */
  addRegion(name: string, gpa: number, size: number, options?: RegionOptions): MemoryRegion;
  /**
   * Drops every translation the backend derived from the contents of `region` (for KVM with
   * shadow paging, e.g. kvm_pvm: shadow page tables built from guest page tables that live
   * there), so that what the VMM wrote into the region's host memory behind the guest's back is
   * read afresh. The region's contents and mapping stay as they are. Call only while no vCPU is
   * in the guest (from an exit handler). Optional: a backend without such caches leaves it out.
   * Costly (KVM: the memory slot is deleted and added again, which drops every shadow page of
   * the VM), so callers batch it.
   */
  refreshRegion?(region: MemoryRegion): void;
  /** Creates vCPU number `id` (0-based). */
  createVcpu(id: number): Vcpu;
  /** Registers an ioeventfd (capability `ioeventfd`). */
  addIoEventFd(spec: IoEventSpec): IoEventFd;
  /**
   * Creates the backend's own interrupt controllers (capability `in-kernel-irqchip`): for KVM the
   * in-kernel dual 8259 PIC, IOAPIC and local APICs, plus, with `pit`, the in-kernel 8254 PIT on
   * ports 0x40-0x43 and 0x61. Call before creating vCPUs. Afterwards device interrupts are raised
   * with {@link setIrqLine}, the backend injects and acknowledges them itself, a halted vCPU waits
   * in the backend for its next interrupt, and {@link Vcpu.queueInterrupt} is not available.
   */
  createIrqchip(options: { readonly pit: boolean }): void;
  /** Sets the level of input `gsi` of the in-kernel interrupt controllers (after {@link createIrqchip}). */
  setIrqLine(gsi: number, level: boolean): void;
  /**
   * Guest-visible time in ns. A deterministic backend gives a virtual clock (the emulator:
   * instructions retired × ns per instruction, plus time skipped while halted); absent: host
   * monotonic time. The VMM runs its emulated timers on it, and on such a backend
   * {@link Vcpu.setDeadline} counts guest time (the backend documents its host-time guard).
   */
  timeSource?(): number;
  /**
   * With a virtual {@link timeSource}: moves guest time forward to `ns` (never back). The VMM
   * calls it instead of sleeping when the guest halts waiting for a timer event due at `ns`.
   */
  advanceTime?(ns: number): void;
  /**
   * Installs (or, with `undefined`, removes) a check of the guest's CR3 loads. A deterministic
   * backend that can check CR3 loads calls `allow(cr3 & physical-address mask)` on every guest
   * write to CR3 (MOV to CR3; not the VMM's own {@link Vcpu.setSpecialRegisters}) and raises
   * #GP(0) in the guest when it returns false, leaving CR3 unchanged. `allow` runs inside the
   * instruction: it must be pure VMM bookkeeping (no guest-memory writes, no throwing). KVM
   * cannot (the guest's ring 0 runs on the CPU), so it does not offer it. Applies to the VM's
   * current and future vCPUs.
   */
  setCr3Policy?(allow: ((cr3: number) => boolean) | undefined): void;
}

/** Run state of a vCPU, for telemetry and lifecycle. */
export type VcpuState = 'created' | 'running' | 'paused' | 'stopped';

/**
 * A virtual CPU. `run()` enters the guest and returns the (reused) {@link exit} record when the
 * guest exits, the deadline passes, or a signal arrives.
 */
export interface Vcpu extends Disposable {
  readonly id: number;
  /** The exit record, filled in place by {@link run}. */
  readonly exit: VmExit;
  /**
   * Runs guest code until the next exit. Must not allocate. Answers to the previous exit's reads
   * (written into `exit.data`) are handed to the guest on entry.
   */
  run(): VmExit;
  /**
   * Arms a one-shot deadline `ms` from now (0 disarms): when it passes, the running or next
   * {@link run} returns a `Deadline` exit. Re-arming replaces the previous deadline.
   */
  setDeadline(ms: number): void;
  /** Makes the running or next {@link run} return a `Deadline` exit as soon as possible. */
  kick(): void;
  getRegisters(): Registers;
  /**
   * One general register as a number, for the exit path (hypercall arguments): no allocation and,
   * after an exit, no system call. Exact for values below 2^53; larger values lose low bits, so
   * ABIs pass 64-bit quantities through guest memory.
   */
  readRegister(name: RegisterName): number;
  /**
   * Sets one general register from a number (negative values are stored as 64-bit two's
   * complement, e.g. -38 for -ENOSYS); it reaches the vCPU on the next {@link run}.
   */
  writeRegister(name: RegisterName, value: number): void;
  setRegisters(regs: Registers): void;
  getSpecialRegisters(): SpecialRegisters;
  setSpecialRegisters(sregs: SpecialRegisters): void;
  /** The CPUID leaves the host can offer (before Hyvisor's own). */
  supportedCpuid(): CpuidEntry[];
  /** Sets the CPUID leaves the guest sees. */
  setCpuid(entries: readonly CpuidEntry[]): void;
  getMsr(index: number): bigint;
  setMsr(index: number, value: bigint): void;
  /**
   * Queues external interrupt `vector`; it is delivered on a later {@link run} as soon as the
   * guest can take it (IF=1, no interrupt shadow), using an interrupt-window exit if needed.
   * Returns false if the queue is full (the vector is dropped and the caller should count it).
   */
  queueInterrupt(vector: number): boolean;
  /**
   * True if a vector queued now would be taken at the next entry: the guest had IF=1 and no
   * interrupt shadow at the last exit, and nothing is queued. Read on the hot path: no system call.
   */
  readonly interruptWindowOpen: boolean;
  /**
   * Asks for (true) or cancels (false) an `IrqWindow` exit as soon as the guest can take an
   * interrupt. An emulated interrupt controller uses it so it acknowledges a vector only when the
   * guest can take it. Hot path: no system call.
   */
  setInterruptWindowRequest(on: boolean): void;
  /** Vectors queued by {@link queueInterrupt} and not yet handed to the guest. */
  readonly pendingInterrupts: number;
  /**
   * True if the vCPU is halted inside the backend waiting for an interrupt (possible only with an
   * in-kernel irqchip, where HLT does not exit). Not for the hot path: it may cost a system call.
   */
  isHalted(): boolean;
  /**
   * Backend counters for reports (e.g. the emulator's instructions retired and exits by kind);
   * absent when the backend keeps none. Not for the hot path.
   */
  stats?(): Record<string, number>;
}
