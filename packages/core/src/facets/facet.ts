/**
 * The five facets: the parts of the machine whose virtualization a strategy chooses. Core
 * defines the contracts; strategy packages implement them. A facet declares the backend
 * {@link Capability | capabilities} it needs and attaches itself to a machine being built.
 *
 * The contracts are as small as the guests so far need; the HVM and PV strategies grow them.
 * @module
 */
import type { Capability, Vcpu, Vm } from '../backend/backend.js';
import type { CpuidEntry } from '../backend/registers.js';
import type { PioBus } from '../bus/pio-bus.js';
import type { MmioBus } from '../bus/mmio-bus.js';
import type { HypercallTable } from '../bus/hypercall-table.js';
import type { ExitDispatcher } from '../exits/dispatcher.js';
import type { Disposable } from '../lifecycle/disposable.js';
import type { TelemetryHub } from '../telemetry/hub.js';
import type { IrqLine } from '../bus/device.js';
import type { Clock } from '../time/timer-queue.js';
import type { VmConfig } from '../config/schema.js';
import type { AnyServiceToken, ServiceScope } from './service.js';

/** The five facet names. */
export type FacetName = 'cpu' | 'memory' | 'interrupt' | 'timer' | 'io';

/** Every facet name, in a fixed order for listings and messages. */
export const FACET_NAMES: readonly FacetName[] = ['cpu', 'memory', 'interrupt', 'timer', 'io'];

/** What a facet sees of the machine it is attached to. */
export interface MachineContext {
  readonly vm: Vm;
  readonly vcpus: readonly Vcpu[];
  readonly pio: PioBus;
  readonly mmio: MmioBus;
  readonly hypercalls: HypercallTable;
  readonly dispatcher: ExitDispatcher;
  readonly telemetry: TelemetryHub;
  /** Guest RAM size in bytes. */
  readonly ramSize: number;
  /** Host-time events for emulated timers; the run loop stops the vCPU in time for the next one. */
  readonly clock: Clock;
  /** The interrupt line of ISA IRQ `irq`, as the strategy's interrupt facet routes it. */
  irqLine(irq: number): IrqLine;
  /** The VM's configuration (storage file, …), when the machine was built from one. */
  readonly config?: VmConfig;
  /**
   * This machine's services: a facet provides what its {@link FacetInfo.provides} lists here in
   * {@link Facet.attach}, and takes what its {@link FacetInfo.needs} lists (facets are attached
   * providers first, see {@link attachOrder}).
   */
  readonly services: ServiceScope;
  /**
   * Called from a hypercall or device handler: when the current exit is handled, the vCPU sleeps
   * (the run loop fires due timer events and runs the poll hooks meanwhile) until `wakeWhen()`
   * returns true, or the machine is stopped or reaches its time limit (a pause holds the sleep and
   * a resume continues it). Without `wakeWhen` it sleeps until the interrupt facet reports an
   * interrupt pending ({@link InterruptFacet.interruptPending}), or, if the facet cannot tell, for
   * one timer event, as for a HLT with IF=1. The PV idle loop (`SCHED_OP(BLOCK)`) uses it with
   * "an upcall is pending". Hot path: pass a predicate created once, not a new closure per call.
   */
  block(wakeWhen?: () => boolean): void;
  /**
   * Registers work the run loop does whenever the vCPU is out of the guest for a while (deadline,
   * halt, block), never per exit: e.g. draining an ioeventfd. Returns a disposable that removes it.
   */
  addPollHook(poll: () => void): Disposable;
}

/**
 * What a facet is, readable without constructing it: a facet class carries it as its static
 * `info` ({@link FacetClass}), a registry entry as its descriptor, so registration and listings
 * (`hyvisor info`, {@link planStrategy}) build nothing. An instance repeats it (see
 * {@link FacetBase}); composition checks read the instance, which may differ in what it
 * provides (e.g. `kvm-irqchip` without its PIT).
 */
