/**
 * The PV interrupt facet: event channels. Device lines, the one-shot timer and the block ring set
 * bits in the shared-info page; the guest gets one upcall vector and acknowledges in shared
 * memory, so there is no interrupt controller to emulate and no EOI exit.
 * @module
 */
import {
  CoreCounter, EVENT_CHANNELS, FacetBase, FeatureBits, Hypercall, defineFacet,
  type Counters, type Disposable, type FacetState, type InterruptFacet, type IrqLine, type MachineContext, type Vcpu,
} from '@hyvisor/core';
import { EventChannels, type EventChannelsState } from '../evtchn/event-channels.js';
import { PV_DOMAIN } from '../pv-domain.js';

/**
 * Interrupt facet `event-channel`: registers `EVENT_CHANNEL_OP`, `REGISTER_SHARED_INFO` and
 * `SET_CALLBACK`, and injects the upcall vector before an entry when `UPCALL_PENDING` was raised,
 * `UPCALL_MASK` is clear and the guest can take an interrupt (asking for an interrupt-window exit
 * otherwise, as the emulated PIC does). The upcall is injected once per raise of
 * `UPCALL_PENDING`; if the guest clears `UPCALL_PENDING` itself first, nothing is injected.
 * Provides `EVENT_CHANNELS` (the port table) to the machine's other facets.
 */
export class EventChannelInterrupts extends FacetBase<'interrupt'> implements InterruptFacet {
  static readonly info = defineFacet({
    facet: 'interrupt',
    name: 'event-channel',
    description: 'event channels: pending/mask bitmaps in a shared page and one upcall vector; no interrupt controller, no EOI exit',
    requires: ['interrupt-injection'],
    provides: [EVENT_CHANNELS],
    needs: [PV_DOMAIN],
  });

  readonly featureBits = FeatureBits.PV_EVTCHN;
  /** The port table, created up front so devices can be wired to its lines before attach. */
  readonly channels = new EventChannels();
  private windowRequested = false;
  private counters: Counters | undefined;

  attach(ctx: MachineContext): Disposable {
    const domain = ctx.services.get(PV_DOMAIN);
    const ch = this.channels;
    ch.connect(ctx.vm.memory, ctx.ramSize, ctx.telemetry.counters);
    ctx.services.provide(EVENT_CHANNELS, ch);
    // Created once: SCHED_OP(BLOCK) hands it (through its any-condition predicate) to the run loop.
    const wake = domain.sched.addWakeCondition(() => ch.eventPending);
    ctx.hypercalls.register(Hypercall.EVENT_CHANNEL_OP, 'EVENT_CHANNEL_OP', ch.handleOp);
    ctx.hypercalls.register(Hypercall.REGISTER_SHARED_INFO, 'REGISTER_SHARED_INFO', (a) => ch.registerSharedInfo(a.a0));
    ctx.hypercalls.register(Hypercall.SET_CALLBACK, 'SET_CALLBACK', (a) => ch.setCallback(a.a0));
    this.counters = ctx.telemetry.counters;
    return wake;
  }

  /** The line of ISA IRQ `irq`: its rising edge sends the event of the port bound to that PIRQ. */
  irqLine(irq: number): IrqLine {
    return this.channels.irqLine(irq);
  }

  /** Hot path, before each entry: inject the upcall when it is wanted and deliverable. No allocation. */
  beforeRun(vcpu: Vcpu): void {
    const ch = this.channels;
    if (!ch.upcallWanted) {
      if (this.windowRequested) this.setWindow(vcpu, false);
      return;
    }
    const page = ch.page!;
    if (!page.upcallPending) {
      // The guest found the events by itself and cleared UPCALL_PENDING: nothing to inject.
      ch.upcallWanted = false;
      if (this.windowRequested) this.setWindow(vcpu, false);
      return;
    }
    if (page.upcallMasked || ch.vector === 0) {
      // Held off by the guest (or no vector yet): injected at an entry after the mask clears.
      if (this.windowRequested) this.setWindow(vcpu, false);
      return;
    }
    if (vcpu.interruptWindowOpen) {
      const values = this.counters!.values;
      if (vcpu.queueInterrupt(ch.vector)) {
        ch.upcallWanted = false;
        values[CoreCounter.InterruptsInjected]!++;
      } else {
        values[CoreCounter.InterruptsDropped]!++;
      }
      if (this.windowRequested) this.setWindow(vcpu, false);
    } else if (!this.windowRequested) {
      this.setWindow(vcpu, true);
    }
  }

  /** A halted guest can be woken by an event. */
  /** The event-channel table ({@link EventChannels.saveState}). */
  saveState(): EventChannelsState {
    return this.channels.saveState();
  }

  restoreState(state: FacetState): void {
    this.channels.restoreState(state as EventChannelsState);
    this.windowRequested = false; // a new vCPU has no window request; beforeRun asks again if needed
  }

  canWake(): boolean {
    return true;
  }

  /** True if an upcall is waiting to be injected (raised, unmasked, with a vector). */
  interruptPending(): boolean {
    const ch = this.channels;
    return ch.upcallWanted && ch.vector !== 0 && ch.page !== undefined && ch.page.upcallPending && !ch.page.upcallMasked;
  }

  private setWindow(vcpu: Vcpu, on: boolean): void {
    this.windowRequested = on;
    vcpu.setInterruptWindowRequest(on);
  }
}
