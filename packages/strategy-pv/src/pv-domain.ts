/**
 * What the PV facets of one machine share: the hypercall doorbell, `SCHED_OP`, and the event
 * channels (owned by the `event-channel` interrupt facet, used by the pvclock timer and the block
 * ring to deliver their events). Created by the first PV facet that attaches, keyed by the VM.
 * @module
 */
import { Hypercall, WiringError, type MachineContext, type Vm } from '@hyvisor/core';
import { ensureDoorbell, type HypercallDoorbell } from './hypercall/doorbell.js';
import { SchedOps } from './sched/sched-op.js';
import type { EventChannels } from './evtchn/event-channels.js';

/** The PV state of one machine. */
export class PvDomain {
  /** The event channels, once the `event-channel` facet has attached. */
  events: EventChannels | undefined;

  constructor(
    readonly doorbell: HypercallDoorbell,
    readonly sched: SchedOps,
  ) {}
}

const domains = new WeakMap<Vm, PvDomain>();

/**
 * The machine's PV domain: on first use installs the doorbell ({@link ensureDoorbell}) and
 * registers `SCHED_OP`.
 */
export function pvDomain(ctx: MachineContext): PvDomain {
  let d = domains.get(ctx.vm);
  if (d === undefined) {
    const doorbell = ensureDoorbell(ctx);
    const sched = new SchedOps((wakeWhen) => ctx.block(wakeWhen), ctx.telemetry.counters);
    ctx.hypercalls.register(Hypercall.SCHED_OP, 'SCHED_OP', sched.handle);
    d = new PvDomain(doorbell, sched);
    domains.set(ctx.vm, d);
  }
  return d;
}

/**
 * The machine's event channels for facet `facet`, which delivers its events through them. Throws
 * {@link WiringError} if the `event-channel` interrupt facet has not attached (its composition rule
 * should have caught that; the run loop attaches the interrupt facet before timer and I/O).
 */
export function requireEventChannels(ctx: MachineContext, facet: string): EventChannels {
  const events = pvDomain(ctx).events;
  if (events === undefined) {
    throw new WiringError(`${facet}: delivers its events through event channels, but the interrupt facet 'event-channel' is not attached (attach it first)`);
  }
  return events;
}