export interface FacetInfo<K extends FacetName = FacetName> {
  /** Which part of the machine it virtualizes. */
  readonly facet: K;
  /** Implementation name, unique per facet (`emulated`, `event-channel`, …). */
  readonly name: string;
  /** One line: how it works. */
  readonly description: string;
  /** Backend capabilities it cannot work without. */
  readonly requires: readonly Capability[];
  /** Services it provides to the machine's other facets (into {@link MachineContext.services}, at attach). */
  readonly provides?: readonly AnyServiceToken[];
  /** Services it needs from another facet of the strategy (or that a token creates on use). */
  readonly needs?: readonly AnyServiceToken[];
  /** Services it cannot share a machine with (e.g. a userspace PIT and the in-kernel one). */
  readonly excludes?: readonly AnyServiceToken[];
}

/** A facet class: constructs facets of kind `K` and carries their metadata statically. */
export interface FacetClass<K extends FacetName = FacetName> {
  readonly info: FacetInfo<K>;
  new (...args: never[]): FacetTypes[K];
}

/** What every facet has: its {@link FacetInfo}, and how it joins a machine. */
export interface Facet extends FacetInfo {
  /**
   * A composition rule beyond services: given the whole strategy, returns why this facet cannot
   * work in it, or undefined if it can. Prefer {@link FacetInfo.needs} and
   * {@link FacetInfo.excludes}: a rule that compares another facet's *name* refuses a renamed or
   * third-party facet that would work.
   */
  check?(strategy: FacetSet): string | undefined;
  /**
   * Adjusts the guest's CPUID leaves (built from the backend's) for hardware this facet emulates
   * outside the CPU: e.g. an emulated local APIC sets leaf 1 EDX bit 9, which a CPU-only backend
   * (the emulator) leaves clear. Called once, before the vCPU first runs.
   */
  adjustCpuid?(leaves: CpuidEntry[]): void;
  /** Prepares the VM before any vCPU exists (e.g. creates an in-kernel interrupt controller). */
  prepareVm?(vm: Vm): void;
  /**
   * Wires the facet into a machine after memory and vCPUs exist and before the guest runs.
   * Whatever it returns is disposed with the machine.
   */
  attach?(ctx: MachineContext): Disposable | void;
  /**
   * The facet's state after {@link attach} as a plain, versioned, JSON-serialisable record, for
   * snapshots (vm-superio's `SerialState` idea, as devices do). A facet that keeps state between
   * exits (registers, queues, armed timers) implements this and {@link restoreState}; a snapshot
   * of a machine with an attached facet lacking them is refused, naming the facet. Times are saved
   * relative to `ctx.nowNs` (the machine clock when the snapshot is taken): a restore may run on
   * another host, another backend, another clock.
   */
  saveState?(ctx: FacetStateContext): FacetState;
  /**
   * Replaces the attached facet's state with `state` (from {@link saveState} of the same facet,
   * possibly on another backend), guest memory and vCPU state already restored. Refuses a record
   * it cannot take with an `Error` whose message names the field, before changing anything.
   */
  restoreState?(state: FacetState, ctx: FacetStateContext): void;
}

/** A facet's state record (see {@link Facet.saveState}). */
export interface FacetState {
  /** Version of the record's layout; a facet refuses versions it does not know. */
  readonly version: number;
}

/** What a facet's {@link Facet.saveState} and {@link Facet.restoreState} get besides the record. */
export interface FacetStateContext {
  /** The machine clock now, in ns (host monotonic, or the VM's virtual clock). */
  readonly nowNs: number;
  /**
   * Large binary parts of the state (a memory-backed disk's sectors), by a name unique in the
   * machine (`<facet kind>.<what>`): a snapshot stores each as a checksummed file next to the
   * record, so the record stays small JSON. Filled by saveState, read by restoreState.
   */
  readonly blobs: Map<string, Uint8Array>;
  /**
   * The guest's TSC as the snapshot records it for vCPU 0 (on KVM the TSC runs on while the
   * snapshot is taken: a clock facet uses this value, not a later read, so the guest's clock and
   * its TSC stay in step across the restore). Absent outside snapshots.
   */
  readonly guestTsc?: bigint;
}

/** The CPU facet: how privileged operations, system calls and hypercalls reach the VMM. */
export interface CpuFacet extends Facet {
  readonly facet: 'cpu';
  /** Feature bits this facet advertises in the Hyvisor features leaf. */
  readonly featureBits: number;
}

