/**
 * What the PV facets of one machine share: the hypercall doorbell and `SCHED_OP`. A service of
 * the machine's scope ({@link PV_DOMAIN}), made by the first PV facet that asks for it; the event
 * channels are a service of their own (core's `EVENT_CHANNELS`, provided by the `event-channel`
 * interrupt facet), so nothing here is keyed by VM or kept between machines.
 * @module
 */
import { Hypercall, serviceToken, type MachineContext, type ServiceToken } from '@hyvisor/core';
import { ensureDoorbell, type HypercallDoorbell } from './hypercall/doorbell.js';
import { SchedOps } from './sched/sched-op.js';

/** The PV state of one machine. */
export class PvDomain {
  constructor(
    readonly doorbell: HypercallDoorbell,
    readonly sched: SchedOps,
  ) {}

  /** Installs the doorbell ({@link ensureDoorbell}) and registers `SCHED_OP` on `ctx`'s machine. */
  static create(ctx: MachineContext): PvDomain {
    const doorbell = ensureDoorbell(ctx);
    const sched = new SchedOps((wakeWhen) => ctx.block(wakeWhen), ctx.telemetry.counters);
    ctx.hypercalls.register(Hypercall.SCHED_OP, 'SCHED_OP', sched.handle);
    return new PvDomain(doorbell, sched);
  }
}

/**
 * The machine's PV domain: no facet provides it; the first PV facet that needs it makes it in
 * the machine's scope ({@link PvDomain.create}). A third-party PV facet lists it in `needs` and
 * takes it with `ctx.services.get(PV_DOMAIN)` like the built-in ones.
 */
export const PV_DOMAIN: ServiceToken<PvDomain> = serviceToken('hyvisor.pv-domain', 'PV domain (hypercall doorbell and SCHED_OP)', PvDomain.create);

/** The machine's PV domain (`ctx.services.get(PV_DOMAIN)`). */
export function pvDomain(ctx: MachineContext): PvDomain {
  return ctx.services.get(PV_DOMAIN);
}
