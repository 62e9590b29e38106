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
