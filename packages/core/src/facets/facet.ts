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

/** What every facet has. */
export interface Facet {
  /** Which part of the machine it virtualizes. */
  readonly facet: FacetName;
  /** Implementation name, unique per facet (`emulated`, `event-channel`, …). */
  readonly name: string;
  /** One line: how it works. */
  readonly description: string;
  /** Backend capabilities it cannot work without. */
  readonly requires: readonly Capability[];
  /**
   * A composition rule: given the whole strategy, returns why this facet cannot work in it (e.g.
   * "the in-kernel PIT needs the in-kernel irqchip interrupt facet"), or undefined if it can.
   */
  check?(strategy: FacetSet): string | undefined;
  /** Prepares the VM before any vCPU exists (e.g. creates an in-kernel interrupt controller). */
  prepareVm?(vm: Vm): void;
  /**
   * Wires the facet into a machine after memory and vCPUs exist and before the guest runs.
   * Whatever it returns is disposed with the machine.
   */
  attach?(ctx: MachineContext): Disposable | void;
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
