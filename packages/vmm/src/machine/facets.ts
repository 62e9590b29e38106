/**
 * Attaching a strategy's facets to a built machine: the {@link MachineContext} they wire
 * themselves into (buses, hypercalls, clock, the machine's service scope, the run loop's block
 * and poll hooks); core's `attachFacets` then attaches them, providers of a service first. One
 * function, so the composition of facets can change without touching the run loop.
 * @module
 */
import {
  attachFacets,
  type Disposable, type DisposableStore, type ExitDispatcher, type HypercallTable, type IrqLine, type MachineContext,
  type MmioBus, type PioBus, type ServiceScope, type Strategy, type TelemetryHub, type TimerQueue, type Vcpu, type Vm,
  type VmConfig,
} from '@hyvisor/core';

/** What the facets attach to. */
export interface FacetHost {
  readonly vm: Vm;
  readonly vcpu: Vcpu;
  readonly pio: PioBus;
  readonly mmio: MmioBus;
  readonly hypercalls: HypercallTable;
  readonly dispatcher: ExitDispatcher;
  readonly telemetry: TelemetryHub;
  readonly ramSize: number;
  readonly clock: TimerQueue;
  /** The machine's service scope (what its facets provide each other). */
  readonly services: ServiceScope;
  readonly config: VmConfig | undefined;
  /** Receives the context before any facet attaches (the service scope resolves against it). */
  onContext(ctx: MachineContext): void;
}

/** The run loop's side of the context: how a facet makes the vCPU sleep and polls between slices. */
export interface FacetLoopHooks {
  block(wakeWhen?: () => boolean): void;
  addPollHook(poll: () => void): Disposable;
}

/**
 * Builds the facets' {@link MachineContext} and attaches every facet of `strategy` in its
 * machine's service scope (core's `attachFacets`: providers of a service before its users); the
 * scope and what the facets hand back are registered with `owned` (released with the machine).
 */
export function attachMachineFacets(strategy: Strategy, host: FacetHost, loop: FacetLoopHooks, owned: DisposableStore): MachineContext {
  owned.add(host.services);
  const interrupt = strategy.interrupt;
  const ctx: MachineContext = {
    vm: host.vm, vcpus: [host.vcpu], pio: host.pio, mmio: host.mmio, hypercalls: host.hypercalls,
    dispatcher: host.dispatcher, telemetry: host.telemetry, ramSize: host.ramSize, clock: host.clock,
    services: host.services,
    irqLine: (irq: number): IrqLine => interrupt.irqLine(irq),
    block: (wakeWhen?: () => boolean) => loop.block(wakeWhen),
    addPollHook: (poll: () => void): Disposable => loop.addPollHook(poll),
    ...(host.config ? { config: host.config } : {}),
  };
  host.onContext(ctx);
  for (const d of attachFacets(strategy, ctx)) owned.add(d);
  return ctx;
}
