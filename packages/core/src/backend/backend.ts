/**
 * The backend contract, after Cloud Hypervisor's `hypervisor` crate: one set of interfaces
 * (`Backend` → `Vm` → `Vcpu`), several implementations (KVM today, the emulator later). Strategies
 * and the VMM talk to these interfaces and ask for {@link Capability | capabilities}; they never
 * test for a concrete class.
 * @module
 */
import type { Disposable, ScopedDisposable } from '../lifecycle/disposable.js';
import type { GuestMemory, MemoryRegion } from '../memory/guest-memory.js';
import type { VmExit } from '../exits/vm-exit.js';
import type { CpuidEntry, RegisterName, Registers, SpecialRegisters } from './registers.js';
import type { VmAbilities } from './abilities.js';
import type { VcpuDebug } from './debug.js';
import type { VcpuEvents } from './vcpu-state.js';

/**
 * What a backend can do. A facet lists the capabilities it needs; composing a VM on a backend
 * that lacks one fails at start-up with a message naming both. The capabilities in
 * {@link VM_ABILITY_CAPABILITY} are the optional parts of a {@link Vm}: a VM has the sub-object
 * exactly when its backend lists the capability ({@link offerAbilities} builds them so).
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
  /** Registers travel with the exit, no extra call per exit (KVM_CAP_SYNC_REGS). */
  | 'sync-regs'
  /** {@link Vm.ioEvents}: count a port or MMIO write without a userspace exit (KVM ioeventfd). */
  | 'ioeventfd'
  /** {@link Vm.irqchip}: interrupt controllers emulated inside the backend (KVM in-kernel irqchip). */
  | 'in-kernel-irqchip'
  /** {@link Vm.virtualClock}: guest time is virtual (counted, not read from the host) and can be advanced. */
  | 'virtual-clock'
  /** {@link Vm.cr3Policy}: the VMM can veto the guest's CR3 loads. */
  | 'cr3-policy'
  /** {@link Vm.regionRefresh}: drop the backend's translations derived from a region's contents. */
  | 'region-refresh';

/** Every capability name, for validation and listings. */
export const CAPABILITIES: readonly Capability[] = [
  'guest-memory', 'readonly-memory', 'run-deadline', 'interrupt-injection', 'cpuid', 'msr', 'sync-regs',
  'ioeventfd', 'in-kernel-irqchip', 'virtual-clock', 'cr3-policy', 'region-refresh',
];

/**
 * What the guest's code runs on, as far as the guest must care: it decides the host hint in
 * Hyvisor's CPUID leaf (`HostHint`), e.g. which system-call gate works.
 * - `hardware`: VT-x / AMD-V, everything as on bare metal;
 * - `kvm_pvm`: software nested virtualization, ring 0 emulated by the host (see DESIGN.md);
 * - `emulator`: Hyvisor's own x86-64 emulator.
 */
export type HostKind = 'hardware' | 'kvm_pvm' | 'emulator';

/**
 * What a backend found on this host. Code decides on the typed fields and on
 * {@link capabilities}, never on {@link name} (a third-party backend must be able to stand in)
 * nor on {@link details} (display only).
 */
export interface BackendInfo {
  /** Backend name as used in config (`kvm`, `emu`); for messages and config, not for decisions. */
  readonly name: string;
  /**
   * The flavour of the host for people, e.g. `kvm_pvm` (software nested virtualization),
   * `kvm-vmx`, `kvm-svm`, `emu`. Code reads {@link host} instead.
   */
  readonly flavour: string;
  /** One line for `hyvisor info`. */
  readonly description: string;
  readonly capabilities: ReadonlySet<Capability>;
  /** What the guest's code runs on (decides the guest's host hint). Absent: `hardware`. */
  readonly host?: HostKind;
  /** The TSC rate guests see, in kHz; absent or 0 if unknown. */
  readonly tscKhz?: number;
  /**
   * True if the same guest and inputs give the same instruction count and exit sequence on every
   * run (the emulator). Absent: false.
   */
  readonly deterministic?: boolean;
  /** vCPUs one VM can have; absent if unknown. */
  readonly maxVcpus?: number;
  /**
   * Extra facts for people (`hyvisor info`: API version, probed limits, …). Display only: code
   * that needs a fact gets a typed field above.
   */
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

/** A backend: creates VMs on one host. `using backend = …` disposes it (and its VMs) on every path. */
export interface Backend extends ScopedDisposable {
  readonly info: BackendInfo;
  /** Creates an empty VM (no memory, no vCPU). */
  createVm(options?: VmOptions): Vm;
}

/**
 * A virtual machine: guest memory, vCPUs, and, as optional sub-objects ({@link VmAbilities}),
 * what only some backends can do. Presence is the capability: `vm.irqchip?.setLine(4, true)`,
 * never a method that throws "not supported".
 */
export interface Vm extends Disposable, VmAbilities {
  readonly name: string;
  /** Guest-physical memory; regions are added through {@link addRegion}. */
  readonly memory: GuestMemory;
  /** The backend this VM runs on. */
  readonly info: BackendInfo;
  /**
   * Allocates host memory for `[gpa, gpa+size)`, maps it into the guest and adds it to
   * {@link memory}. `gpa` and `size` must be multiples of 4 KiB on every backend (core's `checkRegion`).
   */
  addRegion(name: string, gpa: number, size: number, options?: RegionOptions): MemoryRegion;
  /** Creates vCPU number `id` (0-based). */
  createVcpu(id: number): Vcpu;
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
   * The x87/SSE state as an FXSAVE image ({@link FXSAVE_SIZE} bytes, the 64-bit layout of SDM
   * Vol. 1 §10.5.1: FCW, FSW, abridged FTW, FOP, FIP, FDP, MXCSR, ST0–7, XMM0–15). A new array
   * each call. Set-up and debugging path (KVM: one ioctl).
   */
  getFpu(): Uint8Array;
  /**
   * Loads an FXSAVE image as {@link getFpu} returns it. Throws {@link BackendError} for a wrong
   * size or an MXCSR with bits this vCPU does not implement (nothing is loaded then).
   */
  setFpu(image: Uint8Array): void;
  /**
   * Interrupts and exceptions the vCPU holds between instructions (pending exception, accepted
   * interrupt, interrupt shadow, NMI state, the {@link queueInterrupt} queue). Between runs only.
   */
  getEvents(): VcpuEvents;
  /**
   * Loads events as {@link getEvents} returns them; they take effect on the next {@link run}.
   * Throws {@link BackendError} for an event this backend cannot hold (e.g. NMIs on the emulator).
   */
  setEvents(events: VcpuEvents): void;
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
  /** Breakpoints, watchpoints and single steps for a debugger; absent where the backend offers none. */
  readonly debug?: VcpuDebug | undefined;
}