/** The memory facet: who owns the guest's page tables and how updates are checked. */
export interface MemoryFacet extends Facet {
  readonly facet: 'memory';
  readonly featureBits: number;
}

/** The interrupt facet: how device interrupts reach the guest and are acknowledged. */
export interface InterruptFacet extends Facet {
  readonly facet: 'interrupt';
  readonly featureBits: number;
  /** The line that device interrupt `irq` (ISA numbering) drives. Valid after {@link Facet.attach}. */
  irqLine(irq: number): IrqLine;
  /**
   * Called by the run loop before every entry into the guest, on the hot path: hand the vCPU
   * the next pending vector if it can take one. Must not allocate. Absent: nothing to do.
   */
  beforeRun?(vcpu: Vcpu): void;
  /**
   * The guest halted with interrupts enabled. True if an interrupt may still wake it (the loop
   * then waits for the next timer event); false ends the run as a halt.
   */
  canWake?(): boolean;
  /** True if an interrupt is waiting for the vCPU right now (a halted guest resumes at once). */
  interruptPending?(): boolean;
  /**
   * Delivers a message-signalled interrupt (see `MsiTrigger`). Returns false if this facet has
   * no local APIC to take it, or the message is not one it can deliver (an address outside
   * 0xFEExxxxx, a destination that is no CPU, a delivery mode it does not model). Absent: MSIs
   * are dropped.
   */
  signalMsi?(address: number, data: number): boolean;
}

/** The timer facet: how the guest tells time and asks to be woken. */
export interface TimerFacet extends Facet {
  readonly facet: 'timer';
  readonly featureBits: number;
}

/** The I/O facet: how the guest talks to devices (registers or shared rings). */
export interface IoFacet extends Facet {
  readonly facet: 'io';
  readonly featureBits: number;
}

/** One implementation per facet (what a strategy is, without its name). */
export type FacetSet = { readonly [K in FacetName]: FacetTypes[K] };

/** Facet type by facet name. */
export interface FacetTypes {
  cpu: CpuFacet;
  memory: MemoryFacet;
  interrupt: InterruptFacet;
  timer: TimerFacet;
  io: IoFacet;
}

/** Extra CPUID leaves a facet wants the guest to see (rare; most only set feature bits). */
export type CpuidContribution = readonly CpuidEntry[];

/**
 * A base class that copies a facet's static {@link FacetInfo} onto the instance, so the metadata
 * is written once, on the class:
 *
 * ```ts
 * export class PvClockTimer extends FacetBase<'timer'> implements TimerFacet {
 *   static readonly info = defineFacet({ facet: 'timer', name: 'pvclock', …, needs: [EVENT_CHANNELS] });
 * }
 * ```
 * A subclass inherits its parent's `info` or declares its own (a renamed subclass keeps every
 * service its parent provides, so composition rules still hold). `info` passed to the
 * constructor overrides the static one (for a facet whose provides depend on its options).
 */
export abstract class FacetBase<K extends FacetName> implements FacetInfo<K> {
  readonly facet: K;
  readonly name: string;
  readonly description: string;
  readonly requires: readonly Capability[];
  readonly provides: readonly AnyServiceToken[];
  readonly needs: readonly AnyServiceToken[];
  readonly excludes: readonly AnyServiceToken[];

  constructor(info?: FacetInfo<K>) {
    const i = info ?? (new.target as unknown as { info?: FacetInfo<K> }).info;
    if (i === undefined) throw new TypeError(`${new.target.name}: a FacetBase subclass needs a static info (or info passed to super())`);
    this.facet = i.facet;
    this.name = i.name;
    this.description = i.description;
    this.requires = i.requires;
    this.provides = i.provides ?? [];
    this.needs = i.needs ?? [];
    this.excludes = i.excludes ?? [];
  }
}

/** Checks and freezes a facet descriptor (types only: an identity at run time, frozen). */
export function defineFacet<K extends FacetName>(info: FacetInfo<K>): FacetInfo<K> {
  return Object.freeze({ ...info });
}
